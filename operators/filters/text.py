"""Word and line splitting shared by the quality filters.

Word splitting follows the rules of spaCy's English tokenizer (``spacy.blank("en")``), which
datatrove uses for its Gopher, C4 and FineWeb filters, re-implemented without spaCy
(:func:`split_words`):

1. split on whitespace into chunks;
2. peel *prefixes* off the front of a chunk (opening brackets and quotes, ``, : ; ! ? # * &``,
   currency signs, ``§ % = — –``, ellipses, symbols) and *suffixes* off its end (closing
   punctuation, quotes, ``'s``, a ``.`` after a lower-case letter, digit, punctuation or two
   capitals, units and currency after a number: ``10km`` -> ``10`` ``km``), until neither
   applies or what is left is an exception;
3. what is left is one token if it is a URL, else it is split at *infixes*: a hyphen between letters (``e-mail`` -> ``e`` ``-`` ``mail``)
   or after a digit before a letter, ``+ - * ^`` between digits (``2020-08-01`` -> five tokens),
   ``.`` between a lower-case and an upper-case letter, ``,`` between letters,
   ``: < > = /`` before a letter (``and/or``), and ellipses;
4. contractions become two tokens (``don't`` -> ``do`` ``n't``, ``it's`` -> ``it`` ``'s``,
   ``we're`` -> ``we`` ``'re``), common abbreviations keep their dot (``Mr.``, ``e.g.``,
   ``a.m.``, single letters ``p.``), and a few emoticons (``:)``, ``8)``) stay whole.

So punctuation *inside* a chunk stays attached, as in spaCy: ``text.[12][13]`` is the tokens
``text.[12][13`` and ``]``; ``9:24``, ``1,000``, ``3.14``, ``U.S.`` and ``HTTP/1.1`` are one
token each, and so is a URL (with or without a scheme, ``example.com/path``).

Remaining differences from spaCy (measured in ``benchmarks/RESULTS.md``, filter agreement):
spaCy's exception table has ~1,300 entries (we keep the contraction rules, about 130
abbreviations and a few emoticons), it merges exceptions that span several tokens after the
affix pass (``1):`` -> ``1`` ``):``), its letter classes are hand-made per script (we use
Unicode categories) and its URL matcher is a longer expression than ours.

Speed: chunks repeat (Zipf), so each distinct chunk is split once per process and cached
(about 0.3 µs for a plain word, 5-15 µs for one with punctuation, then a dict lookup); on
the 411 texts of the spine benchmark this is ~1.5x slower than the single regular expression
it replaced with an empty cache and several times faster once the cache is warm.

>>> split_words("Don't stop... the e-mail (3.14)!")
('Do', "n't", 'stop', '...', 'the', 'e', '-', 'mail', '(', '3.14', ')', '!')
>>> split_words("Mr. Smith's claim.[12][13] U.S. and/or www.example.com/a.")
('Mr.', 'Smith', "'s", 'claim.[12][13', ']', 'U.S.', 'and/or', 'www.example.com/a', '.')
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _letters(pred: Callable[[str], bool]) -> str:
    """A regex character class body of the letters (up to U+052F and Latin Extended Additional) matching ``pred``."""
    chars = [chr(c) for c in (*range(0x530), *range(0x1E00, 0x2000)) if chr(c).isalpha() and pred(chr(c))]
    return "".join(re.escape(c) for c in chars)


_LOWER = _letters(str.islower)
_UPPER = _letters(str.isupper)
_PUNCT = r"…,:;!?¿؟¡()\[\]{}<>_#*&。？！，、；：～·।،۔؛٪"
_QUOTES = r"'\"”“`‘´’‚„»«「」『』（）〔〕【】《》〈〉〈〉⟦⟧"
_CURRENCY = r"$£€¥฿₽₴₠-₿"
_SYMBOLS = r"¦©®°\u2100-\u214f\u2190-\u21ff\u2300-\u23ff\u2400-\u24ff\u2500-\u27bf\u2800-\u28ff\u2b00-\u2bff\U0001f000-\U0001faff"
_HYPHENS = r"---|——|--|[-–—~]"
_UNITS = (
    "km km² km³ m m² m³ dm dm² dm³ cm cm² cm³ mm mm² mm³ ha µm nm yd in ft kg g mg µg t lb oz "
    "m/s km/h kmh mph hPa Pa mbar mb MB kb KB gb GB tb TB T G M K %"
)
_UNITS_RE = "|".join(re.escape(u) for u in sorted(_UNITS.split(), key=len, reverse=True))

_PREFIX_RE = re.compile(
    rf"\.\.+|[{_PUNCT}{_QUOTES}{_CURRENCY}{_SYMBOLS}§%=—–]|US\$|C\$|A\$|\+(?![0-9])"
)
_SUFFIX_RE = re.compile(
    rf"(?:\.\.+|['’][sS]|[{_PUNCT}{_QUOTES}{_SYMBOLS}—–]"
    rf"|(?<=[0-9])(?:\+|[{_CURRENCY}]|{_UNITS_RE})"
    rf"|(?<=[0-9{_LOWER}%²\-+{_PUNCT}{_QUOTES}])\.|(?<=[{_UPPER}][{_UPPER}])\.)$"
)
_INFIX_RE = re.compile(
    rf"\.\.+|…|[{_SYMBOLS}]"
    r"|(?<=[0-9])[+\-*^](?=[0-9-])"
    rf"|(?<=[{_LOWER}{_QUOTES}])\.(?=[{_UPPER}{_QUOTES}])"
    r"|(?<=[^\W\d_]),(?=[^\W\d_])"
    rf"|(?:(?<=[^\W\d_])|(?<=[0-9]))(?:{_HYPHENS})(?=[^\W\d_])"
    r"|(?:(?<=[^\W\d_])|(?<=[0-9]))[:<>=/](?=[^\W\d_])"
)
_URL_RE = re.compile(
    r"(?:[\w+\-.]{2,}://)?(?:\S+(?::\S*)?@)?"  # scheme, user
    rf"(?:[A-Za-z0-9\u00a1-\uffff][A-Za-z0-9\u00a1-\uffff_-]{{0,62}}\.)+[{_LOWER}]{{2,63}}"  # host, TLD
    r"(?::\d{2,5})?(?:[/?#]\S*)?"  # port, path
)
_CONTRACTION_RE = re.compile(r"([^\W\d_]+?)(n['’]t|['’](?:re|ve|ll|m|d|RE|VE|LL|M|D))")
"""``don't`` -> ``do`` ``n't``, ``we're`` -> ``we`` ``'re`` (spaCy lists these per word; a rule covers them)."""

_ABBREVIATIONS = frozenset(
    """Adm. Bros. Co. Corp. Dr. Gen. Gov. Inc. Jr. Ltd. Messrs. Mr. Mrs. Ms. Mt. Prof. Rep. Rev. Sen. St.
    Jan. Feb. Mar. Apr. Jun. Jul. Aug. Sep. Sept. Oct. Nov. Dec.
    Ak. Ala. Ariz. Ark. Calif. Colo. Conn. Del. Fla. Ga. Ia. Id. Ill. Ind. Kan. Kans. Ky. La. Mass.
    Md. Mich. Minn. Miss. Mo. Mont. Neb. Nebr. Nev. Okla. Ore. Pa. Tenn. Va. Wash. Wis.
    a.m. p.m. e.g. E.g. E.G. i.e. I.e. I.E. co. vs. v.s. Ph.D. D.C. ._.""".split()
    + [f"{c}." for c in "abcdefghijklmnopqrstuvwxyzäöü"]
    + [f"{h}{m}" for h in range(1, 13) for m in ("a.m.", "p.m.")]
)
"""Chunks spaCy keeps whole although its ``.`` suffix rule would split them."""

_EMOTICONS = frozenset(
    ":) :( :-) :-( ;) ;-) :D :-D :P :-P :p :-p :/ :-/ :| :o :O :* <3 </3 =) =( 8) 8-) 8D (: ): ^_^ -_- :') :'( ''".split()
)
"""Emoticons and ``''``: one token, also when the affix rules produced them in pieces (``1):``)."""

_NO_APOSTROPHE = {
    "id": 1, "im": 1, "ive": 1, "youre": 3, "youve": 3, "youd": 3, "hes": 2, "shes": 3, "thats": 4,
    "whats": 4, "theres": 5, "weve": 2, "theyre": 4, "theyve": 4, "theyd": 4, "aint": 2,
}
"""Contractions written without the apostrophe that spaCy splits (``thats`` -> ``that`` ``s``): split position."""
_SPECIAL: dict[str, tuple[str, ...]] = {
    **{a: (a,) for a in _ABBREVIATIONS | _EMOTICONS},
    **{w: (w[:3], w[3:]) for w in ("cannot", "Cannot")},
    **{w: (w[:-2], w[-2:]) for w in ("dont", "Dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent",
                                     "hasnt", "havent", "couldnt", "wouldnt", "shouldnt")},
    **{w: (w[:2], w[2:]) for w in ("cant", "Cant", "wont", "Wont")},
    **{w: (w[:3], w[3:]) for w in ("gonna", "gotta", "wanna", "Gonna", "Gotta", "Wanna")},
    **{w: (w[:i], w[i:]) for v, i in _NO_APOSTROPHE.items() for w in (v, v.capitalize())},
    "and/or": ("and/or",),
}
"""Exceptions: chunks (or what is left of one after affixes) split as listed."""

_MAX_SPECIAL = max(map(len, _SPECIAL))
_SIMPLE_SUFFIXES = frozenset(',;:!?)]}"”’…')
_MAX_CACHED_CHUNK = 64
_CACHE_LIMIT = 200_000
_SUFFIX_WINDOW = 64
_chunk_cache: dict[str, tuple[str, ...]] = {}


def _split_core(core: str) -> list[str]:
    """The infix and contraction step on what is left of a chunk after its affixes."""
    special = _SPECIAL.get(core)
    if special is not None:
        return list(special)
    if core.isalnum():  # no infix, URL or contraction without punctuation
        return [core]
    if "." in core and _URL_RE.fullmatch(core):
        return [core]
    if ("'" in core or "’" in core) and (m := _CONTRACTION_RE.fullmatch(core)):
        return [m.group(1), m.group(2)]
    out: list[str] = []
    start = 0
    for m in _INFIX_RE.finditer(core):
        a, b = m.span()
        if a == start:
            continue
        out.append(core[start:a])
        if b > a:
            out.append(core[a:b])
        start = b
    if start < len(core):
        out.append(core[start:])
    return out


def split_chunk(chunk: str) -> tuple[str, ...]:
    """The tokens of one whitespace-free chunk (module docstring, steps 2-4).

    >>> split_chunk('("Hello,")')
    ('(', '"', 'Hello', ',', '"', ')')
    """
    special = _SPECIAL.get(chunk)
    if special is not None:
        return special
    if chunk.isalpha():  # most chunks: nothing to split
        return (chunk,)
    head, last = chunk[:-1], chunk[-1]
    if head.isalpha() and head not in _SPECIAL:
        if last in _SIMPLE_SUFFIXES or (last == "." and head[-1].islower()):
            return (head, last)  # "word," and "word." (what the loop below returns for them)
    prefixes: list[str] = []
    suffixes: list[str] = []
    start, end = 0, len(chunk)
    while start < end:
        if end - start <= _MAX_SPECIAL and chunk[start:end] in _SPECIAL:
            break
        pre = _PREFIX_RE.match(chunk, start, end)
        if pre is not None and pre.end() < end:
            prefixes.append(pre.group())
            start = pre.end()
            if end - start <= _MAX_SPECIAL and chunk[start:end] in _SPECIAL:
                break
        elif pre is not None:  # the whole rest is one prefix (e.g. "...")
            prefixes.append(pre.group())
            start = end
            break
        window = _SUFFIX_WINDOW if chunk.endswith("..", start, end) else 8  # the longest suffix but "..." is 5
        suf = _SUFFIX_RE.search(chunk, max(start, end - window), end)
        if suf is not None and suf.start() > start:
            suffixes.append(suf.group())
            end = suf.start()
            if end - start <= _MAX_SPECIAL and chunk[start:end] in _SPECIAL:
                break
        elif pre is None:
            break
    tokens = prefixes
    if start < end:
        tokens += _split_core(chunk[start:end])
    tokens += reversed(suffixes)
    for i in range(len(tokens) - 1, 0, -1):  # emoticons the affix rules cut in two
        if tokens[i - 1] + tokens[i] in _EMOTICONS:
            tokens[i - 1 : i + 1] = [tokens[i - 1] + tokens[i]]
    return tuple(tokens)


def _split_words(text: str) -> list[str]:
    cache = _chunk_cache
    out: list[str] = []
    for chunk in text.split():
        tokens = cache.get(chunk)
        if tokens is None:
            tokens = split_chunk(chunk)
            if len(chunk) <= _MAX_CACHED_CHUNK:
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[chunk] = tokens
        out += tokens
    return out


_MEMO_TEXTS = 1024
_MEMO_TOKENS = 4_000_000
_memo: dict[str, tuple[str, ...]] = {}
_memo_tokens = 0


def split_words(text: str) -> tuple[str, ...]:
    """Split ``text`` into word and punctuation tokens the way spaCy's English tokenizer does
    (module docstring).

    The Gopher stages and FineWeb split the same document one after another; the tokens of
    the last ~1,000 texts (at most 4M tokens) are remembered so each text is split once.
    """
    global _memo_tokens
    tokens = _memo.get(text)
    if tokens is not None:
        return tokens
    tokens = tuple(_split_words(text))
    while _memo and (len(_memo) >= _MEMO_TEXTS or _memo_tokens + len(tokens) > _MEMO_TOKENS):
        _memo_tokens -= len(_memo.pop(next(iter(_memo))))
    if len(tokens) <= _MEMO_TOKENS:
        _memo[text] = tokens
        _memo_tokens += len(tokens)
    return tokens


_ALPHA_RE = re.compile(r"[^\W\d_]")
_LINE_RUNS_RE = re.compile(r"\n+")
_PARAGRAPH_RE = re.compile(r"\n{2,}")



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
    """True when ``token`` has at least one letter (a character for which ``str.isalpha``
    holds: Unicode categories L*). Numerals are not letters, whatever their script: ``2024``,
    Roman ``Ⅻ`` (Nl), ``½`` or ``²`` (No). Gopher's "words with at least one alphabetic
    character" (Rae et al. 2021, Appendix A) and datatrove's ``any(c.isalpha() for c in w)``.

    >>> [has_alpha(t) for t in ["abc", "2024", "Ⅻ", "½", "x²", "東京", "_-"]]
    [True, False, False, False, True, True, False]
    """
    if token.isalpha():
        return True
    # [^\W\d_] is a word character that is not a decimal digit: a letter, or one of the
    # other numerals (No, Nl), which str.isalnum also counts; those are checked one by one.
    match = _ALPHA_RE.search(token)
    while match is not None:
        if match.group().isalpha():
            return True
        match = _ALPHA_RE.search(token, match.end())
    return False


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


def _arrow_tokens(words: Sequence[str]) -> pa.Array:
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


def encode_words(words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
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
