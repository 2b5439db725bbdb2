"""``count: "dolma"`` of gopher_quality, gopher_repetition and c4: each difference from the paper counting.

dolma 1.2.1's ``gopher_v1`` / ``c4_v1`` taggers (``dolma/taggers/gopher.py``, ``c4.py``) count words,
lines and repeats differently from the Gopher and C4 papers; this mode reproduces them. Each test
builds a text where the two countings give different, exactly known values. The agreement with
dolma itself on real text is checked by tests/test_parity_dolma.py.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import pyarrow as pa
import pytest

from operators.config import ConfigError
from operators.filters import c4
from operators.filters import gopher_quality as gq
from operators.filters import gopher_repetition as gr

GQ = gq.Config(count="dolma", bullets=("*", "-"), stop_word_count="occurrences")
GR = gr.Config(count="dolma", max_duplicate_paragraphs=None, max_duplicate_paragraph_chars=None)
C4_OFF = dict(remove_citations=False, drop_ellipsis_lines=False, max_word_length=None, policy_phrases=(),
              min_sentences=None, drop_no_lines_left=False)
C4 = c4.Config(count="dolma", terminal_punct=(".", "?", "!", '"'), **C4_OFF)


# ------------------------------------------------------------------ config


@pytest.mark.parametrize("module", [gq, gr, c4])
def test_unknown_count_is_a_config_error(module):
    with pytest.raises(ConfigError, match=r"count must be one of paper, dolma, got 'spacy'"):
        module.Config(count="spacy")


def test_default_count_is_paper():
    assert gq.Config().count == gr.Config().count == c4.Config().count == "paper"


def test_c4_dolma_refuses_rules_dolma_does_not_have():
    with pytest.raises(ConfigError, match="no remove_citations, drop_ellipsis_lines, max_word_length, policy_phrases"):
        c4.Config(count="dolma")
    with pytest.raises(ConfigError, match="no policy_phrases rule"):
        c4.Config(count="dolma", **{**C4_OFF, "policy_phrases": ("privacy policy",)})


# ------------------------------------------------------------------ gopher_quality


def test_whitespace_words_not_spacy_tokens():
    text = "don't stop, it's fine."
    assert gq.measure(text, GQ).n_words == 4
    assert gq.measure(text, gq.Config()).n_words > 4  # spaCy: do n't stop , it 's fine .


def test_median_not_mean_word_length():
    stats = gq.measure("a a a bbbbbbbbbb", GQ)
    assert stats.mean_word_length == 1.0  # median of 1, 1, 1, 10
    assert gq.measure("a bb ccc dddd", GQ).mean_word_length == 2.5  # even count: mean of the middle two
    assert gq.measure("a a a bbbbbbbbbb", gq.Config()).mean_word_length == pytest.approx(13 / 4)
    assert gq.decide(gq.measure(" ".join(["a a a bbbbbbbbbb"] * 20), GQ), GQ) == gq.SHORT_MEAN_WORD_LENGTH


def test_symbol_ratio_counts_words_containing_hash_or_unicode_ellipsis():
    # words x#y, … and ### contain a symbol (### once, not 3 times); `...` is no symbol for dolma
    stats = gq.measure("x#y ok … ### wait...", GQ)
    assert stats.hash_ratio == stats.ellipsis_ratio == 0.6
    paper = gq.measure("x#y ok … ### wait...", gq.Config())
    assert paper.hash_ratio != 0.6


def test_one_symbol_ratio_checked_against_max_hash_ratio_only():
    text = " ".join(["the word … end with some more"] * 30)
    assert gq.decide(gq.measure(text, GQ), GQ) == gq.TOO_MANY_HASHES
    only_ellipsis = dataclasses.replace(GQ, max_hash_ratio=None)
    assert gq.decide(gq.measure(text, only_ellipsis), only_ellipsis) is None


def test_bullet_and_ellipsis_lines_at_the_first_and_last_character():
    stats = gq.measure("  - a\n- b\n* c\nd", GQ)
    assert stats.bullet_lines_ratio == 0.5  # "  - a" starts with a space
    stats = gq.measure("a…\nb… \nc...\nd", GQ)
    assert stats.ellipsis_lines_ratio == 0.25  # only "a…": "b… " ends with a space, "c..." is three dots


def test_lines_split_on_newline_only_with_the_last_empty_line():
    assert gq.measure("- a\n- b\n", GQ).bullet_lines_ratio == pytest.approx(0.66667)  # 2 of 3 lines
    assert gq.measure("- a\n- b\n", gq.Config(bullets=("*", "-"))).bullet_lines_ratio == 1.0


def test_alpha_ratio_over_whitespace_words_rounded_to_five_decimals():
    assert gq.measure("abc 123 x1", GQ).alpha_words_ratio == 0.66667


def test_stop_words_are_exact_whitespace_words():
    stats = gq.measure("the the The of, to", GQ)
    assert (stats.stop_word_occurrences, stats.stop_words) == (3, 2)  # the, the, to


def test_empty_text():
    stats = gq.measure("", GQ)
    assert (stats.n_words, stats.mean_word_length, stats.alpha_words_ratio) == (0, 0.0, 0.0)
    assert gq.decide(stats, GQ) == gq.TOO_FEW_WORDS


# ------------------------------------------------------------------ gopher_repetition


def test_blank_lines_and_first_copies_are_duplicate_lines():
    text = "a b\n\n\na b\nc"
    stats = gr.measure(text, GR)
    assert stats.duplicate_lines == 0.8  # "a b" x2 and "" x2 of 5 lines
    assert stats.duplicate_line_chars == 1.2  # 2 * len("a b") over 5 word characters
    paper = gr.measure(text, gr.Config())
    assert paper.duplicate_lines == pytest.approx(1 / 3)  # lines "a b", "a b", "c": one later copy


def test_two_equal_lines_are_fully_duplicated():
    assert gr.measure("x y\nx y", GR).duplicate_lines == 1.0
    assert gr.measure("x y\nx y", gr.Config()).duplicate_lines == 0.5


def test_top_ngram_characters_without_spaces_over_word_characters():
    stats = gr.measure("aa bb aa bb cc", GR)
    assert stats.top_2gram_share == 0.8  # (aa, bb) x2 = 8 of 10 word characters
    assert gr.measure("aa bb aa bb cc", gr.Config()).top_2gram_share == pytest.approx(10 / 14)


def test_top_ngram_ties_take_the_first_in_the_text():
    # (aa, bb) and (cc, dddd) both occur twice: the first wins (8 characters, not 12), over 23
    stats = gr.measure("aa bb x cc dddd y aa bb z cc dddd", GR)
    assert stats.top_2gram_share == round(8 / 23, 5)


def test_overlapping_repeats_and_first_occurrences_count():
    stats = gr.measure("a a a a a a", GR)
    assert stats.duplicate_5gram_share == 1.0  # both 5-grams are copies of each other
    assert gr.measure("a a a a a a", gr.Config()).duplicate_5gram_share == pytest.approx(5 / 11)
    stats = gr.measure("a b c d e a b c d e f", GR)
    assert stats.duplicate_5gram_share == round(10 / 35, 5)  # 2 copies of 5 chars, over 7 5-grams
    assert stats.duplicate_6gram_share == 0.0


def test_fewer_words_than_n_gives_zero():
    stats = gr.measure("one two", GR)
    assert stats.top_3gram_share == stats.duplicate_5gram_share == 0.0
    assert stats.top_2gram_share == 1.0


def _reference(text: str) -> dict[str, float]:
    """dolma's n-gram statistics computed the plain way, with Counter, for the vectorised measure."""
    words = text.split()
    chars = sum(map(len, words))
    out = {}
    for n in range(2, 11):
        grams = Counter(zip(*[words[i:] for i in range(n)]))
        if not grams:
            value = 0.0
        elif n <= 4:
            gram, count = grams.most_common(1)[0]
            value = count * sum(map(len, gram)) / max(chars, 1)
        else:
            size = {g: sum(map(len, g)) for g in grams}
            value = sum(c * size[g] for g, c in grams.items() if c > 1) / max(sum(c * size[g] for g, c in grams.items()), 1)
        out[f"top_{n}gram_share" if n <= 4 else f"duplicate_{n}gram_share"] = round(value, 5)
    return out


