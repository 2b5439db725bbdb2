"""LaTeX-preserving extraction: hand-made pages of each kind, the real MathJax page, non-math pages."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from resiliparse.extract.html2text import extract_plain_text

from operators.math_extract import (MathExtractConfig, alt_latex, extract_math_text, has_math, image_latex,
                                    replace_math)
from operators.mathml import mathml_to_latex

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PAGES = DATA / "extraction-dev" / "mozilla-readability" / "test-pages"

PROSE = (
    "<p>This lecture note introduces the topic step by step. We recall the definitions that the "
    "previous chapter established, then prove the main statement carefully and discuss several "
    "examples that students usually find helpful when they prepare for the examination.</p>"
)


def _page(body: str, head: str = "") -> str:
    return (
        f"<html><head><title>Notes</title>{head}</head><body><nav><a href='/'>Home</a> | "
        f"<a href='/about'>About</a></nav><article><h1>Lecture notes</h1>{PROSE}{body}{PROSE}"
        "</article><footer>Copyright 2024 Example University</footer></body></html>"
    )


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def _kept(text: str, formulas: list[str]) -> float:
    flat = _squash(text)
    return sum(_squash(f) in flat for f in formulas) / len(formulas)


# --- MathJax v2: script sources with their rendered duplicates in front -------------------------

MATHJAX2_FORMULAS = [
    ("E=mc^2", False), (r"\int_0^1 x^2\,dx=\frac{1}{3}", True), (r"a^2+b^2=c^2", False),
    (r"\sum_{k=1}^{n} k=\frac{n(n+1)}{2}", True), (r"\alpha+\beta", False), (r"e^{i\pi}+1=0", False),
    (r"\lim_{x\to0}\frac{\sin x}{x}=1", True), (r"\nabla\cdot\mathbf{E}=\rho/\varepsilon_0", False),
]


def _mathjax2_page() -> str:
    parts = []
    for i, (tex, display) in enumerate(MATHJAX2_FORMULAS):
        mode = "; mode=display" if display else ""
        rendered = (
            f'<span class="MathJax_Preview" style="color: inherit;">RENDERED{i}</span>'
            f'<span class="MathJax" id="MathJax-Element-{i}-Frame"><nobr><span class="math">'
            f"<span>RENDERED{i}</span></span></nobr></span>"
        )
        if display:
            rendered = f'<div class="MathJax_Display">{rendered}</div>'
        parts.append(
            f"<p>Formula number {i} states that {rendered}"
            f'<script type="math/tex{mode}" id="MathJax-Element-{i}">{tex}</script> holds in general.</p>'
        )
    return _page("".join(parts), head='<script src="https://cdn.example.org/MathJax.js"></script>')


def test_mathjax_v2_scripts_become_latex_without_rendered_duplicates():
    html = _mathjax2_page()
    assert has_math(html)
    text = extract_math_text(html)
    assert _kept(text, [t for t, _ in MATHJAX2_FORMULAS]) >= 0.95
    assert "RENDERED" not in text
    for tex, display in MATHJAX2_FORMULAS:
        wrapped = f"$${tex}$$" if display else f"${tex}$"
        assert _squash(wrapped) in _squash(text), wrapped
    assert "Formula number 0 states that $E=mc^2$ holds" in text


# --- MathML ------------------------------------------------------------------------------------

MATHML_CASES = [
    ("<mi>x</mi><mo>+</mo><mn>1</mn>", "x+1"),
    ("<mfrac><mi>a</mi><mi>b</mi></mfrac>", r"\frac{a}{b}"),
    ("<msup><mi>x</mi><mn>2</mn></msup>", "x^{2}"),
    ("<msub><mi>a</mi><mi>n</mi></msub>", "a_{n}"),
    ("<msubsup><mo>∫</mo><mn>0</mn><mn>1</mn></msubsup>", r"\int_{0}^{1}"),
    ("<msqrt><mn>2</mn></msqrt>", r"\sqrt{2}"),
    ("<mroot><mi>x</mi><mn>3</mn></mroot>", r"\sqrt[3]{x}"),
    ("<mrow><mo>(</mo><mi>a</mi><mo>−</mo><mi>b</mi><mo>)</mo></mrow>", "(a-b)"),
    ("<mtable><mtr><mtd><mn>1</mn></mtd><mtd><mn>2</mn></mtd></mtr><mtr><mtd><mn>3</mn></mtd>"
     "<mtd><mn>4</mn></mtd></mtr></mtable>", r"\begin{matrix}1 & 2 \\ 3 & 4\end{matrix}"),
    ("<mover><mi>x</mi><mo>¯</mo></mover>", r"\overline{x}"),
    ("<mover><mi>v</mi><mo>→</mo></mover>", r"\vec{v}"),
    ("<munder><mo>lim</mo><mrow><mi>n</mi><mo>→</mo><mi>∞</mi></mrow></munder>", r"\lim_{n\to\infty}"),
    ("<munderover><mo>∑</mo><mrow><mi>i</mi><mo>=</mo><mn>1</mn></mrow><mi>n</mi></munderover>",
     r"\sum_{i=1}^{n}"),
    ("<mi>x</mi><mtext>for all</mtext><mi>x</mi>", r"x\text{for all}x"),
    ("<mi>a</mi><mspace width='1em'/><mi>b</mi>", "a b"),
    ("<mi>sin</mi><mi>θ</mi>", r"\sin\theta"),
    ("<semantics><mrow><mi>y</mi></mrow><annotation encoding='application/x-tex'>y_{\\text{max}}</annotation>"
     "</semantics>", r"y_{\text{max}}"),
    ("<mi>α</mi><mo>≤</mo><mi>β</mi>", r"\alpha\leq\beta"),
    ("<mfrac linethickness='0'><mi>n</mi><mi>k</mi></mfrac>", r"\binom{n}{k}"),
    ("<mi mathvariant='double-struck'>R</mi>", r"\mathbb{R}"),
]


@pytest.mark.parametrize("inner, expected", MATHML_CASES)
def test_mathml_elements_convert(inner, expected):
    assert mathml_to_latex(f"<math>{inner}</math>") == expected


def test_mathml_page_keeps_formulas_inline_and_display():
    block = ' display="block"'
    body = "".join(
        f"<p>Case {i}: the expression <math{block if i % 3 == 0 else ''}>{inner}</math> "
        f"appears in the derivation.</p>"
        for i, (inner, _) in enumerate(MATHML_CASES)
    )
    html = _page(body)
    assert has_math(html)
    text = extract_math_text(html)
    assert _kept(text, [e for _, e in MATHML_CASES]) >= 0.95
    assert _squash(r"$$x+1$$") in _squash(text)  # display
    assert r"$\frac{a}{b}$" in text  # inline


# --- KaTeX -----------------------------------------------------------------------------------------

KATEX_FORMULAS = [r"c = \pm\sqrt{a^2 + b^2}", r"f(x)=\int_{-\infty}^{\infty}\hat f(\xi)e^{2\pi i\xi x}d\xi",
                  r"\binom{n}{k}", r"\det(A-\lambda I)=0", r"\mathbb{E}[X]=\mu"]


def _katex(tex: str, display: bool) -> str:
    inner = (
        f'<span class="katex"><span class="katex-mathml"><math xmlns="http://www.w3.org/1998/Math/MathML">'
        f"<semantics><mrow><mi>c</mi><mo>=</mo></mrow><annotation encoding=\"application/x-tex\">{tex}"
        f'</annotation></semantics></math></span><span class="katex-html" aria-hidden="true">'
        f'<span class="base"><span class="mord mathnormal">GLYPHS c = ± √</span></span></span></span>'
    )
    return f'<span class="katex-display">{inner}</span>' if display else inner


def test_katex_annotation_kept_and_rendered_spans_dropped():
    body = "".join(
        f"<p>Observe that {_katex(t, i % 2 == 1)} follows from the previous lemma.</p>"
        for i, t in enumerate(KATEX_FORMULAS)
    )
    html = _page(body, head='<link rel="stylesheet" href="katex.min.css">')
    text = extract_math_text(html)
    assert _kept(text, KATEX_FORMULAS) >= 0.95
    assert "GLYPHS" not in text
    assert "$c = \\pm\\sqrt{a^2 + b^2}$" in text
    assert _squash("$$" + KATEX_FORMULAS[1] + "$$") in _squash(text)
    assert _squash(text).count(_squash(KATEX_FORMULAS[0])) == 1


# --- formula images ------------------------------------------------------------------------------

IMAGE_CASES = [
    ('<img src="https://s0.wp.com/latex.php?latex=x%5E2%2By%5E2%3D1&bg=ffffff&fg=000&s=0" alt="x^2+y^2=1" '
     'class="latex">', "x^2+y^2=1"),
    ('<img src="https://latex.codecogs.com/gif.latex?%5Cfrac%7B1%7D%7B2%7D" alt="">', r"\frac{1}{2}"),
    ('<img src="/cgi-bin/mimetex.cgi?\\alpha_{n+1}" alt="formula">', r"\alpha_{n+1}"),
    ('<img src="https://example.files.wordpress.com/latex.php?latex=%5Csqrt%7Bn%7D" alt="\\sqrt{n}">',
     r"\sqrt{n}"),
    ('<img class="latex" src="/images/eq7.png" alt="$\\pi r^2$">', r"\pi r^2"),
]


def test_renderer_images_become_latex():
    body = "".join(f"<p>The area formula {img} is used below.</p>" for img, _ in IMAGE_CASES)
    body += '<p>A photo of the campus <img src="/img/campus.jpg" alt="Campus in spring"> in spring.</p>'
    html = _page(body)
    assert has_math(html)
    text = extract_math_text(html)
    assert _kept(text, [f"${t}$" for _, t in IMAGE_CASES]) >= 0.95
    assert "Campus in spring" in text  # ordinary alt text stays as the normal extractor has it


@pytest.mark.parametrize("src, tex", [
    # mimeTeX / mathTeX: the whole query is the LaTeX, even with '=' and '&' inside it
    ("http://www.forkosh.com/mimetex.cgi?x=\\frac{a}{b}", "x=\\frac{a}{b}"),
    ("/cgi-bin/mathtex.cgi?\\begin{pmatrix}a&b\\\\c&d\\end{pmatrix}", "\\begin{pmatrix}a&b\\\\c&d\\end{pmatrix}"),
    # CodeCogs: URL-decoded, '+' kept, &space;/&plus; decoded, rendering options dropped
    ("https://latex.codecogs.com/svg.latex?%5Cdpi%7B120%7D%20%5Cbg_white%20a+b%5E2", "a+b^2"),
    ("https://latex.codecogs.com/png.image?\\inline&space;\\sum_{i=1}^n&space;i&plus;1", "\\sum_{i=1}^n i+1"),
    # WordPress / s0.wp.com latex.php?latex=: '+' is a space there
    ("https://s0.wp.com/latex.php?latex=%5Cint_0%5E1+x%5E2%5C%2C+dx&bg=ffffff&fg=000000&s=0", "\\int_0^1 x^2\\, dx"),
    ("https://blog.example.org/wp/latex.php?bg=fff&latex=e%5E%7Bi%5Cpi%7D", "e^{i\\pi}"),
    # any other ...cgi?<latex> renderer
    ("http://math.example.edu/cgi-bin/render.cgi?\\sqrt{2}", "\\sqrt{2}"),
])
def test_formula_image_urls_carry_latex(src, tex):
    assert image_latex(src) == tex
    text = extract_math_text(_page(f'<p>So we get <img src="{src}" alt="eq"> which closes the proof.</p>'),
                             MathExtractConfig(main_content=False))
    assert f"${tex}$" in text


def test_prefilter_sees_url_encoded_renderer_images():
    assert has_math('<img src="http://math.example.edu/cgi-bin/render.cgi?%5Cfrac%7B1%7D%7B2%7D">')
    assert has_math('<img src="https://eq.example.net/gif.latex?x%5E2">')
    assert not has_math('<img src="http://example.org/cgi-bin/counter.cgi?page=home">')


def test_lazy_loaded_formula_image_uses_data_src():
    html = _page('<p>Hence <img src="data:image/gif;base64,R0lGOD" data-src="https://s0.wp.com/latex.php?'
                 'latex=%5Cpi+r%5E2&bg=fff" alt="pi r squared"> is the area.</p>')
    assert "$\\pi r^2$" in extract_math_text(html, MathExtractConfig(main_content=False))


def test_plain_cgi_and_photo_images_are_not_formulas():
    assert image_latex("http://example.org/cgi-bin/counter.cgi?page=home") is None
    assert image_latex("/img/photo.jpg", "A photo") is None
    # a renderer URL without a query falls back to the alt text
    assert image_latex("https://latex.codecogs.com/gif.latex", "\\alpha") == "\\alpha"


def test_latex2html_formula_images_keep_their_alt_latex():
    """Lecture notes converted by LaTeX2HTML (or pandoc --webtex) show each formula as a plain
    image whose alt text is the LaTeX: inline ``$x$``, display ``\\begin{displaymath}``."""
    display = r"\begin{displaymath} \int_0^1 x\,dx = \frac{1}{2} \end{displaymath}"
    html = _page(
        '<P>Let <IMG WIDTH="14" HEIGHT="13" ALIGN="BOTTOM" BORDER="0" SRC="img1.png" ALT="$x$"> be a real '
        'number in the unit interval. Then we have</P>'
        f'<DIV ALIGN="CENTER"><IMG SRC="img2.png" ALT="{display}"></DIV>'
        '<P>which is the area under the diagonal. <IMG SRC="img3.png" ALT="$$\\sum_{k=1}^n k$$"></P>'
        '<P>A photo of the lecture hall <IMG SRC="hall.jpg" ALT="Lecture hall in spring"> in spring.</P>',
        head='<META NAME="Generator" CONTENT="LaTeX2HTML v2008">')
    assert has_math(html)  # the generator tag: the alt texts alone name no LaTeX command
    text = extract_math_text(html, MathExtractConfig(main_content=False))
    assert "Let $x$ be a real" in text
    assert display in text and "$$\\sum_{k=1}^n k$$" in text
    assert "Lecture hall in spring" in text  # an ordinary alt text stays as the extractor has it
    assert [alt_latex(a) for a in ("Lecture hall", "$5 and $10 notes", "img2.png")] == [None, None, None]


# --- TeX delimiters in text ------------------------------------------------------------------------


def test_tex_delimiters_in_text_preserved():
    formulas = [r"$x_1 + x_2$", r"$$\int f\,d\mu$$", r"\(a \le b\)", r"\[ \sum_n a_n \]"]
    body = "".join(f"<p>We know that {f} is bounded by the constant.</p>" for f in formulas)
    html = _page(body)
    assert has_math(html)
    text = extract_math_text(html)
    assert _kept(text, formulas) >= 0.95


def test_wikipedia_math_element_not_duplicated():
    el = (
        '<span class="mwe-math-element"><span class="mwe-math-mathml-inline mwe-math-mathml-a11y" '
        'style="display: none;"><math xmlns="http://www.w3.org/1998/Math/MathML" alttext="{\\displaystyle x^{2}}">'
        '<semantics><mrow><msup><mi>x</mi><mn>2</mn></msup></mrow><annotation encoding="application/x-tex">'
        '{\\displaystyle x^{2}}</annotation></semantics></math></span><img src="https://wikimedia.org/api/'
        'rest_v1/media/math/render/svg/abc" class="mwe-math-fallback-image-inline" alt="{\\displaystyle x^{2}}">'
        "</span>"
    )
    text = extract_math_text(_page(f"<p>The square {el} grows quickly with the argument.</p>"))
    assert text.count("x^{2}") == 1
    assert "${\\displaystyle x^{2}}$" in text


def test_overlong_formula_dropped_and_config_respected():
    html = _page('<p>Broken page <script type="math/tex">' + "x+" * 20_000 + "1</script> text.</p>")
    assert "x+x+x+" not in extract_math_text(html)
    kept = extract_math_text(html, MathExtractConfig(max_formula_chars=None))
    assert "x+x+x+" in kept


def test_replace_math_returns_html_with_latex_text():
    out = replace_math('<p>Let <script type="math/tex">a<b</script> hold.</p>')
    assert "<script" not in out
    assert "$a&lt;b$" in out


def test_prefilter_negatives():
    assert not has_math("<p>Price: $5 and $10, see (note) [1].</p>")
    assert not has_math("<script>var re = /\\(\\s*\\[/; $$('.x')</script><p>Shop now</p>")
    assert has_math('<link href="katex.min.css">')
    assert has_math('<img src="https://latex.codecogs.com/png.latex?x">')
    assert has_math("<p>Then \\begin{align} a &= b \\end{align}</p>")


# --- real pages -------------------------------------------------------------------------------------


def _need_pages() -> None:
    if not PAGES.is_dir():
        pytest.skip(f"../shared/data not found: {PAGES} (real readability test pages)")


@pytest.mark.shared_data
def test_real_mathjax_page_keeps_all_formulas():
    _need_pages()
    pages = [p for p in sorted(PAGES.glob("*/source.html.gz"))
             if b"MathJax" in gzip.decompress(p.read_bytes()) and "<mjx-container" in gzip.decompress(
                 p.read_bytes()).decode("utf-8", "replace")]
    assert pages, "no MathJax v3 page found in the readability test pages"
    html = gzip.decompress(pages[0].read_bytes()).decode("utf-8")
    n_formulas = html.count("<mjx-container")
    assert has_math(html)
    text = extract_math_text(html)
    n_kept = len(re.findall(r"\$\$.+?\$\$|\$[^$]+\$", text))
    assert n_kept >= 0.95 * n_formulas, (n_kept, n_formulas)
    assert r"x=\frac{-b\pm\sqrt{b^{2}-4ac}}{2a}" in text
    assert r"\nabla\times\vec{\mathbf{B}}" in text
    assert "Maxwell's Equations" in text


@pytest.mark.shared_data
def test_non_math_pages_unchanged_and_prefilter_mostly_false():
    _need_pages()
    pages = sorted(PAGES.glob("*/source.html.gz"))
    flagged = 0
    compared = 0
    for p in pages:
        html = gzip.decompress(p.read_bytes()).decode("utf-8", "replace")
        if has_math(html):
            flagged += 1
            continue
        if compared < 15:
            assert extract_math_text(html) == extract_plain_text(html, main_content=True), p.parent.name
            compared += 1
    # mathjax, quanta-1 (loads MathJax) and wikipedia-3 (MathML) are the pages with math
    assert flagged <= 5, flagged
    assert compared == 15
