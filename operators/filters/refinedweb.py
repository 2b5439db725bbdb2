"""RefinedWeb line-wise corrections (Penedo et al. 2023, "The RefinedWeb Dataset for Falcon LLM", §3.2 and App. G.2).

RefinedWeb removes, from each document, the lines that are web-page furniture rather than content,
and drops the document when those corrections removed too much of it. Each non-blank line (``\\n``
separated; words are whitespace-separated; rules 2 to 5 ignore leading and trailing whitespace) is
checked in the paper's order, the first matching rule naming it:

1. **mainly upper case**: more than ``max_uppercase_ratio`` (0.5) of its characters (the line as
   written, spaces included) are upper-case letters -> removed (``removed_uppercase``);
2. **only numerical characters**: every non-whitespace character is a digit -> removed
   (``removed_numeric``);
3. **a counter** such as ``3 likes``, ``1.2K shares``, ``(12 comments)``: a number (digits, ``,``/``.``
   separators, an optional K/M/B), whitespace and one of ``counter_words``, with only non-word
   characters around -> removed (``removed_counter``);
4. **one word** (fewer than ``min_words_per_line`` words, 2) -> removed (``removed_one_word``), unless
   the line holds characters of a script written without spaces (Chinese, Japanese, Thai, Lao,
   Khmer, Myanmar), where a whole sentence is one whitespace "word";
5. **a short line (at most 10 words) with a boilerplate pattern**: the pattern is cut out, at the
   start of the line (``prefix_patterns``, e.g. "sign-in"), at its end (``suffix_patterns``, e.g.
   "Read more...") or anywhere (``anywhere_patterns``, e.g. "items in cart"), case-insensitively,
   with the whitespace next to it (``edited_lines``); a line left without any letter is
   removed (``removed_edited``).

The words of removed lines plus the words cut by edits are ``removed_words``; when
``removed_words / n_words`` (words of the whole document) exceeds ``max_removed_ratio`` (0.05) the
document is dropped as ``refinedweb_too_much_removed``. Otherwise its ``text`` becomes the kept lines
(edited ones edited) joined by ``\\n``; blank lines are kept, so a document where nothing matched is
unchanged. Rejected documents keep their original text, for review.

Sources and deviations. The rule list and the 5 % word threshold are the paper's (App. G.2, "line-wise
corrections", and §3.2); the paper gives no thresholds or word lists beyond its examples, so these
choices are raysift's, following DCLM's reproduction of RefinedWeb
(``baselines/baselines_configs/refinedweb.yaml`` and ``baselines/mappers/modifiers.py``):

* "mainly upper case" is more than half of the line's characters, spaces included, as DCLM;
* "only numerical" allows whitespace between digits (DCLM requires every character to be a digit);
* counter words: DCLM's list (likes, shares, comments, retweets, reposts, quotes, bookmarks, upvotes,
  downvotes, downloads, views, followers) with their singulars, plus replies, votes and points;
* patterns: the paper's three examples, plus spellings of the same items ("sign in", "log in",
  "login", "read more", "read more…", "continue reading", "item(s) in your cart"); DCLM uses the three
  examples only, cuts them without word boundaries and drops a line left with whitespace only (here:
  left without a letter, so ``» Read more...`` goes entirely);
* words are whitespace-separated (DCLM: its tokenizer without punctuation tokens);
* the one-word rule skips lines in scripts written without spaces (RefinedWeb is English only; the
  rule as published would remove every line of a Chinese or Japanese document).

>>> text = "Great post about gardening and tomatoes.\\n12 likes\\nSHARE THIS\\nRead the full story. Read more..."
>>> cleaned, stats = correct(text, Config())
>>> cleaned
'Great post about gardening and tomatoes.\\nRead the full story.'
>>> (stats.removed_counter, stats.removed_uppercase, stats.edited_lines, stats.removed_words)
(1, 1, 1, 6)
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from dataclasses import dataclass, fields

import pyarrow as pa

from operators.config import ConfigError
from operators.filters.base import arrow_types
from operators.schema import TEXT, alive_mask, put_column, replace_text, with_reason

STAGE = "refinedweb_lines"
PREFIX = "refinedweb"
DEFAULT_ON = False

TOO_MUCH_REMOVED = "refinedweb_too_much_removed"

REASONS: tuple[str, ...] = (TOO_MUCH_REMOVED,)

COUNTER_WORDS: tuple[str, ...] = (
    "like", "likes", "share", "shares", "comment", "comments", "retweet", "retweets", "repost", "reposts",
    "quote", "quotes", "bookmark", "bookmarks", "upvote", "upvotes", "downvote", "downvotes", "download",
    "downloads", "view", "views", "follower", "followers", "reply", "replies", "vote", "votes", "point", "points",
)  # fmt: skip
PREFIX_PATTERNS: tuple[str, ...] = ("sign-in", "sign in", "log in", "login")
SUFFIX_PATTERNS: tuple[str, ...] = ("read more...", "read more…", "read more", "continue reading")
ANYWHERE_PATTERNS: tuple[str, ...] = ("items in cart", "item in cart", "items in your cart", "item in your cart")


@dataclass(frozen=True)
class Config:
    """RefinedWeb line-wise corrections; ``None`` (or False, or an empty list) disables a rule.

    Attributes:
        max_uppercase_ratio: remove a line whose upper-case share of characters exceeds this (0.5).
        drop_numeric_lines: remove lines made of digits only (True).
        counter_words: remove lines that are a number followed by one of these words; empty
            disables the rule.
        min_words_per_line: remove lines with fewer words (2: one-word lines).
        max_words_for_patterns: the patterns are cut only from lines of at most this many words (10).
        prefix_patterns: cut at the start of a short line (case-insensitive).
        suffix_patterns: cut at the end of a short line.
        anywhere_patterns: cut anywhere in a short line.
        max_removed_ratio: drop the document when removed words / words exceeds this (0.05).
    """

    max_uppercase_ratio: float | None = 0.5
    drop_numeric_lines: bool = True
    counter_words: tuple[str, ...] = COUNTER_WORDS
    min_words_per_line: int | None = 2
    max_words_for_patterns: int = 10
    prefix_patterns: tuple[str, ...] = PREFIX_PATTERNS
    suffix_patterns: tuple[str, ...] = SUFFIX_PATTERNS
    anywhere_patterns: tuple[str, ...] = ANYWHERE_PATTERNS
    max_removed_ratio: float | None = 0.05

    def __post_init__(self) -> None:
        for name in ("max_uppercase_ratio", "max_removed_ratio"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ConfigError(f"filters.refinedweb_lines.{name} must be in [0, 1] or null, got {value!r}")
        if self.min_words_per_line is not None and self.min_words_per_line < 1:
            raise ConfigError(
                f"filters.refinedweb_lines.min_words_per_line must be >= 1 or null, got {self.min_words_per_line!r}"
            )
        if self.max_words_for_patterns < 1:
            raise ConfigError(
                f"filters.refinedweb_lines.max_words_for_patterns must be >= 1, got {self.max_words_for_patterns!r}"
            )
        for name in ("counter_words", "prefix_patterns", "suffix_patterns", "anywhere_patterns"):
            for item in getattr(self, name):
                if not item.strip():
                    raise ConfigError(f"filters.refinedweb_lines.{name} holds an empty entry; remove it")
        for word in self.counter_words:
            if len(word.split()) != 1:
                raise ConfigError(f"filters.refinedweb_lines.counter_words: {word!r} is not one word")


@dataclass
class Stats:
    """What the corrections found; one ``refinedweb_<field>`` column each."""

    n_lines: int
    removed_uppercase: int
    removed_numeric: int
    removed_counter: int
    removed_one_word: int
    edited_lines: int
    removed_edited: int
    n_words: int
    removed_words: int
    removed_ratio: float


@functools.cache
def _uppercase_table() -> dict[int, None]:
    """``str.translate`` table deleting every upper-case letter (counting them costs one C pass)."""
    return {c: None for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Lu"}


@functools.lru_cache(maxsize=16)
def _counter_re(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    alternation = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    return re.compile(rf"\W*\d[\d,.]*[kmb]?\s+(?:{alternation})\W*", re.IGNORECASE)


def _alternation(patterns: tuple[str, ...]) -> str:
    """Longest first; a word-character edge must not continue into a word (``login`` in ``logins``)."""
    parts = []
    for p in sorted({p.strip() for p in patterns}, key=len, reverse=True):
        body = re.escape(p)
        if re.match(r"\w", p):
            body = r"(?<!\w)" + body
        if re.search(r"\w$", p):
            body += r"(?!\w)"
        parts.append(body)
    return "|".join(parts)


@functools.lru_cache(maxsize=16)
def _edit_re(prefix: tuple[str, ...], suffix: tuple[str, ...], anywhere: tuple[str, ...]) -> re.Pattern[str] | None:
    branches = []
    if prefix:
        branches.append(rf"^(?:{_alternation(prefix)})")
    # (?<!\s): whitespace before a pattern is taken from the start of its run only, so a long
    # whitespace run is scanned once, not once per position (quadratic).
    if suffix:
        branches.append(rf"(?<!\s)\s*(?:{_alternation(suffix)})$")
    if anywhere:
        branches.append(rf"(?<!\s)\s*(?:{_alternation(anywhere)})")
    return re.compile("|".join(branches), re.IGNORECASE) if branches else None


_LETTER_RE = re.compile(r"[^\W\d_]")
_NO_SPACE_SCRIPT_RE = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]"
)
"""Thai, Lao, Myanmar, Khmer, kana and CJK ideographs: scripts written without spaces between words."""


def correct(text: str, cfg: Config) -> tuple[str, Stats]:
    """Apply the line-wise corrections; return the corrected text and what they did."""
    upper = _uppercase_table() if cfg.max_uppercase_ratio is not None else None
    counter = _counter_re(tuple(cfg.counter_words))
    edit = _edit_re(tuple(cfg.prefix_patterns), tuple(cfg.suffix_patterns), tuple(cfg.anywhere_patterns))
    min_words = cfg.min_words_per_line
    folded = {p.casefold() for p in (*cfg.prefix_patterns, *cfg.suffix_patterns, *cfg.anywhere_patterns)}
    counts = dict.fromkeys(("lines", "upper", "numeric", "counter", "one_word", "edited", "removed_edited"), 0)
    n_words = removed_words = 0
    kept: list[str] = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            kept.append(raw)
            continue
        counts["lines"] += 1
        words = line.split()
        n_words += len(words)
        rule = None
        if upper is not None and len(raw) - len(raw.translate(upper)) > cfg.max_uppercase_ratio * len(raw):
            rule = "upper"
        elif cfg.drop_numeric_lines and "".join(words).isdigit():
            rule = "numeric"
        elif counter is not None and counter.fullmatch(line):
            rule = "counter"
        elif min_words is not None and len(words) < min_words and _NO_SPACE_SCRIPT_RE.search(line) is None:
            rule = "one_word"
        if rule is None and edit is not None and len(words) <= cfg.max_words_for_patterns:
            folded_line = line.casefold()
            if any(p in folded_line for p in folded):  # a cheap test before the regular expression
                edited = edit.sub("", line).strip()
                if edited != line:
                    counts["edited"] += 1
                    if _LETTER_RE.search(edited) is None:
                        rule = "removed_edited"
                    else:
                        removed_words += len(words) - len(edited.split())
                        raw = edited
        if rule is None:
            kept.append(raw)
        else:
            counts[rule] += 1
            removed_words += len(words)
    stats = Stats(
        n_lines=counts["lines"],
        removed_uppercase=counts["upper"],
        removed_numeric=counts["numeric"],
        removed_counter=counts["counter"],
        removed_one_word=counts["one_word"],
        edited_lines=counts["edited"],
        removed_edited=counts["removed_edited"],
        n_words=n_words,
        removed_words=removed_words,
        removed_ratio=removed_words / n_words if n_words else 0.0,
    )
    return "\n".join(kept), stats


def measure(text: str, cfg: Config) -> Stats:
    """What the line-wise corrections would remove from ``text``."""
    return correct(text, cfg)[1]


def decide(stats: Stats, cfg: Config) -> str | None:
    """``refinedweb_too_much_removed`` when the corrections removed too large a share of the words."""
    if cfg.max_removed_ratio is not None and stats.removed_ratio > cfg.max_removed_ratio:
        return TOO_MUCH_REMOVED
    return None


def apply(table: pa.Table, cfg: Config) -> pa.Table:
    """Add ``refinedweb_*`` columns for the alive rows, name rejects, correct the text of kept rows."""
    alive = alive_mask(table)
    texts = table.column(TEXT).to_pylist()
    names = [f.name for f in fields(Stats)]
    columns: dict[str, list[float | int | None]] = {n: [None] * table.num_rows for n in names}
    reasons: list[str | None] = [None] * table.num_rows
    rewritten = False
    for i, ok in enumerate(alive):
        if not ok:
            continue
        text = texts[i] or ""
        corrected, stats = correct(text, cfg)
        for n in names:
            columns[n][i] = getattr(stats, n)
        reasons[i] = decide(stats, cfg)
        if reasons[i] is None and corrected != text:
            texts[i] = corrected
            rewritten = True
    types = arrow_types(Stats)
    for n in names:
        col, arr = f"{PREFIX}_{n}", pa.array(columns[n], type=types[n])
        table = put_column(table, col, arr)
    if rewritten:
        table = replace_text(table, texts)
    return with_reason(table, reasons)
