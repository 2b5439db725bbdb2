"""Global fuzzy dedup: signatures -> LSH buckets -> verified pairs -> components -> keep one per cluster.

DESIGN.md, "Global fuzzy dedup". The Ray Data stage :func:`fuzzy_dedup` chains
:mod:`~operators.dedup.minhash`, :mod:`~operators.dedup.lsh` and
:mod:`~operators.dedup.components`; :func:`fuzzy_dedup_table` runs the same kernels on one Arrow
table without Ray (the reference used by tests, and handy on small inputs).

What the driver holds: a few counts, the cluster-size histogram and, only when the verified
pairs number at most ``MinHashConfig.local_fast_path_max_edges``, those pairs (the local fast
path: scipy components on the driver). Everything else stays in Ray's object store, partitioned.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.dedup import components as cc
from operators.dedup.lsh import (
    DROPPED,
    DST,
    DST_ID,
    DST_KEEP,
    SIMILARITY,
    SRC,
    SRC_ID,
    SRC_KEEP,
    candidate_edges,
    scored_pairs,
    star_edges,
    _verified_schema,
)
from operators.dedup.minhash import (
    BANDS,
    DOC_ID,
    KEEP,
    VERIFY,
    MinHashConfig,
    band_matrix,
    compute_signatures,
    lsh_summary,
    pair_similarity,
    signature_table,
)

FUZZY_DUPLICATE = "fuzzy_duplicate"  # reject reason the pipeline gives the rows this stage returns

ID = "id"
CLUSTER_ID = "cluster_id"
KEPT_ID = "kept_id"
CLUSTER_SIZE = "cluster_size"
DUPLICATES_SCHEMA = pa.schema([pa.field(ID, pa.string()), pa.field(CLUSTER_ID, pa.string()), pa.field(KEPT_ID, pa.string())])
_MEMBERS_SCHEMA = pa.schema(list(DUPLICATES_SCHEMA) + [pa.field(CLUSTER_SIZE, pa.int64())])
_LABEL = cc.LABEL
_NODE = cc.NODE


def resolve_clusters(label: np.ndarray, doc_id: pa.Array, keep: np.ndarray) -> pa.Table:
    """One row per member: ``(id, cluster_id, kept_id, cluster_size)``.

    ``cluster_id`` is the smallest id of the component; ``kept_id`` the member with the highest
    ``keep`` value, ties to the smallest id. Rows must be distinct documents.
    """
    t = pa.table({_LABEL: pa.array(label, pa.int64()), DOC_ID: doc_id, KEEP: pa.array(keep, pa.float64())})
    if t.num_rows == 0:
        return _MEMBERS_SCHEMA.empty_table()
    by_keep = t.take(pc.sort_indices(t, [(_LABEL, "ascending"), (KEEP, "descending"), (DOC_ID, "ascending")]))
    by_id = t.take(pc.sort_indices(t, [(_LABEL, "ascending"), (DOC_ID, "ascending")]))
    labels = by_keep.column(_LABEL).to_numpy()
    new = np.ones(len(labels), dtype=bool)
    new[1:] = labels[1:] != labels[:-1]
    starts = np.flatnonzero(new)
    seg = np.cumsum(new) - 1
    sizes = np.diff(np.append(starts, len(labels)))
    kept = by_keep.column(DOC_ID).take(pa.array(starts[seg]))
    cluster = by_id.column(DOC_ID).take(pa.array(starts[seg]))
    return pa.table(
        [by_keep.column(DOC_ID), cluster, kept, pa.array(sizes[seg], pa.int64())], schema=_MEMBERS_SCHEMA
    )


def _node_attributes(pairs: pa.Table) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """Distinct (node, doc_id, keep) of the endpoints of ``pairs``."""
    nodes = np.concatenate((pairs.column(SRC).to_numpy(), pairs.column(DST).to_numpy()))
    ids = pa.concat_arrays([pairs.column(SRC_ID).combine_chunks(), pairs.column(DST_ID).combine_chunks()])
    keep = np.concatenate((pairs.column(SRC_KEEP).to_numpy(), pairs.column(DST_KEEP).to_numpy()))
    nodes, first = np.unique(nodes, return_index=True)
    return nodes, ids.take(pa.array(first)), keep[first]


def resolve_pairs_local(pairs: pa.Table) -> pa.Table:
    """Verified pairs (all of them, in memory) -> members table, via scipy components."""
    if pairs.num_rows == 0:
        return _MEMBERS_SCHEMA.empty_table()
    pairs = pairs.combine_chunks()
    nodes, ids, keep = _node_attributes(pairs)
    cnodes, labels = cc.connected_components_scipy(pairs.column(SRC).to_numpy(), pairs.column(DST).to_numpy())
    # both are sorted unique node arrays over the same set
    return resolve_clusters(labels, ids, keep)


def _verified(pairs: pa.Table, cfg: MinHashConfig) -> pa.Table:
    if not cfg.verify:
        return pairs
    return pairs.filter(pc.greater_equal(pairs.column(SIMILARITY), cfg.threshold - 1e-9))


def _verification(cfg: MinHashConfig) -> str:
    """How candidate pairs were verified, for stats.json: ``shingles``, ``signature`` or ``none``."""
    return cfg.verify_by if cfg.verify else "none"


def _histogram(sizes: list[tuple[int, int]]) -> dict[str, int]:
    return {str(size): int(count) for size, count in sorted(sizes)}


def fuzzy_dedup_table(table: pa.Table, cfg: MinHashConfig) -> tuple[pa.Table, dict]:
    """Ray-free reference of :func:`fuzzy_dedup` on one table: (duplicates table, stats)."""
    sigs = signature_table(table, cfg)
    b, _ = cfg.band_rows
    nodes = sigs.column(_NODE).to_numpy() if sigs.num_rows else np.zeros(0, np.int64)
    hashes = band_matrix(sigs.column(BANDS), b)
    src, dst, dropped = star_edges(
        np.tile(np.arange(b), len(nodes)), hashes.reshape(-1), np.repeat(nodes, b), cfg.max_edges_per_bucket
    )
    src, dst = cc._unique_pairs(src, dst)
    order = np.argsort(nodes)
    si = order[np.searchsorted(nodes[order], src)]
    di = order[np.searchsorted(nodes[order], dst)]
    pairs = pa.table(
        {
            SRC: pa.array(src, pa.int64()),
            DST: pa.array(dst, pa.int64()),
            SIMILARITY: pa.array(
                pair_similarity(sigs.column(VERIFY).take(pa.array(si, pa.int64())),
                                sigs.column(VERIFY).take(pa.array(di, pa.int64())), cfg),
                pa.float64(),
            ),
            SRC_ID: sigs.column(DOC_ID).take(pa.array(si, pa.int64())),
            DST_ID: sigs.column(DOC_ID).take(pa.array(di, pa.int64())),
            SRC_KEEP: sigs.column(KEEP).take(pa.array(si, pa.int64())),
            DST_KEEP: sigs.column(KEEP).take(pa.array(di, pa.int64())),
        }
    )
    verified = _verified(pairs, cfg)
    members = resolve_pairs_local(verified)
    dups = members.filter(pc.not_equal(members.column(ID), members.column(KEPT_ID)))
    kept_sizes = members.filter(pc.equal(members.column(ID), members.column(KEPT_ID))).column(CLUSTER_SIZE).to_pylist()
    sizes, counts = np.unique(np.array(kept_sizes, dtype=np.int64), return_counts=True)
    stats = {
        "documents_with_signature": sigs.num_rows,
        **lsh_summary(cfg),
        "verification": _verification(cfg),
        "candidate_pairs": pairs.num_rows,
        "verified_pairs": verified.num_rows,
        "edges_dropped_by_bucket_cap": dropped,
        "components": len(kept_sizes),
        "duplicates": dups.num_rows,
        "cluster_size_histogram": _histogram(list(zip(sizes.tolist(), counts.tolist()))),
        "components_path": "local",
        "rounds": 0,
    }
    return dups.select([ID, CLUSTER_ID, KEPT_ID]), stats


# ------------------------------------------------------------------ Ray Data stage


def _filter_verified(table: pa.Table, cfg: MinHashConfig) -> pa.Table:
    return _verified(table, cfg)


def _pairs_to_edges(table: pa.Table) -> pa.Table:
    return pa.table({cc.U: table.column(SRC), cc.V: table.column(DST)})


_ATTACH_SCHEMA = pa.schema(
    [pa.field(_NODE, pa.int64()), pa.field(_LABEL, pa.int64()), pa.field(DOC_ID, pa.string()), pa.field(KEEP, pa.float64())]
)


def _label_attach_rows(table: pa.Table) -> pa.Table:
    n = table.num_rows
    return pa.table(
        [table.column(_NODE), table.column(_LABEL), pa.nulls(n, pa.string()), pa.nulls(n, pa.float64())], schema=_ATTACH_SCHEMA
    )


def _attribute_attach_rows(table: pa.Table) -> pa.Table:
    n = table.num_rows
    return pa.table(
        [
            pa.concat_arrays([table.column(SRC).combine_chunks(), table.column(DST).combine_chunks()]),
            pa.nulls(2 * n, pa.int64()),
            pa.concat_arrays([table.column(SRC_ID).combine_chunks(), table.column(DST_ID).combine_chunks()]),
            pa.concat_arrays([table.column(SRC_KEEP).combine_chunks(), table.column(DST_KEEP).combine_chunks()]),
        ],
        schema=_ATTACH_SCHEMA,
    )


def _attach_labels(table: pa.Table) -> pa.Table:
    """Partition keyed by node: label rows + attribute rows -> one (node, label, doc_id, keep) per node."""
    has_label = pc.is_valid(table.column(_LABEL))
    labels = table.filter(has_label)
    attrs = table.filter(pc.invert(has_label))
    ln = labels.column(_NODE).to_numpy() if labels.num_rows else np.zeros(0, np.int64)
    ll = labels.column(_LABEL).to_numpy() if labels.num_rows else np.zeros(0, np.int64)
    an = attrs.column(_NODE).to_numpy() if attrs.num_rows else np.zeros(0, np.int64)
    ln, first_l = np.unique(ln, return_index=True)
    an, first_a = np.unique(an, return_index=True)
    common, li, ai = np.intersect1d(ln, an, assume_unique=True, return_indices=True)
    take = pa.array(first_a[ai], pa.int64())
    return pa.table(
        [
            pa.array(common, pa.int64()),
            pa.array(ll[first_l[li]], pa.int64()),
            attrs.column(DOC_ID).take(take),
            attrs.column(KEEP).take(take),
        ],
        schema=_ATTACH_SCHEMA,
    )


def _resolve_partition(table: pa.Table) -> pa.Table:
    if table.num_rows == 0:
        return _MEMBERS_SCHEMA.empty_table()
    return resolve_clusters(table.column(_LABEL).to_numpy(), table.column(DOC_ID).combine_chunks(), table.column(KEEP).to_numpy())


def _only_duplicates(table: pa.Table) -> pa.Table:
    dups = table.filter(pc.not_equal(table.column(ID), table.column(KEPT_ID)))
    return dups.select([ID, CLUSTER_ID, KEPT_ID])


def _block_histogram(table: pa.Table) -> pa.Table:
    kept = table.filter(pc.equal(table.column(ID), table.column(KEPT_ID)))
    sizes, counts = np.unique(kept.column(CLUSTER_SIZE).to_numpy(), return_counts=True) if kept.num_rows else ([], [])
    return pa.table({CLUSTER_SIZE: pa.array(sizes, pa.int64()), "clusters": pa.array(counts, pa.int64())})


def _merge_histograms(rows: list[dict]) -> list[tuple[int, int]]:
    total: dict[int, int] = {}
    for row in rows:
        total[int(row[CLUSTER_SIZE])] = total.get(int(row[CLUSTER_SIZE]), 0) + int(row["clusters"])
    return sorted(total.items())


def _from_arrow(table: pa.Table):
    import ray.data

    return ray.data.from_arrow(table)


def fuzzy_dedup(ds, cfg: MinHashConfig) -> tuple:
    """Near-duplicate documents of ``ds`` (alive documents with id, text and the keep column).

    Returns ``(duplicates, stats)``: ``duplicates`` is a materialised Ray dataset of the rows to
    drop, ``(id, cluster_id, kept_id)`` (string columns, ids cast to string); ``stats`` holds
    B, R, the S-curve, the verification mode, candidate and verified pair counts, components, duplicates, the
    cluster-size histogram ``{size: clusters}``, CC rounds and the path taken.
    """
    started = time.perf_counter()
    b, r = cfg.band_rows
    cc.bound_shuffle_inputs(ds)
    sigs = compute_signatures(ds, cfg).materialize()
    n_docs = sigs.count()
    partitions = cc.num_partitions(n_docs * b, cfg.rows_per_partition, cfg.min_partitions,
                                   sigs.size_bytes() if n_docs else 0, cfg.bytes_per_partition)
    stats: dict = {"documents_with_signature": n_docs, **lsh_summary(cfg), "verification": _verification(cfg),
                   "partitions": partitions}
    empty = {"candidate_pairs": 0, "verified_pairs": 0, "edges_dropped_by_bucket_cap": 0, "components": 0,
             "duplicates": 0, "cluster_size_histogram": {}, "components_path": "local", "rounds": 0}
    if n_docs < 2:
        stats |= empty | {"wall_time_s": round(time.perf_counter() - started, 3)}
        return _from_arrow(DUPLICATES_SCHEMA.empty_table()).materialize(), stats

    edges = candidate_edges(sigs, cfg, partitions).materialize()
    stats["edges_dropped_by_bucket_cap"] = cc.column_sum(edges, DROPPED) if edges.count() else 0
    if edges.count() == 0:
        stats |= {k: v for k, v in empty.items() if k != "edges_dropped_by_bucket_cap"}
        stats["wall_time_s"] = round(time.perf_counter() - started, 3)
        return _from_arrow(DUPLICATES_SCHEMA.empty_table()).materialize(), stats
    pairs = scored_pairs(edges, sigs, cfg, partitions).materialize()
    stats["candidate_pairs"] = pairs.count()
    verified = pairs.map_batches(_filter_verified, fn_args=(cfg,), batch_format="pyarrow").materialize()
    n_verified = verified.count()
    stats["verified_pairs"] = n_verified

    if n_verified <= cfg.local_fast_path_max_edges:
        import ray

        tables = [t for t in ray.get(verified.to_arrow_refs()) if t.num_rows]
        local = pa.concat_tables(tables) if tables else _verified_schema().empty_table()
        members = _from_arrow(resolve_pairs_local(local)).materialize()
        stats |= {"components_path": "local", "rounds": 0}
    else:
        # these shuffles carry edges (and the two ends' ids), never payloads: sized by edge rows
        cc_partitions = cc.num_partitions(2 * n_verified, cfg.rows_per_partition, cfg.min_partitions)
        stars, rounds = cc.star_rounds(
            verified.map_batches(_pairs_to_edges, batch_format="pyarrow"), cc_partitions, cfg.max_rounds
        )
        label_rows = cc.star_label_rows(stars).map_batches(_label_attach_rows, batch_format="pyarrow")
        attr_rows = verified.map_batches(_attribute_attach_rows, batch_format="pyarrow")
        attached = cc.shuffle_map(label_rows.union(attr_rows), [_NODE], cc_partitions, _attach_labels)
        members = cc.shuffle_map(attached, [_LABEL], cc_partitions, _resolve_partition).materialize()
        stats |= {"components_path": "distributed", "rounds": rounds, "components_partitions": cc_partitions}

    sizes = _merge_histograms(members.map_batches(_block_histogram, batch_format="pyarrow").take_all())
    duplicates = members.map_batches(_only_duplicates, batch_format="pyarrow").materialize()
    stats["components"] = sum(c for _, c in sizes)
    stats["duplicates"] = duplicates.count()
    stats["cluster_size_histogram"] = _histogram(sizes)
    stats["wall_time_s"] = round(time.perf_counter() - started, 3)
    return duplicates, stats
