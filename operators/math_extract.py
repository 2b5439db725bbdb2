"""LaTeX-preserving HTML extraction (OpenWebMath, Paster et al. 2023, Sec. 3.2 and App. B).

Generic extractors drop or garble math: MathJax keeps its source in ``<script>`` tags (skipped
as scripts), MathML comes out as a soup of symbols, KaTeX prints its rendered glyphs next to a
hidden copy, and formula images lose their LaTeX. This module rewrites every math element of
the parsed page into a text node holding LaTeX (``$...$`` inline, ``$$...$$`` display), then runs
the ordinary resiliparse extraction on the rewritten tree, so the rest of the page is extracted
exactly as by the normal extractor.

Sources handled, in this order:

1. Wikipedia ``.mwe-math-element`` (hidden MathML + fallback image): the TeX annotation.
2. MathJax v2 ``<script type="math/tex">`` (``; mode=display`` -> display); the rendered
   siblings (``.MathJax_Preview``, ``.MathJax``, ``.MathJax_Display``, SVG/CHTML variants) dropped.
3. MathJax v3 ``<mjx-container>``: its assistive MathML converted; the rendered glyphs dropped.
4. KaTeX ``.katex``: the ``application/x-tex`` annotation; ``.katex-html`` (the duplicate
   rendered spans) dropped. ``.katex-display`` -> display.
5. Remaining ``<math>``: MathML -> LaTeX (:mod:`operators.mathml`), TeX annotation preferred.
6. Images of LaTeX renderers (``latex.php``, codecogs, mimetex, ``wp.com/latex``, Google chart
   ``cht=tx``): the decoded ``latex=`` / query LaTeX, else the alt text. Images classed ``latex``
   or ``tex`` (WordPress, MediaWiki's texvc): the alt text. Any other image whose alt text is a
   formula (:func:`alt_latex`: the whole alt in TeX math delimiters or one LaTeX environment, as
   LaTeX2HTML and pandoc ``--webtex`` write the formula images of lecture notes, or an alt
   holding a LaTeX command): that LaTeX, display when its delimiters say so.

7. TeX written in the text with other delimiters (:func:`normalize_tex_delimiters`): forum BBCode
   ``[tex]`` (display), ``[itex]`` / ``[math]`` / ``[latex]`` (inline), Physics-Forums-style
   ``##...##`` (inline, only around TeX-like content), and the delimiters the page configures
   for MathJax (``tex2jax: {inlineMath: [['@@','@@']]}``, MathJax 3 ``tex: {displayMath: ...}``)
   or KaTeX auto-render (``delimiters: [{left: ..., right: ..., display: ...}]``), read from its
   scripts (:func:`page_delimiters`); all become ``$...$`` / ``$$...$$``. Text inside ``<pre>``,
   ``<code>`` and ``<textarea>`` is left as written (it shows the syntax).
8. ``<sup>`` / ``<sub>`` markup written after a one-letter variable, a digit or a bracket
   (``<i>x</i><sup>2</sup>``, ``a<sub>n+1</sub>``) becomes ``^2`` / ``_{n+1}``: plain-text
   extraction would print ``x2``. Footnote markers (after a word, holding a link, or classed
   ``reference``/``footnote``) and ordinals (``1<sup>st</sup>``) are left alone.

TeX already in the text (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``) is text and kept as is.

Callers run :func:`has_math` first and use their normal extraction when it is False, so pages
without math pay one regex scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import ELEMENT, TEXT, HTMLTree

from operators.mathml import element_to_latex

# Cheap prefilter on raw HTML (OpenWebMath App. B uses the same signals). Plain substring tests
# on the lowercased page (memchr-fast) plus one LaTeX-command regex with a literal first character:
# about 10 ms per MB. ``$$``, ``\\(`` and ``\\[`` alone are not signals: they fill JavaScript (14 of the
# 130 readability test pages matched them, none with math) and ordinary extraction keeps TeX
# written in the text anyway; real TeX between them almost always has a command the regex sees.
_PREFILTER_TOKENS: tuple[bytes, ...] = (
    b"mathjax", b"katex", b"<math", b"math/tex", b"latex.php", b"codecogs", b"mimetex",
    b"mathtex.cgi", b"wp.com/latex", b"cht=tx", b"math-container", b'class="tex"', b"tex.cgi",
    b".cgi?%5c", b".latex?",  # URL-encoded LaTeX behind any renderer CGI; CodeCogs-style ``gif.latex?``
    # forum BBCode (phpBB/vBulletin, often left unrendered) and MathJax/KaTeX delimiter configs
    b"[/tex]", b"[/itex]", b"[/math]", b"[/latex]", b"tex2jax", b"inlinemath", b"displaymath",
    b"rendermathinelement",
    b"latex2html",  # its generator tag: formulas as images whose alt text is the LaTeX
)
# Physics-Forums-style inline TeX ``##x^2##`` (TeX-like content between the marks), and two or
# more powers/indices written as HTML markup followed by an operator (``x<sup>2</sup> + ``).
_HASH_TEX = r"##[^#\s<][^#<\n]{0,200}?[\\^_=][^#<\n]{0,200}?##"
_SUP_OPERATOR = r"<su[bp]>[^<]{1,6}</su[bp]>\s*(?:[-+=]|\u2212|&minus;|&#8722;|&plus;)"
_HASH_TEX_STR = re.compile(_HASH_TEX)
_HASH_TEX_BYTES = re.compile(_HASH_TEX.encode())
_SUP_OPERATOR_STR = re.compile(_SUP_OPERATOR, re.IGNORECASE)
_SUP_OPERATOR_BYTES = re.compile(_SUP_OPERATOR.replace("\\u2212", "\u2212").encode(), re.IGNORECASE)
_LATEX_COMMAND = (
    r"\\(?:frac|dfrac|tfrac|sum|int|iint|oint|prod|sqrt|lim|infty|partial|nabla|cdot|times|leq?|geq?"
    r"|neq|approx|alpha|beta|gamma|delta|epsilon|varepsilon|theta|lambda|sigma|omega|pi|mathbb"
    r"|mathrm|mathcal|mathbf|operatorname|binom|begin\{(?:equation|align|eqnarray|gather"
    r"|multline|matrix|pmatrix|bmatrix|cases|array))\b"
)
_LATEX_COMMAND_STR = re.compile(_LATEX_COMMAND)
_LATEX_COMMAND_BYTES = re.compile(_LATEX_COMMAND.encode())
# An alt text that is a formula as a whole: TeX math delimiters around it (inside single
# dollars the text neither starts nor ends with a space, so "$5 and $10" is no formula) or one
# LaTeX environment.
_DELIMITED_ALT = re.compile(
    r"\s*(?:(\$\$)([^$]+)\$\$|\$(?![\s$])([^$]+?)(?<!\s)\$|(\\\[)(.+?)\\\]|\\\((.+?)\\\)"
    r"|(\\begin\{([a-zA-Z]+\*?)\}.*?\\end\{\8\}))\s*",
    re.S,
)

# Formula images (OpenWebMath App. B): a renderer URL carries the LaTeX in its query, either as one
# named parameter (WordPress ``latex.php?latex=``, Google chart ``chl=``) or as the whole query
# (mimeTeX, mathTeX, CodeCogs, any ``...cgi?<latex>``: ``mimetex.cgi?\frac{a}{b}``).
_RENDERER_SRC = re.compile(
    r"latex\.php|codecogs\.com|mimetex|mathtex|wp\.com/latex|/cgi-bin/latex|latex\.cgi|tex\.cgi"
    r"|chart\.apis\.google\.com/chart\?.*cht=tx|[?&]cht=tx|\.latex\?|\.cgi\?",
    re.IGNORECASE,
)
_QUERY_KEYS = ("latex", "chl", "tex", "eq", "formula")
_IMG_SOURCES = ("src", "data-src", "data-lazy-src", "data-original")
_NAMED_QUERY = re.compile(r"(?:^|&)(%s)=" % "|".join(_QUERY_KEYS), re.IGNORECASE)
# A bare ``.cgi?`` query counts only when it reads as LaTeX (a command, a sub/superscript, braces).
_TEX_LIKE = re.compile(r"\\[a-zA-Z]+|[\^_{}]")
# CodeCogs encodes spaces and plus signs as ``&space;`` / ``&plus;`` and puts rendering options
# (``\dpi{150}``, ``\bg_white``, ``\inline``, ``\large``, ``\fn_cm``) before the formula.
_CODECOGS_ENTITIES = (("&space;", " "), ("&plus;", "+"), ("&amp;", "&"), ("&hash;", "#"))
_RENDER_OPTION = re.compile(
    r"^\s*\\(?:dpi\{\d+\}|bg_\w+|bg\{\w+\}|fg_\w+|fg\{\w+\}|inline|fn_\w+"
    r"|tiny|small|normal|large|Large|LARGE|huge|Huge)\s*"
)

# Rendered output of MathJax v2 that duplicates the <script type="math/tex"> source.
_MJ2_RENDERED = {"MathJax_Preview", "MathJax", "MathJax_Display", "MathJax_SVG",
                 "MathJax_SVG_Display", "MathJax_CHTML", "MathJax_PHTML", "MathJax_MathML",
                 "MJXc-display", "mjx-chtml", "MathJax_SVG_Hidden"}

_WS = re.compile(r"\s+")
_OUTER_DOLLARS = re.compile(r"^\s*(\$\$?|\\\(|\\\[)(.*?)(\$\$?|\\\)|\\\])\s*$", re.DOTALL)


@dataclass(frozen=True)
class MathExtractConfig:
    """Settings of LaTeX-preserving extraction.

    main_content: resiliparse main-content heuristics (as the normal extractor).
    preserve_formatting: keep block structure as newlines.
    formula_images: turn LaTeX-renderer images into ``$...$``.
    max_formula_chars: longer formulas are dropped (broken pages paste whole documents into
        a script tag); None keeps all.
    """

    main_content: bool = True
    preserve_formatting: bool = True
    formula_images: bool = True
    max_formula_chars: int | None = 20_000


def has_math(html: str | bytes) -> bool:
    """True when the raw HTML shows math (MathJax, KaTeX, MathML, formula images, LaTeX commands,
    forum BBCode ``[tex]``, ``##...##`` TeX, powers written as ``<sup>`` before an operator).

    >>> has_math('<script type="math/tex">x^2</script>'), has_math('<p>Hello world</p>')
    (True, False)
    >>> has_math(b'<p>We have \\\\frac{a}{b}.</p>'), has_math('<script>s.replace(/\\\\(/g, "$$")</script>')
    (True, False)
    >>> has_math('<p>[itex]a+b[/itex]</p>'), has_math('<p>so ##x^2## here</p>'), has_math('<p>## Title ##</p>')
    (True, True, False)
    """
    if isinstance(html, (bytes, bytearray, memoryview)):
        raw = bytes(html)
        lower = raw.lower()
        if any(tok in lower for tok in _PREFILTER_TOKENS):
            return True
        if _LATEX_COMMAND_BYTES.search(raw) is not None:
            return True
        if b"##" in raw and _HASH_TEX_BYTES.search(raw) is not None:
            return True
        return b"</su" in lower and _two(_SUP_OPERATOR_BYTES.finditer(raw))
    lower_s = html.lower()
    if any(tok.decode() in lower_s for tok in _PREFILTER_TOKENS):
        return True
    if _LATEX_COMMAND_STR.search(html) is not None:
        return True
    if "##" in html and _HASH_TEX_STR.search(html) is not None:
        return True
    return "</su" in lower_s and _two(_SUP_OPERATOR_STR.finditer(html))


def _two(matches) -> bool:
    """At least two matches (one ``<sup>1</sup> -`` is a footnote before a dash, two are algebra)."""
    return next(matches, None) is not None and next(matches, None) is not None


# --- TeX delimiters written in the text ---------------------------------------------------------

# (left, right, display) of forum BBCode; [tex] is display on phpBB/vBulletin math boards.
_BBCODE = re.compile(r"\[(tex|itex|math|latex)\](.{1,%d}?)\[/\1\]" % 5000, re.IGNORECASE | re.DOTALL)
_BBCODE_DISPLAY = {"tex"}
_HASH_SPAN = re.compile(r"##(\S(?:[^#\n]{0,300}?\S)?)##")
_TEX_CONTENT = re.compile(r"\\[a-zA-Z]+|[\^_{}=<>+]")
# Delimiters readers already see as math (measure counts them): never rewritten.
_STANDARD = {("$", "$", False), ("$$", "$$", True), ("\\(", "\\)", False), ("\\[", "\\]", True)}
_JS_STRING = r"""(?:'((?:[^'\\]|\\.){1,12})'|"((?:[^"\\]|\\.){1,12})")"""
_PAIR = re.compile(r"\[\s*%s\s*,\s*%s\s*\]" % (_JS_STRING, _JS_STRING))
_MATHJAX_KEY = re.compile(r"""["']?(inlineMath|displayMath)["']?\s*:\s*\[((?:\s*\[[^\[\]]*\]\s*,?)*)\s*\]""")
_KATEX_LIST = re.compile(r"""["']?delimiters["']?\s*:\s*\[([^\[\]]*)\]""")
_KATEX_OBJ = re.compile(r"\{[^{}]*\}")
_KATEX_FIELD = re.compile(r"""["']?(left|right|display)["']?\s*:\s*(?:%s|(true|false))""" % _JS_STRING)
_NO_REWRITE_TAGS = {"pre", "code", "textarea", "script", "style", "kbd", "samp"}


