"""Block-level boilerplate pruning on top of resiliparse's main-content extraction.

resiliparse's ``extract_plain_text(main_content=True)`` removes most page chrome with DOM
heuristics but keeps navigation lists, share/cookie/newsletter boxes, related-link lists and
footers that sit inside the content container. This module re-reads its ``minimal_html``
output (``<p>``, ``<h1-6>``, ``<ul>/<ol>/<li>``, ``<pre>``, ``<a>`` kept) as a sequence of
blocks and classifies each block in the manner of jusText (Pomikálek 2011, "Removing
Boilerplate and Duplicate Content from Web Corpora", ch. 3) and Boilerpipe (Kohlschütter et al.
2010, "Boilerplate Detection using Shallow Text Features"):

0. page-level marks, from the page's structure: repeated sections (a mobile and a desktop
   copy), what precedes the page's one ``<h1>`` when that is a small part of the page,
   interface labels repeated three times or more, short blocks repeated once more (a
   headline printed twice, a newsletter prompt above and below the article), teaser lists
   (three or more linked headlines in a row with their summaries), datelines, image file
   names, and the text of images (``alt``) standing alone as a block;
1. context-free class from shallow features: link density, length, sentence punctuation,
   letters at all (blocks without any, such as chart labels, prices and separators, are
   dropped and ignored as context), a short multilingual list of boilerplate keywords (they
   reject short blocks; a longer block holding one is left to its context), and repeats of an
   earlier block of the same page;
2. sections: a short heading after the article's first good block that opens with a section
   cue ("Related stories", "More from", "About the author", "Comments", in several
   languages) is dropped with the blocks under it, up to the next heading; so is a section
   title written as plain text (a ``<div>`` holding exactly a multi-word cue);
3. context revision: each run of undecided blocks (short, near-good, headings) between two
   decided blocks is kept or dropped as a whole by what bounds it (good prose, boilerplate,
   page edge) and how much sentence text it holds, looking through short rejected
   interstitials (ad labels, share buttons) when good prose lies on both sides; headings are
   kept when good text follows. This differs from jusText's per-block revision because
   resiliparse has already cut the page chrome, so runs between good paragraphs are article
   text (lists, table rows, captions);
4. trailing notices: kept blocks at the end of the page that hold a strong boilerplate
   phrase, however long (a copyright and reprint notice, a legal footer), are dropped.

Language-neutral signals dominate (no stop-word lists): lengths count CJK characters as
several Latin ones, punctuation includes CJK and Arabic sentence marks. ``<pre>`` blocks
are kept whole. The core is pure Python over one string and never imports Ray.

>>> html = ('<ul><li><a href="/">Home</a></li><li><a href="/n">News</a></li></ul>\\n'
...         '<p>' + 'The committee met on Tuesday and agreed on the budget. ' * 4 + '</p>\\n'
...         '<p>We use cookies to improve your experience. Accept</p>')
>>> prune_minimal_html(html).startswith('The committee met')
True
>>> 'cookies' in prune_minimal_html(html)
False
"""

from __future__ import annotations

import html as _html
import re
from bisect import bisect_right
from itertools import accumulate

# Block kinds.
PARAGRAPH = "p"
HEADING = "h"
ITEM = "li"
PRE = "pre"
LOOSE = "text"  # text outside <p>/<li>/<h*>/<pre> (divs, spans, table cells)

# Context-free classes (jusText's names).
GOOD = "good"
NEAR_GOOD = "near_good"
SHORT = "short"
BAD = "bad"
_PENDING = "pending"  # a heading waiting for what follows it
_VOID = "void"  # no letters (separators, chart labels, prices): dropped, and no context for others

# Thresholds, tuned on the mozilla/readability test pages of the "dev" split and checked on
# the "held-out" split (benchmarks/extraction_quality.py; the thresholds below predate that
# split and were tuned on the even-indexed half). Lengths are "effective characters" (_eff_len).
LONG_CHARS = 200  # jusText length_high
SHORT_CHARS = 70  # jusText length_low
# Link density above which a block is boilerplate, by length (short, medium, long); jusText
# uses 0.2 on whole pages, here resiliparse has already cut away most link-heavy chrome.
MAX_LINK_DENSITY = (0.33, 0.5, 0.5)
STRONG_KEYWORD_MAX_CHARS = 300  # a strong boilerplate phrase rejects blocks up to this long
WEAK_KEYWORD_MAX_CHARS = 40  # a weak boilerplate word rejects blocks up to this long
DUPLICATE_MIN_CHARS = 10  # shorter blocks never count as repeats
REPEAT_MIN_DISTINCT = 3  # a repeated section holds at least this many different blocks
REPEAT_LABEL_MIN_COUNT = 3  # a short block seen this often on a page is an interface label
HEADLINE_MAX_LEAD = 0.5  # share of a page's text that may come before its <h1> and be dropped
TEASER_MIN_HEADLINES = 3  # linked headlines that make a teaser list
TEASER_HEADLINE_MIN_CHARS = 40  # shorter all-link blocks are names and labels, not headlines
TEASER_MAX_GAP = 2  # blocks (summary, date) between two headlines of one list
BOXED_MIN_CHARS = 200  # sentence text a run needs to survive between boilerplate blocks
HEADING_LOOKAHEAD_CHARS = 200  # jusText max_heading_distance
SECTION_HEADING_MAX_CHARS = 60  # a heading this short that opens with a section cue closes the article

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")
_SENTENCE_END = re.compile(r"[.!?…。！？؟।:;][\"'”’»)\]]*(\s|$)|[。！？]")
_ENDS_SENTENCE = re.compile(r"[.!?…。！？؟।][\"'”’»)\]]*$")
_SENTENCE_TAIL = frozenset(".!?…。！？؟।\"'”’»)]")  # the last character of every _ENDS_SENTENCE match


