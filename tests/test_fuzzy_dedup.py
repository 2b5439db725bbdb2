"""Global fuzzy dedup end to end: planted near-duplicates vs brute-force Jaccard, keep rules,
determinism across 1 and 2 workers, distributed components path equal to the local one."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from operators.config import ConfigError
from operators.dedup.fuzzy import fuzzy_dedup, fuzzy_dedup_table
from operators.dedup.minhash import (
    MinHashConfig,
    binary_column,
    exact_jaccard,
    set_jaccard,
    shingle_hashes,
    shingle_sets,
)


def _vocabulary(rng, size=6000):
    syllables = ["ka", "to", "ri", "men", "sa", "lo", "ne", "ta", "vi", "or", "el", "an", "us", "pe", "di", "mo", "ra", "qu", "is", "et"]
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables, rng.integers(1, 4))))
    return np.array(sorted(words))


def make_corpus(n_base=150, n_filler=2500, seed=0) -> pa.Table:
    """Zipf-distributed words from a 6000-word vocabulary; each base document gets 1-3 variants
    with 0-10 % of words replaced (true Jaccard about 0.5-1.0); fillers are independent."""
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng)
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.1
    p /= p.sum()
    ids, texts = [], []

    def add(words, tag):
        ids.append(f"{tag}-{len(ids):05d}")
        texts.append(" ".join(words))

    for _ in range(n_base):
        base = list(rng.choice(vocab, rng.integers(80, 300), p=p))
        add(base, "b")
        for _ in range(rng.integers(1, 4)):
            words = list(base)
            frac = rng.choice([0.0, 0.005, 0.01, 0.02, 0.05, 0.1])
            for j in rng.choice(len(words), int(frac * len(words)), replace=False):
                words[j] = str(rng.choice(vocab))
            add(words, "v")
    for _ in range(n_filler):
        add(list(rng.choice(vocab, rng.integers(80, 300), p=p)), "f")
    order = rng.permutation(len(ids))
    return pa.table({"id": [ids[i] for i in order], "text": [texts[i] for i in order]})


def brute_force_pairs(table: pa.Table, ngram: int = 5):
    """Exact Jaccard of every pair of documents sharing a shingle (all others have J = 0)."""
    h, off = shingle_hashes(table.column("text"), ngram)
    rows, cols = [], []
    for d in range(len(off) - 1):
        u = np.unique(h[off[d] : off[d + 1]])
        rows.append(np.full(len(u), d))
        cols.append(u)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    _, cidx = np.unique(cols, return_inverse=True)
    x = sp.csr_matrix((np.ones(len(rows), np.int32), (rows, cidx)))
    inter = (x @ x.T).tocoo()
    size = np.asarray(x.sum(1)).ravel()
    m = inter.row < inter.col
    i, j, v = inter.row[m], inter.col[m], inter.data[m]
    return i, j, v / (size[i] + size[j] - v)


@pytest.fixture(scope="module")
def corpus():
    return make_corpus()


@pytest.fixture(scope="module")
def reference(corpus):
    return fuzzy_dedup_table(corpus, MinHashConfig())


def _rows(table: pa.Table):
    return sorted(zip(*(table.column(c).to_pylist() for c in ("id", "cluster_id", "kept_id"))))


def test_planted_near_duplicates_vs_brute_force(corpus, reference):
    dups, stats = reference
    ids = corpus.column("id").to_pylist()
    cluster_of = {i: i for i in ids}
    for row in dups.to_pylist():
        cluster_of[row["id"]] = row["cluster_id"]
        cluster_of[row["kept_id"]] = row["cluster_id"]
    i, j, jac = brute_force_pairs(corpus)
    high = jac >= 0.85
    assert high.sum() > 150  # the corpus really plants near-duplicates
    found = [cluster_of[ids[a]] == cluster_of[ids[b]] for a, b in zip(i[high], j[high])]
    assert np.mean(found) >= 0.98, f"recall at J >= 0.85: {np.mean(found):.3f}"
    # precision: every document in a cluster has a true partner at J >= 0.7 in that cluster
    partners: dict[str, set[str]] = {}
    for a, b in zip(i[jac >= 0.7], j[jac >= 0.7]):
        partners.setdefault(ids[a], set()).add(ids[b])
        partners.setdefault(ids[b], set()).add(ids[a])
    members: dict[str, list[str]] = {}
    for doc, c in cluster_of.items():
        members.setdefault(c, []).append(doc)
    for c, docs in members.items():
        for d in docs if len(docs) > 1 else []:
            assert partners.get(d, set()) & set(docs), f"{d} clustered without a near-duplicate"
    # distinct documents untouched: fillers share no high-Jaccard partner and never appear
    flagged = set(dups.column("id").to_pylist()) | set(dups.column("kept_id").to_pylist())
    assert not {d for d in flagged if d.startswith("f-")}
    assert stats["duplicates"] == dups.num_rows
    assert stats["verified_pairs"] <= stats["candidate_pairs"]
    assert sum(int(k) * v for k, v in stats["cluster_size_histogram"].items()) == dups.num_rows + stats["components"]


def test_output_contract(reference):
    dups, stats = reference
    assert dups.column_names == ["id", "cluster_id", "kept_id"]
    for row in dups.to_pylist():
        assert row["id"] != row["kept_id"] and row["cluster_id"] <= row["id"]
        assert row["cluster_id"] <= row["kept_id"]
    assert stats["bands"] == 25 and stats["rows"] == 10 and "0.85" in stats["s_curve"]


def _cluster_table(**extra):
    base = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon"
    texts = [base, base + " phi", base + " phi chi", "completely unrelated text about something else entirely here ok"]
    return pa.table({"id": ["d3", "d1", "d2", "d9"], "text": texts, **extra})


@pytest.mark.parametrize(
    "keep,extra,expected_kept",
    [
        ("first", {}, "d1"),
        ("longest", {}, "d2"),
        ("newest", {"warc_date": pa.array([3, 1, None], pa.int64()).cast(pa.timestamp("us")).to_pylist() + [None]}, "d3"),
        ("quality", {"quality": [0.5, 0.9, 0.9, 1.0]}, "d1"),  # tie 0.9: smallest id
    ],
)
def test_keep_rules(keep, extra, expected_kept):
    cfg = MinHashConfig(threshold=0.7, keep=keep)
    extra = {k: pa.array(v) for k, v in extra.items()}
    dups, stats = fuzzy_dedup_table(_cluster_table(**extra), cfg)
    assert stats["components"] == 1
    assert set(dups.column("kept_id").to_pylist()) == {expected_kept}
    assert set(dups.column("cluster_id").to_pylist()) == {"d1"}
    assert set(dups.column("id").to_pylist()) == {"d1", "d2", "d3"} - {expected_kept}


def test_keep_rule_names_missing_column():
    with pytest.raises(ConfigError, match="score column"):
        fuzzy_dedup_table(_cluster_table(), MinHashConfig(keep="no_such_column"))


def test_verification_removes_lsh_false_positives():
    # a loose LSH (1 band of 1 row) makes many candidates; verification keeps only real ones
    corpus = make_corpus(n_base=20, n_filler=100, seed=3)
    loose = MinHashConfig(bands=40, rows=2)
    _, with_verify = fuzzy_dedup_table(corpus, loose)
    dups_nv, without = fuzzy_dedup_table(corpus, MinHashConfig(bands=40, rows=2, verify=False))
    assert with_verify["verified_pairs"] < with_verify["candidate_pairs"]
    assert without["duplicates"] >= with_verify["duplicates"]


def test_set_jaccard_equals_python_sets():
    corpus = make_corpus(n_base=30, n_filler=30, seed=5)
    texts = corpus.column("text").to_pylist()
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, len(texts), 400), rng.integers(0, len(texts), 400)
    a[:5] = b[:5]  # identical documents: J = 1
    h, off = shingle_hashes(texts, 5)
    values, set_off = shingle_sets(h, off)
    sets = binary_column(values, set_off)
    got = set_jaccard(sets.take(pa.array(a)), sets.take(pa.array(b)))
    want = np.array([exact_jaccard(texts[i], texts[j]) for i, j in zip(a, b)])
    assert np.abs(got - want).max() < 1e-9
    assert (got[:5] == 1.0).all() and 0.0 < got[5:].max() and got.min() == 0.0
    # empty sets (documents with no word) are equal to each other, apart from anything else
    empty = binary_column(np.zeros(0, np.uint32), np.zeros(3, np.int64))
    assert set_jaccard(empty, sets.take(pa.array([0, 1, 2])).slice(0, 2).cast(pa.large_binary())).tolist() == [0.0, 0.0]
    assert set_jaccard(empty.slice(0, 1), empty.slice(1, 1)).tolist() == [1.0]


@pytest.mark.parametrize("verify_by", ["shingles", "signature"])
def test_every_clustered_document_has_a_partner_at_the_threshold(corpus, verify_by):
    """With exact verification every edge is a true pair at J >= threshold, so each clustered
    document has such a partner in its cluster; the signature estimate lets near misses through."""
    dups, stats = fuzzy_dedup_table(corpus, MinHashConfig(verify_by=verify_by))
    ids = corpus.column("id").to_pylist()
    i, j, jac = brute_force_pairs(corpus)
    partners: dict[str, set[str]] = {}
    for x, y in zip(i[jac >= 0.8 - 1e-9], j[jac >= 0.8 - 1e-9]):
        partners.setdefault(ids[x], set()).add(ids[y])
        partners.setdefault(ids[y], set()).add(ids[x])
    members: dict[str, set[str]] = {}
    for row in dups.to_pylist():
        members.setdefault(row["cluster_id"], set()).update((row["id"], row["kept_id"]))
    lonely = [d for docs in members.values() for d in docs if not partners.get(d, set()) & docs]
    if verify_by == "shingles":
        assert lonely == []
    assert stats["duplicates"] > 100


def test_verify_by_is_checked():
    with pytest.raises(ConfigError, match="verify_by"):
        MinHashConfig(verify_by="exact")


@pytest.fixture(scope="module")
def ray_cluster():
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    ray.init(num_cpus=2, object_store_memory=150 * 1024**2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_ray_one_and_two_workers_and_distributed_components_agree(ray_cluster, corpus, reference):
    from ray.data import ExecutionResources

    ctx = ray_cluster.data.DataContext.get_current()
    saved = ctx.execution_options.resource_limits
    ctx.execution_options.resource_limits = ExecutionResources(cpu=1)
    try:  # one worker, one input block, driver-side components
        one, stats_one = fuzzy_dedup(ray_cluster.data.from_arrow(corpus), MinHashConfig())
        rows_one = sorted(tuple(r[c] for c in ("id", "cluster_id", "kept_id")) for r in one.take_all())
    finally:
        ctx.execution_options.resource_limits = saved
    # two workers, five input blocks, more shuffle partitions (set by the signature bytes, not the
    # row count), distributed components forced
    cfg = MinHashConfig(local_fast_path_max_edges=0, rows_per_partition=20_000, bytes_per_partition=256 * 1024)
    two, stats_two = fuzzy_dedup(ray_cluster.data.from_arrow(corpus).repartition(5), cfg)
    rows_two = sorted(tuple(r[c] for c in ("id", "cluster_id", "kept_id")) for r in two.take_all())
    assert stats_one["components_path"] == "local" and stats_two["components_path"] == "distributed"
    by_rows = -(-stats_two["documents_with_signature"] * stats_two["bands"] // cfg.rows_per_partition)
    assert stats_two["rounds"] >= 1 and stats_two["partitions"] > max(by_rows, stats_one["partitions"])
    expected = _rows(reference[0])
    assert rows_one == expected
    assert rows_two == expected
    for key in ("candidate_pairs", "verified_pairs", "components", "duplicates", "cluster_size_histogram"):
        assert stats_one[key] == stats_two[key] == reference[1][key], key