def test_vectorised_ngram_statistics_match_the_plain_computation():
    rng = random.Random(7)
    vocab = ["a", "bb", "ccc", "the", "of", "dddd", "x", "yy"]
    for _ in range(200):
        words = [rng.choice(vocab[: rng.randint(1, len(vocab))]) for _ in range(rng.randint(0, 60))]
        if rng.random() < 0.3:  # periodic boilerplate
            words = words[:7] * rng.randint(2, 6) + words
        text = " ".join(words)
        stats = dataclasses.asdict(gr.measure(text, GR))
        for key, value in _reference(text).items():
            assert stats[key] == value, (text, key)


# ------------------------------------------------------------------ c4


def test_javascript_word_drops_the_document():
    text = "Please enable JavaScript to view.\nGood line of text here."
    stats, cleaned = c4.measure_and_clean(text, C4)
    assert stats.removed_javascript == 1
    assert c4.decide(stats, C4) == c4.JAVASCRIPT
    assert cleaned == text  # dolma flags the document, it does not remove the line


def test_javascript_inside_a_longer_word_does_not_count():
    text = "Click javascript:void(0) to go on.\nGood line of text here."
    stats, cleaned = c4.measure_and_clean(text, C4)
    assert (stats.removed_javascript, c4.decide(stats, C4), cleaned) == (0, None, text)
    paper = c4.Config(terminal_punct=(".", "?", "!", '"'), **C4_OFF)
    assert c4.clean(text, paper)[1].removed_javascript == 1  # the paper removes the line


