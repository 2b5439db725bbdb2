"""Gopher repetition rules (Rae et al. 2021, App. A.1.1, Table A1), counted as datatrove does.

A document is dropped when (defaults = Table A1):

* duplicate lines / lines > 0.30, duplicate-line characters / characters > 0.20;
* duplicate paragraphs / paragraphs > 0.30, duplicate-paragraph characters / characters > 0.20;
* the most frequent n-gram's character share > 0.20, 0.18, 0.16 for n = 2, 3, 4;
* the duplicated n-gram character share > 0.15, 0.14, 0.13, 0.12, 0.11, 0.10 for n = 5..10.

Counting, matched to datatrove's ``GopherRepetitionFilter``:

* paragraphs are the stripped text split on 2+ ``\\n``; lines are the text split on runs of
  ``\\n``. An element equal to an earlier one is a duplicate (the first occurrence is not);
  character shares divide by ``len(text)``.
* top n-gram share: n-grams are joined with single spaces; share = ``len(top n-gram) *
  its count / len(text)``; among equally frequent n-grams the first one in the text wins
  (``Counter.most_common(1)``). A document with a single n-gram still has a "top" n-gram.
* duplicated n-gram share: walk the word positions; if the n-gram at the position was seen
  at an earlier *visited* position, add its characters (words joined without spaces) and jump
  ``n`` words ahead (so overlapping repeats are not counted twice), else remember it and step
  one word.

Speed: tokens become int ids in Arrow; an n-gram id is the dense id (``np.unique``) of (its
(n-1)-prefix id, its last word id), computed only where the prefix and the suffix
(n-1)-grams both repeat (exact, no hash collisions); the walk above only visits positions whose n-gram repeats and
takes runs of periodic repeats as numpy slices. Timings (one core, CPU time): a 100k-word
document ~0.3 s; a 5 MB single line ~1 s, most of it in the tokenizer.
Tokenizer: :mod:`operators.filters.text` (spaCy's English rules, without spaCy).

``count="dolma"`` reproduces dolma 1.2.1's ``gopher_v1`` tagger as its mixer applies it
(``dolma/taggers/gopher.py``, ``get_attributes`` and ``all_ngram_counts``), **not** the Gopher
paper: words are ``str.split()`` whitespace words and "characters" the characters of those
words (whitespace left out); lines are ``text.split("\n")``, every blank line included; a
duplicate line is any line that occurs more than once, the **first copy included** (two equal
lines are 100 % duplicated), and its characters are divided by the word characters; the top
n-gram's characters are its words' without the joining spaces; the duplicated n-gram share
adds every occurrence of every repeated n-gram, overlapping ones included, over the characters
of all n-grams. Paragraph rules are computed as in the paper mode (dolma has none: set them to
null). Ratios are rounded to 5 decimals, as dolma writes its attributes.

>>> decide(measure("spam spam spam spam\\n" * 10, Config()), Config())
'gopher_rep_too_many_duplicate_lines'
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa

from operators.config import ConfigError
from operators.filters.base import apply_filter
from operators.filters.text import encode_words, find_duplicates, paragraphs, ratio, split_words, word_lines

STAGE = "gopher_repetition"
PREFIX = "gopher_rep"

TOO_MANY_DUPLICATE_PARAGRAPHS = "gopher_rep_too_many_duplicate_paragraphs"
TOO_MANY_DUPLICATE_PARAGRAPH_CHARS = "gopher_rep_too_many_duplicate_paragraph_chars"
TOO_MANY_DUPLICATE_LINES = "gopher_rep_too_many_duplicate_lines"
TOO_MANY_DUPLICATE_LINE_CHARS = "gopher_rep_too_many_duplicate_line_chars"
TOP_NGRAM_REASONS: dict[int, str] = {n: f"gopher_rep_top_{n}gram_too_frequent" for n in (2, 3, 4)}
DUPLICATE_NGRAM_REASONS: dict[int, str] = {n: f"gopher_rep_too_many_duplicate_{n}grams" for n in range(5, 11)}

REASONS: tuple[str, ...] = (
    TOO_MANY_DUPLICATE_PARAGRAPHS,
    TOO_MANY_DUPLICATE_PARAGRAPH_CHARS,
    TOO_MANY_DUPLICATE_LINES,
    TOO_MANY_DUPLICATE_LINE_CHARS,
    *TOP_NGRAM_REASONS.values(),
    *DUPLICATE_NGRAM_REASONS.values(),
)


@dataclass(frozen=True)
class Config:
    """Gopher repetition thresholds (Table A1); ``None`` disables a rule.

    Attributes:
        max_duplicate_lines: duplicate lines / lines (0.30).
        max_duplicate_line_chars: duplicate-line characters / characters (0.20).
        max_duplicate_paragraphs: duplicate paragraphs / paragraphs (0.30).
        max_duplicate_paragraph_chars: duplicate-paragraph characters / characters (0.20).
        max_top_2gram_share, max_top_3gram_share, max_top_4gram_share: characters of the most
            frequent n-gram times its count / characters (0.20, 0.18, 0.16).
        max_duplicate_5gram_share ... max_duplicate_10gram_share: characters in duplicated
            n-grams / characters (0.15, 0.14, 0.13, 0.12, 0.11, 0.10).
        count: ``"paper"`` (Gopher paper / datatrove counting) or ``"dolma"`` (dolma 1.2.1's
            ``gopher_v1`` tagger, see the module docstring); None means ``"paper"``.
    """

    max_duplicate_lines: float | None = 0.30
    max_duplicate_line_chars: float | None = 0.20
    max_duplicate_paragraphs: float | None = 0.30
    max_duplicate_paragraph_chars: float | None = 0.20
    max_top_2gram_share: float | None = 0.20
    max_top_3gram_share: float | None = 0.18
    max_top_4gram_share: float | None = 0.16
    max_duplicate_5gram_share: float | None = 0.15
    max_duplicate_6gram_share: float | None = 0.14
    max_duplicate_7gram_share: float | None = 0.13
    max_duplicate_8gram_share: float | None = 0.12
    max_duplicate_9gram_share: float | None = 0.11
    max_duplicate_10gram_share: float | None = 0.10
    count: Literal["paper", "dolma"] = "paper"

    def __post_init__(self) -> None:
        if self.count is None:  # a config with every field set to None (all rules off) counts as the paper
            object.__setattr__(self, "count", "paper")
        if self.count not in COUNT_MODES:
            raise ConfigError(f"gopher_repetition.count must be one of {', '.join(COUNT_MODES)}, got "
                              f"{self.count!r} (paper: the Gopher paper / datatrove; dolma: dolma's gopher_v1 tagger)")


@dataclass
class Stats:
    """What :func:`measure` found; one ``gopher_rep_<field>`` column each."""

    duplicate_paragraphs: float
    duplicate_paragraph_chars: float
    duplicate_lines: float
    duplicate_line_chars: float
    top_2gram_share: float
    top_3gram_share: float
    top_4gram_share: float
    duplicate_5gram_share: float
    duplicate_6gram_share: float
    duplicate_7gram_share: float
    duplicate_8gram_share: float
    duplicate_9gram_share: float
    duplicate_10gram_share: float


COUNT_MODES: tuple[str, ...] = ("paper", "dolma")
DOLMA_PRECISION = 5  # dolma writes tagger scores rounded to 5 decimals (TAGGER_SCORE_PRECISION)

_PY_WALK_MAX = 20_000  # repeated positions up to which the walk is a Python loop (no numpy calls per step)


def _duplicate_ngram_chars(ids: np.ndarray, repeated: np.ndarray, span: np.ndarray, n: int) -> int:
    """datatrove's walk: seen n-gram -> count its characters and jump n words, else step 1.

    ``ids`` is valid where ``repeated`` (the n-gram occurs more than once). Exact, but fast:
    positions whose n-gram occurs once are skipped in one step (they are "new" and never
    matter later); with few repeated positions the walk is a loop over just those, and with
    many, runs of repeats n words apart (the walk on periodic boilerplate) are checked as one
    numpy slice instead of one Python step each.
    """
    m = ids.size
    if m == 0:
        return 0
    at = np.flatnonzero(repeated)
    if at.size == 0:
        return 0
    if at.size <= _PY_WALK_MAX:  # few repeats (most documents): a plain loop over them
        total = 0
        seen: set[int] = set()
        resume = 0  # the walk's next position
        for i, key, chars in zip(at.tolist(), ids[at].tolist(), span[at].tolist()):
            if i < resume:
                continue
            if key in seen:
                total += chars
                resume = i + n
            else:
                seen.add(key)
        return total
    # next_rep[i]: the first position >= i whose n-gram repeats (m when none)
    next_rep = np.where(repeated, np.arange(m), m)
    next_rep = np.minimum.accumulate(next_rep[::-1])[::-1]
    seen = np.zeros(int(ids.max()) + 1, dtype=bool)
    total = 0
    idx = 0
    while idx < m:
        idx = int(next_rep[idx])
        if idx >= m:
            break
        key = ids[idx]
        if not seen[key]:
            seen[key] = True
            idx += 1
            continue
        chunk = 16
        while True:  # a run of already-seen n-grams at idx, idx + n, idx + 2n, ...
            chain = np.arange(idx, min(m, idx + chunk * n), n)
            ok = repeated[chain] & seen[ids[chain]]
            stop = int(np.argmin(ok)) if not ok.all() else chain.size
            total += int(span[chain[:stop]].sum())
            if stop < chain.size:
                idx = int(chain[stop])
                break
            idx = int(chain[-1]) + n
            if idx >= m:
                break
            chunk *= 2
    return total


def measure(text: str, cfg: Config) -> Stats:
    """Measure the Gopher repetition statistics of ``text``."""
    dolma = cfg.count == "dolma"
    n_chars = len(text)
    paras = paragraphs(text)
    para_dup, para_dup_chars = find_duplicates(paras)
    words = text.split() if dolma else split_words(text)
    word_ids, word_lens = encode_words(words)
    if dolma:
        # dolma: every copy of a repeated line, blank lines too, over the whitespace words' characters
        lines = text.split("\n")
        n_chars = int(word_lens.sum())
        line_dup = line_dup_chars = 0
        for line, count in Counter(lines).items():
            if count > 1:
                line_dup += count
                line_dup_chars += len(line) * count
    else:
        lines = word_lines(text)
        line_dup, line_dup_chars = find_duplicates(lines)

    n_words = word_ids.size
    cum = np.concatenate(([0], np.cumsum(word_lens)))
    n_distinct = int(word_ids.max()) + 1 if n_words else 1
    prev_ids = word_ids
    prev_rep = np.bincount(word_ids)[word_ids] > 1 if n_words else np.zeros(0, dtype=bool)
    top: dict[int, float] = {}
    dup: dict[int, float] = {}
    for n in range(2, 11):
        m = n_words - n + 1
        sep = 0 if dolma else n - 1  # dolma counts no spaces between the n-gram's words
        all_chars = 0  # dolma: the characters of all n-grams
        if m <= 0:
            top_chars = dup_chars = 0
        elif not prev_rep.any():  # no (n-1)-gram repeats, so no n-gram does: all unique
            top_chars, dup_chars = int(cum[n]) + sep, 0
            all_chars = int((cum[n:] - cum[:-n]).sum()) if dolma else 0
            prev_rep = prev_rep[:m]
        else:
            span = cum[n:] - cum[:-n]  # characters of the n words, without separators
            # Equal n-grams have equal (n-1)-prefixes and suffixes, both repeated: only those
            # positions get an exact dense id (prefix id, last word id); the rest are unique.
            pos = np.flatnonzero(prev_rep[:m] & prev_rep[1 : m + 1])
            ids = np.full(m, -1, dtype=np.int64)
            rep = np.zeros(m, dtype=bool)
            first, count = 0, 1  # every n-gram is unique: Counter picks the first one
            if pos.size:
                keys = prev_ids[pos] * n_distinct + word_ids[pos + n - 1]
                _, first_at, sub = np.unique(keys, return_index=True, return_inverse=True)
                counts = np.bincount(sub)
                ids[pos] = sub
                rep[pos] = counts[sub] > 1
                top_count = int(counts.max())
                if top_count > 1:  # ties -> the n-gram that appears first in the text
                    first, count = int(pos[first_at[counts == top_count].min()]), top_count
            top_chars = (int(span[first]) + sep) * count
            if n < 5:
                dup_chars = 0
            elif dolma:  # every occurrence of a repeated n-gram, overlapping ones too
                dup_chars, all_chars = int(span[rep].sum()), int(span.sum())
            else:
                dup_chars = _duplicate_ngram_chars(ids, rep, span, n)
            prev_ids, prev_rep = ids, rep
        if dolma:
            top[n] = round(top_chars / max(n_chars, 1), DOLMA_PRECISION)
            dup[n] = round(dup_chars / max(all_chars, 1), DOLMA_PRECISION)
        elif n <= 4:
            top[n] = ratio(top_chars, n_chars)
        else:
            dup[n] = ratio(dup_chars, n_chars)
    if dolma:
        return Stats(
            duplicate_paragraphs=ratio(para_dup, len(paras)),
            duplicate_paragraph_chars=ratio(para_dup_chars, len(text)),
            duplicate_lines=round(line_dup / max(len(lines), 1), DOLMA_PRECISION),
            duplicate_line_chars=round(line_dup_chars / max(n_chars, 1), DOLMA_PRECISION),
            **{f"top_{n}gram_share": top[n] for n in (2, 3, 4)},
            **{f"duplicate_{n}gram_share": dup[n] for n in range(5, 11)},
        )
    return Stats(
        duplicate_paragraphs=ratio(para_dup, len(paras)),
        duplicate_paragraph_chars=ratio(para_dup_chars, n_chars),
        duplicate_lines=ratio(line_dup, len(lines)),
        duplicate_line_chars=ratio(line_dup_chars, n_chars),
        top_2gram_share=top[2],
        top_3gram_share=top[3],
        top_4gram_share=top[4],
        duplicate_5gram_share=dup[5],
        duplicate_6gram_share=dup[6],
        duplicate_7gram_share=dup[7],
        duplicate_8gram_share=dup[8],
        duplicate_9gram_share=dup[9],
        duplicate_10gram_share=dup[10],
    )


def _over(value: float, limit: float | None) -> bool:
    return limit is not None and value > limit


def decide(stats: Stats, cfg: Config) -> str | None:
    """The first repetition rule ``stats`` breaks (datatrove's order), or None."""
    if _over(stats.duplicate_paragraphs, cfg.max_duplicate_paragraphs):
        return TOO_MANY_DUPLICATE_PARAGRAPHS
    if _over(stats.duplicate_paragraph_chars, cfg.max_duplicate_paragraph_chars):
        return TOO_MANY_DUPLICATE_PARAGRAPH_CHARS
    if _over(stats.duplicate_lines, cfg.max_duplicate_lines):
        return TOO_MANY_DUPLICATE_LINES
    if _over(stats.duplicate_line_chars, cfg.max_duplicate_line_chars):
        return TOO_MANY_DUPLICATE_LINE_CHARS
    for n in (2, 3, 4):
        if _over(getattr(stats, f"top_{n}gram_share"), getattr(cfg, f"max_top_{n}gram_share")):
            return TOP_NGRAM_REASONS[n]
    for n in range(5, 11):
        if _over(getattr(stats, f"duplicate_{n}gram_share"), getattr(cfg, f"max_duplicate_{n}gram_share")):
            return DUPLICATE_NGRAM_REASONS[n]
    return None


def apply(table: pa.Table, cfg: Config) -> pa.Table:
    """Add ``gopher_rep_*`` columns to the alive rows of ``table`` and name rejects in ``reason``."""
    return apply_filter(table, PREFIX, measure, decide, cfg, Stats)