def _js_unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def page_delimiters(scripts: str) -> list[tuple[str, str, bool]]:
    r"""(left, right, display) TeX delimiters a page configures for MathJax 2 (``tex2jax``),
    MathJax 3 (``tex: {inlineMath, displayMath}``) or KaTeX auto-render (``delimiters``),
    read from the text of its scripts; [] when it configures none.

    >>> page_delimiters("MathJax.Hub.Config({tex2jax: {inlineMath: [['@@','@@'], ['\\\\(','\\\\)']]}});")
    [('@@', '@@', False), ('\\(', '\\)', False)]
    >>> page_delimiters("renderMathInElement(document.body, {delimiters: [{left: '%%', right: '%%', display: true}]})")
    [('%%', '%%', True)]
    """
    out: list[tuple[str, str, bool]] = []
    if "Math" in scripts:
        for m in _MATHJAX_KEY.finditer(scripts):
            display = m.group(1) == "displayMath"
            for p in _PAIR.finditer(m.group(2)):
                left, right = p.group(1) or p.group(2), p.group(3) or p.group(4)
                if left and right:
                    out.append((_js_unescape(left), _js_unescape(right), display))
    if "delimiters" in scripts:
        for m in _KATEX_LIST.finditer(scripts):
            for obj in _KATEX_OBJ.finditer(m.group(1)):
                fields = {f.group(1): (f.group(2) or f.group(3) or f.group(4)) for f in _KATEX_FIELD.finditer(obj.group(0))}
                if fields.get("left") and fields.get("right"):
                    out.append((_js_unescape(fields["left"]), _js_unescape(fields["right"]), fields.get("display") == "true"))
    seen: set[tuple[str, str, bool]] = set()
    return [d for d in out if not (d in seen or seen.add(d))]


