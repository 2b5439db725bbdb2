"""FineWeb quality rules (Penedo et al. 2024, "The FineWeb Datasets", §3.3.4), as in datatrove.

A document is dropped when (defaults = the published values):

* the share of lines ending in terminal punctuation is below 0.12;
* the share of lines of at most 30 characters is above 0.67;
* characters in duplicate lines / characters (newlines excluded) is above 0.01;
* newlines per word is above 0.3.

Definitions, matched to datatrove's ``FineWebQualityFilter`` (``main``): lines are the text
split on ``\\n`` with blank (whitespace-only) lines dropped; a line "ends in terminal
punctuation" when its raw text (not stripped) ends with one of ``stop_chars``; a duplicate
line is one equal to an earlier non-blank line and contributes its length; newlines are all
``\\n`` in the text, words are :func:`operators.filters.text.split_words` tokens (datatrove:
spaCy tokens, punctuation included). A document with no non-blank line is dropped as
``fineweb_empty`` (datatrove's ``"empty"``).

Differences from the datatrove release FineWeb was built with (0.2): it kept blank lines in
the line ratios, dropped at ``<=`` / ``>=`` instead of ``<`` / ``>`` for the first three
rules, and its stop characters were ``. ' " ! ?`` (our default; datatrove ``main`` defaults to
a larger multilingual set, settable here through ``stop_chars``).

>>> text = "\\n".join(f"This is line number {i} of a proper paragraph." for i in range(5))
>>> decide(measure(text, Config()), Config()) is None
True
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from operators.filters.base import apply_filter
from operators.filters.text import find_duplicates, ratio, split_words

STAGE = "fineweb"
PREFIX = "fineweb"

EMPTY = "fineweb_empty"
FEW_TERMINAL_PUNCT_LINES = "fineweb_few_terminal_punct_lines"
TOO_MANY_SHORT_LINES = "fineweb_too_many_short_lines"
DUPLICATE_LINES = "fineweb_duplicate_lines"
TOO_MANY_NEWLINES = "fineweb_too_many_newlines"

REASONS: tuple[str, ...] = (EMPTY, FEW_TERMINAL_PUNCT_LINES, TOO_MANY_SHORT_LINES, DUPLICATE_LINES, TOO_MANY_NEWLINES)


@dataclass(frozen=True)
class Config:
    """FineWeb thresholds; ``None`` disables a rule.

    Attributes:
        min_terminal_punct_lines: drop when the share of lines ending in ``stop_chars`` is below this (0.12).
        max_short_lines: drop when the share of lines of at most ``short_line_length`` characters is above this (0.67).
        short_line_length: a line this long or shorter is short (30).
        max_duplicate_line_chars: drop when duplicate-line characters / characters exceeds this (0.01).
        max_newlines_per_word: drop when ``\\n`` count / words exceeds this (0.3).
        stop_chars: line endings that count as terminal punctuation.
        keep_zero_terminal_punct: keep documents with no punctuated line at all (datatrove's
            ``line_punct_exclude_zero``, for languages without Latin punctuation; False).
    """

    min_terminal_punct_lines: float | None = 0.12
    max_short_lines: float | None = 0.67
    short_line_length: int = 30
    max_duplicate_line_chars: float | None = 0.01
    max_newlines_per_word: float | None = 0.3
    stop_chars: tuple[str, ...] = (".", "'", '"', "!", "?")
    keep_zero_terminal_punct: bool = False


@dataclass
class Stats:
    """What :func:`measure` found; one ``fineweb_<field>`` column each."""

    n_lines: int
    terminal_punct_lines: float
    short_lines: float
    duplicate_line_chars: float
    newlines_per_word: float


def measure(text: str, cfg: Config) -> Stats:
    """Measure the FineWeb statistics of ``text``."""
    lines = [line for line in text.split("\n") if line.strip()]
    stop = tuple(cfg.stop_chars)
    n_punct = sum(1 for line in lines if line.endswith(stop)) if stop else 0
    n_short = sum(1 for line in lines if len(line) <= cfg.short_line_length)
    _, dup_chars = find_duplicates(lines)
    n_newlines = text.count("\n")
    n_words = len(split_words(text))
    return Stats(
        n_lines=len(lines),
        terminal_punct_lines=ratio(n_punct, len(lines)),
        short_lines=ratio(n_short, len(lines)),
        duplicate_line_chars=ratio(dup_chars, len(text) - n_newlines),
        newlines_per_word=n_newlines / n_words if n_words else float(n_newlines),
    )


def decide(stats: Stats, cfg: Config) -> str | None:
    """The first FineWeb rule ``stats`` breaks (datatrove's order), or None."""
    if stats.n_lines == 0:
        return EMPTY
    punct = stats.terminal_punct_lines
    if cfg.min_terminal_punct_lines is not None and punct < cfg.min_terminal_punct_lines:
        if not (punct == 0 and cfg.keep_zero_terminal_punct):
            return FEW_TERMINAL_PUNCT_LINES
    if cfg.max_short_lines is not None and stats.short_lines > cfg.max_short_lines:
        return TOO_MANY_SHORT_LINES
    if cfg.max_duplicate_line_chars is not None and stats.duplicate_line_chars > cfg.max_duplicate_line_chars:
        return DUPLICATE_LINES
    if cfg.max_newlines_per_word is not None and stats.newlines_per_word > cfg.max_newlines_per_word:
        return TOO_MANY_NEWLINES
    return None


def apply(table: pa.Table, cfg: Config) -> pa.Table:
    """Add ``fineweb_*`` columns to the alive rows of ``table`` and name rejects in ``reason``."""
    return apply_filter(table, PREFIX, measure, decide, cfg, Stats)
