"""MinHash signatures: the configuration shared by every fuzzy-dedup stage, shingling and hashing.

Broder 1997 MinHash with the banding of Leskovec, Rajaraman & Ullman, *Mining of Massive
Datasets*, ch. 3.4. A pair with Jaccard similarity ``s`` becomes an LSH candidate (shares at least
one of ``B`` bands of ``R`` rows) with probability ``P(s) = 1 - (1 - s**R)**B`` (the S-curve).

Choosing B and R (``bands``/``rows`` left ``None``): among all ``B * R <= max_num_perm`` we
minimise ``w_fp * FP + w_fn * FN`` with ``FP = integral_0^t P(s) ds`` and
``FN = integral_t^1 (1 - P(s)) ds`` (datasketch's ``_optimal_param``, with its weights made a
field). Because every candidate pair is then *verified* (signature Jaccard >= threshold, which
removes LSH false positives), a false negative is what costs quality, so ``w_fn = 0.95``,
``w_fp = 0.05``. For the defaults (t = 0.8, at most 256 permutations) the arithmetic gives
**B = 25, R = 10 (250 permutations)**, FP area 0.113, FN area 0.0012, and the S-curve

====  =====  =====  =====  =====  =====  ======  ======
s     0.5    0.6    0.7    0.75   0.8    0.85    0.9
P(s)  0.024  0.141  0.512  0.765  0.942  0.9958  0.99996
====  =====  =====  =====  =====  =====  ======  ======

(the LSH threshold ``(1/B)**(1/R) = (1/25)**(1/10) ≈ 0.72``). Equal weights (0.5/0.5) would give
B = 17, R = 15 with P(0.85) = 0.79 only: four in five pairs at J = 0.85 found.

Verification (``verify_by``): by default a candidate pair is kept only when the *exact* Jaccard
of the two documents' shingle sets reaches the threshold. Each document carries its set as
sorted distinct 32-bit shingle hashes (the top half of the 64-bit hash: about 4 bytes per
word, a chance of about ``n**2 / 2**33`` that two of a document's ``n`` shingles collide). The
cheaper ``signature`` mode compares the MinHash signatures instead, whose estimate has standard
deviation ``sqrt(J (1 - J) / 250)``: 0.025 at J = 0.8, which on real near-duplicates let pairs
at true J 0.73-0.80 through (benchmarks/RESULTS.md) and lost 1.4 % of the pairs at J = 0.85.

Hashing: words are hashed by a vectorised polynomial over their bytes (:mod:`operators.dedup.normalize`), a word
n-gram's 64-bit hash is a polynomial over its word hashes finished by SplitMix64. MinHash
permutes ``x``, the top 32 bits of that hash (the same 32 bits shingle-set verification
compares): permutation ``i`` is ``h_i(x) = g((x xor b_i) * a_i mod 2**32)`` with
``g(y) = z xor z >> 13``, ``z = (y xor y >> 16) * C mod 2**32`` (MurmurHash3's ``fmix32``
steps; odd ``a_i``; ``a``, ``b`` drawn from numpy's PCG64 seeded by ``seed``). Every step is a
bijection of 32-bit words, so each ``h_i`` is a permutation of the hash space; 32-bit lanes make
numpy's vectorised multiply native (a 64-bit multiply is not, on AVX2): 1.7x faster than the
64-bit ``g((x xor b) * a)``, ``g(y) = (y xor y >> 31) * C`` it replaced. (A plain ``a * x + b``
family was measured to bias the estimate per seed twice as much as that 64-bit one; the 32-bit
family measured no worse than it: mean signed error per seed 0.007 vs 0.011 over 300 pairs and
8 seeds. tests/test_minhash.py bounds the error.) All of it is vectorised over the whole batch
(one numpy pass per permutation block, no Python loop per shingle or permutation). Same input
and seed give the same signature on any machine and any number of workers.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.config import ConfigError
from operators.dedup.normalize import mix64, normalize_raw, stable_node_ids, word_hashes

KEEP_RULES = ("first", "longest", "newest")
VERIFY_MODES = ("shingles", "signature")
_CHUNK_ELEMENTS = 1 << 18  # shingles x permutations per vectorised block (1 MiB of uint32: stays in cache)
_NGRAM_MULT = np.uint64(0x9E3779B97F4A7C15)
_PERM_MULT = np.uint32(0x85EBCA6B)  # MurmurHash3 fmix32
_SHIFT_1 = np.uint32(16)
_SHIFT_2 = np.uint32(13)

# Columns of the signature table (one row per document that has at least one shingle).
NODE = "node"
DOC_ID = "doc_id"
KEEP = "keep"
BANDS = "bands"  # fixed_size_binary(8 B): the document's B band hashes, little-endian int64
VERIFY = "verify"  # large_binary: what verification compares (shingle set or signature); empty when off


@dataclass(frozen=True)
class MinHashConfig:
    """One configuration for every fuzzy-dedup stage (signatures, LSH, verification, components).

    Attributes:
        threshold: Jaccard similarity of word n-gram sets above which two documents are duplicates.
        ngram: words per shingle (5, as in datatrove and Gopher's near-dup removal). Documents with
            fewer words form one shingle of all their words; documents with no word after
            normalisation get no signature and are never fuzzy duplicates (exact dedup sees them).
        bands, rows: LSH banding; both ``None`` = chosen from ``threshold`` (module docstring).
        max_num_perm: permutation budget ``B * R`` for the automatic choice.
        false_negative_weight: weight of the FN area in the automatic choice (FP weight = 1 - it).
        seed: seeds the permutations and band hashes. Change it and signatures change.
        verify: keep a candidate pair only if its Jaccard similarity >= ``threshold``.
        verify_by: ``shingles`` (exact Jaccard of the shingle sets, the default) or ``signature``
            (the MinHash estimate: less data shuffled, less precise; module docstring).
        keep: which document of a cluster survives: ``first`` (smallest id), ``longest`` (most
            characters), ``newest`` (latest ``date_column``; null is oldest), or the name of a
            numeric score column (highest wins; null loses). Ties go to the smallest id.
        id_column, text_column, date_column: input column names.
        max_edges_per_bucket: LSH buckets emit star edges to their smallest node, ``b - 1`` edges
            for a bucket of ``b`` documents (never the ``b (b - 1) / 2`` of all pairs). A number
            here additionally caps the star at that many edges (the smallest nodes win; the
            rest are counted in ``stats["edges_dropped_by_bucket_cap"]``). ``None``: no cap.
        local_fast_path_max_edges: when the verified edges number at most this, they (node
            pair, similarity, both ids and keep values: under 100 bytes a pair, some tens of MB
            at the default) are collected and their components computed on the driver with
            scipy; above it the distributed large-star/small-star runs. 0 forces the
            distributed path (``raysift dedup --local-components-max-edges 0``). Both give
            identical output (tested).
        rows_per_partition: target rows per shuffle partition (bucket rows, edges), which
            bounds the memory of one task; the partition count grows with the corpus.
        bytes_per_partition: target bytes of signature table per shuffle partition. The
            verification joins shuffle every document's payload (its shingle set, about 4
            bytes per word), so they get ``signature bytes / bytes_per_partition`` partitions
            when that is more than the row target gives: a partition, and the task reducing
            it, stays the same size however large the corpus.
        min_partitions: lower bound on shuffle partitions.
        max_rounds: safety bound on connected-components rounds (O(log n) are needed).
    """

    threshold: float = 0.8
    ngram: int = 5
    bands: int | None = None
    rows: int | None = None
    max_num_perm: int = 256
    false_negative_weight: float = 0.95
    seed: int = 42
    verify: bool = True
    verify_by: str = "shingles"
    keep: str = "first"
    id_column: str = "id"
    text_column: str = "text"
    date_column: str = "warc_date"
    max_edges_per_bucket: int | None = None
    local_fast_path_max_edges: int = 500_000
    rows_per_partition: int = 2_000_000
    bytes_per_partition: int = 32 * 1024**2
    min_partitions: int = 2
    max_rounds: int = 64

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"MinHashConfig.threshold = {self.threshold!r}; use a value in (0, 1), e.g. 0.8")
        if self.ngram < 1:
            raise ConfigError(f"MinHashConfig.ngram = {self.ngram!r}; use an integer >= 1, e.g. 5")
        if (self.bands is None) != (self.rows is None):
            raise ConfigError("MinHashConfig: set both bands and rows, or neither (chosen from threshold)")
        if self.bands is not None and (self.bands < 1 or self.rows < 1):
            raise ConfigError("MinHashConfig.bands and rows must be >= 1")
        if self.max_num_perm < 1:
            raise ConfigError("MinHashConfig.max_num_perm must be >= 1, e.g. 256")
        if not 0.0 <= self.false_negative_weight <= 1.0:
            raise ConfigError("MinHashConfig.false_negative_weight must be in [0, 1], e.g. 0.95")
        if self.verify_by not in VERIFY_MODES:
            raise ConfigError(f"MinHashConfig.verify_by = {self.verify_by!r}; use one of {', '.join(VERIFY_MODES)}")
        if not self.keep:
            raise ConfigError(f"MinHashConfig.keep is empty; use one of {', '.join(KEEP_RULES)} or a score column")
        if self.max_edges_per_bucket is not None and self.max_edges_per_bucket < 1:
            raise ConfigError("MinHashConfig.max_edges_per_bucket must be >= 1 or null (no cap)")
        if self.local_fast_path_max_edges < 0:
            raise ConfigError("MinHashConfig.local_fast_path_max_edges must be >= 0 (0 = always distributed)")
        if min(self.rows_per_partition, self.bytes_per_partition, self.min_partitions, self.max_rounds) < 1:
            raise ConfigError(
                "MinHashConfig.rows_per_partition, bytes_per_partition, min_partitions and max_rounds must be >= 1"
            )

    @property
    def band_rows(self) -> tuple[int, int]:
        """(B, R): the configured values, or the optimum for ``threshold``."""
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_bands_rows(self.threshold, self.max_num_perm, self.false_negative_weight)

    @property
    def num_perm(self) -> int:
        b, r = self.band_rows
        return b * r


def s_curve(bands: int, rows: int, s: np.ndarray | float) -> np.ndarray:
    """Probability that a pair at Jaccard ``s`` shares at least one band."""
    s = np.asarray(s, dtype=np.float64)
    return 1.0 - (1.0 - s**rows) ** bands


def fp_fn_areas(bands: int, rows: int, threshold: float) -> tuple[float, float]:
    """(FP area below the threshold, FN area above it) of the S-curve (trapezoid, 20k steps)."""
    s = np.linspace(0.0, 1.0, 20001)
    p = s_curve(bands, rows, s)
    fp = float(np.trapezoid(np.where(s <= threshold, p, 0.0), s))
    fn = float(np.trapezoid(np.where(s >= threshold, 1.0 - p, 0.0), s))
    return fp, fn


@functools.lru_cache(maxsize=64)
def optimal_bands_rows(threshold: float, max_num_perm: int = 256, false_negative_weight: float = 0.95) -> tuple[int, int]:
    """B, R minimising the weighted FP + FN area with ``B * R <= max_num_perm``.

    >>> optimal_bands_rows(0.8, 256, 0.95)
    (25, 10)
    >>> optimal_bands_rows(0.8, 128, 0.5)
    (9, 13)
    """
    s = np.linspace(0.0, 1.0, 2001)
    below = s <= threshold
    above = s >= threshold
    best: tuple[float, int, int] = (np.inf, 0, 0)
    for r in range(1, max_num_perm + 1):
        bands = np.arange(1, max_num_perm // r + 1)
        p = 1.0 - (1.0 - s[None, :] ** r) ** bands[:, None]
        fp = np.trapezoid(np.where(below, p, 0.0), s, axis=1)
        fn = np.trapezoid(np.where(above, 1.0 - p, 0.0), s, axis=1)
        err = (1.0 - false_negative_weight) * fp + false_negative_weight * fn
        i = int(np.argmin(err))
        if err[i] < best[0] - 1e-12:
            best = (float(err[i]), int(bands[i]), r)
    return best[1], best[2]


def lsh_summary(cfg: MinHashConfig) -> dict:
    """B, R and the S-curve, as data for stats.json."""
    b, r = cfg.band_rows
    fp, fn = fp_fn_areas(b, r, cfg.threshold)
    points = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    return {
        "bands": b,
        "rows": r,
        "num_perm": b * r,
        "lsh_threshold": round((1.0 / b) ** (1.0 / r), 4),
        "fp_area": round(fp, 5),
        "fn_area": round(fn, 5),
        "s_curve": {str(p): round(float(s_curve(b, r, p)), 5) for p in points},
    }


@functools.lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) uint32 arrays of the ``num_perm`` permutations (a odd); see the module docstring."""
    rng = np.random.Generator(np.random.PCG64(seed))
    a = rng.integers(0, 2**32, size=num_perm, dtype=np.uint32, endpoint=False) | np.uint32(1)
    b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint32, endpoint=False)
    return a, b


