"""Formula density: a structural math signal that does not depend on the seed's style.

OpenWebMath (Paster et al. 2023, Sec. 3.1) keeps a page when it shows math markup *and* a math
classifier agrees; DeepSeekMath (Shao et al. 2024, Sec. 2.1) has only the fastText score, which
misses math pages written unlike its seed (forum threads, solver pages, lecture notes,
documentation of math renderers). Math-aware extraction turns every formula, whatever its markup
(MathJax, KaTeX, MathML, formula images, TeX in the text), into ``$...$`` / ``$$...$$`` /
``\\(...\\)`` / ``\\[...\\]`` text, so counting the formulas of the *extracted text* sees math in any
style. This module measures that (:func:`measure`) and decides (:func:`is_formula_dense`).

What counts as a formula: a delimited span of at most ``_MAX_FORMULA_CHARS`` characters whose
content holds a LaTeX command other than the Stack Exchange post markers ``\\begingroup`` /
``\\endgroup``, or else a math operator (``^ _ = < > +``) and no prose (three or more plain
words). Bare symbols (``$x$``, an acronym typeset letter by letter) are not counted: they are
evidence too weak to tell a math page from an abstract that italicises one letter. Not
delimiters: an escaped ``\\$``, a ``$`` glued to a word on the outside (code sigils:
``$this->page = $offset``), and prices (content starting with a digit and ending in a space:
``$35 + $60``).

>>> measure("Let $x^2>0$ and $$\\\\frac{a}{b} = 1.$$ It costs $5 + $10 here; $this->page = $offset.").formulas
2
>>> measure("\\\\$\\\\begingroup\\\\$ How do I wire this? \\\\$\\\\endgroup\\\\$").formulas
0
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_MAX_FORMULA_CHARS = 500
_SPAN = re.compile(
    r"(?<!\\)\$\$(?P<d>[^$]{1,%d}?)(?<!\\)\$\$"
    r"|(?<![\\$\w])\$(?P<i>[^$\n]{1,%d}?)(?<!\\)\$(?![$\w])"
    r"|\\\((?P<p>.{1,%d}?)\\\)"
    r"|\\\[(?P<b>.{1,%d}?)\\\]" % ((_MAX_FORMULA_CHARS,) * 4),
    re.DOTALL,
)
_COMMAND = re.compile(r"\\([a-zA-Z]+)")
_OPERATOR = re.compile(r"[\^_=<>+]|\\[,;!{}|]")
_PRICE = re.compile(r"^\d.*\s$", re.DOTALL)
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_GROUP_MARKERS = {"begingroup", "endgroup"}
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class FormulaStats:
    """formulas: formula spans in the text; words: whitespace tokens of the whole text."""

    formulas: int
    words: int

    @property
    def per_kwords(self) -> float:
        return 1000.0 * self.formulas / max(self.words, 1)


def is_formula(content: str) -> bool:
    """Whether the content of a ``$...$``-like span reads as a formula (see the module docstring).

    >>> is_formula("x"), is_formula("a^2+b^2"), is_formula("\\\\alpha"), is_formula("35 + "), is_formula("\\\\begingroup")
    (False, True, True, False, False)
    """
    commands = [c for c in _COMMAND.findall(content) if c not in _GROUP_MARKERS]
    stripped = _COMMAND.sub(" ", content)
    if len(_PROSE_WORD.findall(stripped)) >= 3 and not commands:
        return False
    if commands:
        return True
    return bool(_OPERATOR.search(content)) and not _PRICE.match(content)


def measure(text: str | None) -> FormulaStats:
    """Count the formulas and words of an extracted text."""
    if not text:
        return FormulaStats(0, 0)
    n = 0
    for m in _SPAN.finditer(text):
        content = next(g for g in m.group("d", "i", "p", "b") if g is not None)
        if is_formula(content):
            n += 1
    return FormulaStats(n, len(_WORD.findall(text)))


@dataclass(frozen=True)
class FormulaConfig:
    """When a page counts as formula-dense (recalled whatever its fastText score).

    min_formulas: at least this many formulas (one stray ``$O(n)$`` in a blog post is not a math page).
    min_per_kwords: and at least this many formulas per 1,000 words (a long page with a few
        formulas in a sidebar is not a math page).
    """

    min_formulas: int = 3
    min_per_kwords: float = 2.0

    def __post_init__(self) -> None:
        if self.min_formulas < 1:
            raise ValueError(f"FormulaConfig.min_formulas must be >= 1, got {self.min_formulas}")
        if self.min_per_kwords < 0:
            raise ValueError(f"FormulaConfig.min_per_kwords must be >= 0, got {self.min_per_kwords}")


def is_formula_dense(stats: FormulaStats, cfg: FormulaConfig) -> bool:
    """The decision: enough formulas, and enough of them per 1,000 words.

    >>> is_formula_dense(FormulaStats(3, 400), FormulaConfig()), is_formula_dense(FormulaStats(3, 5000), FormulaConfig())
    (True, False)
    """
    return stats.formulas >= cfg.min_formulas and stats.per_kwords >= cfg.min_per_kwords


def formula_counts(texts: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(formulas, words) per text, as int64 arrays (the columns the loop keeps per pool document)."""
    stats = [measure(t) for t in texts]
    return (np.fromiter((s.formulas for s in stats), dtype=np.int64, count=len(stats)),
            np.fromiter((s.words for s in stats), dtype=np.int64, count=len(stats)))
