"""FineWeb quality: every reason from an inline text, edge cases, apply()."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from operators.filters import fineweb as fw

CFG = fw.Config()
RULES = ["min_terminal_punct_lines", "max_short_lines", "max_duplicate_line_chars", "max_newlines_per_word"]


def only(rule: str) -> fw.Config:
    return dataclasses.replace(CFG, **{r: None for r in RULES if r != rule})


def line(i: int, end: str = ".") -> str:
    return f"This is the fairly long line number {i} of the text{end}"


def test_defaults_equal_published_values():
    assert (CFG.min_terminal_punct_lines, CFG.max_short_lines, CFG.short_line_length) == (0.12, 0.67, 30)
    assert (CFG.max_duplicate_line_chars, CFG.max_newlines_per_word) == (0.01, 0.3)


def test_clean_text_is_kept():
    assert fw.decide(fw.measure("\n".join(line(i) for i in range(8)), CFG), CFG) is None


@pytest.mark.parametrize(
    ("rule", "text", "expected"),
    [
        ("min_terminal_punct_lines", "\n".join(line(i, "") for i in range(10)), fw.FEW_TERMINAL_PUNCT_LINES),
        ("max_short_lines", "\n".join(["Home.", "About.", "Contact.", line(1)]), fw.TOO_MANY_SHORT_LINES),
        ("max_duplicate_line_chars", "\n".join([line(1), line(2), line(1)]), fw.DUPLICATE_LINES),
        ("max_newlines_per_word", "one\n\ntwo\n\nthree.", fw.TOO_MANY_NEWLINES),
    ],
)
def test_each_reason(rule, text, expected):
    assert fw.decide(fw.measure(text, only(rule)), only(rule)) == expected
    off = dataclasses.replace(only(rule), **{rule: None})
    assert fw.decide(fw.measure(text, off), off) is None


def test_zero_punctuation_can_be_exempt():
    text = "\n".join(line(i, "") for i in range(10))
    cfg = dataclasses.replace(only("min_terminal_punct_lines"), keep_zero_terminal_punct=True)
    assert fw.decide(fw.measure(text, cfg), cfg) is None


@pytest.mark.parametrize("text", ["", "   ", "\n\n \n"])
def test_empty(text):
    assert fw.decide(fw.measure(text, CFG), CFG) == fw.EMPTY


def test_cjk_and_surrogates_and_giant_line():
    cjk = "\n".join(["这是一个很长的中文句子，用来测试没有西文标点的情况。"] * 3)
    assert fw.decide(fw.measure(cjk, CFG), CFG) == fw.FEW_TERMINAL_PUNCT_LINES  # 。 is not in the default set
    cfg = dataclasses.replace(CFG, stop_chars=("。",))
    assert fw.measure(cjk, cfg).terminal_punct_lines == 1.0
    assert fw.measure(line(1) + " \ud800.", CFG).terminal_punct_lines == 1.0
    giant = ("word " * 1_000_000) + "end."
    assert fw.decide(fw.measure(giant, CFG), CFG) is None


def test_apply():
    table = pa.table({"text": [line(1), "", line(2)], "reason": pa.array([None, None, "x"], pa.string())})
    out = fw.apply(table, CFG)
    assert out.column("reason").to_pylist() == [None, fw.EMPTY, "x"]
    assert out.column("fineweb_n_lines").to_pylist() == [1, 0, None]