@dataclass(frozen=True)
class _Configured:
    """One regex over a page's configured, non-standard delimiters; ``displays[i]`` for group ``c<i>``."""

    pattern: re.Pattern
    displays: tuple[bool, ...]


def _delimiter_pattern(delims: list[tuple[str, str, bool]]) -> _Configured | None:
    """Longest left delimiter first (``@@@`` before ``@@``); None when all are standard."""
    extra = sorted({d for d in delims if d not in _STANDARD}, key=lambda d: (-len(d[0]), d))
    if not extra:
        return None
    parts = [r"%s(?P<c%d>.{1,2000}?)%s" % (re.escape(left), i, re.escape(right)) for i, (left, right, _) in enumerate(extra)]
    return _Configured(re.compile("|".join(parts), re.DOTALL), tuple(d for _, _, d in extra))


def normalize_tex_delimiters(text: str, configured: _Configured | None = None) -> tuple[str, int]:
    r"""``text`` with forum/configured TeX delimiters rewritten to ``$...$`` / ``$$...$$``, and the
    number of spans rewritten (see the module docstring, step 7).

    >>> normalize_tex_delimiters("[tex]E=mc^2[/tex] and [itex]\\alpha[/itex], ##x_1## but not ## Title ##")
    ('$$E=mc^2$$ and $\\alpha$, $x_1$ but not ## Title ##', 3)
    >>> normalize_tex_delimiters("so @@a+b@@ holds", _delimiter_pattern([("@@", "@@", False)]))
    ('so $a+b$ holds', 1)
    """
    n = 0

    def bbcode(m: re.Match) -> str:
        nonlocal n
        tex = normalize_formula(m.group(2))
        if not tex:
            return m.group(0)
        n += 1
        return f"$${tex}$$" if m.group(1).lower() in _BBCODE_DISPLAY else f"${tex}$"

    def hashes(m: re.Match) -> str:
        nonlocal n
        if not _TEX_CONTENT.search(m.group(1)):
            return m.group(0)
        n += 1
        return f"${normalize_formula(m.group(1))}$"

    def configured_span(m: re.Match) -> str:
        nonlocal n
        i = int(m.lastgroup[1:])
        tex = normalize_formula(m.group(m.lastgroup))
        if not tex:
            return m.group(0)
        n += 1
        return f"$${tex}$$" if configured.displays[i] else f"${tex}$"

    if "[/" in text:
        text = _BBCODE.sub(bbcode, text)
    if "##" in text:
        text = _HASH_SPAN.sub(hashes, text)
    if configured is not None:
        text = configured.pattern.sub(configured_span, text)
    return text, n


