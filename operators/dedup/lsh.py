"""LSH banding, bucket shuffle, star edges and candidate verification.

Mining of Massive Datasets, ch. 3.4 (banding); star edges to the smallest member of a bucket as
in NeMo Curator's ``buckets_to_edges``; verification by exact shingle-set Jaccard (or, with
``verify_by: signature``, by signature Jaccard as text-dedup's optional check). Three hash
shuffles, none of them through the driver:

1. bucket rows ``(band, band_hash, node)`` keyed by ``(band, band_hash)``: each partition sorts its
   rows and emits edges ``(smallest node of the bucket, member)``;
2. edges keyed by ``src`` together with the signature rows keyed by ``node``: each partition
   de-duplicates its edges (a pair found in several bands once) and attaches ``src``'s
   verification payload (shingle set or signature);
3. those half-joined edges keyed by ``dst`` with the signature rows: each partition computes the
   pair's similarity.

Payloads are shuffled twice (steps 2 and 3), never once per band.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.dedup.components import shuffle_map
from operators.dedup.minhash import (
    BANDS,
    DOC_ID,
    KEEP,
    NODE,
    VERIFY,
    MinHashConfig,
    band_hashes,  # noqa: F401  (re-exported: the banding belongs to this stage's API)
    band_matrix,
    empty_binary,
    pair_similarity,
)

BAND = "band"
BAND_HASH = "band_hash"
SRC = "src"
DST = "dst"
OTHER = "other"
KEY = "key"
SIMILARITY = "similarity"
SRC_ID, DST_ID, SRC_KEEP, DST_KEEP = "src_id", "dst_id", "src_keep", "dst_keep"
DROPPED = "dropped"

def bucket_rows(table: pa.Table, cfg: MinHashConfig) -> pa.Table:
    """Signature table -> one ``(band, band_hash, node)`` row per document and band."""
    b, _ = cfg.band_rows
    nodes = table.column(NODE).to_numpy() if table.num_rows else np.zeros(0, np.int64)
    hashes = band_matrix(table.column(BANDS), b)
    return pa.table(
        {
            BAND: pa.array(np.tile(np.arange(b, dtype=np.int32), len(nodes)), pa.int32()),
            BAND_HASH: pa.array(hashes.reshape(-1), pa.int64()),
            NODE: pa.array(np.repeat(nodes, b), pa.int64()),
        }
    )


def star_edges(
    band: np.ndarray, band_hash: np.ndarray, node: np.ndarray, max_edges: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Edges ``(smallest node of the bucket, member)`` for every bucket with 2+ members.

    ``max_edges`` caps the edges of one bucket (the smallest members win). Returns
    (src, dst, number of edges dropped by the cap).
    """
    if len(node) == 0:
        return node, node, 0
    order = np.lexsort((node, band_hash, band))
    band, band_hash, node = band[order], band_hash[order], node[order]
    new = np.ones(len(node), dtype=bool)
    new[1:] = (band[1:] != band[:-1]) | (band_hash[1:] != band_hash[:-1])
    starts = np.flatnonzero(new)
    seg = np.cumsum(new) - 1
    rank = np.arange(len(node)) - starts[seg]
    center = node[starts][seg]
    member = (rank > 0) & (node != center)
    dropped = 0
    if max_edges is not None:
        capped = member & (rank > max_edges)
        dropped = int(np.count_nonzero(capped))
        member &= ~capped
    return center[member], node[member], dropped


def _star_edges_table(table: pa.Table, cfg: MinHashConfig) -> pa.Table:
    if table.num_rows == 0:
        return pa.table({SRC: pa.array([], pa.int64()), DST: pa.array([], pa.int64()), DROPPED: pa.array([], pa.int64())})
    src, dst, dropped = star_edges(
        table.column(BAND).to_numpy(),
        table.column(BAND_HASH).to_numpy(),
        table.column(NODE).to_numpy(),
        cfg.max_edges_per_bucket,
    )
    flags = np.zeros(len(src), dtype=np.int64)
    if len(src):
        flags[0] = dropped
    return pa.table({SRC: pa.array(src, pa.int64()), DST: pa.array(dst, pa.int64()), DROPPED: pa.array(flags)})


def candidate_edges(signatures, cfg: MinHashConfig, partitions: int):
    """Ray Data: signature table -> star edges ``(src, dst, dropped)`` through the bucket shuffle.

    ``dropped`` is nonzero on at most one row per partition: the edges the per-bucket cap removed.
    """
    rows = signatures.map_batches(bucket_rows, fn_args=(cfg,), batch_format="pyarrow", zero_copy_batch=True)
    return shuffle_map(rows, [BAND, BAND_HASH], partitions, _star_edges_table, (cfg,))


# ------------------------------------------------------------ verification (two co-partitioned joins)


