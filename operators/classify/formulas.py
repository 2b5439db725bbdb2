"""Formula density: a structural math signal that does not depend on the seed's style.

OpenWebMath (Paster et al. 2023, Sec. 3.1) keeps a page when it shows math markup *and* a math
classifier agrees; DeepSeekMath (Shao et al. 2024, Sec. 2.1) has only the fastText score, which
misses math pages written unlike its seed (forum threads, solver pages, lecture notes,
documentation of math renderers). Math-aware extraction turns every formula, whatever its markup
(MathJax, KaTeX, MathML, formula images, TeX in the text), into ``$...$`` / ``$$...$$`` /
``\\(...\\)`` / ``\\[...\\]`` text, so counting the formulas of the *extracted text* sees math in any
style. This module measures that (:func:`measure`) and decides (:func:`formula_dense`).

Math the extractor did not delimit is counted too: forum BBCode (``[tex]``, ``[itex]``,
``[math]``, ``[latex]``) and Physics-Forums ``##...##`` spans, bare ``\\begin{align}``-style
environments (MathJax renders them without delimiters), and Unicode math
(:func:`unicode_formulas`: ``x² + y² = r²``, ``√2 ≈ 1.414``, ``∫ f(x) dx``), which solver pages
and lecture notes write instead of TeX.

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
_MAX_ENVIRONMENT_CHARS = 4000
_SPAN = re.compile(
    r"(?<!\\)\$\$(?P<d>[^$]{1,%d}?)(?<!\\)\$\$"
    r"|(?<![\\$\w])\$(?P<i>[^$\n]{1,%d}?)(?<!\\)\$(?![$\w])"
    r"|\\\((?P<p>.{1,%d}?)\\\)"
    r"|\\\[(?P<b>.{1,%d}?)\\\]"
    r"|\[(?P<tag>(?i:tex|itex|math|latex))\](?P<bb>.{1,%d}?)\[/(?P=tag)\]"
    r"|##(?P<h>\S(?:[^#\n]{0,%d}?\S)?)##"
    r"|\\begin\{(?P<env>(?:equation|align|alignat|gather|multline|eqnarray|flalign)\*?)\}"
    r"(?P<e>.{1,%d}?)\\end\{(?P=env)\}" % ((_MAX_FORMULA_CHARS,) * 6 + (_MAX_ENVIRONMENT_CHARS,)),
    re.DOTALL,
)
_CONTENT_GROUPS = ("d", "i", "p", "b", "bb", "h")
_COMMAND = re.compile(r"\\([a-zA-Z]+)")
_OPERATOR = re.compile(r"[\^_=<>+]|\\[,;!{}|]")
_PRICE = re.compile(r"^\d.*\s$", re.DOTALL)
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_GROUP_MARKERS = {"begingroup", "endgroup"}
_WORD = re.compile(r"\S+")


# --- Unicode math -------------------------------------------------------------------------------
# Unicode Standard, "Mathematical Operators" (U+2200-22FF), superscripts and subscripts
# (U+2070-209F, U+00B2/B3/B9), Greek letters used as variables, the double-struck sets.
_SUP = "⁰¹²³⁴⁵⁶⁷⁸⁹ⁿⁱ⁺⁻⁼⁽⁾"
_SUB = "₀₁₂₃₄₅₆₇₈₉ₙᵢⱼₖₘ₊₋₌₍₎"
_BIG = "√∛∜∫∬∭∮∑∏∂∇∞ℝℕℤℚℂ∅∀∃"
_GREEK = "αβγδεζηθικλμνξπρστυφχψωϕϵϑΓΔΘΛΞΠΣΦΨΩ"
_RELATIONS = "=<>≤≥≠≈≡≅∼∝∈∉⊂⊆⊃⊇→⇒⇔↦⟹⟺"
_OPERATORS = "+−×÷±∓·⋅∘∪∩∧∨"
_FRACTIONS = "½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞"
_ALLOWED = re.compile("^[A-Za-z0-9()\\[\\]{}|.,'′″!_/^*°:…⋯⌊⌋⌈⌉‖∣\\-" + re.escape(_SUP + _SUB + _BIG + _GREEK + _RELATIONS
                                                                       + _OPERATORS + _FRACTIONS) + "]+$")
_STRONG_CHAR = re.compile("[" + re.escape(_SUP + _SUB + _BIG + _GREEK) + "]|[A-Za-z0-9)]\\^[A-Za-z0-9({]")
_LETTERS = re.compile(r"[A-Za-z]{2,}")
_GREEK_WORD = re.compile("[\u0370-\u03ff\u1f00-\u1fff]{2,}")  # Greek and Coptic, Greek Extended
_OPERATOR_CHAR = re.compile("[" + re.escape(_RELATIONS + _OPERATORS) + "]")
_FUNCTIONS = frozenset("sin cos tan cot sec csc sinh cosh tanh arcsin arccos arctan log ln lg exp lim max min sup inf "
                       "det gcd lcm mod arg deg dim ker dx dy dz dt du dv".split())
_SHORT_WORDS = frozenset("is of to in on at an as or be by if it we so no do up us my me he am go ok oh hi".split())
_UNITS = frozenset("m cm mm km dm ft in yd mi s".split())
_POWER = re.compile("(?:^|[^A-Za-z])(?P<base>[A-Za-z]{1,3})(?:[" + _SUP + "]|\\^[A-Za-z0-9({])"
                    "|[)\\]0-9](?:[" + _SUP + "]|\\^[A-Za-z0-9({])")
_INDEX = re.compile("(?:^|[^A-Za-z])[a-z" + _GREEK + "][" + _SUB + "]")
_UNIT_POWER = re.compile(r"^[0-9.,]*(?:%s)(?:/(?:%s))*(?:[%s]+|\^[0-9])$" % ("|".join(sorted(_UNITS)), "|".join(sorted(_UNITS)), _SUP))
_NUMBER = re.compile(r"^[0-9][0-9.,]*$")
_EDGE_PUNCT = ",.;:!?"


def _math_token(tok: str) -> bool:
    """A token that can sit inside a formula: math characters only, no prose word."""
    if not _ALLOWED.match(tok) or _GREEK_WORD.search(tok):
        return False
    for word in _LETTERS.findall(tok):
        if word not in _FUNCTIONS and (len(word) > 2 or word.lower() in _SHORT_WORDS):
            return False
    return True


def _strong_token(tok: str, prev: str, greek_prose: bool) -> bool:
    """A token only math writes: a big operator, a Greek variable, a power of a variable, a
    number or a bracket (``x²``, ``(a+b)²``, ``10⁶``; not a unit: ``20 m²``, ``9.8 m/s²``) or an
    index of a lowercase variable (``x₁``; not a chemical formula: ``CO₂``, ``H₂O``). On a line
    of Greek prose a lone Greek letter is a word (the article ``η``), not a variable."""
    if not _STRONG_CHAR.search(tok):
        return False
    if any(c in _BIG for c in tok):
        return True
    if not greek_prose and any(c in _GREEK for c in tok) and not (tok[:1] in "μµ" and tok[1:2].isalpha()):
        return True  # a Greek variable, not micro- of a unit (μm, μg)
    if _INDEX.search(tok):
        return True
    m = _POWER.search(tok)
    if m is None:
        return False
    if _UNIT_POWER.match(tok) and (tok[:1].isdigit() or _NUMBER.match(prev)):
        return False
    base = m.group("base")
    return base is None or base not in _UNITS or not _NUMBER.match(prev)


def unicode_formulas(text: str) -> int:
    """Formulas written in Unicode (or plain text with carets, ``x^2 + 1``, as extraction writes
    ``<sup>`` powers): runs of math tokens on one line holding an operator or relation
    (``+ − = ≤ × ±``...) and a token only math writes (see :func:`_strong_token`).
    Prose breaks a run (a word of three or more letters other than a function name such as
    ``sin``, a two-letter function word such as ``is``), so prices (``$5 × 3 = $15``), room sizes
    (``5 × 3 m``, ``15 m²``), temperatures (``180°C``), recipes (``½ cup + ¼ tsp``), scores and
    dates (``3–1``, ``2023–24``) and chemical formulas (``CO₂ + H₂O``) count nothing.

    >>> unicode_formulas("x² + y² = r² and √2 ≈ 1.414; ∫ f(x) dx = F(b) − F(a); b^2 − 4ac")
    4
    >>> unicode_formulas("A 5 × 3 m room (15 m²) at 20°C costs €450 + €50; ½ cup + ¼ cup; CO₂ + H₂O")
    0
    """
    if not text or _STRONG_CHAR.search(text) is None:
        return 0
    n = 0
    for line in text.splitlines():
        if _STRONG_CHAR.search(line) is None:
            continue
        operator = strong = False
        length = 0
        prev = ""
        greek_prose = _GREEK_WORD.search(line) is not None
        for raw in line.split():
            tok = raw.strip(_EDGE_PUNCT) or raw
            if _math_token(tok):
                operator = operator or _OPERATOR_CHAR.search(tok) is not None or tok == "-" \
                    or ("-" in tok and _STRONG_CHAR.search(tok) is not None)
                strong = strong or _strong_token(tok, prev, greek_prose)
                length += 1
                prev = tok
                if raw[-1:] not in _EDGE_PUNCT or raw[-1:] == "." and tok[-1:].isdigit():
                    continue
            if operator and strong and length:
                n += 1
            operator = strong = False
            length = 0
            prev = tok
        if operator and strong and length:
            n += 1
    return n


@dataclass(frozen=True)
class FormulaStats:
    """formulas: formulas in the text (delimited spans, environments and Unicode expressions);
    words: whitespace tokens of the whole text; unicode: how many of the formulas are Unicode math."""

    formulas: int
    words: int
    unicode: int = 0


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
    """Count the formulas (delimited spans, bare environments, Unicode math) and words of a text.

    >>> measure("[itex]a^2+b^2[/itex] so ##c^2## and \\\\begin{align} x &= 1 \\\\end{align}").formulas
    3
    >>> measure("Solve x² − 5x + 6 = 0: x = 2 or x = 3.")
    FormulaStats(formulas=1, words=15, unicode=1)
    >>> measure("Here $x^2 + y^2 = 1$ is one formula, not two.")
    FormulaStats(formulas=1, words=11, unicode=0)
    """
    if not text:
        return FormulaStats(0, 0)
    n, u = _count(text)
    return FormulaStats(n, len(_WORD.findall(text)), u)


def _count(text: str) -> tuple[int, int]:
    """(formulas, of which Unicode math) of a non-empty text: :func:`measure` without words."""
    n = 0
    gaps, end = [], 0  # the text outside delimited spans, where Unicode math is looked for
    for m in _SPAN.finditer(text):
        gaps.append(text[end:m.start()])
        end = m.end()
        if m.group("e") is not None:
            n += 1  # a display environment is math by itself
            continue
        content = next(g for g in m.group(*_CONTENT_GROUPS) if g is not None)
        if is_formula(content):
            n += 1
    u = unicode_formulas(" ".join(gaps) + " " + text[end:] if gaps else text)
    return n + u, u


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


def formula_dense(formulas: np.ndarray, words: np.ndarray, cfg: FormulaConfig | None) -> np.ndarray:
    """The decision, per document: enough formulas, and enough of them per 1,000 words; all
    False when ``cfg`` is None (the rule switched off).

    >>> formula_dense(np.array([3, 3, 1]), np.array([400, 5000, 10]), FormulaConfig()).tolist()
    [True, False, False]
    """
    formulas = np.asarray(formulas, dtype=np.int64)
    if cfg is None:
        return np.zeros(len(formulas), dtype=bool)
    per_kwords = 1000.0 * formulas / np.maximum(np.asarray(words, dtype=np.int64), 1)
    return (formulas >= cfg.min_formulas) & (per_kwords >= cfg.min_per_kwords)


def formula_counts(texts: list[str | None]) -> np.ndarray:
    """Formulas per text, int64 (the column the loop keeps per pool document)."""
    return np.fromiter((_count(t)[0] if t else 0 for t in texts), dtype=np.int64, count=len(texts))
