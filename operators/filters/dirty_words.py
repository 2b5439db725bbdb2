"""Llama 3's dirty-word counting: drop documents dense in obscene words (adult pages no block list caught).

Source: Llama 3 (Dubey et al. 2024, "The Llama 3 Herd of Models", §3.1.1, heuristic filtering): "we use
dirty word counting (Raffel et al., 2020) to filter out adult websites that are not covered by domain
block lists". Raffel et al. (C4) drop a page on a single word of the LDNOOBW list; Llama 3 *counts*
them, with a threshold Meta did not publish.

What raysift counts: the matches of the document language's LDNOOBW list in the lower-cased text,
exactly as the C4 stage matches them (:func:`operators.filters.c4.badwords_regex`: the bundled lists
in ``data/badwords``, entries lower-cased, C4's ja/zh allowlist removed, whole words except in ja, th
and zh where any substring counts). The language is the ``language`` column (``default_language``
when null); a language without a list is not checked (null count and ratio, ``checked`` false).

* ``dirty_words_count``: the number of (non-overlapping) matches;
* ``dirty_words_n_words``: whitespace-separated words, or non-whitespace characters for ja, th and zh
  (written without spaces: a character stands in for a word);
* ``dirty_words_ratio``: count / n_words.

A document is dropped as ``dirty_words_too_many`` when its count exceeds ``max_count`` (off by
default) and as ``dirty_words_too_dense`` when its ratio exceeds ``max_ratio`` (0.01, one word in a
hundred) while it has at least ``min_count`` (3) matches, so a single word in a short text does not
drop it.

Deviations: the thresholds are raysift's (Meta published none): on 4,479 real texts of news, blogs,
forums and Q&A (the parity corpus of ``benchmarks/parity_dolma.py``) the defaults drop 10 documents
(0.2 %), while C4's any-word rule would drop 232 (5 %). Meta's word list is unknown; LDNOOBW is the
list Raffel et al. used. Its English list holds words with innocent uses ("xx", "sex", "anal",
"suck"), so medical, sex-education and math texts (``xx`` as a variable) can reach the ratio.

>>> s = measure("Free porn, xxx porn and more porn here, see our sexy videos", Config())
>>> (s.count, s.n_words, s.checked)
(5, 12, True)
>>> decide(s, Config())
'dirty_words_too_dense'
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import pyarrow as pa

from operators.config import ConfigError
from operators.filters.base import arrow_types
from operators.filters.c4 import NO_SPACE_LANGUAGES, badwords_regex, normalize_language
from operators.schema import LANGUAGE, TEXT, alive_mask, put_column, with_reason

STAGE = "dirty_words"
PREFIX = "dirty_words"
DEFAULT_ON = False

TOO_MANY = "dirty_words_too_many"
TOO_DENSE = "dirty_words_too_dense"

REASONS: tuple[str, ...] = (TOO_MANY, TOO_DENSE)


@dataclass(frozen=True)
class Config:
    """Dirty-word counting (Llama 3 §3.1.1); ``None`` disables a rule.

    Attributes:
        max_count: drop documents with more matches than this (None: no absolute cut).
        max_ratio: drop documents whose matches per word exceed this (0.01) ...
        min_count: ... when they have at least this many matches (3).
        default_language: language of documents whose ``language`` is null ("en").
        badwords_dir: folder of ``<lang>.txt`` lists to use instead of the bundled LDNOOBW lists.
    """

    max_count: int | None = None
    max_ratio: float | None = 0.01
    min_count: int = 3
    default_language: str = "en"
    badwords_dir: str | None = None

    def __post_init__(self) -> None:
        if self.max_count is not None and self.max_count < 0:
            raise ConfigError(f"filters.dirty_words.max_count must be >= 0 or null, got {self.max_count!r}")
        if self.max_ratio is not None and not 0 <= self.max_ratio < 1:
            raise ConfigError(f"filters.dirty_words.max_ratio must be in [0, 1) or null, got {self.max_ratio!r}")
        if self.min_count < 1:
            raise ConfigError(f"filters.dirty_words.min_count must be >= 1, got {self.min_count!r}")
        if self.max_count is None and self.max_ratio is None:
            raise ConfigError(
                "filters.dirty_words: max_count and max_ratio are both null, so nothing can be dropped; "
                "set one, or turn the stage off with `dirty_words: null`"
            )
        if not self.default_language.strip():
            raise ConfigError("filters.dirty_words.default_language is empty; give a language code such as 'en'")


@dataclass
class Stats:
    """Dirty words found; one ``dirty_words_<field>`` column each (count and ratio null when unchecked)."""

    count: int | None
    n_words: int
    ratio: float | None
    checked: bool


def measure(text: str, cfg: Config, language: str | None = None) -> Stats:
    """Count the dirty words of ``text`` in ``language`` (default ``cfg.default_language``)."""
    lang = normalize_language(language, cfg.default_language)
    n_words = len("".join(text.split())) if lang in NO_SPACE_LANGUAGES else len(text.split())
    pattern = badwords_regex(lang, cfg.badwords_dir)
    if pattern is None:
        return Stats(count=None, n_words=n_words, ratio=None, checked=False)
    count = sum(1 for _ in pattern.finditer(text.lower()))
    return Stats(count=count, n_words=n_words, ratio=count / n_words if n_words else 0.0, checked=True)


def decide(stats: Stats, cfg: Config) -> str | None:
    """The dirty-word rule ``stats`` breaks, or None (always None for an unchecked language)."""
    if stats.count is None or stats.ratio is None:
        return None
    if cfg.max_count is not None and stats.count > cfg.max_count:
        return TOO_MANY
    if cfg.max_ratio is not None and stats.count >= cfg.min_count and stats.ratio > cfg.max_ratio:
        return TOO_DENSE
    return None


def apply(table: pa.Table, cfg: Config) -> pa.Table:
    """Add ``dirty_words_*`` columns for the alive rows (each in its ``language``) and name rejects."""
    alive = alive_mask(table)
    texts = table.column(TEXT).to_pylist()
    langs = table.column(LANGUAGE).to_pylist() if LANGUAGE in table.column_names else [None] * table.num_rows
    names = [f.name for f in fields(Stats)]
    columns: dict[str, list[object]] = {n: [None] * table.num_rows for n in names}
    reasons: list[str | None] = [None] * table.num_rows
    for i, ok in enumerate(alive):
        if not ok:
            continue
        stats = measure(texts[i] or "", cfg, langs[i])
        for n in names:
            columns[n][i] = getattr(stats, n)
        reasons[i] = decide(stats, cfg)
    types = arrow_types(Stats)
    for n in names:
        col, arr = f"{PREFIX}_{n}", pa.array(columns[n], type=types[n])
        table = put_column(table, col, arr)
    return with_reason(table, reasons)
