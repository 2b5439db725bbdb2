"""Gopher repetition: every reason from an inline text, edge cases, speed-bound inputs, apply()."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from operators.filters import gopher_repetition as gr

CFG = gr.Config()
RULES = [f.name for f in dataclasses.fields(gr.Config)]


def only(rule: str) -> gr.Config:
    """A config with every rule disabled except ``rule`` (at its default)."""
    return gr.Config(**{name: (getattr(CFG, name) if name == rule else None) for name in RULES})


def unique_words(n: int, start: int = 0) -> list[str]:
    return [f"w{chr(97 + i % 26)}{i:05d}" for i in range(start, start + n)]


def prose(n_words: int, start: int = 0) -> str:
    return " ".join(unique_words(n_words, start))


def test_defaults_equal_table_a1():
    assert (CFG.max_duplicate_lines, CFG.max_duplicate_line_chars) == (0.30, 0.20)
    assert (CFG.max_duplicate_paragraphs, CFG.max_duplicate_paragraph_chars) == (0.30, 0.20)
    assert (CFG.max_top_2gram_share, CFG.max_top_3gram_share, CFG.max_top_4gram_share) == (0.20, 0.18, 0.16)
    dup = [getattr(CFG, f"max_duplicate_{n}gram_share") for n in range(5, 11)]
    assert dup == [0.15, 0.14, 0.13, 0.12, 0.11, 0.10]


def test_unique_prose_is_kept():
    text = "\n\n".join(prose(40, 40 * i) for i in range(5))
    assert gr.decide(gr.measure(text, CFG), CFG) is None


BOILER = prose(20, 500)  # a long repeated block: 1 duplicate in 10, but a quarter of the characters
SHORT = [prose(5, 10 * i) for i in range(8)]


@pytest.mark.parametrize(
    ("rule", "text", "expected"),
    [
        ("max_duplicate_paragraphs", "\n\n".join([prose(5), "ok", "ok", "ok", "ok"]), gr.TOO_MANY_DUPLICATE_PARAGRAPHS),
        ("max_duplicate_paragraph_chars", "\n\n".join([BOILER, BOILER, *SHORT]), gr.TOO_MANY_DUPLICATE_PARAGRAPH_CHARS),
        ("max_duplicate_lines", "\n".join([prose(5), "ok", "ok", "ok", "ok"]), gr.TOO_MANY_DUPLICATE_LINES),
        ("max_duplicate_line_chars", "\n".join([BOILER, BOILER, *SHORT]), gr.TOO_MANY_DUPLICATE_LINE_CHARS),
        ("max_top_2gram_share", prose(20) + " new york" * 10 + " " + prose(10, 30), gr.TOP_NGRAM_REASONS[2]),
        ("max_top_3gram_share", prose(20) + " in new york" * 7 + " " + prose(10, 30), gr.TOP_NGRAM_REASONS[3]),
        ("max_top_4gram_share", prose(20) + " live in new york" * 4 + " " + prose(10, 30), gr.TOP_NGRAM_REASONS[4]),
    ]
    + [
        (f"max_duplicate_{n}gram_share", prose(10) + " " + " ".join([prose(n, 100)] * 3), gr.DUPLICATE_NGRAM_REASONS[n])
        for n in range(5, 11)
    ],
)
def test_each_reason(rule, text, expected):
    assert gr.decide(gr.measure(text, only(rule)), only(rule)) == expected
    disabled = dataclasses.replace(only(rule), **{rule: None})
    assert gr.decide(gr.measure(text, disabled), disabled) is None


def test_top_ngram_counts_the_first_of_equally_frequent_ngrams():
    # "aa bb" and "cc dd" both occur twice; the first one in the text wins (Counter.most_common)
    text = "aa bb x cc dd y aa bb z cc dddddddddd cc dd"
    stats = gr.measure(text, CFG)
    assert stats.top_2gram_share == pytest.approx(len("aa bb") * 2 / len(text))


def test_duplicate_ngrams_count_non_overlapping_windows():
    # six identical words: 5-grams at positions 0 and 1 are equal; position 1 is a repeat,
    # the walk then jumps 5 words (past the end): 5 characters counted, not more.
    text = "a a a a a a"
    assert gr.measure(text, CFG).duplicate_5gram_share == pytest.approx(5 / len(text))


@pytest.mark.parametrize("text", ["", "   ", "\n\n\n", "单"])
def test_empty_whitespace_and_tiny(text):
    stats = gr.measure(text, CFG)
    assert stats.duplicate_5gram_share == 0.0
    assert stats.duplicate_lines <= 1.0


def test_cjk_text():
    text = "这是第一段文字。\n\n这是第二段文字。\n\n这是第一段文字。"
    stats = gr.measure(text, CFG)
    assert stats.duplicate_paragraphs == pytest.approx(1 / 3)
    assert gr.decide(stats, CFG) == gr.TOO_MANY_DUPLICATE_PARAGRAPHS


def test_invalid_surrogates_do_not_crash():
    text = "bad \ud800 text " * 50
    stats = gr.measure(text, CFG)
    assert stats.duplicate_5gram_share > 0.5


def test_five_megabyte_single_line_and_100k_words():
    repetitive = ("lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 90_000)[:5_000_000]
    stats = gr.measure(repetitive, CFG)
    assert stats.duplicate_10gram_share > 0.8
    assert stats.top_2gram_share < 0.2 < stats.top_3gram_share  # "lorem ipsum" x 90k = 19.8 %
    assert gr.decide(stats, CFG) == gr.TOP_NGRAM_REASONS[3]
    distinct = prose(100_000)
    stats = gr.measure(distinct, CFG)
    assert stats.duplicate_5gram_share == 0.0
    assert stats.top_2gram_share == pytest.approx(len(" ".join(unique_words(2))) / len(distinct))


def test_apply_sets_columns_and_leaves_dead_rows():
    table = pa.table(
        {
            "text": [prose(80), "\n".join(["same line"] * 5), "\n".join(["x"] * 9)],
            "reason": pa.array([None, None, "url_blocked_domain"], pa.string()),
        }
    )
    out = gr.apply(table, CFG)
    assert out.column("reason").to_pylist() == [None, gr.TOO_MANY_DUPLICATE_LINES, "url_blocked_domain"]
    assert out.column("gopher_rep_duplicate_lines").to_pylist() == [0.0, 0.8, None]


def _walk(words: list[str], n: int) -> int:
    """datatrove's duplicated n-gram walk, written out literally (module docstring)."""
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    seen: set[tuple[str, ...]] = set()
    total, idx = 0, 0
    while idx < len(grams):
        if grams[idx] in seen:
            total += sum(map(len, grams[idx]))
            idx += n
        else:
            seen.add(grams[idx])
            idx += 1
    return total


@pytest.mark.parametrize("py_walk_max", [0, 10**9])
def test_duplicate_ngram_walk_matches_the_literal_walk_on_both_paths(monkeypatch, py_walk_max):
    """The Python loop (few repeats) and the numpy chain walk (many) both give the literal
    walk's duplicated characters, on random texts with small vocabularies."""
    import random

    monkeypatch.setattr(gr, "_PY_WALK_MAX", py_walk_max)
    rng = random.Random(7)
    for _ in range(60):
        vocab = [f"w{i}" * rng.randint(1, 3) for i in range(rng.randint(1, 12))]
        words = [rng.choice(vocab) for _ in range(rng.randint(0, 300))]
        text = " ".join(words)
        stats = gr.measure(text, gr.Config())
        for n in range(5, 11):
            assert getattr(stats, f"duplicate_{n}gram_share") == gr.ratio(_walk(words, n), len(text)), (n, text)