def _text_nodes(node):
    """Text nodes under ``node`` in document order, outside ``pre``/``code``/``textarea``/scripts."""
    stack = [node]
    while stack:
        cur = stack.pop()
        if cur.type == TEXT:
            yield cur
            continue
        if cur.type == ELEMENT and cur.tag in _NO_REWRITE_TAGS:
            continue
        children = []
        child = cur.first_child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend(reversed(children))


# --- <sup>/<sub> ---------------------------------------------------------------------------------

_SCRIPT_CONTENT = re.compile(r"^[0-9A-Za-z+\-\u2212\u2032'*]{1,6}$")
_SCRIPT_BASE = re.compile(r"(?:^|[^A-Za-z])[A-Za-z]$|[0-9)\]]$")
_ORDINAL = re.compile(r"^(?:st|nd|rd|th)$", re.IGNORECASE)
_FOOTNOTE_CLASSES = ("reference", "footnote", "fn", "noteref", "cite")


def _script_text(el, base: str) -> str | None:
    """``^2`` / ``_{n+1}`` for a ``<sup>``/``<sub>`` element written as a power or an index, else None."""
    if any(c.type == ELEMENT for c in el.child_nodes):
        return None  # a footnote link, nested markup
    content = (el.text or "").strip()
    if not _SCRIPT_CONTENT.match(content) or not _SCRIPT_BASE.search(base):
        return None
    if _ORDINAL.match(content) and base[-1:].isdigit():
        return None
    if any(k in c for c in _classes(el) for k in _FOOTNOTE_CLASSES):
        return None
    mark = "^" if el.tag == "sup" else "_"
    return f"{mark}{content}" if len(content) == 1 else f"{mark}{{{content}}}"