def _ends_sentence(text: str) -> bool:
    """``text`` ends like a sentence (:data:`_ENDS_SENTENCE`); the last character rules most
    blocks out without running the regex.

    >>> _ends_sentence("It rained."), _ends_sentence('He said "no!"'), _ends_sentence("Menu"), _ends_sentence(")")
    (True, True, False, False)
    """
    return text[-1:] in _SENTENCE_TAIL and _ENDS_SENTENCE.search(text) is not None


_BLOCK_OPEN = {"p": PARAGRAPH, "li": ITEM, "pre": PRE, "h1": HEADING, "h2": HEADING,
               "h3": HEADING, "h4": HEADING, "h5": HEADING, "h6": HEADING}

# Boilerplate vocabulary (lower-cased), in the languages most frequent in Common Crawl.
# Strong phrases mark a block of up to STRONG_KEYWORD_MAX_CHARS as boilerplate; weak words
# (which also occur in article prose) only a block of up to WEAK_KEYWORD_MAX_CHARS, so an
# article *about* cookies or sharing survives. A flat regex alternation of this size costs
# more than the rest of the classifier: trie-shaped regexes find the few blocks of a page
# that hold a cue, then set and substring look-ups decide those (_keyword_blocks).
_STRONG_PHRASES = (
    "cookie", "consent", "privacy policy", "terms of use", "terms of service",
    "all rights reserved", "©", "subscribe to", "newsletter", "sign up", "follow us",
    "share this", "related articles", "related posts", "related stories", "you may also like",
    "recommended for you", "leave a reply", "leave a comment", "skip to content",
    "skip to main content", "back to top", "enable javascript", "advertisement",
    # de, fr, es, it, pt, nl, pl, ru
    "datenschutz", "impressum", "alle rechte vorbehalten", "tous droits réservés", "abonnez-vous",
    "derechos reservados", "suscríbete", "tutti i diritti riservati", "iscriviti",
    "todos os direitos", "alle rechten voorbehouden", "wszelkie prawa zastrzeżone",
    "все права защищены", "подписаться",
    # zh, ja, ko
    "版权所有", "相关文章", "相关阅读", "关注我们", "無断転載", "関連記事", "저작권",
)
_STRONG_RE = re.compile(r"\(c\) \d{4}|copyright \d{4}")
_WEAK_WORDS = frozenset(
    """share tweet facebook twitter whatsapp pinterest linkedin email e-mail mail print
    subscribe login comment comments reply menu search loading sponsored ad ads tags tag
    teilen anmelden werbung partager connexion publicité compartir publicidad condividi
    compartilhe delen udostępnij reklama поделиться реклама""".split()
)
_WEAK_PHRASES = ("read more", "more stories", "sign in", "log in", "分享", "广告", "登录",
                 "シェア", "広告", "ログイン", "공유", "광고")
_WORD = re.compile(r"[\w-]+")
# Headings that open a section of other content after the article (related links, teasers,
# author boxes, comments): a multi-word cue matches at the start of a short heading, a one-word
# cue only the whole heading (see _is_section_heading); the blocks under it go with it.
# jusText and Boilerpipe see such a heading as one more short block; here it decides its
# section, as DOM class/id cues ("related", "comments") do in readability-style extractors,
# but from the visible text alone.
_SECTION_CUES = (
    "related articles", "related posts", "related stories", "related content", "related news",
    "related reading", "related links", "related videos", "related coverage", "more from",
    "more stories", "more news", "more like this", "more to explore", "more on this",
    "about the author", "about the authors", "you may also like", "you might also like",
    "you may be interested", "recommended", "read next", "up next", "most popular", "most read",
    "trending", "popular posts", "popular stories", "comments", "leave a reply", "leave a comment",
    "join the conversation", "share this", "sponsored", "around the web", "from the web",
    "newsletter", "sign up", "subscribe",
    # de, fr, es, it, pt, nl, ru
    "mehr zum thema", "das könnte sie auch interessieren", "weitere artikel", "verwandte artikel",
    "kommentare", "à lire aussi", "lire aussi", "articles liés", "sur le même sujet",
    "commentaires", "te puede interesar", "más noticias", "noticias relacionadas", "comentarios",
    "lo más leído", "leggi anche", "articoli correlati", "commenti", "leia também", "veja também",
    "comentários", "mais lidas", "lees ook", "gerelateerde artikelen", "reacties",
    "читайте также", "комментарии",
    # zh (simplified, traditional), ja, ko
    "相关文章", "相关阅读", "推荐阅读", "热门文章", "猜你喜欢", "相關文章", "相關閱讀", "推薦閱讀",
    "熱門文章", "関連記事", "おすすめ記事", "人気記事", "관련 기사", "많이 본 뉴스", "댓글",
)
_SECTION_PHRASES = tuple(c for c in _SECTION_CUES if " " in c)
_SECTION_WORDS = frozenset(c for c in _SECTION_CUES if " " not in c)
_SECTION_TITLES = frozenset(c for c in _SECTION_CUES if " " in c or not c.isascii())
_EDGE_NON_WORD = re.compile(r"^[\W\d_]+|[\W\d_]+$")  # bullets, counts, arrows around a heading
_LETTER = re.compile(r"[^\W\d_]")
_FILE_NAME_END = re.compile(r"\.(?:jpe?g|png|gif|webp|avif|svg|bmp|tiff?)$", re.I | re.M)
_FILE_NAME_MAX_CHARS = 65
_TIMESTAMP_HINT = re.compile(r"\d{1,4}[-:/.年]\d")  # every _TIMESTAMP match holds one
# A clock time, or a numeric date (ISO, day/month/year, CJK year-month): the marks of a dateline.
_TIMESTAMP = re.compile(r"(?<!\d)(?:[01]?\d|2[0-3]):[0-5]\d(?!\d)|(?<!\d)\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}"
                        r"|(?<!\d)\d{1,2}[./]\d{1,2}[./]\d{2,4}(?!\d)")


