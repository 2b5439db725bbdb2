"""C4: line removal (clean), every document reason, bad words by language, apply()."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from operators.filters import c4

CFG = c4.Config()
GOOD = [f"This is a proper sentence number {i} in the text." for i in range(6)]


def reason(text: str, cfg: c4.Config = CFG, language: str | None = None) -> str | None:
    return c4.decide(c4.measure(text, cfg, language), cfg)


def test_clean_removes_each_kind_of_line():
    text = "\n".join(
        [
            "  A good line that ends well.  ",
            "A line without an end",
            "A line that trails off...",
            "Two words.",
            "Enable JavaScript to see this page.",
            "Read our Privacy Policy for details.",
            "This site uses cookies to work.",
            "A line with a " + "x" * 1001 + " word.",
            "Wikipedia says so[1] and more[citation needed] here[edit].",
        ]
    )
    cleaned, s = c4.clean(text, CFG)
    assert cleaned == "A good line that ends well.\nWikipedia says so and more here."
    assert (s.n_lines, s.n_kept_lines) == (9, 2)
    assert s.removed_no_terminal_punct == 2
    assert s.removed_too_few_words == 1
    assert s.removed_javascript == 1
    assert s.removed_policy == 2
    assert s.removed_too_long_word == 1
    assert s.n_sentences == 2


def test_clean_text_is_kept():
    assert reason("\n".join(GOOD)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\n".join(GOOD + ["Lorem ipsum dolor sit amet."]), c4.LOREM_IPSUM),
        ("\n".join(GOOD + ["Use the {braces} wisely here."]), c4.CURLY_BRACKET),
        ("menu\nhome\nabout us", c4.NO_LINES_LEFT),
        ("\n".join(GOOD[:3]), c4.TOO_FEW_SENTENCES),
        ("\n".join(GOOD + ["What a bastard he was, they said."]), c4.BAD_WORDS),
    ],
)
def test_each_reason(text, expected):
    assert reason(text) == expected


def test_curly_bracket_on_a_removed_line_does_not_drop_the_document():
    assert reason("\n".join(GOOD + ["function init() {"])) is None


def test_rules_can_be_disabled():
    off = c4.Config(
        remove_citations=False, terminal_punct=None, drop_ellipsis_lines=False, min_words_per_line=None,
        max_word_length=None, drop_javascript_lines=False, policy_phrases=(), drop_lorem_ipsum=False,
        drop_curly_bracket=False, min_sentences=None, drop_no_lines_left=False, bad_words=False,
    )
    text = "menu {x}\nlorem ipsum\njavascript...\nprivacy policy\nbastard[1]"
    cleaned, s = c4.clean(text, off)
    assert s.n_kept_lines == 5 and "[1]" in cleaned
    assert reason(text, off) is None
    assert reason("", off) is None


def test_bad_words_need_word_boundaries_except_in_cjk():
    base = "\n".join(GOOD)
    assert reason(base + "\nA classic assessment of the class.") is None  # "ass" inside words
    assert reason(base + "\nHe said: BASTARD!") == c4.BAD_WORDS  # case-insensitive
    zh = "\n".join(GOOD) + "\n他说 他妈的 这不行."
    assert reason(zh, language="zh") == c4.BAD_WORDS
    assert reason(zh, language="en") is None  # the English list has no Chinese words


def test_bad_words_allowlist_and_missing_language():
    ja = "\n".join(GOOD) + "\n女の子が公園で遊んでいます。"
    assert reason(ja, language="ja") is None
    stats = c4.measure("\n".join(GOOD), CFG, "xx")
    assert stats.bad_words_checked is False and c4.decide(stats, CFG) is None
    assert c4.measure("\n".join(GOOD), CFG, "en-US").bad_words_checked is True


def test_bundled_lists_load_for_many_languages():
    for lang in ["en", "de", "es", "fr", "it", "ja", "nl", "pt", "ru", "zh"]:
        assert c4.badwords_regex(lang) is not None, lang


def test_custom_badwords_dir(tmp_path):
    (tmp_path / "en.txt").write_text("Frobnicate\n", encoding="utf-8")
    cfg = dataclasses.replace(CFG, badwords_dir=str(tmp_path))
    assert reason("\n".join(GOOD + ["Please frobnicate the widget now."]), cfg) == c4.BAD_WORDS
    assert reason("\n".join(GOOD + ["What a bastard he was, they said."]), cfg) is None


@pytest.mark.parametrize("text", ["", "   \n \t", "这是一个句子。" * 10, "x" * 5_000_000])
def test_edge_cases(text):
    assert reason(text) == c4.NO_LINES_LEFT


def test_invalid_surrogates():
    text = "\n".join(GOOD) + "\nBroken \ud800 character in this line."
    assert reason(text) is None


def test_apply_replaces_text_of_kept_documents_only():
    kept = "\n".join(GOOD + ["menu"])
    table = pa.table(
        {
            "text": [kept, "short", kept, "\n".join(GOOD) + "\n他说 他妈的 这不行."],
            "language": ["en", "en", "en", "zh"],
            "reason": pa.array([None, None, "language_low_score", None], pa.string()),
        }
    )
    out = c4.apply(table, CFG)
    assert out.column("reason").to_pylist() == [None, c4.NO_LINES_LEFT, "language_low_score", c4.BAD_WORDS]
    texts = out.column("text").to_pylist()
    assert texts[0] == "\n".join(GOOD)
    assert texts[1:] == table.column("text").to_pylist()[1:]
    assert out.column("c4_n_sentences").to_pylist() == [6, 0, None, 7]
