"""MathML -> LaTeX for the elements web pages actually use (OpenWebMath, Paster et al. 2023, Sec. 3.2).

Works on resiliparse DOM nodes (the tree the extractor already parsed). A ``<semantics>`` element
with an ``application/x-tex`` annotation returns that annotation verbatim (MathJax, KaTeX and
Wikipedia all emit one); otherwise the presentation elements are converted: mi, mn, mo, mtext,
ms, mspace, mrow, mstyle, mpadded, mfenced, menclose, mfrac, msup, msub, msubsup, msqrt, mroot,
mover, munder, munderover, mtable/mtr/mtd, mmultiscripts (approximately). Unknown elements
contribute their converted children.

>>> mathml_to_latex('<math><mfrac><mi>a</mi><mrow><mi>b</mi><mo>+</mo><mn>1</mn></mrow></mfrac></math>')
'\\\\frac{a}{b+1}'
>>> mathml_to_latex('<math><msup><mi>x</mi><mn>2</mn></msup><mo>≠</mo><mi>α</mi></math>')
'x^{2}\\\\neq\\\\alpha'
"""

from __future__ import annotations

import re

from resiliparse.parse.html import ELEMENT, TEXT, HTMLTree

TEX_ENCODINGS = ("application/x-tex", "application/x-latex", "text/x-tex", "tex")

# Unicode symbols MathML writes literally, with their LaTeX command.
SYMBOLS: dict[str, str] = {
    "≠": r"\neq", "≤": r"\leq", "≥": r"\geq", "≈": r"\approx", "≡": r"\equiv", "∼": r"\sim",
    "≅": r"\cong", "∝": r"\propto", "×": r"\times", "⋅": r"\cdot", "·": r"\cdot", "∙": r"\cdot",
    "÷": r"\div", "±": r"\pm", "∓": r"\mp", "∞": r"\infty", "∑": r"\sum", "∏": r"\prod",
    "∫": r"\int", "∬": r"\iint", "∮": r"\oint", "∂": r"\partial", "∇": r"\nabla", "→": r"\to",
    "←": r"\leftarrow", "↔": r"\leftrightarrow", "⇒": r"\Rightarrow", "⇐": r"\Leftarrow",
    "⇔": r"\Leftrightarrow", "↦": r"\mapsto", "∈": r"\in", "∉": r"\notin", "∋": r"\ni",
    "⊂": r"\subset", "⊃": r"\supset", "⊆": r"\subseteq", "⊇": r"\supseteq", "∪": r"\cup",
    "∩": r"\cap", "∅": r"\emptyset", "∀": r"\forall", "∃": r"\exists", "¬": r"\neg",
    "∧": r"\wedge", "∨": r"\vee", "⊕": r"\oplus", "⊗": r"\otimes", "∘": r"\circ",
    "⋯": r"\cdots", "…": r"\ldots", "⋮": r"\vdots", "⋱": r"\ddots", "′": "'", "″": "''",
    "−": "-", "∗": "*", "⟨": r"\langle", "⟩": r"\rangle", "‖": r"\|", "∣": "|", "°": r"^\circ",
    "ℝ": r"\mathbb{R}", "ℕ": r"\mathbb{N}", "ℤ": r"\mathbb{Z}", "ℚ": r"\mathbb{Q}",
    "ℂ": r"\mathbb{C}", "ℏ": r"\hbar", "ℓ": r"\ell", "√": r"\surd",
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ε": r"\varepsilon",
    "ϵ": r"\epsilon", "ζ": r"\zeta", "η": r"\eta", "θ": r"\theta", "ϑ": r"\vartheta",
    "ι": r"\iota", "κ": r"\kappa", "λ": r"\lambda", "μ": r"\mu", "ν": r"\nu", "ξ": r"\xi",
    "π": r"\pi", "ρ": r"\rho", "σ": r"\sigma", "ς": r"\varsigma", "τ": r"\tau",
    "υ": r"\upsilon", "φ": r"\varphi", "ϕ": r"\phi", "χ": r"\chi", "ψ": r"\psi", "ω": r"\omega",
    "Γ": r"\Gamma", "Δ": r"\Delta", "Θ": r"\Theta", "Λ": r"\Lambda", "Ξ": r"\Xi", "Π": r"\Pi",
    "Σ": r"\Sigma", "Υ": r"\Upsilon", "Φ": r"\Phi", "Ψ": r"\Psi", "Ω": r"\Omega",
    "\u2061": "", "\u2062": "", "\u2063": "", "\u2064": "", "\u00a0": " ",
    "{": r"\{", "}": r"\}",
}
# Accents placed by <mover accent>: over-character -> LaTeX command.
ACCENTS = {"¯": r"\overline", "‾": r"\overline", "^": r"\hat", "ˆ": r"\hat", "~": r"\tilde",
           "˜": r"\tilde", "→": r"\vec", "⃗": r"\vec", "˙": r"\dot", "¨": r"\ddot", "︷": r"\overbrace"}