def _index_by_first_word(phrases: tuple[str, ...]) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Multi-word phrases keyed by their first word (looked for only when that word occurs);
    single words and CJK phrases are matched as substrings ("newsletter" in "newsletters")."""
    by_word: dict[str, list[str]] = {}
    other = []
    for p in phrases:
        words = _WORD.findall(p)
        if len(words) > 1 and p.startswith(words[0]):
            by_word.setdefault(words[0], []).append(p)
        else:
            other.append(p)
    return {w: tuple(ps) for w, ps in by_word.items()}, tuple(other)


_STRONG_BY_WORD, _STRONG_OTHER = _index_by_first_word(_STRONG_PHRASES)
_WEAK_BY_WORD, _WEAK_OTHER = _index_by_first_word(_WEAK_PHRASES)


def _has_phrase(key: str, words: set[str], by_word: dict[str, tuple[str, ...]], other: tuple[str, ...]) -> bool:
    for w in words.intersection(by_word):
        for p in by_word[w]:
            if p in key:
                return True
    return any(p in key for p in other)


def _is_keyword_block(key: str, n: int) -> bool:
    """Short block (lower-cased ``key``, ``n`` effective characters) that names boilerplate."""
    words = set(_WORD.findall(key))
    if n <= STRONG_KEYWORD_MAX_CHARS and (
        _has_phrase(key, words, _STRONG_BY_WORD, _STRONG_OTHER)
        or (("copyright" in words or "(c)" in key) and _STRONG_RE.search(key) is not None)
    ):
        return True
    if n <= WEAK_KEYWORD_MAX_CHARS and (
        not _WEAK_WORDS.isdisjoint(words) or _has_phrase(key, words, _WEAK_BY_WORD, _WEAK_OTHER)
    ):
        return True
    return False


def _trie_pattern(words: tuple[str, ...]) -> str:
    """Regex alternation of ``words`` factored into a trie: each position costs a few
    character tests instead of one per word, unlike a flat ``a|b|c`` alternation."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        alts = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if "" in node:
            return f"(?:{'|'.join(alts)})?" if alts else ""
        return alts[0] if len(alts) == 1 else f"(?:{'|'.join(alts)})"

    return build(trie)


# Substrings that every strong (resp. weak) keyword match contains (a copyright notice needs
# "copyright" or "(c)"): only blocks holding one get the per-block test _is_keyword_block.
_STRONG_CUE_RE = re.compile(_trie_pattern(_STRONG_PHRASES + ("copyright", "(c)")))
_WEAK_CUE_RE = re.compile(_trie_pattern(_WEAK_PHRASES + tuple(sorted(_WEAK_WORDS))))


def _blocks_with_cue(cue_re: re.Pattern, keys: list[str]) -> set[int]:
    """Indices of the ``keys`` that hold a match of ``cue_re``, searched in the joined keys
    (no cue holds a newline, so none matches across two keys)."""
    hits: set[int] = set()
    joined = "\n".join(keys)
    m = cue_re.search(joined)
    if m is not None:
        starts = list(accumulate((len(k) + 1 for k in keys), initial=0))
        while m is not None:
            i = bisect_right(starts, m.start()) - 1
            hits.add(i)
            m = cue_re.search(joined, starts[i + 1])
    return hits


def _keyword_blocks(keys: list[str], lengths: list[int]) -> list[bool]:
    """_is_keyword_block of each block of a page (lower-cased ``keys``, effective ``lengths``),
    run only on the blocks that hold a cue."""
    candidates = _blocks_with_cue(_STRONG_CUE_RE, keys)
    short = [i for i, n in enumerate(lengths) if n <= WEAK_KEYWORD_MAX_CHARS]
    if short:
        candidates.update(short[j] for j in _blocks_with_cue(_WEAK_CUE_RE, [keys[i] for i in short]))
    flags = [False] * len(keys)
    for i in candidates:
        flags[i] = _is_keyword_block(keys[i], lengths[i])
    return flags


class Block:
    """One block of minimal-HTML output with the features the classifier reads."""

    __slots__ = ("kind", "text", "link_chars", "list_id", "ordered", "label", "eff_len", "link_density", "cue",
                 "headline")

    def __init__(self, kind: str, text: str, link_chars: int, list_id: int, ordered: bool = False,
                 headline: bool = False) -> None:
        self.kind = kind
        self.headline = headline  # an <h1>
        self.text = text
        self.link_chars = link_chars
        self.list_id = list_id  # 0 outside lists; the same id for the items of one top-level list
        self.ordered = ordered
        self.label = BAD
        self.cue = False  # holds a strong boilerplate phrase but is too long to reject on it alone
        self.eff_len = len(text) if text.isascii() else _eff_len(text)
        n = len(text) - text.count(" ")
        self.link_density = (link_chars / n if link_chars < n else 1.0) if n and link_chars else 0.0


def _eff_len(text: str) -> int:
    """Characters, with each CJK character counted as three (about one word's worth)."""
    if text.isascii():
        return len(text)
    return len(text) + 2 * len(_CJK_RE.findall(text))