def _rewrite_scripts(tree: HTMLTree, root) -> int:
    """Step 8 of the module docstring; returns the number of elements rewritten."""
    n = 0
    for tag in ("sup", "sub"):
        for el in list(root.get_elements_by_tag_name(tag)):
            parent = el.parent
            if parent is None or (parent.type == ELEMENT and parent.tag == "a"):
                continue
            prev = el.previous_sibling
            text = _script_text(el, (prev.text or "") if prev is not None else "")
            if text is not None:
                parent.replace_child(tree.create_text_node(text), el)
                n += 1
    return n


def normalize_formula(tex: str) -> str:
    """A formula as extraction writes it, without delimiters: whitespace runs to one space,
    the outer ``$``/``$$``/``\\(``/``\\[`` an alt text or annotation may carry removed.

    >>> normalize_formula("  $$ x^2 +\\n 1 $$ ")
    'x^2 + 1'
    """
    tex = _WS.sub(" ", tex).strip()
    m = _OUTER_DOLLARS.match(tex)
    return m.group(2).strip() if m else tex


def _wrap(tex: str, display: bool) -> str:
    tex = normalize_formula(tex)  # alt texts and annotations sometimes carry their own delimiters
    if not tex:
        return ""
    return f"$${tex}$$" if display else f"${tex}$"


