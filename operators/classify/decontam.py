"""Benchmark decontamination by n-gram overlap (DeepSeekMath, Shao et al. 2024, Sec. 2.1).

A document is dropped when it shares a 10-gram with any benchmark text; a benchmark text of
3-9 words must appear in the document as a whole (exact match on normalised words). Texts are
normalised the same way on both sides: NFKC, lowercase, every run of non-alphanumeric
characters to one space, then split into words. Shorter benchmark texts (1-2 words) are
ignored and counted in the index.

The index is one sorted ``uint64`` array of n-gram hashes per n (10 for long texts, the text's
own length for 3-9-word texts) with the position of the benchmark id for each hash; the Ray
adapter puts it in the object store once (numpy arrays are read zero-copy by every worker).
Word hashes are the first 8 bytes of BLAKE2b (stable across processes); an n-gram hash is a
polynomial over its word hashes mod 2^64, computed for all windows with numpy.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from operators.schema import TEXT, alive_mask, with_reason

CONTAMINATED = "contaminated"
CONTAMINATED_BY = "contaminated_by"

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
_MULT = np.uint64(1099511628211)  # FNV prime: odd, so the polynomial is a bijection per position


@dataclass(frozen=True)
class DecontamConfig:
    """Decontamination settings (DeepSeekMath: 10-grams; exact match for 3-9-word texts).

    ngram: n-gram length for long benchmark texts.
    min_words: benchmark texts shorter than this are ignored.
    text_fields: JSONL fields read as benchmark texts (each indexed separately).
    id_field: JSONL field with the benchmark item id (default: ``<file stem>:<line>``).
    """

    ngram: int = 10
    min_words: int = 3
    text_fields: tuple[str, ...] = ("question", "problem", "answer", "solution", "text", "Q", "A", "input", "output")
    id_field: str = "id"

    def __post_init__(self) -> None:
        if self.ngram < 1 or not 1 <= self.min_words <= self.ngram:
            raise ValueError(f"DecontamConfig needs 1 <= min_words <= ngram, got {self.min_words}, {self.ngram}")


@dataclass
class BenchmarkIndex:
    """Sorted n-gram hashes per n with the index (into ``ids``) of the benchmark item of each."""

    ngram: int
    hashes: dict[int, np.ndarray] = field(default_factory=dict)
    owners: dict[int, np.ndarray] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    ignored_short: int = 0

    @property
    def size(self) -> int:
        return int(sum(len(h) for h in self.hashes.values()))


def normalize_words(text: str | None) -> list[str]:
    """Words after NFKC, lowercasing and stripping punctuation.

    >>> normalize_words("What is $2+2$? (Answer: 4.)")
    ['what', 'is', '2', '2', 'answer', '4']
    """
    if not text:
        return []
    return _NON_ALNUM.sub(" ", unicodedata.normalize("NFKC", text).lower()).split()


def _word_hashes(words: list[str], cache: dict[str, int] | None = None) -> np.ndarray:
    out = np.empty(len(words), dtype=np.uint64)
    for i, w in enumerate(words):
        h = cache.get(w) if cache is not None else None
        if h is None:
            h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
            if cache is not None and len(cache) < 1_000_000:
                cache[w] = h
        out[i] = h
    return out


def ngram_hashes(word_hashes: np.ndarray, n: int) -> np.ndarray:
    """Hash of every window of ``n`` consecutive words (uint64 polynomial, wrapping)."""
    m = len(word_hashes) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64)
    acc = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            acc = acc * _MULT + word_hashes[j : j + m]
    return acc


def build_ngram_index(benchmark: Iterable[tuple[str, str]], cfg: DecontamConfig | None = None) -> BenchmarkIndex:
    """Index ``(benchmark_id, text)`` pairs: all ``ngram``-grams of long texts, whole short texts."""
    cfg = cfg or DecontamConfig()
    per_n: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    index = BenchmarkIndex(ngram=cfg.ngram)
    cache: dict[str, int] = {}
    for bid, text in benchmark:
        words = normalize_words(text)
        if len(words) < cfg.min_words:
            index.ignored_short += 1
            continue
        n = min(len(words), cfg.ngram)
        h = np.unique(ngram_hashes(_word_hashes(words, cache), n))
        owner = len(index.ids)
        index.ids.append(str(bid))
        hs, os_ = per_n.setdefault(n, ([], []))
        hs.append(h)
        os_.append(np.full(len(h), owner, dtype=np.int32))
    for n, (hs, os_) in per_n.items():
        h = np.concatenate(hs)
        o = np.concatenate(os_)
        order = np.argsort(h, kind="stable")
        index.hashes[n] = h[order]
        index.owners[n] = o[order]
    return index


def find_contamination(text: str | None, index: BenchmarkIndex, cache: dict[str, int] | None = None) -> str | None:
    """Id of a benchmark item ``text`` overlaps (smallest id position wins), or None."""
    words = normalize_words(text)
    if not words or not index.hashes:
        return None
    wh = _word_hashes(words, cache)
    best: int | None = None
    for n, table in index.hashes.items():
        doc = ngram_hashes(wh, n)
        if len(doc) == 0:
            continue
        pos = np.searchsorted(table, doc)
        pos[pos >= len(table)] = len(table) - 1
        hit = table[pos] == doc
        if hit.any():
            owner = int(index.owners[n][pos[hit]].min())
            best = owner if best is None else min(best, owner)
    return index.ids[best] if best is not None else None


def load_benchmarks(paths: Iterable[str | Path], cfg: DecontamConfig | None = None) -> list[tuple[str, str]]:
    """``(id, text)`` pairs from benchmark JSONL files: one pair per present text field."""
    cfg = cfg or DecontamConfig()
    out: list[tuple[str, str]] = []
    for path in paths:
        p = Path(path)
        raw = p.read_bytes()
        if p.suffix == ".gz":
            import gzip

            raw = gzip.decompress(raw)
        for lineno, line in enumerate(raw.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{p}:{lineno} is not JSON ({exc}); benchmarks must be JSONL") from exc
            bid = str(rec.get(cfg.id_field, f"{p.stem}:{lineno}"))
            found = False
            for f in cfg.text_fields:
                v = rec.get(f)
                if isinstance(v, str) and v.strip():
                    out.append((f"{bid}#{f}", v))
                    found = True
            if not found:
                raise ValueError(
                    f"{p}:{lineno} has none of the text fields {list(cfg.text_fields)}; "
                    "set DecontamConfig.text_fields to the benchmark's field names"
                )
    return out


def decontaminate_table(table: pa.Table, index: BenchmarkIndex) -> pa.Table:
    """Add ``contaminated_by`` and reject alive rows that overlap a benchmark (reason ``contaminated``)."""
    alive = alive_mask(table)
    texts = table.column(TEXT).to_pylist()
    cache: dict[str, int] = {}
    hits = [find_contamination(t, index, cache) if ok else None for ok, t in zip(alive, texts)]
    col = pa.array(hits, type=pa.string())
    if CONTAMINATED_BY in table.column_names:
        table = table.set_column(table.schema.get_field_index(CONTAMINATED_BY), CONTAMINATED_BY, col)
    else:
        table = table.append_column(CONTAMINATED_BY, col)
    return with_reason(table, [CONTAMINATED if h is not None else None for h in hits])


_WORKER_INDEX: dict[str, BenchmarkIndex] = {}


def decontaminate_dataset(ds, index: BenchmarkIndex):
    """Ray Data adapter: the index goes to the object store once; each worker fetches it once."""
    import ray

    ref = ray.put(index)
    key = ref.hex()
    holder = [ref]  # an ObjectRef nested in a list is not resolved by Ray: the worker gets it lazily

    def apply(table: pa.Table) -> pa.Table:
        idx = _WORKER_INDEX.get(key)
        if idx is None:
            idx = ray.get(holder[0])
            _WORKER_INDEX.clear()
            _WORKER_INDEX[key] = idx
        return decontaminate_table(table, idx)

    return ds.map_batches(apply, batch_format="pyarrow")
