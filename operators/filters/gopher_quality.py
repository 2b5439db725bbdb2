"""Gopher quality rules (Rae et al. 2021, "Scaling Language Models", App. A.1.1), as in datatrove.

A document is dropped when (defaults = the published values):

* it has fewer than 50 or more than 100,000 non-symbol words;
* the mean length of those words is below 3 or above 10 characters;
* ``#`` per word, or ellipses (``...`` and ``…``) per word, exceed 0.1;
* more than 90 % of its lines start with a bullet (``•`` or ``-``, after leading spaces);
* more than 30 % of its lines end with an ellipsis;
* fewer than 80 % of its words contain an alphabetic character;
* it contains fewer than 2 of the stop words {the, be, to, of, and, that, have, with}.

Counting, matched to datatrove's ``GopherQualityFilter``: "words" are all tokens from
:func:`operators.filters.text.split_words` (punctuation tokens included) and are the
denominator of the ``#``, ellipsis and alphabetic ratios; "non-symbol words" drop tokens made
only of punctuation/symbols and are what the word count and mean length use. Lines are
``str.splitlines()``. Stop words are matched case-sensitively on tokens, as datatrove does.
Because punctuation tokens are in the denominator of the alphabetic share (datatrove's
choice; Gopher says "words"), prose heavy in numbers and commas can fall under 0.8: on 30
real Common Crawl documents 3 are dropped for it that whitespace splitting would keep
(``tests/test_filter_parity.py``).

Stop words, distinct or occurrences: by default we count **distinct** stop words present
(``stop_word_count="distinct"``): Gopher's wording is "at least two of the following English
words", and datatrove's current ``main`` counts ``len(stop_words & set(words))``. datatrove
releases up to 0.2 (the ones FineWeb was built with) counted **occurrences**
(``sum(w in stop_words for w in words)``); set ``stop_word_count="occurrences"`` for that.
Both numbers are kept as columns.

Tokenizer: :mod:`operators.filters.text` follows spaCy's English rules (what datatrove uses);
its docstring lists the remaining differences.

``count="dolma"`` reproduces dolma 1.2.1's ``gopher_v1`` tagger as its mixer applies it
(``dolma/taggers/gopher.py``, ``get_attributes``), **not** the Gopher paper: words are
``str.split()`` whitespace words, all of them counted (no symbol words left out) and the
denominator of every word ratio; ``mean_word_length`` holds the **median** word length (0 for
no words); ``hash_ratio`` holds dolma's one ``symbol_to_word_ratio`` (words *containing* ``#``
or ``…``; ``...`` does not count), checked against ``max_hash_ratio`` only, and
``ellipsis_ratio`` the same value (not checked); lines are ``text.split("\n")``, a bullet line
starts with a bullet at its first character, an ellipsis line ends with ``…`` at its last
character; a word has a letter when one character ``isalpha()``; stop words are exact
whitespace words (``stop_word_count: occurrences`` and ``bullets: ["*", "-"]`` are dolma's
choices, set them in the config). Ratios are rounded to 5 decimals, as dolma writes its
attributes, so a value the mixer sees as equal to the threshold passes.

>>> text = " ".join(["the quick brown fox jumps over the lazy dog with some style"] * 5)
>>> decide(measure(text, Config()), Config()) is None
True
>>> decide(measure("the cat sat", Config()), Config())
'gopher_too_few_words'
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from operators.config import ConfigError
from operators.filters.base import apply_filter
from operators.filters.text import has_alpha, is_symbol_token, ratio, split_words

STAGE = "gopher_quality"
PREFIX = "gopher"

TOO_FEW_WORDS = "gopher_too_few_words"
TOO_MANY_WORDS = "gopher_too_many_words"
SHORT_MEAN_WORD_LENGTH = "gopher_short_mean_word_length"
LONG_MEAN_WORD_LENGTH = "gopher_long_mean_word_length"
TOO_MANY_HASHES = "gopher_too_many_hashes"
TOO_MANY_ELLIPSES = "gopher_too_many_ellipses"
TOO_MANY_BULLET_LINES = "gopher_too_many_bullet_lines"
TOO_MANY_ELLIPSIS_LINES = "gopher_too_many_ellipsis_lines"
TOO_FEW_ALPHA_WORDS = "gopher_too_few_alpha_words"
TOO_FEW_STOP_WORDS = "gopher_too_few_stop_words"

REASONS: tuple[str, ...] = (
    TOO_FEW_WORDS,
    TOO_MANY_WORDS,
    SHORT_MEAN_WORD_LENGTH,
    LONG_MEAN_WORD_LENGTH,
    TOO_MANY_HASHES,
    TOO_MANY_ELLIPSES,
    TOO_MANY_BULLET_LINES,
    TOO_MANY_ELLIPSIS_LINES,
    TOO_FEW_ALPHA_WORDS,
    TOO_FEW_STOP_WORDS,
)

COUNT_MODES: tuple[str, ...] = ("paper", "dolma")
DOLMA_PRECISION = 5  # dolma writes tagger scores rounded to 5 decimals (TAGGER_SCORE_PRECISION)

GOPHER_STOP_WORDS: tuple[str, ...] = ("the", "be", "to", "of", "and", "that", "have", "with")


@dataclass(frozen=True)
class Config:
    """Gopher quality thresholds; ``None`` disables a rule.

    Attributes:
        min_words: drop below this many non-symbol words (50).
        max_words: drop above this many non-symbol words (100,000).
        min_mean_word_length: drop when the mean non-symbol word length is below this (3).
        max_mean_word_length: drop when it is above this (10).
        max_hash_ratio: drop when ``#`` count / words exceeds this (0.1).
        max_ellipsis_ratio: drop when (``...`` + ``…``) count / words exceeds this (0.1).
        max_bullet_lines_ratio: drop when the share of lines starting with a bullet exceeds this (0.9).
        max_ellipsis_lines_ratio: drop when the share of lines ending in an ellipsis exceeds this (0.3).
        min_alpha_words_ratio: drop when the share of words with a letter is below this (0.8).
        min_stop_words: drop when fewer stop words than this are present (2).
        stop_words: the stop-word list (Gopher's eight words).
        stop_word_count: ``"distinct"`` (Gopher wording, datatrove main) or ``"occurrences"``
            (datatrove <= 0.2).
        bullets: line prefixes that count as bullets (datatrove: ``•`` and ``-``).
        count: ``"paper"`` (Gopher paper / datatrove counting) or ``"dolma"`` (dolma 1.2.1's
            ``gopher_v1`` tagger, see the module docstring); None means ``"paper"``.
    """

    min_words: int | None = 50
    max_words: int | None = 100_000
    min_mean_word_length: float | None = 3.0
    max_mean_word_length: float | None = 10.0
    max_hash_ratio: float | None = 0.1
    max_ellipsis_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    min_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: tuple[str, ...] = GOPHER_STOP_WORDS
    stop_word_count: Literal["distinct", "occurrences"] = "distinct"
    bullets: tuple[str, ...] = ("•", "-")
    count: Literal["paper", "dolma"] = "paper"

    def __post_init__(self) -> None:
        if self.count is None:  # a config with every field set to None (all rules off) counts as the paper
            object.__setattr__(self, "count", "paper")
        if self.count not in COUNT_MODES:
            raise ConfigError(f"gopher_quality.count must be one of {', '.join(COUNT_MODES)}, got {self.count!r} "
                              "(paper: the Gopher paper / datatrove; dolma: dolma's gopher_v1 tagger)")


@dataclass
class Stats:
    """What :func:`measure` found; one ``gopher_<field>`` column each."""

    n_words: int
    n_tokens: int
    mean_word_length: float | None
    hash_ratio: float
    ellipsis_ratio: float
    bullet_lines_ratio: float
    ellipsis_lines_ratio: float
    alpha_words_ratio: float | None
    stop_words: int
    stop_word_occurrences: int


_WORD, _ALPHA = 1, 2
_CLASS_CACHE_LIMIT = 500_000
_token_classes: dict[str, int] = {}


def _classify(token: str) -> int:
    """``_WORD`` if ``token`` is a non-symbol word, ``| _ALPHA`` if it has a letter."""
    word = _WORD if token[0].isalnum() or not is_symbol_token(token) else 0
    return word | (_ALPHA if has_alpha(token) else 0)


def _median(values: list[int]) -> float:
    """The median of ``values`` (0.0 when empty), as dolma's ``robust_median``."""
    if not values:
        return 0.0
    values = sorted(values)
    mid = len(values) // 2
    return float(values[mid]) if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _dolma_has(counts: Counter, test) -> int:
    return sum(c for w, c in counts.items() if test(w))


def measure_dolma(text: str, cfg: Config) -> Stats:
    """The statistics as dolma 1.2.1's ``gopher_v1`` tagger counts them (``count="dolma"``)."""
    words = text.split()
    n = len(words)
    counts = Counter(words)  # test each distinct word once
    symbol = _dolma_has(counts, lambda w: "#" in w or "\u2026" in w)
    alpha = _dolma_has(counts, has_alpha)
    lines = text.split("\n")
    bullets = tuple(cfg.bullets)
    n_bullet = sum(1 for line in lines if line.startswith(bullets)) if bullets else 0
    n_ell_lines = sum(1 for line in lines if line.endswith("\u2026"))
    stop = frozenset(cfg.stop_words)
    sym_ratio = round(symbol / max(n, 1), DOLMA_PRECISION)
    return Stats(
        n_words=n,
        n_tokens=n,
        mean_word_length=_median([len(w) for w in words]),
        hash_ratio=sym_ratio,
        ellipsis_ratio=sym_ratio,
        bullet_lines_ratio=round(n_bullet / max(len(lines), 1), DOLMA_PRECISION),
        ellipsis_lines_ratio=round(n_ell_lines / max(len(lines), 1), DOLMA_PRECISION),
        alpha_words_ratio=round(alpha / max(n, 1), DOLMA_PRECISION),
        stop_words=len(stop.intersection(counts)),
        stop_word_occurrences=sum(counts[w] for w in stop),
    )


def measure(text: str, cfg: Config) -> Stats:
    """Measure the Gopher quality statistics of ``text``."""
    if cfg.count == "dolma":
        return measure_dolma(text, cfg)
    tokens = split_words(text)
    n_tokens = len(tokens)
    counts = Counter(tokens)  # classify each distinct token once
    n_words = n_word_chars = n_alpha = 0
    classes = _token_classes
    for token, count in counts.items():
        cls = classes.get(token)
        if cls is None:
            cls = _classify(token)
            if len(classes) >= _CLASS_CACHE_LIMIT:
                classes.clear()
            classes[token] = cls
        if cls & _WORD:
            n_words += count
            n_word_chars += len(token) * count
        if cls & _ALPHA:
            n_alpha += count
    mean_len = n_word_chars / n_words if n_words else None
    lines = text.splitlines()
    bullets = tuple(cfg.bullets)
    n_bullet = sum(1 for line in lines if line.lstrip().startswith(bullets)) if bullets else 0
    n_ell_lines = sum(1 for line in lines if line.rstrip().endswith(("...", "…")))
    stop = frozenset(cfg.stop_words)
    return Stats(
        n_words=n_words,
        n_tokens=n_tokens,
        mean_word_length=mean_len,
        hash_ratio=ratio(text.count("#"), n_tokens),
        ellipsis_ratio=ratio(text.count("...") + text.count("…"), n_tokens),
        bullet_lines_ratio=ratio(n_bullet, len(lines)),
        ellipsis_lines_ratio=ratio(n_ell_lines, len(lines)),
        alpha_words_ratio=n_alpha / n_tokens if n_tokens else None,
        stop_words=len(stop.intersection(counts)),
        stop_word_occurrences=sum(counts[w] for w in stop),
    )


def decide(stats: Stats, cfg: Config) -> str | None:
    """The first Gopher quality rule ``stats`` breaks (datatrove's order), or None."""
    if cfg.min_words is not None and stats.n_words < cfg.min_words:
        return TOO_FEW_WORDS
    if cfg.max_words is not None and stats.n_words > cfg.max_words:
        return TOO_MANY_WORDS
    mean = stats.mean_word_length
    if mean is not None:
        if cfg.min_mean_word_length is not None and mean < cfg.min_mean_word_length:
            return SHORT_MEAN_WORD_LENGTH
        if cfg.max_mean_word_length is not None and mean > cfg.max_mean_word_length:
            return LONG_MEAN_WORD_LENGTH
    if cfg.max_hash_ratio is not None and stats.hash_ratio > cfg.max_hash_ratio:
        return TOO_MANY_HASHES
    if (cfg.max_ellipsis_ratio is not None and cfg.count == "paper"  # dolma: one ratio, in hash_ratio
            and stats.ellipsis_ratio > cfg.max_ellipsis_ratio):
        return TOO_MANY_ELLIPSES
    if cfg.max_bullet_lines_ratio is not None and stats.bullet_lines_ratio > cfg.max_bullet_lines_ratio:
        return TOO_MANY_BULLET_LINES
    if cfg.max_ellipsis_lines_ratio is not None and stats.ellipsis_lines_ratio > cfg.max_ellipsis_lines_ratio:
        return TOO_MANY_ELLIPSIS_LINES
    alpha = stats.alpha_words_ratio
    if cfg.min_alpha_words_ratio is not None and alpha is not None and alpha < cfg.min_alpha_words_ratio:
        return TOO_FEW_ALPHA_WORDS
    if cfg.min_stop_words is not None:
        n_stop = stats.stop_words if cfg.stop_word_count == "distinct" else stats.stop_word_occurrences
        if n_stop < cfg.min_stop_words:
            return TOO_FEW_STOP_WORDS
    return None


def apply(table: pa.Table, cfg: Config) -> pa.Table:
    """Add ``gopher_*`` columns to the alive rows of ``table`` and name rejects in ``reason``."""
    return apply_filter(table, PREFIX, measure, decide, cfg, Stats)