# minimal_html is read as a sequence of tokens, tags (``<name ...>``, ``</name ...>``) and
# newlines, with text between them; _TOKEN defines that reading and _parse_tokens walks it
# token by token. parse_blocks gets the same blocks from a few regex splits instead (block
# tags, then closed anchors within a block). Where a block holds other tags it relies on them
# being clean (no ``<`` or newline before the ``>``, as resiliparse writes them) and hands the
# page to _parse_tokens otherwise.
_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*>|\n")
_BLOCK_TAG = re.compile(r"<(/?)(p|li|pre|h[1-6]|ul|ol)(?![a-zA-Z0-9])[^>]*>")
_SIMPLE_ANCHOR = re.compile(r"<a(?![a-zA-Z0-9])[^>]*>([^<]*)</a>")
_UNCLEAN_TAG = re.compile(r"</?[a-zA-Z](?![^<>\n]*>)")
_ANY_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_TAG_OR_NEWLINE = re.compile(r"</?[a-zA-Z][^>]*>|\n")
_BR = re.compile(r"</?br(?![a-zA-Z0-9])[^>]*>")
# A newline whose last preceding token is <br> (text may sit between): it continues the block.
_BR_NEWLINE = re.compile(r"(</?br(?![a-zA-Z0-9])[^<>\n]*>[^<\n]*(?:<(?!/?[a-zA-Z])[^<\n]*)*)\n")
# A closed anchor with no other anchor tag inside. resiliparse leaves <a> unclosed when the
# anchor itself is empty, so an anchor still open at a block boundary is no link.
_ANCHOR = re.compile(r"<a(?![a-zA-Z0-9])[^>]*>([^<]*(?:<(?!/?a(?![a-zA-Z0-9]))[^<]*)*)</a(?![a-zA-Z0-9])[^>]*>")
_unescape = _html.unescape


def _source_text(src: str, kind: str) -> tuple[str, int] | None:
    """(text with tags removed, still escaped; link characters) of the source of one block,
    which holds no block tag (nor, for LOOSE text, a newline); None when ``src`` holds an
    unclean tag."""
    if "<" not in src and "\n" not in src:
        return src, 0
    if kind != PRE and "\n" not in src:  # common case: closed anchors around plain text, <br>
        parts = _SIMPLE_ANCHOR.split(src)  # text, anchor text, text, ... (no "<" in anchor text)
        if "<br>" in src:
            parts[0::2] = [p.replace("<br>", " ") for p in parts[0::2]]
        text = "".join(parts)
        if "<" not in text:
            if len(parts) == 1:
                return text, 0
            inner = "".join(parts[1::2])
            return text, len(inner) - inner.count(" ")
    if _UNCLEAN_TAG.search(src) is not None:
        return None
    link_chars = 0
    if "<a" in src:
        for m in _ANCHOR.finditer(src):
            inner = _TAG_OR_NEWLINE.sub("", m[1])
            link_chars += len(inner) - inner.count(" ")
    if kind == PRE:
        return _ANY_TAG.sub("", _BR.sub("\n", src)), link_chars
    return _TAG_OR_NEWLINE.sub("", _BR.sub(" ", src)), link_chars


class _Lists:
    """The <ul>/<ol> nesting a block sits in: ``list_id`` numbers outermost lists from 1 (0
    outside any list); ``ordered`` says whether the innermost one is an <ol>. A stray closing
    tag outside any list is ignored. Both are plain attributes, updated per list tag (read per
    block, they are a page's most frequent lookups)."""

    __slots__ = ("_open", "_count", "list_id", "ordered")

    def __init__(self) -> None:
        self._open: list[bool] = []  # one entry per open list: is it an <ol>?
        self._count = 0
        self.list_id = 0
        self.ordered = False

    def tag(self, name: str, closing: bool) -> None:
        if closing:
            if self._open:
                self._open.pop()
        else:
            if not self._open:
                self._count += 1
            self._open.append(name == "ol")
        self.list_id = self._count if self._open else 0
        self.ordered = bool(self._open and self._open[-1])


def parse_blocks(minimal_html: str) -> list[Block]:
    """Split resiliparse ``minimal_html`` output into blocks with link-character counts.

    Block tags (p, li, pre, h1-6, ul, ol) end a block, and so does a newline outside them
    unless the last tag before it is <br>. A block's link characters are its non-space
    characters inside anchors closed within the block.
    """
    if "\0" in minimal_html:  # NUL separates blocks below
        return _parse_tokens(minimal_html)
    parts = _BLOCK_TAG.split(minimal_html)  # text, "/" or "", tag name, text, ...
    found: list[tuple[str, int, int, bool, bool]] = []  # kind, link chars, list id, ordered, <h1>
    raws: list[str] = []  # escaped text of each found block
    kind = LOOSE
    h1 = False
    lists = _Lists()
    last = len(parts) - 1
    i = 0
    while True:
        seg = parts[i]
        if seg:
            if kind != LOOSE or "\n" not in seg:
                lines = (seg,)
            elif seg.isspace():  # whitespace-only text makes no block
                lines = ()
            else:
                if "<br" in seg or "</br" in seg:
                    # Dropping a newline after <br> must not join "<" and "a>" into a tag.
                    if "<\n" in seg or "</\n" in seg or _UNCLEAN_TAG.search(seg) is not None:
                        return _parse_tokens(minimal_html)
                    seg = _BR_NEWLINE.sub(r"\1", seg)
                lines = seg.split("\n")
            lid, od = lists.list_id, lists.ordered
            for line in lines:
                if line:
                    got = _source_text(line, kind)
                    if got is None:
                        return _parse_tokens(minimal_html)
                    raws.append(got[0])
                    found.append((kind, got[1], lid, od, h1))
        if i == last:
            break
        closing, tag = parts[i + 1], parts[i + 2]
        i += 3
        if tag == "ul" or tag == "ol":
            kind = LOOSE
            lists.tag(tag, bool(closing))
        else:
            kind = LOOSE if closing else _BLOCK_OPEN[tag]
        h1 = tag == "h1" and not closing
    # Unescape and squeeze the whitespace of all blocks at once, joined by NUL: NUL is no
    # whitespace, no character reference produces it, and a named reference read past it
    # resolves to the same name before it, so each piece comes out as it would alone.
    joined = "\0".join(raws)
    if "&" in joined:
        joined = _unescape(joined)
    if PRE in (f[0] for f in found):
        texts = joined.split("\0")
        texts = [t.strip("\n") if f[0] == PRE else " ".join(t.split()) for t, f in zip(texts, found)]
    else:
        texts = " ".join(joined.split()).split("\0")
        texts = [t.strip(" ") for t in texts]
    return [Block(f[0], t, f[1], f[2], f[3], f[4]) for t, f in zip(texts, found) if t]


