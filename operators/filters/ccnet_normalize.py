"""CCNet's text normalisation (Wenzek et al. 2020, §3.3; facebookresearch/cc_net ``text_normalizer.py``).

CCNet normalises text before SentencePiece tokenisation and before training its KenLM models,
so a text must be normalised the same way to be scored by those models. The steps, in CCNet's
order:

1. strip surrounding whitespace (an empty result stops here);
2. lower-case (``str.lower``);
3. strip accents: Unicode NFD decomposition, then every combining mark (category ``Mn``) is
   dropped. As in CCNet the result stays decomposed (NFD is not recomposed: Hangul syllables
   become conjoining jamo); SentencePiece's NFKC normalisation recomposes them;
4. digits -> ``0``: every Unicode decimal digit (what Python's ``re`` calls ``\\d``: ``٣``,
   ``１`` and ``7`` alike);
5. Unicode punctuation -> ASCII with :data:`UNICODE_PUNCT` (``punct="replace"``, CCNet's default)
   or deleted (``punct="remove"``; CCNet's deduplication normaliser), or kept (``"keep"``);
6. non-printing characters (code points 0-31 and 127-159, which include ``\\n`` and ``\\t``) are
   deleted, not replaced by a space.

Steps 4-6 run as one pass (equivalent because no replacement produces a digit, a mapped
punctuation mark or a control character): ``bytes.translate`` on ASCII text, one regex
substitution otherwise; step 3 only runs on non-ASCII text.

Deviations: none in the result. Note two CCNet quirks kept on purpose: ``１`` (FULLWIDTH DIGIT
ONE) is in CCNet's punctuation table as ``"`` but is a digit, so it becomes ``0`` unless digits are
kept; and normalising a whole document deletes its newlines, gluing lines together (see
:mod:`operators.filters.perplexity`).

>>> normalize("  Crème Brûlée costs 12,50 € — «délicieux»…\\n")
'creme brulee costs 00,00 €  -  "delicieux"...'
>>> normalize("Tab\\there", punct="remove", lowercase=False)
'Tabhere'
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from typing import Literal

Punct = Literal["replace", "remove", "keep"]

UNICODE_PUNCT: dict[str, str] = {
    "，": ",", "。": ".", "、": ",", "„": '"', "”": '"', "“": '"', "«": '"', "»": '"',
    "１": '"', "」": '"', "「": '"', "《": '"', "》": '"', "´": "'", "∶": ":", "：": ":",
    "？": "?", "！": "!", "（": "(", "）": ")", "；": ";", "–": "-", "—": " - ", "．": ". ",
    "～": "~", "’": "'", "…": "...", "━": "-", "〈": "<", "〉": ">", "【": "[", "】": "]",
    "％": "%", "►": "-",
}
"""CCNet's map of Unicode punctuation to ASCII (its ``UNICODE_PUNCT`` table, the same 34 entries)."""

NON_PRINTING: tuple[int, ...] = tuple(range(0, 32)) + tuple(range(127, 160))
"""Code points CCNet deletes as non-printing (C0 controls, DEL and C1 controls)."""


def _char_class(code_points: list[int]) -> str:
    """A regex character class of ``code_points`` written as ranges (``\\u`` escapes in the BMP:
    ``re`` then compiles it to a lookup table; astral ranges are tested one by one)."""
    def esc(cp: int) -> str:
        return f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}"

    parts, i = [], 0
    while i < len(code_points):
        j = i
        while j + 1 < len(code_points) and code_points[j + 1] == code_points[j] + 1:
            j += 1
        lo, hi = code_points[i], code_points[j]
        parts.append(esc(lo) if lo == hi else f"{esc(lo)}-{esc(hi)}")
        i = j + 1
    return "[" + "".join(parts) + "]"


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@functools.cache
def _combining_marks() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The nonspacing marks (category Mn) that accent stripping drops: those of the BMP, and
    the astral ones (a separate, slower pattern, used only on text with astral characters)."""
    category = unicodedata.category
    marks = [cp for cp in range(sys.maxunicode + 1) if category(chr(cp)) == "Mn"]
    return (re.compile(_char_class([cp for cp in marks if cp < 0x10000])),
            re.compile(_char_class([cp for cp in marks if cp >= 0x10000])))


@functools.cache
def _special(digits: bool, punct: Punct) -> tuple[re.Pattern[str], dict[str, str]]:
    """Steps 4-6 for non-ASCII text: a pattern of every character they change, and the
    replacement of each (``""`` deletes). Unicode digits are ``\\d``, as in CCNet."""
    table: dict[str, str] = {}
    if punct == "replace":
        table.update(UNICODE_PUNCT)
    elif punct == "remove":
        table.update(dict.fromkeys(UNICODE_PUNCT, ""))
    table.update({chr(cp): "" for cp in NON_PRINTING})
    if digits:  # digits first in CCNet: "１" is a digit before it is punctuation
        table = {k: v for k, v in table.items() if not k.isdecimal()}
    keys = _char_class(sorted(ord(c) for c in table))
    return re.compile(f"\\d|{keys}" if digits else keys), table


_ASCII_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_ASCII_NON_PRINTING = bytes(cp for cp in NON_PRINTING if cp < 128)


def strip_accents(text: str) -> str:
    """NFD, then drop combining marks (``Mn``); the result stays decomposed, as in CCNet.

    >>> strip_accents("Ñandú Ångström")
    'Nandu Angstrom'
    """
    if text.isascii():
        return text
    bmp, astral = _combining_marks()
    text = bmp.sub("", unicodedata.normalize("NFD", text))
    return astral.sub("", text) if _ASTRAL.search(text) else text


def normalize(
    text: str,
    *,
    lowercase: bool = True,
    accents: bool = True,
    digits: bool = True,
    punct: Punct = "replace",
) -> str:
    """CCNet's ``normalize``: strip, lower-case, strip accents, digits -> 0, punctuation, controls.

    ``accents=False`` keeps accents, ``digits=False`` keeps digits, ``lowercase=False`` keeps case.

    >>> normalize("Ｗｅｂ： ２０２４年！", punct="replace")
    'ｗｅｂ: 0000年!'
    """
    text = text.strip()
    if not text:
        return text
    if lowercase:
        text = text.lower()
    if text.isascii():  # no accents, no Unicode punctuation: one bytes.translate
        data = text.encode("ascii").translate(_ASCII_DIGITS if digits else None, _ASCII_NON_PRINTING)
        return data.decode("ascii")
    if accents:
        text = strip_accents(text)
    pattern, table = _special(digits, punct)
    return pattern.sub(lambda m: table.get(m.group(), "0"), text)  # not in the table: a digit


def warm_up() -> None:
    """Compile the lazy Unicode patterns now (a fraction of a second), e.g. before timing."""
    _combining_marks()
    for digits in (True, False):
        for punct in ("replace", "remove", "keep"):
            _special(digits, punct)
