"""RefinedWeb line-wise corrections: each rule, the 5 % threshold, exact rewritten text, apply()."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from operators.config import ConfigError, from_dict
from operators.filters import refinedweb as rw

CFG = rw.Config()
PROSE = "The quick brown fox jumps over the lazy dog."  # 9 words, kept by every rule


def correct(text: str, cfg: rw.Config = CFG) -> tuple[str, rw.Stats]:
    return rw.correct(text, cfg)


def test_clean_text_is_unchanged_byte_for_byte():
    text = "Line one is here, fine.\r\n\r\n  Indented line two is here.\n\nLast line of prose.\n"
    cleaned, s = correct(text)
    assert cleaned == text
    assert (s.n_lines, s.removed_words, s.removed_ratio) == (3, 0, 0.0)


@pytest.mark.parametrize(
    ("line", "removed"),
    [
        ("ABcd", False),  # exactly half upper case: kept
        ("ABCd", True),
        ("AB cd", False),  # the space counts in the length (DCLM)
        ("ABC d", True),
        ("  ABC", True),  # 3 of 5 characters
        ("    ABC", False),  # 3 of 7: indentation counts too
        ("SHARE THIS ARTICLE NOW", True),
        ("Title Case Heading Here", False),
    ],
)
def test_uppercase_rule_boundary(line, removed):
    _, s = correct(line)
    assert s.removed_uppercase == int(removed)


def test_numeric_counter_and_one_word_rules():
    lines = [
        "2024",  # numeric
        "1 2 3",  # numeric (spaces between digits allowed)
        "3 likes",  # counter
        "1.2K shares",
        "(12 comments)",
        "- 9 Comments",
        "1 reply",
        "Menu",  # one word
        "12,345",  # not only digits: one word
        "12 comments so far on this post",  # a sentence, not a counter
        "likes 3",  # kept: two words, not a counter
        "3.14 is pi",
    ]
    cleaned, s = correct("\n".join(lines))
    assert (s.removed_numeric, s.removed_counter, s.removed_one_word) == (2, 5, 2)
    assert cleaned == "12 comments so far on this post\nlikes 3\n3.14 is pi"
    assert s.removed_words == 1 + 3 + 2 + 2 + 2 + 3 + 2 + 1 + 1


def test_one_word_rule_skips_scripts_without_spaces():
    cleaned, s = correct("今天天气很好，我们去公园散步。\nสวัสดีครับ\n안녕하세요\nHome")
    assert cleaned == "今天天气很好，我们去公园散步。\nสวัสดีครับ"
    assert s.removed_one_word == 2  # Korean is written with spaces: a one-word line there is removed


def test_patterns_are_cut_from_short_lines():
    lines = [
        "Sign-in to comment",  # prefix: "to comment"
        "Read the full story. Read more...",  # suffix
        "You have 3 items in cart today",  # anywhere
        "3 items in cart",  # nothing but a digit left: removed
        "» Read more...",  # nothing but punctuation left: removed
        "Logins are not patterns here",  # word boundary
        "one two three four five six seven eight nine ten read more",  # 11 words: too long to edit
    ]
    cleaned, s = correct("\n".join(lines))
    assert cleaned.split("\n") == [
        "to comment",
        "Read the full story.",
        "You have 3 today",
        "Logins are not patterns here",
        "one two three four five six seven eight nine ten read more",
    ]
    assert (s.edited_lines, s.removed_edited) == (5, 2)
    assert s.removed_words == 1 + 2 + 3 + 4 + 3


def test_prefix_and_suffix_in_one_line_and_long_whitespace_runs():
    cleaned, s = correct("login   Read more...\nitems in cart today is fine")
    assert cleaned == "today is fine"
    assert (s.edited_lines, s.removed_edited, s.removed_words) == (2, 1, 3 + 3)
    start = time.process_time()
    for line in ("read more" + " " * 200_000 + "x sign in", "x" + " " * 200_000 + "read more"):
        correct(line)
    assert time.process_time() - start < 1.0  # a regular expression with a leading \s* would be quadratic here


def test_one_word_rule_comes_before_patterns():
    _, s = correct("Login")
    assert (s.removed_one_word, s.edited_lines) == (1, 0)


def test_blank_lines_are_kept_and_removed_lines_vanish():
    cleaned, _ = correct("Para one has words here.\n\nMenu\n\nPara two has words here.")
    assert cleaned == "Para one has words here.\n\n\nPara two has words here."


def test_removed_ratio_threshold_boundary():
    body = ["one two three four five"] * 19 + ["Menu"] * 5  # 95 + 5 = 100 words, 5 removed
    s = rw.measure("\n".join(body), CFG)
    assert (s.n_words, s.removed_words, s.removed_ratio) == (100, 5, 0.05)
    assert rw.decide(s, CFG) is None  # exactly 5 %: kept
    s = rw.measure("\n".join(body + ["Menu"]), CFG)
    assert s.removed_words == 6 and rw.decide(s, CFG) == rw.TOO_MUCH_REMOVED
    off = rw.Config(max_removed_ratio=None)
    assert rw.decide(rw.measure("Menu\nHome", off), off) is None


def test_rules_can_be_turned_off():
    text = "SHOUTING LINE HERE\n2024\n3 likes\nMenu\nSign-in to comment"
    cfg = rw.Config(
        max_uppercase_ratio=None,
        drop_numeric_lines=False,
        counter_words=(),
        min_words_per_line=None,
        prefix_patterns=(),
        suffix_patterns=(),
        anywhere_patterns=(),
    )
    cleaned, s = correct(text, cfg)
    assert cleaned == text and s.removed_words == 0


def test_empty_whitespace_and_giant_line():
    for text in ("", "   ", "\n\n"):
        cleaned, s = correct(text)
        assert cleaned == text and (s.n_lines, s.n_words, s.removed_ratio) == (0, 0, 0.0)
        assert rw.decide(s, CFG) is None
    giant = " ".join(["word"] * 200_000)
    start = time.process_time()
    cleaned, s = correct(giant)
    assert time.process_time() - start < 2.0
    assert cleaned == giant and s.n_words == 200_000


def _table() -> pa.Table:
    good = "\n".join([PROSE] * 30 + ["12 likes"])  # 2 of 272 words removed: kept and cleaned
    bad = "\n".join([PROSE, "Menu", "Home", "About"])  # 3 of 12 words removed: dropped
    return pa.table(
        {
            "id": ["dead", "good", "bad", "skipped"],
            "text": ["Menu\n" + PROSE, good, bad, "Menu\n" + PROSE],
            "reason": ["earlier_stage", None, None, None],
            "skip": [None, None, None, "request"],
        }
    )


def test_apply_rewrites_only_kept_alive_rows():
    table = _table()
    out = rw.apply(table, CFG)
    assert out.column("reason").to_pylist() == ["earlier_stage", None, rw.TOO_MUCH_REMOVED, None]
    texts = out.column("text").to_pylist()
    assert texts[0] == "Menu\n" + PROSE  # dead before this stage: untouched
    assert texts[1] == "\n".join([PROSE] * 30)
    assert texts[2] == table.column("text")[2].as_py()  # dropped here: original kept for review
    assert texts[3] == "Menu\n" + PROSE  # not a document
    assert out.column("refinedweb_removed_words").to_pylist() == [None, 2, 3, None]
    assert out.column("refinedweb_removed_counter").to_pylist() == [None, 1, 0, None]
    assert out.column("refinedweb_removed_ratio").to_pylist()[2] == 0.25
    assert out.schema.field("refinedweb_removed_ratio").type == pa.float64()
    assert out.schema.field("refinedweb_n_words").type == pa.int64()


def test_apply_no_alive_rows():
    out = rw.apply(pa.table({"text": ["Menu"], "reason": ["x"]}), CFG)
    assert out.column("refinedweb_removed_words").to_pylist() == [None]
    assert out.column("text").to_pylist() == ["Menu"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_uppercase_ratio": 1.5}, "filters.refinedweb_lines.max_uppercase_ratio must be in [0, 1]"),
        ({"max_removed_ratio": -0.1}, "filters.refinedweb_lines.max_removed_ratio must be in [0, 1]"),
        ({"min_words_per_line": 0}, "filters.refinedweb_lines.min_words_per_line must be >= 1 or null"),
        ({"max_words_for_patterns": 0}, "filters.refinedweb_lines.max_words_for_patterns must be >= 1"),
        ({"suffix_patterns": ("read more", " ")}, "filters.refinedweb_lines.suffix_patterns holds an empty entry"),
        ({"counter_words": ("likes", "thumbs up")}, "counter_words: 'thumbs up' is not one word"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ConfigError) as err:
        rw.Config(**kwargs)
    assert message in str(err.value)


def test_config_from_yaml_data_and_metadata():
    cfg = from_dict(rw.Config, {"anywhere_patterns": ["add to basket"], "max_removed_ratio": 0.1})
    assert correct("Great item add to basket", cfg)[0] == "Great item"
    with pytest.raises(ConfigError, match="unknown key 'max_removed'"):
        from_dict(rw.Config, {"max_removed": 0.1})
    assert rw.STAGE == "refinedweb_lines" and rw.PREFIX == "refinedweb" and rw.DEFAULT_ON is False
    assert rw.REASONS == ("refinedweb_too_much_removed",)