def _classes(node) -> set[str]:
    cls = node.getattr("class") if node.type == ELEMENT else None
    return set(cls.split()) if cls else set()


def _replace(tree: HTMLTree, node, text: str, display: bool) -> None:
    """Swap ``node`` for a text node (inside a ``<div>`` for display math, so it gets its own line)."""
    parent = node.parent
    if parent is None:
        return
    if display and text:
        new = tree.create_element("div")
        new.append_child(tree.create_text_node(text))
    else:
        if text:  # keep inline math apart from words glued to the element in the source
            before, after = node.previous_sibling, node.next_sibling
            if before is not None and before.type == TEXT and (before.text or " ")[-1:].isalnum():
                text = " " + text
            if after is not None and after.type == TEXT and (after.text or " ")[:1].isalnum():
                text = text + " "
        new = tree.create_text_node(text)
    parent.replace_child(new, node)


def _too_long(tex: str, cfg: MathExtractConfig) -> bool:
    return cfg.max_formula_chars is not None and len(tex) > cfg.max_formula_chars


def image_latex(src: str, alt: str | None = None) -> str | None:
    r"""The LaTeX of a formula image: from the renderer URL's query, else its alt text; None otherwise.

    >>> image_latex("/cgi-bin/mimetex.cgi?\\frac{a}{b}"), image_latex("https://s0.wp.com/latex.php?latex=x%5E2+1&bg=fff")
    ('\\frac{a}{b}', 'x^2 1')
    >>> image_latex("https://latex.codecogs.com/png.latex?\\dpi{120}&space;a&plus;b=c"), image_latex("/photo.jpg", "x")
    ('a+b=c', None)
    """
    if not src or not _RENDERER_SRC.search(src):
        return None
    query = src.split("?", 1)[1].split("#", 1)[0] if "?" in src else ""
    tex = None
    if query:
        named = _NAMED_QUERY.search(query)
        if named:
            for key, values in parse_qs(query, keep_blank_values=True).items():
                if key.lower() == named.group(1).lower() and values and values[0].strip():
                    tex = values[0]
                    break
        else:  # the whole query is the formula (CodeCogs keeps '+' literal: unquote, not unquote_plus)
            tex = unquote(query)
            for entity, char in _CODECOGS_ENTITIES:
                tex = tex.replace(entity, char)
            while (m := _RENDER_OPTION.match(tex)) is not None and m.end() > 0:
                tex = tex[m.end():]
            tex = tex.strip()
            if ".cgi?" in src.lower() and not _RENDERER_SRC.search(src.lower().replace(".cgi?", "")) \
                    and not _TEX_LIKE.search(tex):
                tex = None  # some other CGI (a counter, a search) with a plain query
    if not tex and alt and alt.strip():
        tex = alt
    return tex or None