def _parse_tokens(minimal_html: str) -> list[Block]:
    """parse_blocks for any markup: one pass over the _TOKEN stream."""
    blocks: list[Block] = []
    parts: list[str] = []
    link_chars = 0
    pending = 0  # characters inside an <a> whose </a> has not been seen yet
    kind = LOOSE
    h1 = False
    in_link = False
    after_br = False  # a newline right after <br> continues the block
    lists = _Lists()

    def flush() -> None:
        # An anchor still open at a block boundary is no link: its pending characters are dropped.
        nonlocal parts, link_chars, pending, in_link
        if not parts:
            link_chars = pending = 0
            in_link = False
            return
        raw = "".join(parts)
        parts, lc = [], link_chars
        link_chars = pending = 0
        in_link = False
        if kind == PRE:
            text = _unescape(raw).strip("\n")
        else:
            text = " ".join(_unescape(raw).split())
        if text:
            blocks.append(Block(kind, text, lc, lists.list_id, lists.ordered, h1))

    pos = 0
    for m in _TOKEN.finditer(minimal_html):
        chunk = minimal_html[pos:m.start()]
        pos = m.end()
        if chunk:
            parts.append(chunk)
            if in_link:
                pending += len(chunk) - chunk.count(" ")
        tag = m.group(2)
        if tag is None:  # newline
            if kind == PRE:
                parts.append("\n")
            elif kind == LOOSE and not after_br:
                flush()
            after_br = False
            continue
        after_br = False
        closing = m.group(1) == "/"
        if tag == "a":
            if closing and in_link:
                link_chars += pending
            pending = 0
            in_link = not closing
        elif tag == "br":
            parts.append("\n" if kind == PRE else " ")
            after_br = True
        elif tag in _BLOCK_OPEN:
            flush()
            kind = LOOSE if closing else _BLOCK_OPEN[tag]
            h1 = tag == "h1" and not closing
        elif tag in ("ul", "ol"):
            flush()
            kind = LOOSE
            h1 = False
            lists.tag(tag, closing)
    tail = minimal_html[pos:]
    if tail:
        parts.append(tail)
    flush()
    return blocks


def _mark_repeated_sections(blocks: list[Block]) -> None:
    """Label BAD the second copy of a repeated section (pages that ship a mobile and a
    desktop copy of the article): a run of consecutive blocks already seen on the page that
    holds at least REPEAT_MIN_DISTINCT different texts. Single repeats (refrains, test
    pages that repeat one paragraph) are kept; Gopher's repetition rules judge those."""
    if len({b.text for b in blocks}) == len(blocks):  # no repeats (most pages)
        for b in blocks:
            b.label = GOOD  # placeholder, overwritten by classify
        return
    seen: set[str] = set()
    repeated = []
    for b in blocks:
        key = b.text
        repeated.append(len(key) >= DUPLICATE_MIN_CHARS and key in seen)
        seen.add(key)
    i = 0
    while i < len(blocks):
        if not repeated[i]:
            b = blocks[i]
            b.label = GOOD  # placeholder, overwritten by classify
            i += 1
            continue
        j = i
        while j < len(blocks) and repeated[j]:
            j += 1
        bad = len({blocks[k].text for k in range(i, j)}) >= REPEAT_MIN_DISTINCT
        for k in range(i, j):
            blocks[k].label = BAD if bad else GOOD
        i = j


def _mark_repeated_labels(blocks: list[Block]) -> None:
    """Drop (as _VOID, so they break no run of text) interface labels: a short block (under
    SHORT_CHARS, no sentence end, not a list item) seen REPEAT_LABEL_MIN_COUNT or more times
    on the page ("Enlarge" under every photo, "Now playing", "Reply"). Seen twice is not yet a
    label (a headline printed in a hero and in the body, a credit under two photos)."""
    counts: dict[str, int] = {}
    for b in blocks:
        if b.kind in (LOOSE, PARAGRAPH) and b.eff_len < SHORT_CHARS and not _ends_sentence(b.text):
            counts[b.text] = counts.get(b.text, 0) + 1
    if not counts or max(counts.values()) < REPEAT_LABEL_MIN_COUNT:
        return
    for b in blocks:
        if counts.get(b.text, 0) >= REPEAT_LABEL_MIN_COUNT:
            b.label = _VOID


