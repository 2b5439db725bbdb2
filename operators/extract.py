"""HTML -> text: character decoding, main-content extraction, language id.

Pure cores (``decode_html``, ``extract_text``, ``extract_one``; language id is
:func:`operators.langid.detect_language`) and one thin Ray Data adapter (``extract_batch``,
``batch_format="pyarrow"``).

Extraction is resiliparse's ``extract_plain_text`` (Bevendorff et al. 2018, "Elastic
ChatNoir"; main-content heuristics of resiliparse 0.14+), followed by the block-level
boilerplate pruning of :mod:`operators.boilerplate` (jusText/Boilerpipe-style). On the
mozilla/readability test pages the pruning raises precision at a small cost in recall;
benchmarks/extraction_quality.py measures it against resiliparse alone and trafilatura (its
section of benchmarks/RESULTS.md has the numbers).

Pathological nesting: see MAX_MAIN_CONTENT_DEPTH. Per-page time limit: resiliparse runs in native code, which neither a Python signal handler
nor a thread can interrupt, and ``signal.setitimer`` only works in a process's main thread
(not guaranteed inside Ray workers). So ``timeout_seconds`` is enforced after the fact: a
page whose extraction took longer is rejected as ``extraction_timeout``. The hard bound on
work per page is ``max_html_bytes`` (resiliparse is linear in the input size).
"""

from __future__ import annotations

import codecs
import re
import time
from dataclasses import dataclass, field
from html import unescape as _unescape_html
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from operators.boilerplate import prune_minimal_html
from operators.config import ConfigError
from operators.html_repair import repair_markup
from operators.langid import LanguageIdConfig, detect_language
from operators.math_extract import alt_latex
from operators.schema import (
    DOCUMENT_COLUMNS,
    DOMAIN,
    LANGUAGE,
    LANGUAGE_SCORE,
    REASON,
    SKIP,
    TEXT,
    URL,
    with_reason,
)

# Reject reasons.
UNDECODABLE_HTML = "undecodable_html"  # no charset turns the bytes into text (binary body)
HTML_TOO_LARGE = "html_too_large"  # body longer than max_html_bytes
EXTRACTION_TIMEOUT = "extraction_timeout"  # extraction took longer than timeout_seconds
EXTRACTION_FAILED = "extraction_failed"  # the HTML parser raised
EMPTY_TEXT = "empty_text"  # fewer than min_text_chars characters of text after extraction
REASONS = (UNDECODABLE_HTML, HTML_TOO_LARGE, EXTRACTION_TIMEOUT, EXTRACTION_FAILED, EMPTY_TEXT)

HTML = "html"
HTTP_CHARSET = "http_charset"

