"""Language rule: keep the configured languages with a confident score (FineWeb §3.3.1, CCNet).

Uses the ``language`` / ``language_score`` columns the extraction stage computed; no model is
loaded here. A document is dropped when its language is not in ``languages``
(``language_not_allowed``; a null language is not allowed) or its score is below ``min_score``
(``language_low_score``; a null score is low). Defaults: English, score >= 0.65 (FineWeb; the
OpenWebMath recipe uses 0.5). datatrove's ``LanguageFilter`` keeps ``score > threshold``; we
keep ``score >= min_score`` as the design states.

>>> decide(measure("en", 0.9, Config()), Config()) is None
True
>>> decide(measure("de", 0.9, Config()), Config())
'language_not_allowed'
>>> decide(measure("en", 0.5, Config()), Config())
'language_low_score'
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from operators.schema import LANGUAGE, LANGUAGE_SCORE, alive_mask, put_column, with_reason

STAGE = "language"
PREFIX = "lang"

NOT_ALLOWED = "language_not_allowed"
LOW_SCORE = "language_low_score"

REASONS: tuple[str, ...] = (NOT_ALLOWED, LOW_SCORE)


@dataclass(frozen=True)
class Config:
    """Language rule; ``None`` disables a part.

    Attributes:
        languages: language codes to keep (``("en",)``); None keeps every language.
        min_score: drop documents whose ``language_score`` is below this (0.65).
    """

    languages: tuple[str, ...] | None = ("en",)
    min_score: float | None = 0.65


@dataclass
class Stats:
    """What :func:`measure` found; one ``lang_<field>`` column each."""

    allowed: bool
    confident: bool


def measure(language: str | None, score: float | None, cfg: Config) -> Stats:
    """Judge one document's detected ``language`` and ``score``."""
    allowed = cfg.languages is None or (language is not None and language in cfg.languages)
    confident = cfg.min_score is None or (score is not None and score >= cfg.min_score)
    return Stats(allowed=allowed, confident=confident)


def decide(stats: Stats, cfg: Config) -> str | None:
    """``language_not_allowed``, ``language_low_score`` or None."""
    if not stats.allowed:
        return NOT_ALLOWED
    if not stats.confident:
        return LOW_SCORE
    return None


def apply(table: pa.Table, cfg: Config) -> pa.Table:
    """Add ``lang_allowed`` / ``lang_confident`` to alive rows and name rejects in ``reason``.

    Reads two columns, so it does not go through ``apply_filter`` (which measures ``text``);
    the output shape is the same.
    """
    for col in (LANGUAGE, LANGUAGE_SCORE):
        if col not in table.column_names:
            raise ValueError(f"the language filter needs a {col!r} column; run extraction with language id first")
    alive = alive_mask(table)
    langs = table.column(LANGUAGE).to_pylist()
    scores = table.column(LANGUAGE_SCORE).to_pylist()
    allowed: list[bool | None] = [None] * table.num_rows
    confident: list[bool | None] = [None] * table.num_rows
    reasons: list[str | None] = [None] * table.num_rows
    for i, ok in enumerate(alive):
        if ok:
            stats = measure(langs[i], scores[i], cfg)
            allowed[i], confident[i] = stats.allowed, stats.confident
            reasons[i] = decide(stats, cfg)
    for name, values in ((f"{PREFIX}_allowed", allowed), (f"{PREFIX}_confident", confident)):
        arr = pa.array(values, type=pa.bool_())
        table = put_column(table, name, arr)
    return with_reason(table, reasons)