def _join_schema(cfg: MinHashConfig) -> pa.Schema:
    return pa.schema(
        [
            pa.field(KEY, pa.int64()),
            pa.field(OTHER, pa.int64()),
            pa.field(VERIFY, pa.large_binary()),
            pa.field(DOC_ID, pa.string()),
            pa.field(KEEP, pa.float64()),
        ]
    )


def signature_join_rows(table: pa.Table, cfg: MinHashConfig) -> pa.Table:
    """Signature table -> rows of the join schema (``other`` null marks a signature row)."""
    return pa.table(
        [table.column(NODE), pa.nulls(table.num_rows, pa.int64()), table.column(VERIFY), table.column(DOC_ID), table.column(KEEP)],
        schema=_join_schema(cfg),
    )


def edge_join_rows(table: pa.Table, cfg: MinHashConfig) -> pa.Table:
    """Edges ``(src, dst)`` -> join-schema rows keyed by ``src``."""
    n = table.num_rows
    return pa.table(
        [table.column(SRC), table.column(DST), empty_binary(n), pa.nulls(n, pa.string()), pa.nulls(n, pa.float64())],
        schema=_join_schema(cfg),
    )


def _split(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    is_edge = pc.is_valid(table.column(OTHER))
    return table.filter(is_edge), table.filter(pc.invert(is_edge))


def _lookup(sig_rows: pa.Table, keys: np.ndarray) -> tuple[np.ndarray, pa.Table]:
    """Index into ``sig_rows`` (sorted here) for each key; -1 where absent."""
    if sig_rows.num_rows == 0:
        return np.full(len(keys), -1, dtype=np.int64), sig_rows
    nodes = sig_rows.column(KEY).to_numpy()
    order = np.argsort(nodes, kind="stable")
    sorted_nodes = nodes[order]
    pos = np.minimum(np.searchsorted(sorted_nodes, keys), len(sorted_nodes) - 1)
    found = sorted_nodes[pos] == keys
    return np.where(found, order[pos], -1), sig_rows


def attach_source(table: pa.Table, cfg: MinHashConfig) -> pa.Table:
    """Join step 1 (partition keyed by ``src``): distinct edges carrying ``src``'s signature, keyed by ``dst``."""
    edges, sigs = _split(table)
    src = edges.column(KEY).to_numpy() if edges.num_rows else np.zeros(0, np.int64)
    dst = edges.column(OTHER).to_numpy() if edges.num_rows else np.zeros(0, np.int64)
    if len(src):
        order = np.lexsort((dst, src))
        src, dst = src[order], dst[order]
        keep = np.ones(len(src), dtype=bool)
        keep[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
        src, dst = src[keep], dst[keep]
    idx, sigs = _lookup(sigs, src)
    ok = idx >= 0
    take = pa.array(idx[ok], pa.int64())
    return pa.table(
        [
            pa.array(dst[ok], pa.int64()),
            pa.array(src[ok], pa.int64()),
            sigs.column(VERIFY).take(take),
            sigs.column(DOC_ID).take(take),
            sigs.column(KEEP).take(take),
        ],
        schema=_join_schema(cfg),
    )


def _verified_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field(SRC, pa.int64()),
            pa.field(DST, pa.int64()),
            pa.field(SIMILARITY, pa.float64()),
            pa.field(SRC_ID, pa.string()),
            pa.field(DST_ID, pa.string()),
            pa.field(SRC_KEEP, pa.float64()),
            pa.field(DST_KEEP, pa.float64()),
        ]
    )


def score_pairs(table: pa.Table, cfg: MinHashConfig) -> pa.Table:
    """Join step 2 (partition keyed by ``dst``): every candidate pair with its similarity (``verify_by``)."""
    half, sigs = _split(table)
    dst = half.column(KEY).to_numpy() if half.num_rows else np.zeros(0, np.int64)
    idx, sigs = _lookup(sigs, dst)
    ok = idx >= 0
    half = half.filter(pa.array(ok))
    take = pa.array(idx[ok], pa.int64())
    similarity = pair_similarity(half.column(VERIFY), sigs.column(VERIFY).take(take), cfg)
    return pa.table(
        [
            half.column(OTHER),
            half.column(KEY),
            pa.array(similarity, pa.float64()),
            half.column(DOC_ID),
            sigs.column(DOC_ID).take(take),
            half.column(KEEP),
            sigs.column(KEEP).take(take),
        ],
        schema=_verified_schema(),
    )


def scored_pairs(edges, signatures, cfg: MinHashConfig, partitions: int):
    """Ray Data: candidate edges + signature table -> distinct pairs with similarity and both docs' ids/keep values."""
    sig_rows = signatures.map_batches(signature_join_rows, fn_args=(cfg,), batch_format="pyarrow", zero_copy_batch=True)
    edge_rows = edges.map_batches(edge_join_rows, fn_args=(cfg,), batch_format="pyarrow", zero_copy_batch=True)
    half = shuffle_map(edge_rows.union(sig_rows), [KEY], partitions, attach_source, (cfg,))
    return shuffle_map(half.union(sig_rows), [KEY], partitions, score_pairs, (cfg,))