def _mark_teaser_lists(blocks: list[Block]) -> None:
    """Label BAD teaser lists: TEASER_MIN_HEADLINES or more linked headlines (blocks that are
    all link and at least TEASER_HEADLINE_MIN_CHARS long, not list items) each at most
    TEASER_MAX_GAP blocks from the next, with the summaries, dates and bylines between them.
    That is the shape of "more stories", "related" and archive grids, which point to other
    pages; an article's own links sit inside its sentences."""
    heads = [i for i, b in enumerate(blocks)
             if b.link_density >= 0.9 and b.eff_len >= TEASER_HEADLINE_MIN_CHARS and b.kind != ITEM]
    if len(heads) < TEASER_MIN_HEADLINES:
        return
    start = 0
    for k in range(1, len(heads) + 1):
        if k < len(heads) and heads[k] - heads[k - 1] <= TEASER_MAX_GAP + 1:
            continue
        if k - start >= TEASER_MIN_HEADLINES:
            for i in range(heads[start], heads[k - 1] + 1):
                blocks[i].label = BAD
        start = k


def _mark_datelines(blocks: list[Block]) -> None:
    """Drop (as _VOID, no context) datelines: short blocks that are not list items or
    sentences and carry a timestamp ("2024-05-20 13:15 Source: ...", "May 13, 2024 08:25 IST",
    "Updated 12:50 - 4 min read"). A publication date and time is page metadata, not text of the
    article; a sentence that mentions a date ends with punctuation and stays, and so does a
    formula (``$4:30$``, TeX commands). Short blocks that are an image file name ("thumb
    3.jpg", an ``alt`` filled in by a CMS) go too."""
    short = [b for b in blocks if b.eff_len < SHORT_CHARS and b.kind != PRE]
    if not short:
        return
    texts = [b.text for b in short]
    for i in _blocks_with_cue(_TIMESTAMP_HINT, texts):  # a cheap pattern finds the few candidates
        b = short[i]
        if (b.kind in (LOOSE, PARAGRAPH) and b.label != BAD and "$" not in b.text and "\\" not in b.text
                and _TIMESTAMP.search(b.text) is not None and not _ends_sentence(b.text)):
            b.label = _VOID
    for i in _blocks_with_cue(_FILE_NAME_END, texts):
        if len(texts[i]) <= _FILE_NAME_MAX_CHARS:
            short[i].label = _VOID  # an image's file name standing in for its alt text


def _mark_image_texts(blocks: list[Block], image_texts: dict[str, int]) -> None:
    """Drop (as _VOID) a block that is nothing but an image's text alternative: loose text (not a
    paragraph, heading or list item) equal to the ``alt`` of an image of the page. resiliparse
    writes ``alt`` text where the image stands; it describes a picture ("A dog jumping in the
    air", a photo agency's caption with credit) that a reader of the page sees as an image, not
    as text, and reference extractions leave it out. ``image_texts`` counts the images per
    text: a text found in more loose blocks than there are images carrying it is also shown as
    text (a slide whose words are printed under it), and its extra copies stay. Text in a
    paragraph or heading always stays; a heading right beside an image carrying its words (the
    items of a listicle: a heading, then its picture) is judged as a paragraph from then on,
    since the image, not more text, is what it heads."""
    left = dict(image_texts)
    for i, b in enumerate(blocks):
        if b.kind == LOOSE and left.get(b.text, 0) > 0:
            left[b.text] -= 1
            b.label = _VOID
            for j in (i - 1, i + 1):
                if 0 <= j < len(blocks) and blocks[j].kind == HEADING and blocks[j].text == b.text:
                    blocks[j].kind = PARAGRAPH


def _mark_repeated_short_blocks(blocks: list[Block]) -> None:
    """Drop (as _VOID) a second copy of a short block: a block that is no list item or ``<pre>``,
    at least DUPLICATE_MIN_CHARS and under LONG_CHARS long, whose text an earlier block of the
    page already has, not the block right before it (a headline printed in a hero and again
    above the body, a newsletter prompt above and below the article, a caption under a thumbnail
    and its enlargement). The first copy stays. Long paragraphs printed twice stay (refrains,
    test pages that repeat a paragraph; a repeated section of several blocks is
    _mark_repeated_sections' case), and so does a copy that directly follows its twin: that is
    one element marked up twice (a heading holding a paragraph's text, then the paragraph), and
    dropping the copy would leave a heading with no text under it."""
    seen: dict[str, int] = {}
    for i, b in enumerate(blocks):
        text = b.text
        first = seen.get(text)
        if first is None:
            seen[text] = i
        elif first != i - 1 and b.kind != ITEM and b.kind != PRE and DUPLICATE_MIN_CHARS <= b.eff_len < LONG_CHARS:
            b.label = _VOID


def _has_strong_phrase(text: str) -> bool:
    """``text`` holds a strong boilerplate phrase or a dated copyright notice, at any length."""
    key = text.lower()
    if _STRONG_CUE_RE.search(key) is None:  # the common case: one cheap scan
        return False
    return _has_phrase(key, set(_WORD.findall(key)), _STRONG_BY_WORD, _STRONG_OTHER) or (
        ("copyright" in key or "(c)" in key) and _STRONG_RE.search(key) is not None)


def _drop_trailing_notices(blocks: list[Block]) -> None:
    """Label BAD the kept blocks at the end of the page that hold a strong boilerplate phrase
    (copyright, "all rights reserved", reprint and privacy notices), whatever their length:
    walking back from the last kept block, each one holding such a phrase is dropped, up to the
    first one that holds none. A notice long enough to pass for prose (a site's legal footer, a
    reprint policy) is boilerplate by its place, after the article. When every kept block holds
    a phrase (a page about cookie law), none is dropped."""
    trailing = []
    for b in reversed(blocks):
        if b.label != GOOD:
            continue
        if not _has_strong_phrase(b.text):
            for t in trailing:
                t.label = BAD
            return
        trailing.append(b)