def test_flags_are_checked_on_every_line():
    text = "function() {\nGood line of text here."
    stats, cleaned = c4.measure_and_clean(text, C4)
    assert stats.curly_bracket and c4.decide(stats, C4) == c4.CURLY_BRACKET
    paper = c4.Config(terminal_punct=(".", "?", "!", '"'), **C4_OFF)
    assert not c4.measure(text, paper).curly_bracket  # the paper removed that line first
    stats, _ = c4.measure_and_clean("lorem ipsum\nGood line of text here.", C4)
    assert c4.decide(stats, C4) == c4.LOREM_IPSUM


def test_line_rules_flag_lines_each_and_keep_newlines():
    text = "Good line here.\nab\nAnother fine line!\nno end"
    stats, cleaned = c4.measure_and_clean(text, C4)
    assert cleaned == "Good line here.\nAnother fine line!\n"  # removed lines take their newline along
    assert (stats.n_lines, stats.n_kept_lines) == (4, 2)
    # "ab" and "no end" are flagged by both rules
    assert (stats.removed_no_terminal_punct, stats.removed_too_few_words) == (2, 2)
    assert c4.decide(stats, C4) is None


def test_lines_are_stripped_and_lower_cased_before_the_checks():
    text = "  Three words here.   \nTwo words.\n"
    stats, cleaned = c4.measure_and_clean(text, C4)
    assert cleaned == "  Three words here.   \n"
    assert (stats.removed_no_terminal_punct, stats.removed_too_few_words) == (1, 2)  # the last line is empty


def test_bad_words_are_exact_whitespace_words_and_phrases_are_substrings(tmp_path):
    (tmp_path / "en.txt").write_text("badword\ntwo words\nMixedCase\n", encoding="utf-8")
    cfg = dataclasses.replace(C4, badwords_dir=str(tmp_path))
    assert not c4.measure("This is a badword.", cfg).bad_words  # "badword." is not the word
    assert c4.measure("This badword is here.", cfg).bad_words
    assert c4.measure("Some xtwo wordsx here.", cfg).bad_words  # a phrase matches inside longer words
    assert not c4.measure("The word mixedcase here.", cfg).bad_words  # entries are not lower-cased
    assert c4.decide(c4.measure("This badword is here.", cfg), cfg) == c4.BAD_WORDS
    # the paper mode matches at word boundaries, so "badword." matches there
    paper = dataclasses.replace(cfg, count="paper")
    assert c4.measure("This is a badword.", paper).bad_words


def test_bad_words_use_the_default_language_list_whatever_the_document_language(tmp_path):
    (tmp_path / "en.txt").write_text("badword\n", encoding="utf-8")
    cfg = dataclasses.replace(C4, badwords_dir=str(tmp_path))
    stats = c4.measure("This badword is here.", cfg, language="fr")
    assert stats.bad_words_checked and stats.bad_words


def test_apply_with_count_dolma_names_the_javascript_reason_and_cleans_kept_texts():
    table = pa.table({
        "text": ["Please enable javascript now.\nGood line of text here.", "Good line of text here.\nmenu"],
        "reason": pa.array([None, None], pa.string()),
    })
    out = c4.apply(table, C4)
    assert out.column("reason").to_pylist() == [c4.JAVASCRIPT, None]
    assert out.column("text").to_pylist() == ["Please enable javascript now.\nGood line of text here.",
                                              "Good line of text here.\n"]
    assert out.column("c4_removed_javascript").to_pylist() == [1, 0]