def alt_latex(alt: str | None) -> tuple[str, bool] | None:
    r"""(LaTeX, display) of an image whose alt text is a formula, None for any other alt.

    A formula's alt is the whole text in TeX math delimiters (LaTeX2HTML writes ``$x^2$``,
    ``\[ ... \]`` or ``\begin{displaymath} ... \end{displaymath}``) or holds a LaTeX command
    (``{\displaystyle \frac{a}{b}}``). A caption, a file name or "$5 off" is not.

    >>> alt_latex("$x^2+1$"), alt_latex(r"\[ \int_0^1 f \]"), alt_latex(r"{\displaystyle \frac{a}{b}}")
    (('x^2+1', False), ('\\int_0^1 f', True), ('{\\displaystyle \\frac{a}{b}}', False))
    >>> alt_latex(r"\begin{displaymath} a = b \end{displaymath}")
    ('\\begin{displaymath} a = b \\end{displaymath}', True)
    >>> [alt_latex(a) for a in ("A dog in the park", "$5 and $10 notes", "chart-2024.png", "", None)]
    [None, None, None, None, None]
    """
    if not alt or ("$" not in alt and "\\" not in alt):
        return None
    m = _DELIMITED_ALT.fullmatch(alt)
    if m is not None:
        display = m[1] or m[4] or m[7]
        tex = next(g for g in (m[2], m[3], m[5], m[6], m[7]) if g is not None)
        tex = _WS.sub(" ", tex).strip()
        return (tex, bool(display)) if tex else None
    if _LATEX_COMMAND_STR.search(alt) is not None:
        return _WS.sub(" ", alt).strip(), False
    return None