# With main_content, a pruned text shorter than this many characters falls back to the
# whole page (pruned): resiliparse's main-content guess sometimes drops the entire article.
FALLBACK_MIN_CHARS = 200
# ... unless a thread's comments make up at least 1/FALLBACK_MAX_GAIN of that whole page. On a
# page with comment sections a short main-content text that they do not lengthen gives way to
# the whole page when that is more than FALLBACK_MAX_GAIN times longer (see _extract).
FALLBACK_MAX_GAIN = 5
# Comments: resiliparse's main-content pass drops comment sections. On a forum or Q&A thread
# those replies are the content, on an article page they are a widget beside it. A page whose
# comment-free text is shorter than a few paragraphs (THREAD_MAX_CHARS) and whose comment
# sections make it at least THREAD_MIN_GAIN times longer is a thread: its replies are kept.
THREAD_MAX_CHARS = 1000
THREAD_MIN_GAIN = 1.5
# resiliparse finds comment sections by their class and id names; a page with no element whose
# class or id names comments or replies has none to add, and is spared the second pass.
COMMENT_SELECTOR = "[class*=comment i], [id*=comment i], [class*=repl i], [id*=repl i]"
# Elements that sit above the page rather than in it: dialogs and modal overlays (cookie
# consent panels, sign-in and report forms, media galleries) and closed <dialog>s. A browser
# shows them only on request; none is part of the article (WAI-ARIA 1.2, roles "dialog" and
# "alertdialog", ``aria-modal``; HTML ``<dialog>`` without ``open``).
OVERLAY_SELECTORS = ("[role=dialog]", "[role=alertdialog]", "[aria-modal=true]", "dialog:not([open])")
# Image captions and credits ("Photo: ... / Reuters") describe a picture the text does not
# carry; reference extractions of news pages leave them out (readability's keeps them).
CAPTION_SELECTORS = ("figcaption",)
# Author boxes and bylines: the class names WordPress themes and author-box plugins give them
# (``author-bio``, ``author-box``, ``author-block``, ``author-byline``). Who wrote the article is
# page metadata, not its text; reference extractions leave it out. One case-sensitive substring
# test per element (each skip selector costs every pass a test of every element).
AUTHOR_SELECTORS = ("[class*=author-b]",)
SKIP_SELECTORS = OVERLAY_SELECTORS + CAPTION_SELECTORS + AUTHOR_SELECTORS
# A page with exactly one <article> element says where its article is (HTML Living Standard,
# "the article element": a self-contained composition): the main-content pass then reads only
# that element and the page's <h1>, so consent panels, teaser grids and widgets elsewhere in
# the page cannot leak in. Pages with several <article>s (feeds, teaser lists, threads) are
# read whole.
ARTICLE_SCOPE = "body *:not(:has(article, h1)):not(article):not(article *):not(h1)"
ARTICLE_MIN_PARAGRAPHS = 0.1  # share of the page's <p> elements the one <article> must hold
# resiliparse's main-content pass is quadratic in the element nesting depth (resiliparse 2.0.1:
# 0.07 s at depth 2,000, 0.3 s at 4,000, 2 s at 10,000, 9 s at 20,000, and native code cannot
# be interrupted): deeper pages are extracted whole (linear) and pruned. A page is no deeper
# than it has elements, nor than it has "<", so only pages with more than this many of both are
# scanned: 73 of 1,390 dev pages, against 265 with more "<". The scan costs 1.2-2.5 ms on such
# a page, counting its parsed elements about 0.4 ms, counting "<" 0.1 ms.
MAX_MAIN_CONTENT_DEPTH = 4000


def _any_case(pattern: str) -> str:
    """``pattern`` with each ASCII letter outside an escape written as a class of both cases.
    Same matches as ``re.I``, but the engine keeps searching for the literal ``<`` that starts
    every tag pattern here (``re.I`` turns that search off): 0.68 instead of 0.87 ms on a page
    of more than 2,000 tags.

    >>> _any_case(r"<(/?)img\\s")
    '<(/?)[iI][mM][gG]\\\\s'
    """
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        out.append(f"[{ch.lower()}{ch.upper()}]" if ch.isascii() and ch.isalpha() else ch)
        i += 1
    return "".join(out)


