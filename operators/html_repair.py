"""Repair markup that makes an HTML parser swallow the rest of the page.

HTML's raw-text and escapable raw-text elements (``<script>``, ``<style>``, ``<title>``,
``<textarea>``, ``<noscript>`` with scripting on, ``<xmp>``, ``<iframe>``, ``<noembed>``,
``<noframes>``) end only at their own end tag, and a comment only at ``-->`` (HTML Living
Standard, §13.2.5, "RAWTEXT" and "RCDATA" states). A page that leaves one open (``<title>T</head>``,
a misspelt ``</titel>``, an unclosed ``<noscript>`` or ``<!--``) is read by a conforming parser
as one long title, script or comment, and the page has no text at all. Browsers show such
pages the same way, but the crawl still holds their text, and their authors meant it to be
read: :func:`repair_markup` closes each unclosed element and comment right before the next
tag (the first ``<`` that opens a tag or an end tag).

Pure string work, no parser; the extractor calls it only for pages that came out empty.

>>> repair_markup("<html><head><title>T</head><body><p>Text</p>")
'<html><head><title>T</title></head><body><p>Text</p>'
>>> repair_markup("<p>ok</p><!-- note <p>Text</p>")
'<p>ok</p><!-- note --><p>Text</p>'
>>> repair_markup("<title>T</title><p>fine</p>")
'<title>T</title><p>fine</p>'
"""

from __future__ import annotations

import re

# Elements whose content a parser reads as text up to their own end tag.
RAW_TEXT_ELEMENTS = ("script", "style", "title", "textarea", "noscript", "xmp", "iframe", "noembed", "noframes")
_OPEN = re.compile(r"<(" + "|".join(RAW_TEXT_ELEMENTS) + r")(?=[\s/>])[^>]*>", re.I)
_NEXT_TAG = re.compile(r"<[a-zA-Z/!]")


def repair_markup(html: str) -> str:
    """``html`` with unclosed raw-text elements and comments closed (see module doc); the
    same string when nothing is unclosed. Linear in the page's length: the position reached
    only moves forward, so each search resumes where the last one for the same string stopped
    (a page of 20,000 unclosed ``<!--`` took 55 s when every search rescanned the rest)."""
    lower = html.lower()
    if lower.count("<!--") <= lower.count("-->") and all(
            lower.count("<" + name) <= lower.count("</" + name) for name in RAW_TEXT_ELEMENTS):
        return html  # every element and comment opened is closed as often (the usual page)
    found: dict[str, int] = {}

    def find(needle: str, pos: int) -> int:
        """``lower.find(needle, pos)`` for a ``pos`` that never decreases between calls."""
        hit = found.get(needle)
        if hit is None or 0 <= hit < pos:
            hit = found[needle] = lower.find(needle, pos)
        return hit

    out: list[str] = []
    pos = 0
    m = _OPEN.search(html)
    while True:
        if m is not None and m.start() < pos:
            m = _OPEN.search(html, pos)
        comment = find("<!--", pos)
        if m is None and comment < 0:
            break
        if comment >= 0 and (m is None or comment < m.start()):
            end = find("-->", comment + 4)
            if end >= 0:
                out.append(html[pos:end + 3])
                pos = end + 3
                continue
            nxt = _NEXT_TAG.search(html, comment + 4)
            stop = nxt.start() if nxt is not None else len(html)
            out.append(html[pos:stop] + "-->")
            pos = stop
            continue
        name = m.group(1).lower()
        end = find(f"</{name}", m.end())
        if end >= 0:
            out.append(html[pos:end])
            pos = end
            continue
        nxt = _NEXT_TAG.search(html, m.end())
        stop = nxt.start() if nxt is not None else len(html)
        out.append(html[pos:stop] + f"</{name}>")
        pos = stop
    out.append(html[pos:])
    return "".join(out)
