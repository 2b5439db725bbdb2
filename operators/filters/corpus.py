"""Corpus-level thresholds: cuts at quantiles of a score over the whole corpus.

Some published rules compare a document with the rest of the corpus rather than with a fixed
value: CCNet's head/middle/tail buckets are the 30th and 60th percentiles of perplexity *per
language* (Wenzek et al. 2020, §3.3), and classifier filters keep the top p % of a corpus (DCLM's
top 10 %, Li et al. 2024, §4.4). A stage module declares such rules with
``corpus_rules(cfg) -> tuple[CorpusRule, ...]``; the per-batch ``apply`` only writes the score
column. The pipeline then runs two distributed passes over the annotated documents:

1. :func:`summarize` turns each batch into a small histogram per (rule, group) (:class:`Sketch`),
   the driver merges these (never the documents) and :func:`cut_values` reads the quantiles off
   the merged histogram;
2. :func:`apply_rules` writes each rule's bucket column and names the reason of the buckets the
   rule rejects.

The histogram keys are the top 24 bits of a score's float32 representation (sign, exponent and
15 mantissa bits, ordered so that keys sort as the scores do), so a quantile is exact up to a
relative error of 2^-15 (3e-5) whatever the score's range; documents whose scores share the cut's
bin fall on the cut's upper side. A null score (a dead row, or a document the stage could not
score) takes no part and is never rejected by a corpus rule.

>>> rule = CorpusRule(column="s", cuts=(0.5,), labels=("low", "high"), reject={"low": "s_low"})
>>> import pyarrow as pa
>>> t = pa.table({"text": list("abcd"), "s": [0.1, 0.9, 0.4, 0.6]})
>>> cuts = cut_values(summarize(t, (rule,)), (rule,))
>>> apply_rules(t, (rule,), cuts).column("reason").to_pylist()
['s_low', None, 's_low', None]
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from operators.config import ConfigError
from operators.schema import LANGUAGE, alive_mask, put_column, with_reason

ALL = "*"
"""The group of a rule that is not per language."""


@dataclass(frozen=True)
class CorpusRule:
    """Buckets of ``column`` cut at corpus quantiles.

    Attributes:
        column: the score column the stage's ``apply`` wrote (float; null = not scored).
        cuts: increasing quantile fractions in (0, 1); ``(0.3, 0.6)`` gives three buckets.
        labels: one name per bucket, lowest scores first (``len(cuts) + 1`` names).
        reject: bucket label -> reject reason, for the buckets the rule drops.
        by_language: quantiles per value of the ``language`` column (CCNet) instead of corpus-wide.
        bucket_column: the column that receives each document's bucket label (None: not kept).
    """

    column: str
    cuts: tuple[float, ...]
    labels: tuple[str, ...]
    reject: dict[str, str] = field(default_factory=dict)
    by_language: bool = False
    bucket_column: str | None = None

    def __post_init__(self) -> None:
        if not self.cuts or any(not 0 < c < 1 for c in self.cuts) or list(self.cuts) != sorted(set(self.cuts)):
            raise ConfigError(f"quantile cuts of {self.column!r} must increase strictly within (0, 1), got {self.cuts}")
        if len(self.labels) != len(self.cuts) + 1:
            raise ConfigError(f"{self.column!r}: {len(self.cuts)} cuts need {len(self.cuts) + 1} bucket labels, got {self.labels}")
        unknown = sorted(set(self.reject) - set(self.labels))
        if unknown:
            raise ConfigError(f"{self.column!r}: cannot reject unknown bucket {unknown[0]!r}; buckets: {', '.join(self.labels)}")

    @property
    def key(self) -> str:
        return f"{self.column}|{self.bucket_column or ''}|{','.join(map(str, self.cuts))}"


Sketch = dict[str, dict[str, Counter]]
"""rule key -> group -> Counter(histogram key -> documents)."""


def _keys(values: np.ndarray) -> np.ndarray:
    """Order-preserving 24-bit histogram keys of float scores."""
    bits = values.astype(np.float32).view(np.uint32)
    flipped = np.where(bits >> 31, ~bits, bits | np.uint32(0x80000000))  # sortable as unsigned
    return (flipped >> np.uint32(8)).astype(np.int64)


def _upper_bound(key: int) -> float:
    """The largest score whose histogram key is ``key``."""
    flipped = np.uint32((key << 8) | 0xFF)
    bits = flipped & np.uint32(0x7FFFFFFF) if flipped >> 31 else ~flipped
    return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])


def _groups(table: pa.Table, rule: CorpusRule) -> list[str]:
    if not rule.by_language:
        return [ALL] * table.num_rows
    if LANGUAGE not in table.column_names:
        return ["?"] * table.num_rows
    return [lang or "?" for lang in table.column(LANGUAGE).to_pylist()]


def _scores(table: pa.Table, rule: CorpusRule) -> tuple[np.ndarray, np.ndarray]:
    """Scores as float64 and a mask of the alive, scored rows."""
    if rule.column not in table.column_names:
        n = table.num_rows
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    col = table.column(rule.column).cast(pa.float64())
    values = col.to_numpy(zero_copy_only=False).astype(np.float64)
    ok = np.asarray(alive_mask(table), dtype=bool) & ~np.isnan(values)
    return values, ok


def summarize(table: pa.Table, rules: tuple[CorpusRule, ...]) -> Sketch:
    """The histograms of one batch (alive, scored rows only)."""
    sketch: Sketch = {}
    for rule in rules:
        values, ok = _scores(table, rule)
        per_group: dict[str, Counter] = {}
        groups = np.asarray(_groups(table, rule), dtype=object)
        for group in set(groups[ok].tolist()):
            sel = ok & (groups == group)
            keys, counts = np.unique(_keys(values[sel]), return_counts=True)
            per_group[group] = Counter(dict(zip(keys.tolist(), counts.tolist())))
        sketch[rule.key] = per_group
    return sketch


def merge(a: Sketch, b: Sketch) -> Sketch:
    """Sum two sketches (associative; the empty dict is neutral)."""
    out: Sketch = {k: {g: Counter(c) for g, c in groups.items()} for k, groups in a.items()}
    for key, groups in b.items():
        mine = out.setdefault(key, {})
        for group, counter in groups.items():
            mine.setdefault(group, Counter()).update(counter)
    return out


def to_json(sketch: Sketch) -> str:
    return json.dumps({k: {g: dict(c) for g, c in groups.items()} for k, groups in sketch.items()})


def from_json(text: str) -> Sketch:
    data = json.loads(text)
    return {k: {g: Counter({int(h): n for h, n in c.items()}) for g, c in groups.items()} for k, groups in data.items()}


def cut_values(sketch: Sketch, rules: tuple[CorpusRule, ...]) -> dict[str, dict[str, list[float]]]:
    """rule key -> group -> the score at each cut (the upper bound of the bin the quantile falls in)."""
    out: dict[str, dict[str, list[float]]] = {}
    for rule in rules:
        per_group = {}
        for group, counter in sketch.get(rule.key, {}).items():
            keys = np.array(sorted(counter), dtype=np.int64)
            cum = np.cumsum([counter[k] for k in keys])
            total = int(cum[-1])
            cuts = []
            for q in rule.cuts:
                # the smallest bin holding at least the q-th fraction of the documents
                idx = int(np.searchsorted(cum, q * total, side="left"))
                cuts.append(_upper_bound(int(keys[min(idx, len(keys) - 1)])))
            per_group[group] = cuts
        out[rule.key] = per_group
    return out


def apply_rules(table: pa.Table, rules: tuple[CorpusRule, ...], cuts: dict[str, dict[str, list[float]]]) -> pa.Table:
    """Bucket every alive, scored row of ``table`` and name the reasons of rejected buckets.

    A row goes to the first bucket whose cut is at least its score (so a score equal to a cut
    stays below it) and to the last bucket when it exceeds every cut.
    """
    for rule in rules:
        values, ok = _scores(table, rule)
        groups = _groups(table, rule)
        labels: list[str | None] = [None] * table.num_rows
        reasons: list[str | None] = [None] * table.num_rows
        rule_cuts = cuts.get(rule.key, {})
        for i in np.flatnonzero(ok).tolist():
            group_cuts = rule_cuts.get(groups[i])
            if group_cuts is None:  # a group this run never summarised: keep, unbucketed
                continue
            score = float(np.float32(values[i]))
            bucket = int(np.searchsorted(np.asarray(group_cuts, dtype=np.float64), score, side="left"))
            labels[i] = rule.labels[bucket]
            reasons[i] = rule.reject.get(labels[i])
        if rule.bucket_column:
            arr = pa.array(labels, type=pa.string())
            table = put_column(table, rule.bucket_column, arr)
        table = with_reason(table, reasons)
    return table
