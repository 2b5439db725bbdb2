"""Block-level boilerplate pruning on top of resiliparse's main-content extraction.

resiliparse's ``extract_plain_text(main_content=True)`` removes most page chrome with DOM
heuristics but keeps navigation lists, share/cookie/newsletter boxes, related-link lists and
footers that sit inside the content container. This module re-reads its ``minimal_html``
output (``<p>``, ``<h1-6>``, ``<ul>/<ol>/<li>``, ``<pre>``, ``<a>`` kept) as a sequence of
blocks and classifies each block in the manner of jusText (Pomikálek 2011, "Removing
Boilerplate and Duplicate Content from Web Corpora", ch. 3) and Boilerpipe (Kohlschütter et al.
2010, "Boilerplate Detection using Shallow Text Features"):

1. context-free class from shallow features: link density, length, sentence punctuation,
   a short multilingual list of boilerplate keywords (only for short blocks), and repeats of an
   earlier block of the same page;
2. context revision: each run of undecided blocks (short, near-good, headings) between two
   decided blocks is kept or dropped as a whole by what bounds it (good prose, boilerplate,
   page edge) and how much sentence text it holds; headings are kept when good text follows.
   This differs from jusText's per-block revision because resiliparse has already cut the
   page chrome, so runs between good paragraphs are article text (lists, captions).

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
from dataclasses import dataclass

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

# Thresholds, tuned on half of the mozilla/readability test pages and checked on the other
# half (benchmarks/extraction_quality.py). Lengths are "effective characters" (_eff_len).
LONG_CHARS = 200  # jusText length_high
SHORT_CHARS = 70  # jusText length_low
# Link density above which a block is boilerplate, by length (short, medium, long); jusText
# uses 0.2 on whole pages, here resiliparse has already cut away most link-heavy chrome.
MAX_LINK_DENSITY = (0.33, 0.5, 0.5)
STRONG_KEYWORD_MAX_CHARS = 300  # a strong boilerplate phrase rejects blocks up to this long
WEAK_KEYWORD_MAX_CHARS = 40  # a weak boilerplate word rejects blocks up to this long
DUPLICATE_MIN_CHARS = 10  # shorter blocks never count as repeats
REPEAT_MIN_DISTINCT = 3  # a repeated section holds at least this many different blocks
BOXED_MIN_CHARS = 200  # sentence text a run needs to survive between boilerplate blocks
HEADING_LOOKAHEAD_CHARS = 200  # jusText max_heading_distance

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")
_SENTENCE_END = re.compile(r"[.!?…。！？؟।:;][\"'”’»)\]]*(\s|$)|[。！？]")
_ENDS_SENTENCE = re.compile(r"[.!?…。！？؟।][\"'”’»)\]]*$")
_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*>|\n")
_BLOCK_OPEN = {"p": PARAGRAPH, "li": ITEM, "pre": PRE, "h1": HEADING, "h2": HEADING,
               "h3": HEADING, "h4": HEADING, "h5": HEADING, "h6": HEADING}

# Boilerplate vocabulary (lower-cased), in the languages most frequent in Common Crawl.
# Strong phrases mark a block of up to STRONG_KEYWORD_MAX_CHARS as boilerplate; weak words
# (which also occur in article prose) only a block of up to WEAK_KEYWORD_MAX_CHARS, so an
# article *about* cookies or sharing survives. Plain substring and set look-ups: a regex
# alternation of this size costs more than the rest of the classifier.
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


@dataclass
class Block:
    """One block of minimal-HTML output with the features the classifier reads."""

    kind: str
    text: str
    link_chars: int
    list_id: int  # 0 outside lists; the same id for the items of one top-level list
    ordered: bool = False
    label: str = BAD
    eff_len: int = 0  # set by __post_init__
    link_density: float = 0.0  # set by __post_init__

    def __post_init__(self) -> None:
        self.eff_len = _eff_len(self.text)
        n = len(self.text) - self.text.count(" ")
        self.link_density = min(1.0, self.link_chars / n) if n else 0.0


def _eff_len(text: str) -> int:
    """Characters, with each CJK character counted as three (about one word's worth)."""
    if text.isascii():
        return len(text)
    return len(text) + 2 * len(_CJK_RE.findall(text))


def parse_blocks(minimal_html: str) -> list[Block]:
    """Split resiliparse ``minimal_html`` output into blocks with link-character counts."""
    blocks: list[Block] = []
    parts: list[str] = []
    link_chars = 0
    pending = 0  # characters inside an <a> whose </a> has not been seen yet
    kind = LOOSE
    in_link = False
    after_br = False  # a newline right after <br> continues the block
    list_depth = 0
    list_id = 0
    ordered: list[bool] = []

    def flush() -> None:
        # resiliparse leaves <a> unclosed when the anchor itself is empty, so an anchor still
        # open at a block boundary is no link and its pending characters are dropped.
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
            text = _html.unescape(raw).strip("\n")
        else:
            text = " ".join(_html.unescape(raw).split())
        if text:
            blocks.append(Block(kind, text, lc, list_id if list_depth else 0,
                                bool(ordered and ordered[-1])))

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
        elif tag in ("ul", "ol"):
            flush()
            kind = LOOSE
            if closing:
                list_depth = max(0, list_depth - 1)
                if ordered:
                    ordered.pop()
            else:
                if list_depth == 0:
                    list_id += 1
                list_depth += 1
                ordered.append(tag == "ol")
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


def classify(blocks: list[Block]) -> None:
    """Set ``label`` on every block: context-free class, then context revision (_revise)."""
    _mark_repeated_sections(blocks)
    for b in blocks:
        if b.label == BAD:
            continue
        n = b.eff_len
        key = b.text.lower()
        if b.kind == PRE:
            b.label = GOOD
        elif b.link_density > MAX_LINK_DENSITY[(n >= SHORT_CHARS) + (n >= LONG_CHARS)] and not (
            b.kind == HEADING and n < SHORT_CHARS
        ):
            b.label = BAD
        elif n <= STRONG_KEYWORD_MAX_CHARS and _is_keyword_block(key, n):
            b.label = BAD
        elif b.kind == HEADING:
            b.label = SHORT
        elif n < SHORT_CHARS:
            b.label = SHORT
        elif _SENTENCE_END.search(b.text) is None:
            b.label = NEAR_GOOD if n >= LONG_CHARS else SHORT
        else:
            b.label = GOOD if n >= LONG_CHARS else NEAR_GOOD
    if not any(b.label == GOOD for b in blocks):
        # No long prose to anchor the context (poems, math, tables, stubs): keep every
        # block that no rule rejected instead of letting the page edges reject it all.
        for b in blocks:
            if b.label != BAD:
                b.label = GOOD
        return
    _revise(blocks)


def _revise(blocks: list[Block]) -> None:
    """Decide short and near-good blocks by the run of them between two decided blocks.

    jusText (Pomikálek 2011, §3.2.3) lets each short block follow its nearest neighbours.
    Here resiliparse has already removed the page chrome, so a run of undecided blocks
    (headings, list items, captions, short paragraphs) is kept when it lies between good
    prose on both sides, and when it touches good prose on one side and carries near-good
    text or a link-free paragraph ending a sentence; a run boxed in by boilerplate or the page
    edges is kept only when it holds BOXED_MIN_CHARS of near-good text (a section made of
    short paragraphs and lists). Headings are decided last, by what follows them.
    """
    n = len(blocks)
    i = 0
    while i < n:
        if blocks[i].label in (GOOD, BAD):
            i += 1
            continue
        j = i
        while j < n and blocks[j].label not in (GOOD, BAD):
            j += 1
        run = blocks[i:j]
        before = blocks[i - 1].label if i > 0 else BAD
        after = blocks[j].label if j < n else BAD
        near = sum(b.eff_len for b in run if b.label == NEAR_GOOD and b.kind != HEADING)
        sentence = any(b.kind == PARAGRAPH and b.link_chars == 0 and _ENDS_SENTENCE.search(b.text)
                       for b in run)
        if before == GOOD and after == GOOD:
            keep = True
        elif GOOD in (before, after):
            keep = near > 0 or sentence
        else:
            keep = near >= BOXED_MIN_CHARS
        for b in run:
            b.label = _PENDING if b.kind == HEADING else GOOD if keep else BAD
        i = j
    # Headings: kept only when good text follows within HEADING_LOOKAHEAD_CHARS.
    for i, b in enumerate(blocks):
        if b.label != _PENDING:
            continue
        dist = 0
        keep = False
        for nb in blocks[i + 1:]:
            if nb.label == GOOD and nb.kind != HEADING:
                keep = True
                break
            dist += nb.eff_len
            if dist > HEADING_LOOKAHEAD_CHARS:
                break
        b.label = GOOD if keep else BAD


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


def prune_minimal_html(minimal_html: str) -> str:
    """Boilerplate-free plain text of resiliparse ``minimal_html`` output (see module doc)."""
    blocks = parse_blocks(minimal_html)
    classify(blocks)
    return render(blocks)