def _mark_lead_before_headline(blocks: list[Block]) -> None:
    """Drop (as _VOID) what comes before the article's headline: when the page has exactly
    one ``<h1>`` and at most HEADLINE_MAX_LEAD of the text precedes it, the blocks before it
    are breadcrumbs, section names, teasers and toolbars, not the article, which starts at
    its headline (the one ``<h1>`` of a page is its title, HTML Living Standard §4.3.6)."""
    heads = [i for i, b in enumerate(blocks) if b.headline]
    if len(heads) != 1 or heads[0] == 0:
        return
    lead = sum(b.eff_len for b in blocks[:heads[0]])
    if lead > HEADLINE_MAX_LEAD * sum(b.eff_len for b in blocks):
        return
    for b in blocks[:heads[0]]:
        b.label = _VOID


def classify(blocks: list[Block], image_texts: dict[str, int] | None = None, thread: bool = False) -> None:
    """Set ``label`` on every block: context-free class, then the sections under closing
    headings (_close_sections), then context revision (_revise), then trailing notices
    (_drop_trailing_notices). ``image_texts``: the page's image ``alt`` texts, with the
    number of images carrying each (:func:`_mark_image_texts`). ``thread``: the blocks are a
    discussion thread's (see _revise)."""
    _mark_repeated_sections(blocks)
    if image_texts:
        _mark_image_texts(blocks, image_texts)
    _mark_lead_before_headline(blocks)
    _mark_repeated_labels(blocks)
    _mark_teaser_lists(blocks)
    _mark_datelines(blocks)
    _mark_repeated_short_blocks(blocks)
    keyed: list[Block] = []  # blocks short enough for the keyword test, decided after it
    for b in blocks:
        if b.label in (BAD, _VOID):
            continue
        n = b.eff_len
        if b.kind == PRE:
            b.label = GOOD
        elif b.link_density > MAX_LINK_DENSITY[(n >= SHORT_CHARS) + (n >= LONG_CHARS)] and not (
            b.kind == HEADING and n < SHORT_CHARS
        ):
            b.label = BAD
        elif not b.text[0].isalpha() and _LETTER.search(b.text) is None:  # chart labels, prices, separators
            b.label = _VOID
        elif n <= STRONG_KEYWORD_MAX_CHARS:
            keyed.append(b)
        else:
            b.label = _shape_class(b)
    if keyed:
        flags = _keyword_blocks([b.text.lower() for b in keyed], [b.eff_len for b in keyed])
        for b, keyword in zip(keyed, flags):
            if not keyword:
                b.label = _shape_class(b)
            elif b.eff_len >= SHORT_CHARS:
                # Long enough to be prose that mentions cookies or a newsletter: context decides.
                b.label = SHORT
                b.cue = True
            else:
                b.label = BAD
    if not any(b.label == GOOD for b in blocks):
        # No long prose to anchor the context (poems, math, tables, stubs): keep every
        # block that no rule rejected instead of letting the page edges reject it all.
        for b in blocks:
            if b.label not in (BAD, _VOID) and not b.cue:
                b.label = GOOD
    else:
        _close_sections(blocks)
        _revise([b for b in blocks if b.label != _VOID], thread)
    _drop_trailing_notices(blocks)


def _is_section_heading(b: Block) -> bool:
    """A short heading that opens with a multi-word _SECTION_CUES phrase ("Related stories from
    ...") or is a one-word cue ("Comments (12)"; "Recommended dosage" is no cue).

    >>> [_is_section_heading(Block(HEADING, t, 0, 0)) for t in ("More from The Verge",
    ...  "Comments (12)", "Recommended dosage", "Related work")]
    [True, True, False, False]
    """
    if b.kind != HEADING or b.eff_len > SECTION_HEADING_MAX_CHARS:
        return False
    key = _EDGE_NON_WORD.sub("", b.text.lower())
    return key.startswith(_SECTION_PHRASES) or key in _SECTION_WORDS


def _is_section_title(b: Block) -> bool:
    """A section title written as a ``<div>`` or ``<p>`` rather than a heading: a short loose
    block or paragraph that is exactly a multi-word or CJK _SECTION_CUES phrase ("Related
    articles", "About the author", "推荐阅读"). One-word English cues do not count here: as
    loose text "Comments" or "Recommended:" is as often a label inside the content (a thread's
    reply counter, an item of a list) as the title of a box after it.

    >>> [_is_section_title(Block(LOOSE, t, 0, 0)) for t in ("Related Articles", "推荐阅读",
    ...  "Recommended:", "Related articles about the budget vote")]
    [True, True, False, False]
    """
    if b.kind not in (LOOSE, PARAGRAPH) or b.eff_len > SECTION_HEADING_MAX_CHARS:
        return False
    return _EDGE_NON_WORD.sub("", b.text.lower()) in _SECTION_TITLES


def _close_sections(blocks: list[Block]) -> None:
    """Label BAD each section-cue heading or section title (:func:`_is_section_title`) that
    follows good text and the blocks under it, up to the next heading that is no such cue.
    Before the first good block (page top) a cue is only a block: the article may follow it
    without a heading of its own."""
    seen_good = False
    closing = False
    for b in blocks:
        if b.kind == HEADING:
            closing = seen_good and _is_section_heading(b)
        elif seen_good and _is_section_title(b):
            closing = True
        elif b.label == GOOD:
            seen_good = True
        if closing:
            b.label = BAD


