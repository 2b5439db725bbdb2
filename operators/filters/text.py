"""Word and line splitting shared by the quality filters.

Word splitting. datatrove runs spaCy's English tokenizer (``spacy.blank("en")``) and drops
whitespace tokens. raysift uses one fast regular expression instead (:data:`WORD_RE`):

* a *word token* is a run of word characters (``\\w``: letters, digits, ``_``), which may
  contain ``' ’ - . ,`` between word characters: ``don't``, ``e-mail``, ``3.14``, ``1,000``
  and ``U.S`` are one token each;
* a URL (``http://``, ``https://``, ``www.``) is one token, as in spaCy, and so are digit
  groups joined by ``/`` or ``:`` (dates and times: ``17/03/14``, ``9:24``);
* a run of two or more dots (``...``) is one token;
* every other non-space character is a token of its own (``,`` ``(`` ``"`` ``…`` ``#`` ``©``).

Differences from spaCy that change counts: spaCy splits contractions (``don't`` -> ``do``
``n't``) and hyphenated words (``e-mail`` -> ``e`` ``-`` ``mail``), keeps abbreviations with
their final dot (``U.S.``) and keeps e-mail addresses whole (we split them at ``@``). Text without spaces (Chinese, Japanese, Thai) is one token per run
in both. ``tests/test_filter_parity.py`` measures how often the decisions change when the
tokenizer changes.

>>> split_words("Don't stop... the e-mail (3.14)!")
["Don't", 'stop', '...', 'the', 'e-mail', '(', '3.14', ')', '!']
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

WORD_RE = re.compile(
    r"(?:https?://|www\.)\S*[^\s.,;:!?)\]\"'>]"  # a URL is one token, trailing punctuation split off
    r"|\d+(?:[/:]\d+)+"  # dates and times: 17/03/14, 9:24
    r"|\w+(?:['’\-.,]\w+)*|\.{2,}|[^\w\s]"
)
"""The word tokenizer (see the module docstring)."""

_ALPHA_RE = re.compile(r"[^\W\d_]")
_LINE_RUNS_RE = re.compile(r"\n+")
_PARAGRAPH_RE = re.compile(r"\n{2,}")


def split_words(text: str) -> list[str]:
    """Split ``text`` into word and punctuation tokens (module docstring)."""
    return WORD_RE.findall(text)


def is_symbol_token(token: str) -> bool:
    """True when every character is punctuation, a symbol, a control or a format character.

    Gopher's "non-symbol words" are the other tokens. datatrove tests membership in its own
    fixed punctuation set instead of Unicode categories, so it counts e.g. ``©`` or ``€`` as
    words where we count them as symbols.

    >>> [is_symbol_token(t) for t in ["...", "#", "©", "abc", "_", "3"]]
    [True, True, True, False, True, False]
    """
    return all(unicodedata.category(c)[0] in "PSCZ" for c in token)


def has_alpha(token: str) -> bool:
    """True when ``token`` has at least one alphabetic character (``str.isalpha``)."""
    return token.isalpha() or _ALPHA_RE.search(token) is not None


def word_lines(text: str) -> list[str]:
    """Lines as Gopher repetition splits them: on runs of ``\\n`` (empty lines vanish)."""
    return _LINE_RUNS_RE.split(text)


def paragraphs(text: str) -> list[str]:
    """Paragraphs as Gopher repetition splits them: stripped text split on 2+ ``\\n``."""
    return _PARAGRAPH_RE.split(text.strip())


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """Count items equal to an earlier item and their characters.

    The first occurrence is not a duplicate; every later one is (Gopher, Rae et al. 2021,
    App. A; the same counting as datatrove's ``find_duplicates``).

    >>> find_duplicates(["a", "bb", "a", "bb", "a"])
    (3, 4)
    """
    seen: set[str] = set()
    n_dup = 0
    dup_chars = 0
    for item in items:
        if item in seen:
            n_dup += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return n_dup, dup_chars


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or 0.0 when there is nothing to divide by."""
    return numerator / denominator if denominator else 0.0


def _arrow_tokens(words: list[str]) -> pa.Array:
    """The tokens as an Arrow string array, built in C++ from one joined string."""
    joined = "\n".join(words)
    try:
        arr = pa.array([joined], type=pa.string())
    except (UnicodeEncodeError, pa.ArrowInvalid):
        # Lone surrogates cannot be UTF-8; map them to U+FFFD (one character each, so the
        # lengths below stay equal to Python's len()).
        clean = joined.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        if len(clean) != len(joined):
            clean = "".join(c if not 0xD800 <= ord(c) <= 0xDFFF else "\ufffd" for c in joined)
        arr = pa.array([clean], type=pa.string())
    return pc.split_pattern(arr, "\n").flatten()


def encode_words(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Map tokens to dense int ids (first appearance = 0, 1, ...) and their lengths.

    Vectorised in Arrow so a document with a million tokens takes tens of milliseconds.

    >>> ids, lens = encode_words(["a", "bb", "a"])
    >>> ids.tolist(), lens.tolist()
    ([0, 1, 0], [1, 2, 1])
    """
    if not words:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    tokens = _arrow_tokens(words)
    ids = pc.dictionary_encode(tokens).indices.to_numpy().astype(np.int64)
    lengths = pc.utf8_length(tokens).to_numpy().astype(np.int64)
    return ids, lengths


def factorize(keys: np.ndarray) -> np.ndarray:
    """Dense ids for int64 ``keys``, numbered in order of first appearance."""
    if keys.size == 0:
        return keys.astype(np.int64)
    return pc.dictionary_encode(pa.array(keys)).indices.to_numpy().astype(np.int64)