UNDER_ACCENTS = {"_": r"\underline", "¯": r"\underline", "︸": r"\underbrace"}
# Operators whose limits go below/above (munder/mover become sub/superscripts).
LIMIT_OPS = {r"\sum", r"\prod", r"\int", r"\lim", r"\max", r"\min", r"\sup", r"\inf", r"\bigcup",
             r"\bigcap", r"\limsup", r"\liminf", r"\oint", r"\iint", "lim", "max", "min"}
FUNCTIONS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "lim", "max", "min",
             "sup", "inf", "det", "dim", "ker", "deg", "gcd", "arg", "sinh", "cosh", "tanh",
             "arcsin", "arccos", "arctan", "limsup", "liminf", "Pr", "mod"}

_WS = re.compile(r"\s+")
_LETTER_END = re.compile(r"\\[A-Za-z]+$")


def _symbol(text: str) -> str:
    return "".join(SYMBOLS.get(ch, ch) for ch in text)


def _join(parts: list[str]) -> str:
    """Concatenate LaTeX fragments, adding a space only where a command would run into a letter."""
    out = ""
    for p in parts:
        if not p:
            continue
        if out and _LETTER_END.search(out) and (p[0].isalpha() or p[0] == " "):
            out += " " if p[0] != " " else ""
        out += p
    return out


def _group(s: str) -> str:
    return "{" + s + "}"


def _children(node) -> list:
    return [c for c in node.child_nodes if c.type == ELEMENT]


def _text(node) -> str:
    return _WS.sub(" ", node.text or "").strip()


def _annotation_tex(node) -> str | None:
    for ann in node.get_elements_by_tag_name("annotation"):
        enc = (ann.getattr("encoding") or "").strip().lower()
        if enc in TEX_ENCODINGS:
            return (ann.text or "").strip()
    return None


