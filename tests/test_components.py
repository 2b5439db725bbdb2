"""Connected components: large-star/small-star rounds vs scipy (numpy reference and Ray Data)."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as scipy_cc

from operators.dedup.components import (
    ComponentsDidNotConverge,
    connected_components,
    connected_components_local,
    connected_components_scipy,
    bound_block_size,
    bound_shuffle_inputs,
    large_star,
    num_partitions,
    small_star,
)


def _scipy_partition(src, dst):
    """Reference: node -> smallest node of its component, straight from scipy (self-loops are not edges)."""
    keep = src != dst
    src, dst = src[keep], dst[keep]
    nodes, inv = np.unique(np.concatenate((src, dst)), return_inverse=True)
    g = coo_matrix((np.ones(len(src)), (inv[: len(src)], inv[len(src) :])), shape=(len(nodes), len(nodes)))
    _, comp = scipy_cc(g, directed=False)
    smallest = {}
    for node, c in zip(nodes.tolist(), comp.tolist()):
        smallest[c] = min(smallest.get(c, node), node)
    return {node: smallest[c] for node, c in zip(nodes.tolist(), comp.tolist())}


def _graphs():
    rng = np.random.default_rng(5)
    chain = rng.permutation(3000).astype(np.int64) * 13 - 10_000
    yield "chain", chain[:-1], chain[1:]
    yield "star", np.full(500, 77, np.int64), rng.choice(10**6, 500, replace=False).astype(np.int64)
    leaves = rng.choice(10**6, 500, replace=False).astype(np.int64)
    yield "star_center_largest", leaves, np.full(500, 10**7, np.int64)
    a = rng.integers(-(2**62), 2**62, 2000)
    yield "many_small", a, a + rng.integers(1, 4, 2000)
    yield "giant", rng.integers(0, 800, 4000), rng.integers(0, 800, 4000)
    yield "sparse_random", rng.integers(0, 5000, 2500), rng.integers(0, 5000, 2500)
    yield "self_loops_and_duplicates", np.array([1, 1, 2, 2, 5]), np.array([1, 2, 1, 2, 6])


@pytest.mark.parametrize("name,src,dst", list(_graphs()), ids=[g[0] for g in _graphs()])
def test_local_rounds_and_fast_path_equal_scipy(name, src, dst):
    expected = _scipy_partition(src, dst)
    nodes, labels, rounds = connected_components_local(src, dst)
    assert dict(zip(nodes.tolist(), labels.tolist())) == expected
    fnodes, flabels = connected_components_scipy(src, dst)
    assert dict(zip(fnodes.tolist(), flabels.tolist())) == expected
    assert rounds <= 4 * np.log2(len(expected) + 2)  # O(log n) rounds in practice


def test_round_kernels_by_hand():
    # path 3-1-2 (edges keyed by both ends): large-star at 3 links 3's larger neighbours to min 1
    u = np.array([1, 2, 1, 3])
    v = np.array([2, 1, 3, 1])
    hi, lo, changed = large_star(u, v)
    assert sorted(zip(hi.tolist(), lo.tolist())) == [(2, 1), (3, 1)] and changed == 0
    # small-star: node 5 with smaller neighbours 2 and 4 -> 4 attaches to 2, 5 keeps 2
    hi, lo, changed = small_star(np.array([5, 5]), np.array([4, 2]))
    assert sorted(zip(hi.tolist(), lo.tolist())) == [(4, 2), (5, 2)] and changed == 1


def test_max_rounds_is_enforced():
    chain = np.arange(1000)
    with pytest.raises(ComponentsDidNotConverge, match="max_rounds"):
        connected_components_local(chain[:-1][::-1], chain[1:][::-1], max_rounds=1)


def test_partitions_follow_rows_and_bytes():
    # rows alone, the floor, then bytes taking over: a partition never exceeds either target
    assert num_partitions(10, 2_000_000, 2) == 2
    assert num_partitions(25_000_000, 2_000_000, 2) == 13
    assert num_partitions(2_500_000, 2_000_000, 2, size_bytes=140 * 2**20, bytes_per_partition=32 * 2**20) == 5
    for docs in (10**5, 10**6, 10**7):
        size = docs * 1_400
        parts = num_partitions(docs * 25, 2_000_000, 2, size, 32 * 2**20)
        assert size / parts <= 32 * 2**20 and docs * 25 / parts <= 2_000_000


def test_shuffle_inputs_are_bounded_never_raised():
    from types import SimpleNamespace

    from ray.data import DataContext

    current = DataContext.get_current()
    saved = current.shuffle_input_batch_bytes
    try:
        big, unbatched = DataContext(), DataContext()
        big.shuffle_input_batch_bytes, unbatched.shuffle_input_batch_bytes = 1 << 30, 0
        current.shuffle_input_batch_bytes = 1 << 20
        bound_shuffle_inputs(SimpleNamespace(context=big), 64 << 20)
        bound_shuffle_inputs(SimpleNamespace(context=unbatched), 64 << 20)
        assert big.shuffle_input_batch_bytes == 64 << 20  # Ray's 1 GiB default lowered
        assert unbatched.shuffle_input_batch_bytes == 0  # no batching stays no batching
        assert current.shuffle_input_batch_bytes == 1 << 20  # a smaller limit is kept
    finally:
        current.shuffle_input_batch_bytes = saved


def test_block_size_is_bounded_never_raised():
    from types import SimpleNamespace

    from ray.data import DataContext

    current = DataContext.get_current()
    saved = current.target_max_block_size
    try:
        big, unlimited = DataContext(), DataContext()
        big.target_max_block_size, unlimited.target_max_block_size = 128 << 20, None
        current.target_max_block_size = 1 << 20
        bound_block_size(SimpleNamespace(context=big), 32 << 20)
        bound_block_size(SimpleNamespace(context=unlimited), 32 << 20)
        assert big.target_max_block_size == 32 << 20  # Ray's 128 MiB default lowered
        assert unlimited.target_max_block_size is None  # an explicit "no limit" is left alone
        assert current.target_max_block_size == 1 << 20  # a smaller limit is kept
    finally:
        current.target_max_block_size = saved


@pytest.fixture(scope="module")
def ray_cluster():
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    ray.init(num_cpus=2, object_store_memory=150 * 1024**2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_distributed_components_equal_scipy(ray_cluster):
    """One distributed run over the disjoint union of a chain, a star, many small components and a
    giant random component (components are independent, so each shape is checked at once)."""
    rng = np.random.default_rng(9)
    chain = rng.permutation(200).astype(np.int64) + 10_000
    star_leaves = rng.choice(10**6, 150, replace=False).astype(np.int64) + 100_000
    small = rng.choice(10**6, 300, replace=False).astype(np.int64) * 3 + 2 * 10**6
    giant_src, giant_dst = rng.integers(0, 300, 600), rng.integers(0, 300, 600)
    src = np.concatenate((chain[:-1], np.full(150, 100_000 + 10**6), small, giant_src))
    dst = np.concatenate((chain[1:], star_leaves, small + 1, giant_dst))
    ds = ray_cluster.data.from_arrow(pa.table({"u": src, "v": dst})).repartition(4)
    labels, rounds = connected_components(ds, partitions=3)
    rows = labels.take_all()
    got = {r["node"]: r["label"] for r in rows}
    assert len(rows) == len(got)  # one row per node
    assert got == _scipy_partition(src, dst)
    assert rounds >= 2
