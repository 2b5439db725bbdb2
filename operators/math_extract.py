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
   ``cht=tx``): the decoded ``latex=`` / query LaTeX, else the alt text.

TeX already in the text (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``) is text and kept as is.

Callers run :func:`has_math` first and use their normal extraction when it is False, so pages
without math pay one regex scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

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
)
_LATEX_COMMAND = (
    r"\\(?:frac|dfrac|tfrac|sum|int|iint|oint|prod|sqrt|lim|infty|partial|nabla|cdot|times|leq?|geq?"
    r"|neq|approx|alpha|beta|gamma|delta|epsilon|varepsilon|theta|lambda|sigma|omega|pi|mathbb"
    r"|mathrm|mathcal|mathbf|operatorname|binom|begin\{(?:equation|align|eqnarray|gather"
    r"|multline|matrix|pmatrix|bmatrix|cases|array))\b"
)
_LATEX_COMMAND_STR = re.compile(_LATEX_COMMAND)
_LATEX_COMMAND_BYTES = re.compile(_LATEX_COMMAND.encode())

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
    """True when the raw HTML shows math (MathJax, KaTeX, MathML, formula images, LaTeX commands).

    >>> has_math('<script type="math/tex">x^2</script>'), has_math('<p>Hello world</p>')
    (True, False)
    >>> has_math(b'<p>We have \\\\frac{a}{b}.</p>'), has_math('<script>s.replace(/\\\\(/g, "$$")</script>')
    (True, False)
    """
    if isinstance(html, (bytes, bytearray, memoryview)):
        raw = bytes(html)
        lower = raw.lower()
        if any(tok in lower for tok in _PREFILTER_TOKENS):
            return True
        return _LATEX_COMMAND_BYTES.search(raw) is not None
    lower_s = html.lower()
    if any(tok.decode() in lower_s for tok in _PREFILTER_TOKENS):
        return True
    return _LATEX_COMMAND_STR.search(html) is not None


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


_image_tex = image_latex  # the name used before


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
            if tex is None and "latex" in _classes(img):
                tex = img.getattr("alt")
            if tex is not None and not _too_long(tex, cfg):
                text = _wrap(tex, False)
                if text:
                    count += 1
                _replace(tree, img, text, False)
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