def _shape_class(b: Block) -> str:
    """Context-free class of a block that no link-density or keyword rule rejected."""
    n = b.eff_len
    if b.kind == HEADING or n < SHORT_CHARS:
        return SHORT
    if ". " not in b.text and _SENTENCE_END.search(b.text) is None:  # ". " is the common match
        return NEAR_GOOD if n >= LONG_CHARS else SHORT
    return GOOD if n >= LONG_CHARS else NEAR_GOOD


def _is_interstitial(b: Block) -> bool:
    """A short rejected block inside the text flow (an "Advertisement" label, share buttons, a
    photo credit, a chart label): runs of undecided blocks on both sides of it are one run."""
    return b.label == BAD and b.eff_len < SHORT_CHARS and b.kind != HEADING


def _revise(blocks: list[Block], thread: bool = False) -> None:
    """Decide short and near-good blocks by the run of them between two decided blocks.

    jusText (Pomikálek 2011, §3.2.3) lets each short block follow its nearest neighbours.
    Here resiliparse has already removed the page chrome, so a stretch of undecided blocks
    (headings, list items, table rows, captions, short paragraphs) is kept when it lies
    between good prose on both sides, looking through short rejected interstitials (ad labels,
    share buttons) that publishers put between paragraphs. Otherwise each run between two
    rejected blocks is judged alone: when it touches good prose on one side it is kept if it
    carries near-good text or a link-free paragraph ending a sentence; a run boxed in by
    boilerplate or the page edges is kept only when it holds BOXED_MIN_CHARS of near-good text
    (a section made of short paragraphs and lists). Blocks that hold a strong boilerplate
    phrase (``cue``) are kept only between good prose. Headings are decided last, by what
    follows them.

    In a discussion ``thread`` each post is short and boxed in by its metadata (author, date,
    votes, "Reply"), so the rule for boxed runs would reject every reply: there a link-free
    paragraph is a post and is kept wherever it stands. Blocks rejected by a rule (keywords,
    closed sections, repeats) are not revised.
    """
    n = len(blocks)
    i = 0
    while i < n:
        if blocks[i].label == GOOD or (blocks[i].label == BAD and not _is_interstitial(blocks[i])):
            i += 1
            continue
        j = i
        while j < n and blocks[j].label != GOOD and (blocks[j].label != BAD or _is_interstitial(blocks[j])):
            j += 1
        if i > 0 and j < n and blocks[i - 1].label == GOOD and blocks[j].label == GOOD:
            for b in blocks[i:j]:
                if b.label != BAD:
                    b.label = _PENDING if b.kind == HEADING else GOOD
        else:
            _revise_runs(blocks, i, j, thread)
        i = j
    # Headings: kept only when good text follows within HEADING_LOOKAHEAD_CHARS.
    for i, b in enumerate(blocks):
        if b.label != _PENDING:
            continue
        dist = 0
        keep = False
        for k in range(i + 1, n):
            nb = blocks[k]
            if nb.label == GOOD and nb.kind != HEADING:
                keep = True
                break
            dist += nb.eff_len
            if dist > HEADING_LOOKAHEAD_CHARS:
                break
        b.label = GOOD if keep else BAD


def _revise_runs(blocks: list[Block], lo: int, hi: int, thread: bool = False) -> None:
    """_revise for each run of undecided blocks in ``blocks[lo:hi]``, bounded by its
    immediate neighbours."""
    n = len(blocks)
    i = lo
    while i < hi:
        if blocks[i].label in (GOOD, BAD):
            i += 1
            continue
        j = i
        while j < hi and blocks[j].label not in (GOOD, BAD):
            j += 1
        run = blocks[i:j]
        before = blocks[i - 1].label if i > 0 else BAD
        after = blocks[j].label if j < n else BAD
        near = sum(b.eff_len for b in run if b.label == NEAR_GOOD and b.kind != HEADING and not b.cue)
        sentence = any(b.kind == PARAGRAPH and b.link_chars == 0 and not b.cue and _ends_sentence(b.text)
                       for b in run)
        if GOOD in (before, after):
            keep = near > 0 or sentence
        else:
            keep = near >= BOXED_MIN_CHARS
        for b in run:
            if b.cue:
                b.label = BAD
            elif b.kind == HEADING:
                b.label = _PENDING
            else:
                b.label = GOOD if keep or (thread and b.kind == PARAGRAPH and not b.link_chars) else BAD
        i = j


def render(blocks: list[Block]) -> str:
    """Plain text like resiliparse's: blank line between blocks, list items on single lines."""
    out: list[str] = []
    prev: Block | None = None
    counter = 0
    for b in blocks:
        if b.label != GOOD:
            continue
        if b.kind == ITEM and b.list_id:
            counter = counter + 1 if prev is not None and prev.list_id == b.list_id else 1
            text = f"{counter}. {b.text}" if b.ordered else f"• {b.text}"
        else:
            text = b.text
        if prev is not None:
            same_list = b.list_id and prev.list_id == b.list_id
            out.append("\n" if same_list or (b.kind == LOOSE and prev.kind == LOOSE) else "\n\n")
        out.append(text)
        prev = b
    return "".join(out)


def prune_minimal_html(minimal_html: str, image_texts: dict[str, int] | None = None, thread: bool = False) -> str:
    """Boilerplate-free plain text of resiliparse ``minimal_html`` output (see module doc).
    ``image_texts``: the ``alt`` texts of the page's images, whitespace-squeezed, with the
    number of images carrying each (:func:`_mark_image_texts`). ``thread``: the text is a
    discussion thread's, whose short posts are kept (:func:`_revise`)."""
    blocks = parse_blocks(minimal_html)
    classify(blocks, image_texts, thread)
    return render(blocks)