def _convert(node) -> str:
    if node.type == TEXT:
        return _symbol(_WS.sub(" ", node.text or "").strip())
    if node.type != ELEMENT:
        return ""
    tag = (node.tag or "").lower()
    kids = _children(node)
    args = lambda: [_convert(k) for k in kids]  # noqa: E731

    if tag == "semantics":
        tex = _annotation_tex(node)
        if tex is not None:
            return tex
        return _convert(kids[0]) if kids else ""
    if tag in ("annotation", "annotation-xml", "mprescripts", "none", "mphantom"):
        return ""
    if tag == "mi":
        t = _text(node)
        if len(t) > 1 and t in FUNCTIONS:
            return "\\" + t
        if len(t) > 1 and all(ch not in SYMBOLS for ch in t):
            return r"\mathrm{" + t + "}"
        variant = node.getattr("mathvariant") or ""
        sym = _symbol(t)
        if variant == "double-struck" and t.isalpha():
            return r"\mathbb{" + sym + "}"
        if variant == "bold":
            return r"\mathbf{" + sym + "}"
        return sym
    if tag == "mn":
        return _symbol(_text(node))
    if tag == "mo":
        t = _text(node)
        if t in FUNCTIONS:
            return "\\" + t
        return _symbol(t)
    if tag in ("mtext", "ms"):
        t = _text(node)
        return r"\text{" + t + "}" if t.strip() else " "
    if tag == "mspace":
        return " "
    if tag == "mfrac":
        a = args() + ["", ""]
        if (node.getattr("linethickness") or "") in ("0", "0px", "0em"):
            return r"\binom" + _group(a[0]) + _group(a[1])
        return r"\frac" + _group(a[0]) + _group(a[1])
    if tag == "msup":
        a = args() + ["", ""]
        return _join([a[0], "^" + _group(a[1])])
    if tag == "msub":
        a = args() + ["", ""]
        return _join([a[0], "_" + _group(a[1])])
    if tag == "msubsup":
        a = args() + ["", "", ""]
        return _join([a[0], "_" + _group(a[1]) + "^" + _group(a[2])])
    if tag == "msqrt":
        return r"\sqrt" + _group(_join(args()))
    if tag == "mroot":
        a = args() + ["", ""]
        return r"\sqrt[" + a[1] + "]" + _group(a[0])
    if tag in ("mover", "munder", "munderover"):
        a = args() + ["", "", ""]
        base = a[0]
        if tag == "munderover":
            return _join([base, "_" + _group(a[1]) + "^" + _group(a[2])])
        script_raw = _text(kids[1]) if len(kids) > 1 else ""
        if tag == "mover":
            if script_raw in ACCENTS:
                return ACCENTS[script_raw] + _group(base)
            if base.strip() in LIMIT_OPS:
                return _join([base, "^" + _group(a[1])])
            return r"\overset" + _group(a[1]) + _group(base)
        if script_raw in UNDER_ACCENTS:
            return UNDER_ACCENTS[script_raw] + _group(base)
        if base.strip() in LIMIT_OPS:
            return _join([base, "_" + _group(a[1])])
        return r"\underset" + _group(a[1]) + _group(base)
    if tag == "mmultiscripts":
        a = args()
        if not a:
            return ""
        out = [a[0]]
        post = a[1:]
        for i in range(0, len(post) - 1, 2):
            if post[i]:
                out.append("_" + _group(post[i]))
            if post[i + 1]:
                out.append("^" + _group(post[i + 1]))
        return _join(out)
    if tag == "mtable":
        rows = []
        for tr in kids:
            cells = _children(tr) if (tr.tag or "").lower() in ("mtr", "mlabeledtr") else [tr]
            rows.append(" & ".join(_convert(td) for td in cells))
        return r"\begin{matrix}" + r" \\ ".join(rows) + r"\end{matrix}"
    if tag == "mfenced":
        open_, close = node.getattr("open"), node.getattr("close")
        open_ = "(" if open_ is None else open_
        close = ")" if close is None else close
        sep = (node.getattr("separators") or ",").strip()[:1] or ","
        left = r"\left" + (_symbol(open_) or ".")
        right = r"\right" + (_symbol(close) or ".")
        return _join([left, sep.join(args()), right])
    # mrow, mstyle, mpadded, menclose, merror, mtd, math and anything unknown: children in order.
    return _join([_convert(c) for c in node.child_nodes])


def element_to_latex(node) -> str:
    """LaTeX for a ``<math>`` (or any MathML) resiliparse element; empty string if nothing converts."""
    tex = _annotation_tex(node)
    if tex is not None:
        return tex
    return _WS.sub(" ", _convert(node)).strip()


def mathml_to_latex(markup: str) -> str:
    """LaTeX for a MathML string (parsed with resiliparse's HTML5 parser)."""
    tree = HTMLTree.parse(markup)
    maths = tree.body.get_elements_by_tag_name("math") if tree.body is not None else []
    if len(maths) == 0:
        return ""
    return element_to_latex(maths[0])
