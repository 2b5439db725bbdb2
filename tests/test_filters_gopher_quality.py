"""Gopher quality: every reason from an inline text, edge cases, config disabling, apply()."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from operators.config import from_dict
from operators.filters import gopher_quality as gq

CFG = gq.Config()
SENTENCE = "the quick brown fox jumps over the lazy dog with some style"  # 12 words, mean 4.0


def doc(n_sentences: int = 6) -> str:
    return "\n".join([SENTENCE + "."] * n_sentences)


def reason(text: str, cfg: gq.Config = CFG) -> str | None:
    return gq.decide(gq.measure(text, cfg), cfg)


def test_clean_text_is_kept():
    assert reason(doc()) is None


def test_defaults_equal_published_values():
    c = gq.Config()
    assert (c.min_words, c.max_words) == (50, 100_000)
    assert (c.min_mean_word_length, c.max_mean_word_length) == (3, 10)
    assert (c.max_hash_ratio, c.max_ellipsis_ratio) == (0.1, 0.1)
    assert (c.max_bullet_lines_ratio, c.max_ellipsis_lines_ratio) == (0.9, 0.3)
    assert (c.min_alpha_words_ratio, c.min_stop_words) == (0.8, 2)
    assert set(c.stop_words) == {"the", "be", "to", "of", "and", "that", "have", "with"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the and lorem ipsum dolor", gq.TOO_FEW_WORDS),
        (" ".join(["the", "and"] + ["a", "be", "to"] * 20), gq.SHORT_MEAN_WORD_LENGTH),
        (" ".join(["the", "and"] + ["incomprehensibilities"] * 60), gq.LONG_MEAN_WORD_LENGTH),
        (SENTENCE * 5 + " #tag" * 10, gq.TOO_MANY_HASHES),
        (SENTENCE * 5 + " and so on …" * 10, gq.TOO_MANY_ELLIPSES),
        ("\n".join("• " + SENTENCE for _ in range(6)), gq.TOO_MANY_BULLET_LINES),
        ("\n".join(SENTENCE + " ..." for _ in range(4)) + "\n" + SENTENCE, gq.TOO_MANY_ELLIPSIS_LINES),
        (SENTENCE * 5 + " 1234 5678" * 10, gq.TOO_FEW_ALPHA_WORDS),
        (" ".join(["lorem", "ipsum", "dolor", "amet", "the"] * 12), gq.TOO_FEW_STOP_WORDS),
    ],
)
def test_each_reason(text, expected):
    assert reason(text) == expected


def test_too_many_words():
    text = "the and " + "lorem " * 100_000
    assert gq.measure(text, CFG).n_words == 100_002
    assert reason(text) == gq.TOO_MANY_WORDS
    assert reason(text, dataclasses.replace(CFG, max_words=None)) is None


def test_stop_words_distinct_versus_occurrences():
    text = " ".join(["lorem", "ipsum", "dolor", "amet", "the"] * 12)
    stats = gq.measure(text, CFG)
    assert (stats.stop_words, stats.stop_word_occurrences) == (1, 12)
    assert reason(text, dataclasses.replace(CFG, stop_word_count="occurrences")) is None
    # case-sensitive like datatrove: "The" is not "the"
    assert gq.measure("The And", CFG).stop_words == 0


def test_every_rule_can_be_disabled():
    off = gq.Config(**{f.name: None for f in dataclasses.fields(gq.Config) if f.name.startswith(("min_", "max_"))})
    for text in ["", "   ", "#" * 100, "• ...\n• ...", "1 2 3"]:
        assert reason(text, off) is None


def test_config_loads_from_dict_and_rejects_typos():
    cfg = from_dict(gq.Config, {"min_words": None, "stop_words": ["a", "b"]})
    assert cfg.min_words is None and cfg.stop_words == ("a", "b")
    with pytest.raises(ValueError, match="min_word"):
        from_dict(gq.Config, {"min_word": 3})


@pytest.mark.parametrize("text", ["", " \n\t \n", "\u3000"])
def test_empty_and_whitespace_are_too_short(text):
    stats = gq.measure(text, CFG)
    assert stats.n_words == 0 and stats.mean_word_length is None
    assert reason(text) == gq.TOO_FEW_WORDS


def test_cjk_text_without_spaces_is_few_words():
    text = "这是一个没有空格的中文句子。" * 20
    stats = gq.measure(text, CFG)
    # spaCy's rules (and ours): the whole run is one chunk, only the final 。 is split off
    assert (stats.n_words, stats.n_tokens) == (1, 2)
    assert reason(text) == gq.TOO_FEW_WORDS


def test_invalid_surrogates_do_not_crash():
    text = doc() + " \ud800 broken \udfff"
    assert gq.measure(text, CFG).n_words > 50


def test_giant_single_line():
    text = ("Plenty of words here, and the document goes on with more of them. " * 80_000)[:5_000_000]
    stats = gq.measure(text, CFG)
    assert stats.n_words > 100_000
    assert reason(text) == gq.TOO_MANY_WORDS


def test_apply_sets_columns_and_leaves_dead_rows():
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "text": [doc(), "too short", doc()],
            "reason": pa.array([None, None, "earlier_stage"], pa.string()),
        }
    )
    out = gq.apply(table, CFG)
    assert out.column("reason").to_pylist() == [None, gq.TOO_FEW_WORDS, "earlier_stage"]
    assert out.column("gopher_n_words").to_pylist() == [72, 2, None]
    assert out.column("text").to_pylist() == table.column("text").to_pylist()
    for f in dataclasses.fields(gq.Stats):
        assert out.column(f"gopher_{f.name}")[2].as_py() is None