def replace_math_tree(tree: HTMLTree, cfg: MathExtractConfig | None = None) -> int:
    """Rewrite every math element of ``tree`` in place into LaTeX text; returns the formula count."""
    cfg = cfg or MathExtractConfig()
    root = tree.document
    if root is None:
        return 0
    count = 0

    def put(node, tex: str | None, display: bool) -> None:
        nonlocal count
        if tex is None or _too_long(tex, cfg):
            _replace(tree, node, "", False)
            return
        text = _wrap(tex, display)
        if text:
            count += 1
        _replace(tree, node, text, display)

    # 1. Wikipedia: one element holds hidden MathML and a fallback image with the same TeX.
    for el in list(root.query_selector_all(".mwe-math-element")):
        maths = el.get_elements_by_tag_name("math")
        if len(maths):
            display = (maths[0].getattr("display") or "") == "block"
            put(el, element_to_latex(maths[0]), display)

    # 2. MathJax v2 script sources; drop the rendered siblings just before each script.
    for script in list(root.query_selector_all('script[type^="math/tex"], script[type^="math/TeX"]')):
        prev = script.previous_element_sibling
        while prev is not None and _classes(prev) & _MJ2_RENDERED:
            nxt = prev.previous_element_sibling
            prev.decompose()
            prev = nxt
        display = "mode=display" in (script.getattr("type") or "").replace(" ", "").lower()
        put(script, script.text or "", display)
    for script in list(root.query_selector_all('script[type^="math/mml"]')):
        sub = HTMLTree.parse(script.text or "")
        maths = sub.body.get_elements_by_tag_name("math") if sub.body is not None else []
        if len(maths):
            put(script, element_to_latex(maths[0]), (maths[0].getattr("display") or "") == "block")

    # 3. MathJax v3 containers: the assistive MathML is the source, the rest is glyph boxes.
    for el in list(root.query_selector_all("mjx-container")):
        maths = el.get_elements_by_tag_name("math")
        display = (el.getattr("display") or "").lower() in ("true", "block")
        if len(maths):
            display = display or (maths[0].getattr("display") or "") == "block"
            put(el, element_to_latex(maths[0]), display)
        else:
            put(el, None, False)

    # 4. KaTeX: the TeX annotation; display wrappers first so their inner .katex goes with them.
    for selector, display in ((".katex-display", True), (".katex", False)):
        for el in list(root.query_selector_all(selector)):
            if el.parent is None:
                continue
            tex = None
            for ann in el.get_elements_by_tag_name("annotation"):
                if (ann.getattr("encoding") or "").lower() in ("application/x-tex", "application/x-latex"):
                    tex = ann.text or ""
                    break
            if tex is None:
                maths = el.get_elements_by_tag_name("math")
                tex = element_to_latex(maths[0]) if len(maths) else None
            if tex is not None:
                put(el, tex, display)
            else:
                for rendered in list(el.query_selector_all(".katex-html")):
                    rendered.decompose()

    # 5. Any other MathML.
    for el in list(root.get_elements_by_tag_name("math")):
        if el.parent is None:
            continue
        display = (el.getattr("display") or "").lower() == "block" or (el.getattr("mode") or "") == "display"
        put(el, element_to_latex(el), display)

    # 6. Formula images.
    if cfg.formula_images:
        for img in list(root.get_elements_by_tag_name("img")):
            tex = None
            for attr in _IMG_SOURCES:  # lazy-loading pages keep the real URL in data-src
                tex = image_latex(img.getattr(attr) or "", None)
                if tex is not None:
                    break
            if tex is None:
                tex = image_latex(img.getattr("src") or "", img.getattr("alt"))
            display = environment = False
            if tex is None and _classes(img) & {"latex", "tex"}:
                tex = img.getattr("alt")
            if tex is None:
                tex, display = alt_latex(img.getattr("alt")) or (None, False)
                environment = display and tex.startswith("\\begin{")  # written as is, no $$ around it
            if tex is not None and not _too_long(tex, cfg):
                text = tex if environment else _wrap(tex, display)
                if text:
                    count += 1
                _replace(tree, img, text, display)

    # 7. TeX in the text behind forum BBCode, ``##``, or the page's configured delimiters.
    scripts = " ".join(el.text or "" for el in root.get_elements_by_tag_name("script")
                       if (el.getattr("type") or "").lower() not in ("math/tex", "math/tex; mode=display"))
    configured = _delimiter_pattern(page_delimiters(scripts))
    body_text = (tree.body.text or "") if tree.body is not None else ""  # (.text of the document node crashes)
    if configured is not None or "[/" in body_text or "##" in body_text:  # else no text node to rewrite
        for node in list(_text_nodes(root)):
            value = node.text or ""
            if "[/" in value or "##" in value or configured is not None:
                new, n = normalize_tex_delimiters(value, configured)
                if n:
                    node.text = new
                    count += n

    # 8. Powers and indices written as <sup>/<sub>.
    _rewrite_scripts(tree, root)
    return count


def _parse(html: str | bytes) -> HTMLTree:
    if isinstance(html, (bytes, bytearray, memoryview)):
        return HTMLTree.parse_from_bytes(bytes(html), "utf-8")
    return HTMLTree.parse(html)


def replace_math(html: str | bytes, cfg: MathExtractConfig | None = None) -> str:
    """The page's HTML with every math element replaced by LaTeX text (for other extractors)."""
    tree = _parse(html)
    replace_math_tree(tree, cfg)
    return tree.document.html if tree.document is not None else ""


def extract_math_text(html: str | bytes, cfg: MathExtractConfig | None = None) -> str:
    """Main-content text of ``html`` with math kept as LaTeX (``$...$`` / ``$$...$$``).

    >>> extract_math_text('<p>Energy <script type="math/tex">E=mc^2</script> is conserved.</p>',
    ...                   MathExtractConfig(main_content=False))
    'Energy $E=mc^2$ is conserved.'
    """
    cfg = cfg or MathExtractConfig()
    tree = _parse(html)
    replace_math_tree(tree, cfg)
    return extract_plain_text(
        tree,
        preserve_formatting=cfg.preserve_formatting,
        main_content=cfg.main_content,
        alt_texts=True,
    )