def shingle_hashes(texts: pa.Array | pa.ChunkedArray | list[str | None], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the word n-grams of each text: (uint64 hashes, int64 offsets, n+1).

    Shingles of document ``i`` are ``hashes[offsets[i]:offsets[i+1]]`` (a multiset; MinHash
    only sees the set).
    """
    wh, word_off = word_hashes(normalize_raw(texts))
    counts = np.diff(word_off)
    n_sh = np.where(counts >= ngram, counts - ngram + 1, np.minimum(counts, 1))
    sh_off = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(n_sh, out=sh_off[1:])
    total = int(sh_off[-1])
    if total == 0:
        return np.zeros(0, dtype=np.uint64), sh_off
    doc = np.repeat(np.arange(len(counts)), n_sh)
    pos = word_off[doc] + (np.arange(total) - sh_off[doc])
    end = word_off[doc + 1]
    h = np.zeros(total, dtype=np.uint64)
    last = len(wh) - 1
    with np.errstate(over="ignore"):
        for j in range(ngram):
            idx = pos + j
            valid = idx < end
            w = wh[np.minimum(idx, last)]
            h = np.where(valid, h * _NGRAM_MULT + w, h)
    return mix64(h), sh_off


def signatures(texts: pa.Array | pa.ChunkedArray | list[str | None], cfg: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures of a batch: (uint32 array [n, num_perm], bool array [n] "has a signature")."""
    hashes, off = shingle_hashes(texts, cfg.ngram)
    return signatures_from_shingles(hashes, off, cfg.num_perm, cfg.seed)


def signatures_from_shingles(hashes: np.ndarray, off: np.ndarray, num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Signatures from :func:`shingle_hashes` output (vectorised in blocks of shingles)."""
    n = len(off) - 1
    a, b = permutations(num_perm, seed)
    a = a[:, None]
    b = b[:, None]
    x32 = (hashes >> np.uint64(32)).astype(np.uint32)
    sig = np.full((num_perm, n), np.iinfo(np.uint32).max, dtype=np.uint32)
    counts = np.diff(off)
    doc_of = np.repeat(np.arange(n), counts)
    step = max(1, _CHUNK_ELEMENTS // num_perm)
    width = min(step, max(len(hashes), 1))
    buf = np.empty((num_perm, width), dtype=np.uint32)
    tmp = np.empty((num_perm, width), dtype=np.uint32)
    with np.errstate(over="ignore"):
        for start in range(0, len(hashes), step):
            x = x32[start : start + step]
            d = doc_of[start : start + step]
            y = buf[:, : len(x)]
            t = tmp[:, : len(x)]
            np.bitwise_xor(b, x[None, :], out=y)
            y *= a
            np.right_shift(y, _SHIFT_1, out=t)
            y ^= t
            y *= _PERM_MULT
            np.right_shift(y, _SHIFT_2, out=t)
            y ^= t
            starts = np.concatenate(([0], np.flatnonzero(d[1:] != d[:-1]) + 1))
            mins = np.minimum.reduceat(y, starts, axis=1)
            docs = d[starts]
            sig[:, docs] = np.minimum(sig[:, docs], mins)
    return np.ascontiguousarray(sig.T), counts > 0


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray | float:
    """Fraction of equal signature positions (last axis): the MinHash Jaccard estimate."""
    return np.mean(np.asarray(sig_a) == np.asarray(sig_b), axis=-1)


def exact_jaccard(text_a: str, text_b: str, ngram: int = 5) -> float:
    """True Jaccard of the two texts' shingle sets (same normalisation and shingles)."""
    hashes, off = shingle_hashes([text_a, text_b], ngram)
    sa = set(hashes[off[0] : off[1]].tolist())
    sb = set(hashes[off[1] : off[2]].tolist())
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def keep_values(table: pa.Table, cfg: MinHashConfig) -> np.ndarray:
    """float64 per row, higher = preferred by ``cfg.keep`` (ties broken by smallest id later)."""
    n = table.num_rows
    if cfg.keep == "first":
        return np.zeros(n, dtype=np.float64)
    if cfg.keep == "longest":
        lengths = pc.fill_null(pc.utf8_length(table.column(cfg.text_column)), 0)
        return lengths.to_numpy().astype(np.float64)
    column = cfg.date_column if cfg.keep == "newest" else cfg.keep
    if column not in table.column_names:
        what = "date column for keep='newest'" if cfg.keep == "newest" else "score column named by keep"
        raise ConfigError(
            f"MinHashConfig.keep = {cfg.keep!r}: {what} {column!r} is not in the input "
            f"(columns: {', '.join(table.column_names)}); use one of {', '.join(KEEP_RULES)} or an existing column"
        )
    col = table.column(column)
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        col = pc.cast(col, pa.timestamp("us")) if pa.types.is_date(col.type) else col
        col = pc.cast(col, pa.int64())
    values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
    return np.where(np.isnan(values), -np.inf, values)


def sig_column(sig: np.ndarray) -> pa.Array:
    """uint32 [n, P] -> fixed_size_binary(4P) Arrow array (one value per document)."""
    n, p = sig.shape
    buf = pa.py_buffer(np.ascontiguousarray(sig, dtype="<u4").tobytes())
    return pa.Array.from_buffers(pa.binary(4 * p), n, [None, buf])


def sig_matrix(column: pa.Array | pa.ChunkedArray, num_perm: int) -> np.ndarray:
    """Inverse of :func:`sig_column` (null entries read as zeros)."""
    return _fixed_matrix(column, num_perm, "<u4")


def _fixed_matrix(column: pa.Array | pa.ChunkedArray, width: int, dtype: str) -> np.ndarray:
    """fixed_size_binary column of ``width`` values of ``dtype`` per row -> [n, width] array."""
    size = np.dtype(dtype).itemsize * width
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], pa.binary(size))
    if len(column) == 0:
        return np.zeros((0, width), dtype=dtype)
    if column.null_count:
        column = pc.fill_null(column, pa.scalar(b"\0" * size, pa.binary(size)))
    data = np.frombuffer(column.buffers()[1], dtype=np.uint8)
    data = data[column.offset * size : (column.offset + len(column)) * size]
    return data.view(dtype).reshape(len(column), width)


