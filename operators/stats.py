"""Run statistics: per-batch counts merged on the driver, the funnel and the accounting check.

Every shard writer returns one small :class:`BatchStats` row per batch; the driver merges
them (nothing proportional to the corpus is collected). The invariant of DESIGN.md,
``documents_in == documents_out + sum(rejected.values())``, is checked by
:func:`check_accounting` at the end of every run.

Damaged input files are listed by name (``file_problems``: file -> {reason: count}, the
reasons of :data:`operators.warc.FILE_PROBLEMS`), and :func:`check_readable` fails a run in
which no input yielded a single record.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from operators.io import InputError
from operators.schema import LANGUAGE, REASON, SKIP, SOURCE, TEXT
from operators.warc import FILE_PROBLEMS

# Upper edges of the text-length histogram (characters), log-spaced.
LENGTH_BINS: tuple[int, ...] = (100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000)


class AccountingError(RuntimeError):
    """Documents were lost or invented between input and output."""


class NothingReadError(InputError):
    """No input file yielded a single record or document; the message lists the files' problems."""


@dataclass
class BatchStats:
    """Counts of one batch (or, after :meth:`merge`, of a whole run)."""

    documents_in: int = 0
    documents_out: int = 0
    rejected: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    languages: Counter = field(default_factory=Counter)
    length_histogram: list[int] = field(default_factory=lambda: [0] * (len(LENGTH_BINS) + 1))
    chars_out: int = 0
    file_problems: dict[str, Counter] = field(default_factory=dict)

    @classmethod
    def of_table(cls, table: pa.Table) -> "BatchStats":
        """Count a finished batch: kept rows have null ``reason`` and null ``skip``."""
        n = table.num_rows
        skip = table.column(SKIP) if SKIP in table.column_names else pa.nulls(n, pa.string())
        reason = table.column(REASON) if REASON in table.column_names else pa.nulls(n, pa.string())
        is_doc = pc.is_null(skip)
        kept = pc.and_(is_doc, pc.is_null(reason))
        out = cls()
        out.skipped = Counter(_value_counts(pc.filter(skip, pc.invert(is_doc))))
        out.rejected = Counter(_value_counts(pc.filter(reason, pc.and_(is_doc, pc.is_valid(reason)))))
        if out.skipped and SOURCE in table.column_names and not FILE_PROBLEMS.isdisjoint(out.skipped):
            damaged = pc.fill_null(pc.is_in(skip, value_set=_FILE_PROBLEM_VALUES), False)
            sources = pc.filter(table.column(SOURCE), damaged).to_pylist()
            for source, problem in zip(sources, pc.filter(skip, damaged).to_pylist()):
                out.file_problems.setdefault(source or "?", Counter())[problem] += 1
        out.documents_in = pc.sum(is_doc.cast(pa.int64())).as_py() or 0
        out.documents_out = pc.sum(kept.cast(pa.int64())).as_py() or 0
        if out.documents_out and TEXT in table.column_names:
            lengths = pc.utf8_length(pc.filter(table.column(TEXT), kept)).fill_null(0).to_numpy()
            out.chars_out = int(lengths.sum())
            for i, edge in enumerate(LENGTH_BINS):
                out.length_histogram[i] = int(((lengths < edge) & (lengths >= (LENGTH_BINS[i - 1] if i else 0))).sum())
            out.length_histogram[-1] = int((lengths >= LENGTH_BINS[-1]).sum())
        if out.documents_out and LANGUAGE in table.column_names:
            langs = pc.filter(table.column(LANGUAGE), kept).fill_null("unknown")
            out.languages = Counter(_value_counts(langs))
        return out

    def merge(self, other: "BatchStats") -> "BatchStats":
        self.documents_in += other.documents_in
        self.documents_out += other.documents_out
        self.rejected.update(other.rejected)
        self.skipped.update(other.skipped)
        self.languages.update(other.languages)
        self.length_histogram = [a + b for a, b in zip(self.length_histogram, other.length_histogram)]
        self.chars_out += other.chars_out
        for source, problems in other.file_problems.items():
            self.file_problems.setdefault(source, Counter()).update(problems)
        return self

    def files_with_problems(self) -> dict[str, dict[str, int]]:
        """``file_problems`` for ``stats.json``: file -> {reason: count}, sorted by file.

        >>> s = BatchStats(file_problems={"b.warc.gz": Counter(not_warc=1), "a.warc.gz": Counter(corrupt_file=2)})
        >>> s.files_with_problems()
        {'a.warc.gz': {'corrupt_file': 2}, 'b.warc.gz': {'not_warc': 1}}
        """
        return {source: dict(sorted(self.file_problems[source].items())) for source in sorted(self.file_problems)}

    def to_json(self) -> str:
        return json.dumps(
            {
                "documents_in": self.documents_in,
                "documents_out": self.documents_out,
                "rejected": dict(self.rejected),
                "skipped": dict(self.skipped),
                "languages": dict(self.languages),
                "length_histogram": self.length_histogram,
                "chars_out": self.chars_out,
                "file_problems": self.files_with_problems(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "BatchStats":
        d = json.loads(text)
        return cls(
            documents_in=d["documents_in"],
            documents_out=d["documents_out"],
            rejected=Counter(d["rejected"]),
            skipped=Counter(d["skipped"]),
            languages=Counter(d["languages"]),
            length_histogram=list(d["length_histogram"]),
            chars_out=d["chars_out"],
            file_problems={source: Counter(v) for source, v in d.get("file_problems", {}).items()},
        )


_FILE_PROBLEM_VALUES = pa.array(sorted(FILE_PROBLEMS), pa.string())


def _value_counts(arr: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    if len(arr) == 0:
        return {}
    vc = pc.value_counts(arr)
    return {v.as_py(): c.as_py() for v, c in zip(vc.field("values"), vc.field("counts"))}


def stats_table(stats: BatchStats) -> pa.Table:
    """One-row table carrying a batch's stats through Ray Data."""
    return pa.table({"stats": [stats.to_json()]})


def funnel(documents_in: int, rejected: dict[str, int], stages: list[tuple[str, tuple[str, ...]]]) -> list[dict[str, Any]]:
    """Documents entering and leaving each stage, in pipeline order.

    >>> funnel(10, {"a1": 2, "b1": 1, "zz": 1}, [("a", ("a1",)), ("b", ("b1",))])
    [{'stage': 'a', 'in': 10, 'rejected': 2, 'out': 8}, {'stage': 'b', 'in': 8, 'rejected': 1, 'out': 7}, {'stage': 'other', 'in': 7, 'rejected': 1, 'out': 6}]
    """
    rows = []
    current = documents_in
    seen: set[str] = set()
    for name, reasons in stages:
        dropped = sum(rejected.get(r, 0) for r in reasons)
        seen.update(reasons)
        rows.append({"stage": name, "in": current, "rejected": dropped, "out": current - dropped})
        current -= dropped
    rest = sum(v for k, v in rejected.items() if k not in seen)
    if rest:
        rows.append({"stage": "other", "in": current, "rejected": rest, "out": current - rest})
    return rows


def check_accounting(documents_in: int, documents_out: int, rejected: dict[str, int]) -> None:
    """Fail loudly unless every input document is either kept or rejected with a reason.

    >>> check_accounting(5, 3, {"x": 2})
    >>> check_accounting(5, 3, {"x": 1})
    Traceback (most recent call last):
    ...
    operators.stats.AccountingError: accounting violated: documents_in=5 but documents_out=3 + rejected=1 = 4 (1 documents lost)
    """
    total_rejected = sum(rejected.values())
    if documents_in != documents_out + total_rejected:
        diff = documents_in - documents_out - total_rejected
        what = f"{diff} documents lost" if diff > 0 else f"{-diff} documents invented"
        raise AccountingError(
            f"accounting violated: documents_in={documents_in} but documents_out={documents_out}"
            f" + rejected={total_rejected} = {documents_out + total_rejected} ({what})"
        )


def check_readable(documents_in: int, skipped: dict[str, int], file_problems: dict[str, dict[str, int]],
                   files: int, shown: int = 5) -> None:
    """Fail (:class:`NothingReadError`, exit status 2 from the CLI) when nothing at all could be
    read: no document, and no WARC record other than the damage listed in ``file_problems``.
    A run that read anything, even only request or metadata records, passes.

    >>> check_readable(0, {"request": 3}, {}, files=1)
    >>> check_readable(0, {"not_warc": 1, "empty_file": 1}, {"a.warc": {"not_warc": 1}, "b.warc.gz": {"empty_file": 1}}, files=2)
    Traceback (most recent call last):
    ...
    operators.stats.NothingReadError: nothing could be read from the 2 input files: a.warc (not_warc), b.warc.gz (empty_file)
    """
    if documents_in or any(count for reason, count in skipped.items() if reason not in FILE_PROBLEMS):
        return
    what = f"the {files} input files" if files != 1 else "the input file"
    if not file_problems:
        raise NothingReadError(f"nothing could be read: {what} hold no record or document")
    listed = [f"{name} ({', '.join(sorted(problems))})" for name, problems in sorted(file_problems.items())]
    more = f", and {len(listed) - shown} more (see stats.json)" if len(listed) > shown else ""
    raise NothingReadError(f"nothing could be read from {what}: {', '.join(listed[:shown])}{more}")


def summary_table(stats: dict[str, Any], top: int = 10) -> str:
    """The plain-text summary printed at the end of a run."""
    lines = []
    din, dout = stats["documents_in"], stats["documents_out"]
    wall = stats.get("wall_time_s") or 0.0
    kept = f"{dout / din:.1%}" if din else "n/a"
    rejected = sorted(stats["rejected"].items(), key=lambda kv: -kv[1])
    # the label column fits the longest reason shown, so the counts line up
    w = max([32, *(len(reason) + 3 for reason, _ in rejected[:top])])
    lines.append(f"{'documents in':<{w}}{din:>12,}")
    lines.append(f"{'documents out':<{w}}{dout:>12,}   ({kept} kept)")
    skipped = sum(stats.get("records_skipped", {}).values())
    if skipped:
        lines.append(f"{'WARC records skipped':<{w}}{skipped:>12,}   (not documents: requests, metadata, non-HTML, ...)")
    damaged = stats.get("file_problems") or {}
    if damaged:
        lines.append(f"{'files with problems':<{w}}{len(damaged):>12,}   (damaged, empty or not WARC: see file_problems in stats.json)")
    lines.append(f"{'wall time':<{w}}{wall:>11.1f}s")
    if wall > 0:
        lines.append(f"{'documents/s':<{w}}{din / wall:>12,.1f}")
    if rejected:
        lines.append("top reject reasons:")
        for reason, count in rejected[:top]:
            share = count / din if din else math.nan
            lines.append(f"  {reason:<{w - 2}}{count:>12,}   ({share:.1%})")
        if len(rejected) > top:
            lines.append(f"  ... and {len(rejected) - top} more reasons (see stats.json)")
    return "\n".join(lines)