# div, span, section, article, main, aside, header, footer, nav, table, tbody, thead, ul, ol, dl,
# form, font, center, blockquote, figure, b, i, u, em, strong, small, a: as a trie (faster to
# match), in any letter case (<DIV> nests as deep as <div>).
_DEPTH_TAG = re.compile(_any_case(
    r"<(/?)(?:a(?:rticle|side)?|b(?:lockquote)?|center|d(?:iv|l)|em|f(?:igure|o(?:nt|oter|rm))|header|i|"
    r"main|nav|ol|s(?:ection|mall|pan|trong)|t(?:able|body|head)|ul?)[\s>]"
))
# resiliparse indents every line inside a list by two spaces per list level (plain text and
# minimal_html alike), so nested lists make text quadratic in their depth: 100,000 nested
# <ul><li> would be 10^10 characters and the worker dies out of memory. A page whose list
# indentation (estimated) would exceed its own length is extracted with lists flat: no
# bullets or list markup in minimal_html, unformatted plain text.
_LIST_OR_DEPTH_TAG = re.compile(r"<(/?)(?:([uUoO][lL])|" + _DEPTH_TAG.pattern[len("<(/?)(?:"):])
# An <img> tag's alt attribute, any quoting, or (group 4) an <article> start tag in lower case
# (_scan_markup: one scan of the page finds both; "<" stays the one literal the search looks for).
_IMG_ALT_OR_ARTICLE = re.compile(
    "<(?:" + _any_case(r"""img\s(?:[^>]*?\s)?alt\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
    + r"|(article)[\s>/])")
# Share of control/replacement characters above which decoded bytes count as binary.
MAX_GARBAGE_SHARE = 0.05
# Share of undecodable bytes up to which a declared charset is kept (with U+FFFD).
MAX_REPLACED_SHARE = 0.01
# Control characters that do not occur in text (all but tab, newlines, form feed); in UTF-8
# and every ASCII-compatible charset each is one byte of the same value.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20)])
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([a-zA-Z0-9_.:-]+)", re.I)
# WHATWG Encoding Standard labels of UTF-16BE / UTF-16LE that are not Python codec names.
_UTF16_LABELS = {"unicodefffe": "utf-16-be", "unicodefeff": "utf-16-le", "csunicode": "utf-16-le",
                 "iso-10646-ucs-2": "utf-16-le", "ucs-2": "utf-16-le", "unicode": "utf-16-le"}
# Single-byte Western charsets (after WHATWG mapping: ascii, iso-8859-1, latin1 are windows-1252)
# that UTF-8 bytes decode "successfully" into mojibake (é -> Ã©).
_WESTERN_SINGLE_BYTE = frozenset({"cp1252", "iso8859-15"})
_ASCII_BYTES = bytes(range(128))


@dataclass(frozen=True)
class ExtractConfig:
    """Settings of the extraction stage.

    main_content: keep only the main content (resiliparse ``main_content=True``, comment
        sections dropped); False extracts all visible text.
    boilerplate_pruning: drop boilerplate blocks (navigation, share/cookie/newsletter boxes,
        related links, footers) left by the main-content step; see operators/boilerplate.py.
    max_html_bytes: bodies longer than this are rejected (``html_too_large``); None: no limit.
    timeout_seconds: pages whose extraction took longer are rejected
        (``extraction_timeout``), measured after the fact (see module docstring); None: off.
    min_text_chars: documents with fewer characters of text are rejected (``empty_text``).
    language: language id of the extracted text (:class:`operators.langid.LanguageIdConfig`):
        ``backend`` fasttext (lid.176, default) or resiliparse, ``model`` (lid.176.bin/.ftz
        path or s3:// URI; default the lid.176.ftz shipped with raysift).
    """

    main_content: bool = True
    boilerplate_pruning: bool = True
    max_html_bytes: int | None = 10_000_000
    timeout_seconds: float | None = 5.0
    min_text_chars: int = 1
    language: LanguageIdConfig = field(default_factory=LanguageIdConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.language, LanguageIdConfig):
            raise ConfigError("ExtractConfig.language must be a LanguageIdConfig (YAML: a mapping with backend, model)")
        if self.max_html_bytes is not None and self.max_html_bytes <= 0:
            raise ConfigError("ExtractConfig.max_html_bytes must be positive or null (no limit)")
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise ConfigError("ExtractConfig.timeout_seconds must be positive or null (no limit)")
        if self.min_text_chars < 0:
            raise ConfigError("ExtractConfig.min_text_chars must be >= 0")


# --- decoding -------------------------------------------------------------------------------


def _codec(name: str | bytes | None) -> str | None:
    """Python codec for a charset label, WHATWG-mapped (ISO-8859-1 and ASCII -> cp1252); None if unknown.

    UTF-16 labels name a byte order: ``utf-16be`` (WHATWG also ``unicodefffe``) is
    ``utf-16-be``, ``utf-16``/``utf-16le`` are ``utf-16-le`` (WHATWG: the label "utf-16" means
    UTF-16LE). A byte order mark overrides any label; :func:`_bom` reads it first.

    >>> _codec("latin1"), _codec("UTF-16BE"), _codec("unicodeFFFE"), _codec("utf-16"), _codec("no\\x00such")
    ('cp1252', 'utf-16-be', 'utf-16-be', 'utf-16-le', None)
    """
    from resiliparse.parse.encoding import map_encoding_to_html5

    if not name:
        return None
    if isinstance(name, bytes):
        name = name.decode("ascii", "ignore")
    name = name.strip().strip("\"'").lower()
    if name in _UTF16_LABELS:  # WHATWG labels Python has no codec for (unicodefffe, csunicode...)
        return _UTF16_LABELS[name]
    try:
        codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the label (hostile headers)
        return None
    mapped = map_encoding_to_html5(name)
    if mapped in ("utf-16-le", "utf-16-be"):
        return mapped  # without a BOM Python's "utf-16" would assume the machine's byte order
    try:
        codecs.lookup(mapped)
    except LookupError:
        return name
    return mapped


def _bom(body: bytes) -> str | None:
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _garbage_share(text: str, utf8: bytes | None = None) -> float:
    """Share of control characters and U+FFFD in ``text``; ``utf8`` is its UTF-8 encoding
    when the caller has it (counting control bytes there is a C loop, not a regex scan).

    >>> _garbage_share("ab\\x00\\ufffd"), _garbage_share("a\\tb\\n")
    (0.5, 0.0)
    """
    if not text:
        return 0.0
    if utf8 is None:
        utf8 = text.encode("utf-8", "surrogatepass")
    control = len(utf8) - len(utf8.translate(None, _CONTROL_BYTES))
    return (control + text.count("\ufffd")) / len(text)


def _mostly_utf8(body: bytes) -> str | None:
    """``body`` read as UTF-8 (U+FFFD for damaged bytes) when it is UTF-8 but for a little damage
    (a sequence cut at the end of a truncated record, a stray byte): at least one valid multi-byte
    sequence, more valid ones than damaged, and at most 1 % damaged (or just one). None otherwise,
    e.g. for windows-1252 text, whose non-ASCII bytes are mostly not valid UTF-8.

    >>> _mostly_utf8("déjà vu".encode() + b"\\xc3"), _mostly_utf8("déjà vu".encode("cp1252"))
    ('déjà vu�', None)
    """
    text = body.decode("utf-8", errors="replace")
    high = len(body.translate(None, _ASCII_BYTES))  # bytes >= 0x80
    if not high:
        return None
    non_ascii = len(text) - (len(body) - high)  # ASCII bytes always decode to themselves
    bad = text.count("\ufffd") - body.count("\ufffd".encode())
    good = non_ascii - bad
    if good > 0 and bad < good and bad <= max(1, MAX_REPLACED_SHARE * len(text)):
        return text
    return None


def decode_html(body: bytes, http_charset: str | None) -> str | None:
    """Decode an HTML body: BOM, strict UTF-8, then the HTTP ``charset``, then
    ``<meta charset>``, then uchardet (resiliparse ``detect_encoding``); the first that decodes
    strictly wins (WHATWG HTML "determining the character encoding", simplified). Deviations,
    each because mislabeled UTF-8 is the common web error (uchardet, Firefox's chardetng and
    Chrome's CED all recognise UTF-8 by its byte patterns):

    - bytes valid as UTF-8 are read as UTF-8 whatever the header says, unless the header says
      UTF-16 and the bytes hold NULs (UTF-16 text without a BOM is valid UTF-8 full of NULs)
      or the result looks binary;
    - when the charset in force is a single-byte Western one (windows-1252, which WHATWG also
      uses for the labels iso-8859-1, latin1 and ascii; iso-8859-15) or none is declared, bytes
      that are UTF-8 but for a little damage (:func:`_mostly_utf8`: a record truncated inside a
      character, a stray byte) are read as UTF-8 with U+FFFD for the damage, not as
      windows-1252 mojibake (``Ã©`` for ``é``). Genuine windows-1252 pages keep windows-1252:
      their non-ASCII bytes are mostly not valid UTF-8.

    A declared charset that fails on a few bytes (at most 1 %, fewer than its valid non-ASCII
    characters) is used with replacement characters. None when the result looks binary
    (control characters, U+FFFD > 5 %).

    >>> decode_html("café".encode("cp1252"), "iso-8859-1")
    'café'
    >>> decode_html("Un café, une crème brûlée.".encode() + b"\\xc3", "iso-8859-1")
    'Un café, une crème brûlée.�'
    >>> decode_html(b"\\x00\\x01\\x02\\x03" * 64, None) is None
    True
    """
    from resiliparse.parse.encoding import detect_encoding

    if not body:
        return ""
    bom = _bom(body)
    header = _codec(http_charset)
    if bom is None and not (header in ("utf-16-le", "utf-16-be") and b"\x00" in body):
        # Valid UTF-8 with non-ASCII bytes is almost never another charset, while servers that
        # label UTF-8 pages ISO-8859-1 are common: strict UTF-8 goes first (as in uchardet).
        # Not for a body declared UTF-16 that has NUL bytes (its ASCII characters): UTF-16.
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if _garbage_share(text, body) <= MAX_GARBAGE_SHARE:
                return text
    declared = []
    for cand in (bom, header):
        if cand and cand not in declared:
            declared.append(cand)
    meta = _META_CHARSET.search(body[:4096])
    if meta:
        cand = _codec(meta.group(1))
        if cand and cand not in declared and not cand.startswith("utf-16"):
            declared.append(cand)  # an ASCII-readable meta tag cannot declare UTF-16
    if bom is None and (not declared or declared[0] in _WESTERN_SINGLE_BYTE):
        text = _mostly_utf8(body)
        if text is not None:
            return text if _garbage_share(text) <= MAX_GARBAGE_SHARE else None
    for enc in declared:
        try:
            text = body.decode(enc)
        except (UnicodeDecodeError, LookupError):
            # A few bad bytes in a page that is otherwise valid in its declared charset (the
            # usual case for UTF-8) beat a guess that turns every non-ASCII letter to mojibake.
            text = body.decode(enc, errors="replace")
            bad = text.count("\ufffd")
            good = sum(1 for ch in text if ord(ch) > 127) - bad
            if bad <= MAX_REPLACED_SHARE * len(text) and bad < good:
                return text if _garbage_share(text) <= MAX_GARBAGE_SHARE else None
            continue
        return text if _garbage_share(text) <= MAX_GARBAGE_SHARE else None
    for enc in (_codec(detect_encoding(body)), "utf-8"):
        if not enc or enc in declared:
            continue
        try:
            text = body.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
        return text if _garbage_share(text) <= MAX_GARBAGE_SHARE else None
    text = body.decode(declared[0] if declared else "utf-8", errors="replace")
    return text if _garbage_share(text) <= MAX_GARBAGE_SHARE else None


# --- extraction -----------------------------------------------------------------------------


def nesting_depth(html: str) -> int:
    """Nesting depth of container elements (div, span, table, lists, inline formatting, ...):
    the running balance of their opening and closing tags; void and often-unclosed elements
    (p, li, td, br, ...) are left out so sloppy markup does not inflate it.

    >>> nesting_depth("<div><div><br><p>x</div></div><span><b>y</b></span>")
    2
    """
    return _nesting(html)[0]


def _nesting(html: str) -> tuple[int, int]:
    """(:func:`nesting_depth`, estimated characters of list indentation: twice the list
    depth summed over the container tags, computed only when the container depth summed that
    way could exceed the page's length).

    >>> _nesting("<ul><li><ul><li><div>x</div></ul></ul>")
    (3, 0)
    >>> _nesting("<UL><LI>" * 40)[1] > len("<UL><LI>" * 40)
    True
    """
    marks = _DEPTH_TAG.findall(html)
    if not marks:
        return 0, 0
    depth = np.cumsum((np.array(marks, dtype="U1") == "").astype(np.int32) * 2 - 1)
    if 2 * int(np.maximum(depth, 0).sum()) <= len(html):
        return int(depth.max()), 0  # not even every container a list would indent past the page
    indent = level = 0
    for close, is_list in _LIST_OR_DEPTH_TAG.findall(html):
        if is_list:
            level = max(0, level - 1) if close else level + 1
        indent += 2 * level
    return int(depth.max()), indent


def extract_text(html: str, cfg: ExtractConfig) -> str:
    """Plain text of ``html`` per ``cfg`` (may raise the parser's exceptions).

    The page is parsed once. resiliparse's main-content pass (overlays, captions and author
    boxes skipped, comments off, scoped to the page's one ``<article>`` when it has one, see
    ARTICLE_SCOPE) is pruned by :mod:`operators.boilerplate`; a short result is re-read with
    comment sections when they hold most of the page (a thread, see THREAD_MAX_CHARS), or else,
    on such a page, replaced by the whole page when that is FALLBACK_MAX_GAIN times longer; a
    result still under FALLBACK_MIN_CHARS falls back to the whole page. A page that still comes
    out short is read again with unclosed raw-text elements and comments closed
    (:func:`operators.html_repair.repair_markup`).
    """
    text = _extract(html, cfg)
    if len(text) < FALLBACK_MIN_CHARS:
        repaired = repair_markup(html)
        if repaired != html:
            again = _extract(repaired, cfg)
            if len(again) > len(text):
                text = again
    return text


def _single_article(tree, has_article: bool) -> bool:
    """The page has exactly one ``<article>`` and it holds at least ARTICLE_MIN_PARAGRAPHS of
    the page's ``<p>`` elements (a lone teaser card beside a ``<div>`` article does not).
    ``has_article``: the markup writes ``<article`` (lower case: an element HTML5 introduced,
    written in capitals almost never, see :func:`_scan_markup`); without it the page is
    answered without a DOM query (each costs about 0.3 ms: a walk over every element)."""
    if tree.body is None or not has_article:
        return False
    articles = tree.body.query_selector_all("article")
    if len(articles) != 1:
        return False
    total = len(tree.body.query_selector_all("p"))
    return not total or len(articles[0].query_selector_all("p")) >= ARTICLE_MIN_PARAGRAPHS * total


def _scan_markup(html: str) -> tuple[dict[str, int], bool]:
    """(image texts, whether the markup writes an ``<article>`` start tag) from one regex scan
    of the page (each scan of a large page costs 0.1-0.3 ms).

    Image texts: the ``alt`` texts of the page's images, unescaped and whitespace-squeezed as
    the pruner's block texts are, with the number of images carrying each: resiliparse writes
    each where its image stands, and :mod:`operators.boilerplate` drops a block that is nothing
    else (an image's text is not the article's). Read from the markup: reading the attribute
    from resiliparse's DOM costs about 0.3 ms per image (its collections are walked per item).
    An alt text that is a formula (:func:`operators.math_extract.alt_latex`: LaTeX2HTML's
    ``$x^2$``, ``{\\displaystyle ...}``) is the page's text, not an image's, and is left out.

    >>> _scan_markup('<IMG src=x ALT="A &amp;  b"><img alt=bare><imgx alt="no"><img data-alt="x"><img alt="A & b">')
    ({'A & b': 2, 'bare': 1}, False)
    >>> _scan_markup('<articles><ARTICLE><img alt="$x^2$">')[1], _scan_markup('<article class=post>')[1]
    (False, True)
    """
    images: dict[str, int] = {}
    has_article = False
    for m in _IMG_ALT_OR_ARTICLE.finditer(html):
        if m[4] is not None:
            has_article = True
            continue
        alt = m[1] if m[1] is not None else m[2] if m[2] is not None else m[3]
        if alt and not alt.isspace():
            key = " ".join((_unescape_html(alt) if "&" in alt else alt).split())
            if alt_latex(key) is None:
                images[key] = images.get(key, 0) + 1
    return images, has_article


def _extract(html: str, cfg: ExtractConfig) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    scan = html.count("<") > MAX_MAIN_CONTENT_DEPTH and len(
        tree.document.query_selector_all("*")) > MAX_MAIN_CONTENT_DEPTH
    depth, indent = _nesting(html) if scan else (0, 0)
    main_content = cfg.main_content and depth <= MAX_MAIN_CONTENT_DEPTH
    flat = {"preserve_formatting": False} if indent > len(html) else {}  # see _LIST_OR_DEPTH_TAG
    skip = list(SKIP_SELECTORS)
    if not cfg.boilerplate_pruning:
        return extract_plain_text(tree, main_content=main_content, comments=not main_content, skip_elements=skip,
                                  **flat)
    kw = dict(preserve_formatting="minimal_html", links=True, skip_elements=skip)
    if flat:
        kw["list_bullets"] = False
    images, has_article = _scan_markup(html)

    def prune(minimal_html: str, thread: bool = False) -> str:
        return prune_minimal_html(minimal_html, images, thread)

    if not main_content:
        return prune(extract_plain_text(tree, main_content=False, comments=False, **kw))
    text = ""
    if _single_article(tree, has_article):
        scoped = dict(kw, skip_elements=skip + [ARTICLE_SCOPE])
        text = prune(extract_plain_text(tree, main_content=True, comments=False, **scoped))
        if len(text) >= FALLBACK_MIN_CHARS:
            kw = scoped
    if len(text) < FALLBACK_MIN_CHARS:  # no single <article>, or it was not the article
        text = prune(extract_plain_text(tree, main_content=True, comments=False, **kw))
    main_failed = len(text) < FALLBACK_MIN_CHARS
    if len(text) < THREAD_MAX_CHARS and tree.body is not None and tree.body.query_selector(COMMENT_SELECTOR):
        thread = prune(extract_plain_text(tree, main_content=True, comments=True, **kw), thread=True)
        if len(thread) >= THREAD_MIN_GAIN * len(text):
            text = thread
        elif not main_failed:
            # A page with discussion sections whose main-content text is short and gains
            # nothing from them: resiliparse's guess landed on a small box (one post's header,
            # a product's blurb) of a page whose bulk is elsewhere (the thread's other posts,
            # the reviews). The whole page wins when it holds FALLBACK_MAX_GAIN times more.
            full = prune(extract_plain_text(tree, main_content=False, **kw), thread=True)
            if len(full) > FALLBACK_MAX_GAIN * len(text):
                text = full
    if main_failed:
        # The main-content guess found (almost) nothing: the whole page wins unless the
        # comment sections hold a fair share of it (a thread whose opening post is tiny).
        full = prune(extract_plain_text(tree, main_content=False, **kw))
        thread_is_page = len(text) >= FALLBACK_MIN_CHARS and len(full) <= FALLBACK_MAX_GAIN * len(text)
        if not thread_is_page and len(full) > len(text):
            text = full
    if not text:
        # Pruning rejected every block (a front page that is one table of links): the page's
        # text is kept unpruned, for the quality filters to judge rather than lost as empty.
        text = extract_plain_text(tree, main_content=True, comments=True, skip_elements=skip, **flat)
    return text


# --- one page -------------------------------------------------------------------------------


def _is_fatal(exc: BaseException) -> bool:
    # pyo3/Rust panics derive from BaseException; they are a bad page, not a dying worker.
    return not isinstance(exc, Exception) and type(exc).__name__ != "PanicException"


def extract_one(body: bytes | None, http_charset: str | None, cfg: ExtractConfig) -> tuple[str | None, str | None]:
    """(text, reject reason) for one HTTP body; exactly one of the two is None."""
    if body is None:
        return None, EMPTY_TEXT
    if cfg.max_html_bytes is not None and len(body) > cfg.max_html_bytes:
        return None, HTML_TOO_LARGE
    start = time.perf_counter()
    html = decode_html(body, http_charset)
    if html is None:
        return None, UNDECODABLE_HTML
    try:
        text = extract_text(html, cfg)
    except BaseException as exc:  # noqa: BLE001 - parser errors and panics become a reason
        if _is_fatal(exc):
            raise
        return None, EXTRACTION_FAILED
    if cfg.timeout_seconds is not None and time.perf_counter() - start > cfg.timeout_seconds:
        return None, EXTRACTION_TIMEOUT
    if len(text.strip()) < max(1, cfg.min_text_chars):
        return None, EMPTY_TEXT
    return text, None


# --- domain ---------------------------------------------------------------------------------


_REGISTERED_DOMAIN: list = []  # resolved once per process: [function or None]


def _registered_domain_fn():
    if not _REGISTERED_DOMAIN:
        try:
            from operators.io import registered_domain
        except ImportError:
            registered_domain = None
        _REGISTERED_DOMAIN.append(registered_domain)
    return _REGISTERED_DOMAIN[0]


def _domain(url: str | None) -> str | None:
    """Registered domain of ``url`` via operators.io when available, else the lower-cased
    host without ``www.``, port and credentials (no public-suffix list)."""
    if not url:
        return None
    registered_domain = _registered_domain_fn()
    if registered_domain is not None:
        return registered_domain(url)
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.removeprefix("www.").rstrip(".") or None


# --- Ray Data adapter -----------------------------------------------------------------------


def extract_batch(table: pa.Table, cfg: ExtractConfig) -> pa.Table:
    """Ray Data ``map_batches`` adapter (``batch_format="pyarrow"``).

    In: id, url, source, warc_date, html (binary), http_charset, skip (+ reason). Out: the same
    rows without ``html``, plus text, domain, language, language_score, and ``reason`` set for
    pages that yielded no text. Rows with ``skip`` or ``reason`` already set pass through with
    null text.
    """
    n = table.num_rows
    bodies = table.column(HTML).to_pylist() if HTML in table.column_names else [None] * n
    charsets = table.column(HTTP_CHARSET).to_pylist() if HTTP_CHARSET in table.column_names else [None] * n
    skips = table.column(SKIP).to_pylist() if SKIP in table.column_names else [None] * n
    dead = table.column(REASON).to_pylist() if REASON in table.column_names else [None] * n
    urls = table.column(URL).to_pylist() if URL in table.column_names else [None] * n
    texts: list[str | None] = [None] * n
    langs: list[str | None] = [None] * n
    scores: list[float | None] = [None] * n
    reasons: list[str | None] = [None] * n
    for i in range(n):
        if skips[i] is not None or dead[i] is not None:
            continue
        body = bodies[i]
        if isinstance(body, str):
            body = body.encode("utf-8")
        text, reason = extract_one(body, charsets[i], cfg)
        reasons[i] = reason
        if text is not None:
            texts[i] = text
            langs[i], scores[i] = detect_language(text, cfg.language)
    out = table.drop_columns([c for c in (HTML, TEXT, DOMAIN, LANGUAGE, LANGUAGE_SCORE) if c in table.column_names])
    added = {
        TEXT: pa.array(texts, pa.string()),
        DOMAIN: pa.array([_domain(u) for u in urls], pa.string()),
        LANGUAGE: pa.array(langs, pa.string()),
        LANGUAGE_SCORE: pa.array(scores, pa.float64()),
    }
    for name, arr in added.items():
        out = out.append_column(name, arr)
    out = with_reason(out, reasons)
    ordered = [c for c in DOCUMENT_COLUMNS if c in out.column_names]
    return out.select(ordered + [c for c in out.column_names if c not in ordered])