_BAND_MULT = np.uint64(0xD6E8FEB86659FD93)


def band_hashes(sig: np.ndarray, bands: int, rows: int, seed: int) -> np.ndarray:
    """int64 hash of each of the ``bands`` bands of ``rows`` signature values: shape [n, bands]."""
    n = sig.shape[0]
    if sig.shape[1] < bands * rows:
        raise ValueError(f"signatures have {sig.shape[1]} values, need bands*rows = {bands * rows}")
    v = sig[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    h = np.broadcast_to(mix64(np.arange(bands, dtype=np.uint64) + np.uint64(seed)), (n, bands)).copy()
    with np.errstate(over="ignore"):
        for r in range(rows):
            h = h * _BAND_MULT + v[:, :, r]
    return mix64(h).view(np.int64)


def band_matrix(column: pa.Array | pa.ChunkedArray, bands: int) -> np.ndarray:
    """The :data:`BANDS` column -> int64 [n, bands]."""
    return _fixed_matrix(column, bands, "<i8")


def shingle_sets(hashes: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`shingle_hashes` output -> each document's sorted distinct 32-bit shingle hashes.

    Returns (uint32 values, int64 offsets, n+1): the top 32 bits of every 64-bit hash.
    """
    n = len(off) - 1
    doc = np.repeat(np.arange(n, dtype=np.uint64), np.diff(off))
    keys = np.unique((doc << np.uint64(32)) | (hashes >> np.uint64(32)))
    counts = np.bincount((keys >> np.uint64(32)).astype(np.int64), minlength=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32), offsets


def binary_column(data: np.ndarray, offsets: np.ndarray) -> pa.Array:
    """Rows ``data[offsets[i]:offsets[i+1]]`` (a numeric array) -> large_binary, one value per row."""
    itemsize = data.dtype.itemsize
    n = len(offsets) - 1
    return pa.Array.from_buffers(
        pa.large_binary(), n,
        [None, pa.py_buffer((offsets * itemsize).astype(np.int64)), pa.py_buffer(np.ascontiguousarray(data).tobytes())],
    )


def empty_binary(n: int) -> pa.Array:
    """``n`` empty large_binary values (the verification payload of rows that carry none)."""
    return binary_column(np.zeros(0, np.uint8), np.zeros(n + 1, np.int64))


def binary_values(column: pa.Array | pa.ChunkedArray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`binary_column`: (values of ``dtype``, int64 offsets in values, n+1)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], pa.large_binary())
    if column.type != pa.large_binary():
        column = column.cast(pa.large_binary())
    n = len(column)
    if n == 0:
        return np.zeros(0, dtype=dtype), np.zeros(1, np.int64)
    if column.null_count:
        column = pc.fill_null(column, pa.scalar(b"", pa.large_binary()))
    itemsize = np.dtype(dtype).itemsize
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64)[column.offset : column.offset + n + 1]
    data = column.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    raw = raw[offsets[0] : offsets[-1]]
    return raw.view(dtype), (offsets - offsets[0]) // itemsize


_PAIR_CHUNK_ELEMENTS = 1 << 23  # set elements sorted at once when scoring pairs (64 MiB of keys)


def set_jaccard(a: pa.Array | pa.ChunkedArray, b: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Exact Jaccard of row-aligned shingle-set columns (:data:`VERIFY` in ``shingles`` mode).

    Vectorised over pairs: both sets of pair ``i`` become keys ``i << 32 | value``; after one
    sort, equal neighbours are the intersection. Two empty sets have Jaccard 1.
    """
    va, oa = binary_values(a, "<u4")
    vb, ob = binary_values(b, "<u4")
    la, lb = np.diff(oa), np.diff(ob)
    n = len(la)
    inter = np.zeros(n, dtype=np.int64)
    start = 0
    while start < n:
        # a chunk of pairs whose elements fit the budget (at least one pair)
        sizes = np.cumsum(la[start:] + lb[start:])
        stop = start + max(1, int(np.searchsorted(sizes, _PAIR_CHUNK_ELEMENTS, side="right")))
        pair = np.arange(start, stop, dtype=np.uint64)
        ka = (np.repeat(pair, la[start:stop]) << np.uint64(32)) | va[oa[start] : oa[stop]].astype(np.uint64)
        kb = (np.repeat(pair, lb[start:stop]) << np.uint64(32)) | vb[ob[start] : ob[stop]].astype(np.uint64)
        keys = np.sort(np.concatenate((ka, kb)))
        same = keys[1:] == keys[:-1]
        inter += np.bincount((keys[1:][same] >> np.uint64(32)).astype(np.int64), minlength=n)
        start = stop
    union = la + lb - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def pair_similarity(a: pa.Array | pa.ChunkedArray, b: pa.Array | pa.ChunkedArray, cfg: MinHashConfig) -> np.ndarray:
    """Similarity of row-aligned :data:`VERIFY` payloads: exact set Jaccard or signature estimate."""
    if not cfg.verify:
        return np.full(len(a), np.nan)
    if cfg.verify_by == "shingles":
        return set_jaccard(a, b)
    sa, _ = binary_values(a, "<u4")
    sb, _ = binary_values(b, "<u4")
    return estimate_jaccard(sa.reshape(-1, cfg.num_perm), sb.reshape(-1, cfg.num_perm)) if len(a) else np.zeros(0)


def signature_table(table: pa.Table, cfg: MinHashConfig) -> pa.Table:
    """Documents -> (node, doc_id, keep, bands, verify) for every document with a signature.

    The Ray-free core of the signature stage: ``node`` is the stable int64 id of ``doc_id``,
    ``bands`` the B band hashes, ``verify`` what verification compares (see ``verify_by``).
    """
    for col in (cfg.id_column, cfg.text_column):
        if col not in table.column_names:
            raise ConfigError(
                f"fuzzy dedup needs column {col!r}; input has {', '.join(table.column_names)} "
                "(set MinHashConfig.id_column / text_column)"
            )
    hashes, off = shingle_hashes(table.column(cfg.text_column), cfg.ngram)
    sig, has = signatures_from_shingles(hashes, off, cfg.num_perm, cfg.seed)
    keep = keep_values(table, cfg)
    ids = pc.cast(table.column(cfg.id_column), pa.string())
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks else pa.array([], pa.string())
    if ids.null_count:
        raise ValueError(f"fuzzy dedup: {ids.null_count} documents have a null {cfg.id_column!r}; give every document an id")
    idx = np.flatnonzero(has)
    ids = ids.take(pa.array(idx, pa.int64()))
    b, r = cfg.band_rows
    bands = np.ascontiguousarray(band_hashes(sig[idx], b, r, cfg.seed), dtype="<i8")
    if not cfg.verify:
        payload = empty_binary(len(idx))
    elif cfg.verify_by == "signature":
        payload = binary_column(np.ascontiguousarray(sig[idx], dtype="<u4").reshape(-1), np.arange(len(idx) + 1) * cfg.num_perm)
    else:
        values, set_off = shingle_sets(hashes, off)
        payload = binary_column(values, set_off).take(pa.array(idx, pa.int64()))
    return pa.table(
        {
            NODE: pa.array(stable_node_ids(ids), pa.int64()),
            DOC_ID: ids,
            KEEP: pa.array(keep[idx], pa.float64()),
            BANDS: pa.Array.from_buffers(pa.binary(8 * b), len(idx), [None, pa.py_buffer(bands.tobytes())]),
            VERIFY: payload,
        }
    )


def compute_signatures(ds, cfg: MinHashConfig):
    """Ray Data stage: documents -> signature table (see :func:`signature_table`)."""
    columns = [cfg.id_column, cfg.text_column]
    if cfg.keep == "newest":
        columns.append(cfg.date_column)
    elif cfg.keep not in KEEP_RULES:
        columns.append(cfg.keep)
    return ds.select_columns(columns).map_batches(
        signature_table, fn_args=(cfg,), batch_format="pyarrow", batch_size=2048, zero_copy_batch=True
    )


def config_summary(cfg: MinHashConfig) -> dict:
    """Config fields plus resolved B, R (for stats.json)."""
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)} | {"resolved": lsh_summary(cfg)}
