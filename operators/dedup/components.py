"""Connected components of the duplicate graph: large-star / small-star on Ray Data.

Kiveris, Lattanzi, Mirrokni, Rastogi & Vassilvitskii, "Connected Components in MapReduce and
Beyond" (SoCC 2014), the algorithm NeMo Curator's and text-dedup's Spark path use. Nodes are
int64; a component's label is its smallest node. One round is

* **large-star**: for every node ``u`` with neighbourhood ``N(u)`` and ``m = min(N(u) + {u})``,
  replace each edge ``{u, v}`` with ``v > u`` by ``{v, m}``;
* **small-star**: for every node ``u`` with smaller neighbours ``L(u)`` and ``m = min(L(u))``,
  replace each edge ``{u, v}``, ``v in L(u)``, by ``{v, m}`` and keep ``{u, m}``.

Each step groups edges by one endpoint: a hash shuffle keyed by that node (:func:`shuffle_map`,
one block per partition) followed by a vectorised numpy kernel per partition. A step reports how many edges it changed; when a round changes none the graph is a set
of stars ``{leaf, root}`` whose roots are the component minima. The paper proves convergence in
O(log^2 n) rounds and observes O(log n) (a chain of 10^4 nodes: about 14 rounds here). The
convergence check is a ``sum`` aggregate over the round's output (one number on the driver).

Self-loops are not edges: a node whose only edge is a self-loop has no component row.
The same kernels run on one numpy array in :func:`connected_components_local` (the reference
used by tests); :func:`connected_components_scipy` is the driver-side fast path.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

U = "u"
V = "v"
CHANGED = "changed"
NODE = "node"
LABEL = "label"


class ComponentsDidNotConverge(RuntimeError):
    """More than ``max_rounds`` rounds: raise ``MinHashConfig.max_rounds`` (O(log n) are needed)."""


def _unique_pairs(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (u, v) pairs sorted by u then v."""
    if len(u) == 0:
        return u, v
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    keep = np.ones(len(u), dtype=bool)
    keep[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return u[keep], v[keep]


def _segment_min(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by u: (start index of each row's u-segment, min v of that segment) per row."""
    starts = np.flatnonzero(np.concatenate(([True], u[1:] != u[:-1])))
    mins = np.minimum.reduceat(v, starts)
    seg = np.cumsum(np.concatenate(([True], u[1:] != u[:-1]))) - 1
    return starts, mins[seg]


def both_directions(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows keyed by each endpoint (the input of large-star); self-loops dropped."""
    keep = a != b
    a, b = a[keep], b[keep]
    return np.concatenate((a, b)), np.concatenate((b, a))


def large_star(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Large-star on rows ``(u, v)`` holding every neighbour ``v`` of each key ``u`` present.

    Returns edges ``(hi, lo)`` (``hi > lo``, keyed by ``hi`` for small-star) and the number
    of edges changed.
    """
    u, v = _unique_pairs(u, v)
    if len(u) == 0:
        return u, v, 0
    _, m = _segment_min(u, v)
    m = np.minimum(m, u)
    out = v > u
    changed = int(np.count_nonzero(m[out] != u[out]))
    return v[out], m[out], changed


def small_star(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Small-star on rows ``(u, v)`` with ``u > v`` holding every smaller neighbour of each key ``u``.

    Returns edges ``(hi, lo)`` and the number of edges changed.
    """
    u, v = _unique_pairs(u, v)
    if len(u) == 0:
        return u, v, 0
    starts, m = _segment_min(u, v)
    moved = v != m
    changed = int(np.count_nonzero(moved))
    hi = np.concatenate((v[moved], u[starts]))
    lo = np.concatenate((m[moved], m[starts]))
    return hi, lo, changed


def labels_from_stars(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Converged star edges -> (node, label) for every node, sorted by node."""
    nodes = np.concatenate((hi, lo))
    labels = np.concatenate((lo, lo))
    nodes, labels = _unique_pairs(nodes, labels)
    return nodes, labels


def connected_components_local(
    src: np.ndarray, dst: np.ndarray, max_rounds: int = 64
) -> tuple[np.ndarray, np.ndarray, int]:
    """Reference: the distributed rounds on one array. Returns (node, label, rounds)."""
    hi = np.asarray(src, dtype=np.int64)
    lo = np.asarray(dst, dtype=np.int64)
    for rounds in range(1, max_rounds + 1):
        a, b = both_directions(hi, lo)
        hi, lo, c1 = large_star(a, b)
        hi, lo, c2 = small_star(hi, lo)
        if c1 == 0 and c2 == 0:
            nodes, labels = labels_from_stars(hi, lo)
            return nodes, labels, rounds
    raise ComponentsDidNotConverge(f"no convergence after {max_rounds} rounds; raise max_rounds")


def connected_components_scipy(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Driver-side fast path: scipy's connected components, labelled by the smallest node."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    loops = src == dst
    src, dst = src[~loops], dst[~loops]
    nodes, inverse = np.unique(np.concatenate((src, dst)), return_inverse=True)
    if len(nodes) == 0:
        return nodes, nodes.copy()
    a, b = inverse[: len(src)], inverse[len(src) :]
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(len(nodes), len(nodes)))
    _, comp = connected_components(graph, directed=False)
    minimum = np.full(comp.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(minimum, comp, nodes)
    return nodes, minimum[comp]


# ---------------------------------------------------------------- Ray Data adapter


def num_partitions(rows: int, rows_per_partition: int, minimum: int, size_bytes: int = 0,
                   bytes_per_partition: int | None = None) -> int:
    """Shuffle partitions for ``rows`` rows (and ``size_bytes`` bytes): enough for both targets.

    >>> num_partitions(25_000_000, 2_000_000, 2, 1_400 * 2**20, 32 * 2**20)
    44
    """
    by_bytes = math.ceil(size_bytes / bytes_per_partition) if bytes_per_partition else 0
    return max(minimum, math.ceil(rows / max(rows_per_partition, 1)), by_bytes)


SHUFFLE_INPUT_BYTES = 64 * 1024**2
"""Input one hash-shuffle map task takes at most (see :func:`bound_shuffle_inputs`)."""


BLOCK_BYTES = 32 * 1024**2
"""Largest block a dedup job's operators emit (see :func:`bound_block_size`)."""


def bound_block_size(ds, max_bytes: int = BLOCK_BYTES) -> None:
    """Cap the size of the blocks Ray Data builds for ``ds`` and datasets derived from it.

    A read task buffers the documents it parses until a block reaches
    ``DataContext.target_max_block_size`` (128 MiB by default) and only then splits it for
    the requested parallelism: with small input files a block is a whole file, with large
    ones every block reaches the cap, so the reading worker's heap grew with the corpus (the
    1M-document benchmark's largest worker was a read task). Lowers the limit on ``ds``'s
    context and the current one, never raises it.
    """
    from ray.data import DataContext

    for ctx in (ds.context, DataContext.get_current()):
        if ctx.target_max_block_size is not None and ctx.target_max_block_size > max_bytes:
            ctx.target_max_block_size = max_bytes


def bound_shuffle_inputs(ds, max_bytes: int = SHUFFLE_INPUT_BYTES) -> None:
    """Cap how much input a Ray Data hash-shuffle map task coalesces before partitioning it.

    Ray Data's ``SHUFFLE_V2`` batches a shuffle's input blocks into map tasks of up to
    ``DataContext.shuffle_input_batch_bytes`` (1 GiB by default): a small corpus's whole
    shuffle input fits one task, a large one fills every task to 1 GiB, so a worker's heap grew
    with the corpus until that cap (the dedup benchmark's largest worker, at 1M documents). This
    lowers the limit on ``ds``'s context (which datasets derived from it share) and on the
    current one, never raises it; ``<= 0`` (no batching) is left alone.
    """
    from ray.data import DataContext

    for ctx in (ds.context, DataContext.get_current()):
        if ctx.shuffle_input_batch_bytes > max_bytes:
            ctx.shuffle_input_batch_bytes = max_bytes


# ------------------------------------------------------------------------ the hash shuffle
#
# Why not Ray Data's ``repartition(keys=...)`` / ``Dataset.join``: their reduce tasks (SHUFFLE_V2)
# fetch their input shards with ``ray.get`` *inside* the task, holding a CPU while they wait. When
# a worker node dies, the shards it held are recreated by lineage reconstruction, which needs a
# CPU too; once the waiting reducers (and reducers re-run to recreate lost outputs) hold every
# CPU, nothing can run and the job hangs until ``hash_shuffle_reduce_get_timeout_s`` (30 min),
# then fails (tests/test_node_loss.py found it). Here a reduce task takes its shards as task
# *arguments*: Ray starts it only when all of them exist, so a reducer never holds a CPU while a
# lost shard is being recreated, and every object of the shuffle is recreated the way Ray's
# lineage reconstruction is built for (re-run the task, its arguments first).


def partition_ids(table: pa.Table, keys: list[str], partitions: int) -> np.ndarray:
    """Partition (``0 .. partitions-1``) of each row: a hash of its ``keys`` values that is the
    same for equal values in any block, process or machine (pandas' ``hash_array``: SipHash of
    strings and bytes with a fixed key; integers and booleans as int64, null as 0).

    >>> t = pa.table({"k": ["a", "b", "a", None], "n": [1, 2, 1, None]})
    >>> p = partition_ids(t, ["k", "n"], 8)
    >>> bool(p[0] == p[2]), p.dtype.name, bool(((p >= 0) & (p < 8)).all())
    (True, 'int64', True)
    """
    from pandas.util import hash_array

    h = np.zeros(table.num_rows, dtype=np.uint64)
    for key in keys:
        col = table.column(key)
        if pa.types.is_integer(col.type) or pa.types.is_boolean(col.type):
            values = np.asarray(pc.fill_null(pc.cast(col, pa.int64()), 0).to_numpy(), dtype=np.int64)
        elif pa.types.is_floating(col.type):
            values = np.asarray(pc.fill_null(pc.cast(col, pa.float64()), 0.0).to_numpy(), dtype=np.float64)
        else:
            values = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
        with np.errstate(over="ignore"):
            h = h * np.uint64(0x100000001B3) ^ hash_array(values, categorize=False)
    return (h % np.uint64(max(partitions, 1))).astype(np.int64)


def split_by_partition(table: pa.Table, keys: list[str], partitions: int) -> list[pa.Table]:
    """``table``'s rows in ``partitions`` tables by :func:`partition_ids` (empty ones keep the schema).

    >>> [t.num_rows for t in split_by_partition(pa.table({"k": [1, 1, 1]}), ["k"], 3)].count(3)
    1
    """
    if table.num_rows == 0:
        return [table] * partitions
    pid = partition_ids(table, keys, partitions)
    order = np.argsort(pid, kind="stable")
    bounds = np.searchsorted(pid[order], np.arange(partitions + 1))
    return [table.take(pa.array(order[bounds[p] : bounds[p + 1]])) for p in range(partitions)]


def _as_table(block) -> pa.Table:
    if isinstance(block, pa.Table):
        return block
    from ray.data.block import BlockAccessor

    return BlockAccessor.for_block(block).to_arrow()


def _concat(tables: list[pa.Table], schema: pa.Schema | None = None) -> pa.Table:
    """One table of ``tables`` (schemas unified); ``schema``'s empty table when there are none."""
    if not tables:
        return (schema or pa.schema([])).empty_table()
    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]


def _map_task(keys: list[str], partitions: int, *blocks):
    """Shuffle map: some blocks of one input -> one table per partition (a tuple of ``partitions``)."""
    parts = split_by_partition(_concat([_as_table(b) for b in blocks]), keys, partitions)
    return parts[0] if partitions == 1 else tuple(parts)


def _reduce_task(fn, fn_args: tuple, counts: tuple[int, ...], schemas: tuple, *parts):
    """Shuffle reduce: one partition's parts of each input (``counts[i]`` of input ``i``; the
    empty table of ``schemas[i]`` when it has none) -> ``fn``'s table and its row count (two
    returns, so the driver can skip empty partitions without fetching them)."""
    tables, at = [], 0
    for n, schema in zip(counts, schemas):
        tables.append(_concat(list(parts[at : at + n]), schema))
        at += n
    out = fn(*tables, *fn_args)
    return out, out.num_rows


_REMOTE: dict[str, Any] = {}


def _remote(name: str):
    """The shuffle's Ray tasks, made once per process (Ray is imported only when a shuffle runs).
    Lost outputs are recreated by re-running them (lineage reconstruction): a few retries for
    node and worker deaths, none for errors raised by the code."""
    if name not in _REMOTE:
        import ray

        fn = {"map": _map_task, "reduce": _reduce_task}[name]
        _REMOTE[name] = ray.remote(max_retries=SHUFFLE_TASK_RETRIES)(fn)
    return _REMOTE[name]


SHUFFLE_TASK_RETRIES = 10
"""Times a shuffle task is re-run after losing its worker or node (and to recreate lost outputs)."""


def _schema_of(ds) -> pa.Schema:
    schema = ds.schema()
    base = getattr(schema, "base_schema", schema)
    return base if isinstance(base, pa.Schema) else pa.schema([])


def _map_refs(ds, keys: list[str], partitions: int, max_bytes: int, name: str) -> tuple[list[list], pa.Schema | None]:
    """Submit map tasks (task name ``name``) over ``ds``'s non-empty blocks as Ray Data produces
    them (each task takes blocks up to ``max_bytes``): per task, its ``partitions`` output refs;
    and the schema of ``ds`` when it has no rows (else None: the parts carry it)."""
    outs: list[list] = []
    batch: list = []
    size = 0

    def submit() -> None:
        nonlocal batch, size
        if batch:
            refs = _remote("map").options(num_returns=partitions, name=name).remote(keys, partitions, *batch)
            outs.append([refs] if partitions == 1 else list(refs))
            batch, size = [], 0

    for bundle in ds.iter_internal_ref_bundles():
        for ref, meta in zip(bundle.block_refs, bundle.metadata):
            if meta.num_rows == 0:
                continue
            batch.append(ref)
            size += meta.size_bytes or 0
            if size >= max_bytes:
                submit()
    submit()
    return outs, (None if outs else _schema_of(ds))


def shuffle_inputs(inputs: list, keys: list[str], partitions: int, fn, fn_args: tuple = (),
                   max_map_bytes: int = SHUFFLE_INPUT_BYTES):
    """Hash-shuffle each dataset of ``inputs`` by ``keys`` into ``partitions`` partitions and run
    ``fn(part_of_input_0, part_of_input_1, ..., *fn_args)`` once per partition; a materialised
    dataset of ``fn``'s non-empty outputs (one block each; one empty block when all are empty).

    Rows with equal key values land in the same partition, in every input. Map tasks take up
    to ``max_map_bytes`` of input each; reduce tasks get their parts as task arguments (see the
    note above), so the shuffle survives the loss of worker nodes.
    """
    import ray
    import ray.data

    partitions = max(int(partitions), 1)
    # task names as Ray Data's shuffles name theirs (the state API and process titles show them)
    label = f"(keys={tuple(keys)}, partitions={partitions})->{getattr(fn, '__name__', type(fn).__name__)}"
    maps, schemas = [], []
    for ds in inputs:
        outs, schema = _map_refs(ds, keys, partitions, max_map_bytes, f"HashShuffleMap{label}")
        maps.append(outs)
        schemas.append(schema)
    counts = tuple(len(outs) for outs in maps)
    reduce_task = _remote("reduce").options(num_returns=2, name=f"HashShuffleReduce{label}")
    results = [
        reduce_task.remote(fn, fn_args, counts, tuple(schemas), *[o[p] for outs in maps for o in outs])
        for p in range(partitions)
    ]
    del maps  # the reducers hold their parts now; lineage keeps them recreatable
    rows = ray.get([n for _, n in results])
    keep = [t for (t, _), n in zip(results, rows) if n] or [results[0][0]]
    return ray.data.from_arrow_refs(keep)


def shuffle_map(ds, keys: list[str], partitions: int, fn, fn_args: tuple = ()):
    """Hash-shuffle ``ds`` by ``keys`` into ``partitions`` blocks and run ``fn`` on each whole block.

    All rows sharing the key values land in one block, so ``fn`` can group them with numpy.
    Runs at once (the result is materialised); see :func:`shuffle_inputs`.
    """
    return shuffle_inputs([ds], keys, partitions, fn, fn_args)


def shuffle_join(left, right, keys: list[str], partitions: int, fn, fn_args: tuple = ()):
    """Co-partition ``left`` and ``right`` by ``keys`` and run ``fn(left_part, right_part, *fn_args)``
    per partition (a join written as a pyarrow kernel); see :func:`shuffle_inputs`."""
    return shuffle_inputs([left, right], keys, partitions, fn, fn_args)


def column_sum(ds, column: str) -> int:
    """Sum of an integer column, summed per block in tasks and added up here (a Ray Data
    aggregate would shuffle, see the note above)."""
    def block_sum(table: pa.Table) -> pa.Table:
        total = pc.sum(table.column(column)).as_py() if table.num_rows else 0
        return pa.table({"sum": pa.array([int(total or 0)], pa.int64())})

    parts = ds.map_batches(block_sum, batch_format="pyarrow", batch_size=None).take_all()
    return int(sum(row["sum"] for row in parts))


def _int64(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name)
    return col.to_numpy() if col.num_chunks else np.zeros(0, dtype=np.int64)


def _both_directions_table(table: pa.Table) -> pa.Table:
    u, v = both_directions(_int64(table, U), _int64(table, V))
    return pa.table({U: pa.array(u, pa.int64()), V: pa.array(v, pa.int64())})


def _large_star_table(table: pa.Table) -> pa.Table:
    hi, lo, changed = large_star(_int64(table, U), _int64(table, V))
    flags = np.zeros(len(hi), dtype=np.int64)
    if len(flags):
        flags[0] = changed
    return pa.table({U: pa.array(hi, pa.int64()), V: pa.array(lo, pa.int64()), CHANGED: pa.array(flags)})


def _small_star_table(table: pa.Table) -> pa.Table:
    upstream = int(_int64(table, CHANGED).sum()) if table.num_rows else 0
    hi, lo, changed = small_star(_int64(table, U), _int64(table, V))
    flags = np.zeros(len(hi), dtype=np.int64)
    if len(flags):
        flags[0] = changed + upstream  # carries large-star's count into the round's one sum
    return pa.table({U: pa.array(hi, pa.int64()), V: pa.array(lo, pa.int64()), CHANGED: pa.array(flags)})


def _star_labels_table(table: pa.Table) -> pa.Table:
    hi, lo = _int64(table, U), _int64(table, V)
    return pa.table({NODE: pa.array(np.concatenate((hi, lo)), pa.int64()), LABEL: pa.array(np.concatenate((lo, lo)), pa.int64())})


def _unique_labels_table(table: pa.Table) -> pa.Table:
    nodes, labels = _unique_pairs(_int64(table, NODE), _int64(table, LABEL))
    return pa.table({NODE: pa.array(nodes, pa.int64()), LABEL: pa.array(labels, pa.int64())})


def star_rounds(edges, partitions: int, max_rounds: int = 64):
    """Run large-star/small-star rounds on a Ray dataset of edges ``(u, v)`` (int64).

    Returns ``(stars, rounds)``: ``stars`` is the materialised converged edge set ``(u, v)``,
    ``u`` a leaf and ``v`` its component's smallest node.
    """
    current = edges.select_columns([U, V])
    for rounds in range(1, max_rounds + 1):
        rows = current.map_batches(_both_directions_table, batch_format="pyarrow", zero_copy_batch=True)
        ls = shuffle_map(rows, [U], partitions, _large_star_table)
        ss = shuffle_map(ls, [U], partitions, _small_star_table)
        changed = column_sum(ss, CHANGED)
        current = ss.select_columns([U, V])
        if not changed:
            return current, rounds
    raise ComponentsDidNotConverge(f"no convergence after {max_rounds} rounds; raise MinHashConfig.max_rounds")


def star_label_rows(stars):
    """(node, label) rows of converged stars; roots appear once per leaf (deduplicate downstream)."""
    return stars.map_batches(_star_labels_table, batch_format="pyarrow", zero_copy_batch=True)


def connected_components(edges, partitions: int = 2, max_rounds: int = 64):
    """Distributed connected components of a Ray dataset of edges ``(u, v)`` (int64 columns).

    Returns ``(labels, rounds)``: a materialised dataset ``(node, label)`` with one row per node
    that has an edge, ``label`` = smallest node of its component.
    """
    stars, rounds = star_rounds(edges, partitions, max_rounds)
    labels = shuffle_map(star_label_rows(stars), [NODE], partitions, _unique_labels_table).materialize()
    return labels, rounds
