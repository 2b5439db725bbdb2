"""``python -m jobs.dedup`` end to end as a user runs it: a subprocess with its own local Ray.

A JSONL corpus written by the test: groups of near-duplicates planted at exact Jaccard >= 0.9
(word replacements and appended/removed words, checked by brute force on 5-gram shingle sets)
and distinct documents (independent Zipf draws from a 4,000-word vocabulary, pairwise Jaccard
checked to be < 0.3). The CLI's output is checked for accounting, the keep rule, the duplicates
table, stats.json and untouched distinct documents; then its usage errors (exit 2, one clear
line, no traceback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators.dedup.minhash import shingle_hashes
from tests.infra import write_jsonl

REPO = Path(__file__).resolve().parents[1]

_COMMON = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
    "they you were her she there one all we their been has would when if more no out so said what up its about "
    "into than them can only other new some could time these two may then do first any my now such like our over "
    "man me even most made after also did many before must through years where much your way well down should "
    "because each just those people how too little state good very make world still own see men work long get "
    "here between both life being under never day same another know while last might us great old year off come"
).split()
_SYLLABLES = ("ka to ri men sa lo ne ta vi or el an us pe di mo ra qu is et bor cha lin ve gu "
              "pra sto nel fi dra om ix ul").split()


def vocabulary(rng: np.random.Generator, size: int = 4000) -> np.ndarray:
    """Common English words first (most frequent under Zipf), then generated words."""
    words = list(dict.fromkeys(_COMMON))
    seen = set(words)
    while len(words) < size:
        w = "".join(rng.choice(_SYLLABLES, rng.integers(2, 5)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return np.array(words)


def _sentences(words: list[str], rng: np.random.Generator) -> str:
    """Words -> text with capitalised sentences of 8-20 words (punctuation is normalised away)."""
    out, i = [], 0
    while i < len(words):
        n = int(rng.integers(8, 21))
        chunk = words[i : i + n]
        out.append(chunk[0].capitalize() + " " + " ".join(chunk[1:]) + ".")
        i += n
    return " ".join(out)


def shingle_sets(texts: list[str], ngram: int = 5) -> list[set[int]]:
    h, off = shingle_hashes(texts, ngram)
    return [set(h[off[i] : off[i + 1]].tolist()) for i in range(len(texts))]


def jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b) if (a or b) else 1.0


def make_planted_corpus(n_groups: int = 30, n_distinct: int = 240, seed: int = 7,
                        min_jaccard: float = 0.9) -> tuple[list[dict], list[list[str]], list[str]]:
    """(records, planted groups of ids, distinct ids).

    Every group is a base document (150-300 words) plus 1-3 variants, each with 0-1 words
    replaced and 0-3 words appended or removed at the end; a group is redrawn until every pair
    in it has exact shingle Jaccard >= ``min_jaccard`` and its members have distinct lengths.
    Ids are a random permutation, so the base is not always the smallest id.
    """
    rng = np.random.default_rng(seed)
    vocab = vocabulary(rng)
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    p /= p.sum()

    def draw(n: int) -> list[str]:
        return [str(w) for w in rng.choice(vocab, n, p=p)]

    texts: list[str] = []
    group_rows: list[list[int]] = []
    for _ in range(n_groups):
        while True:
            base = draw(int(rng.integers(150, 301)))
            members = [base]
            for _ in range(int(rng.integers(1, 4))):
                words = list(base)
                for j in rng.choice(len(words), int(rng.integers(0, 2)), replace=False):
                    words[j] = str(rng.choice(vocab[500:]))
                change = int(rng.integers(-3, 4))
                words = words + draw(change) if change > 0 else words[: len(words) + change]
                members.append(words)
            rendered = [_sentences(m, np.random.default_rng(int(rng.integers(1 << 30)))) for m in members]
            sets = shingle_sets(rendered)
            pairs_ok = all(jaccard(sets[i], sets[j]) >= min_jaccard
                           for i in range(len(sets)) for j in range(i + 1, len(sets)))
            if pairs_ok and len({len(t) for t in rendered}) == len(rendered):
                break
        group_rows.append(list(range(len(texts), len(texts) + len(rendered))))
        texts.extend(rendered)
    distinct_rows = list(range(len(texts), len(texts) + n_distinct))
    for _ in range(n_distinct):
        texts.append(_sentences(draw(int(rng.integers(60, 301))), rng))
    perm = rng.permutation(len(texts))
    ids = [f"doc-{int(k):05d}" for k in perm]
    records = [{"id": ids[i], "text": texts[i], "url": f"https://example.org/{ids[i]}"} for i in range(len(texts))]
    order = rng.permutation(len(records))  # file order unrelated to ids and groups
    records = [records[i] for i in order]
    groups = [[ids[i] for i in rows] for rows in group_rows]
    return records, groups, [ids[i] for i in distinct_rows]


def expected_kept(groups: list[list[str]], texts: dict[str, str], rule: str) -> dict[str, str]:
    """{member id: kept id} for the planted groups under ``rule`` (ties -> smallest id)."""
    out = {}
    for g in groups:
        if rule == "first":
            kept = min(g)
        else:
            kept = min(g, key=lambda i: (-len(texts[i]), i))
        out.update({i: kept for i in g})
    return out


def cli_env() -> dict[str, str]:
    """Local Ray on loopback (COMMON.md); never join a cluster someone else started."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobs.dedup", "--quiet", *args], cwd=REPO, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)


def read_dir(path: Path) -> pa.Table | None:
    files = sorted(path.glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else None


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    records, groups, distinct = make_planted_corpus()
    path = write_jsonl(tmp_path_factory.mktemp("dedup-cli") / "corpus.jsonl", records)
    return path, records, groups, distinct


def test_planted_corpus_is_what_it_claims(planted):
    """The fixture itself: groups at J >= 0.9, distinct documents far from everything."""
    _, records, groups, distinct = planted
    by_id = {r["id"]: r["text"] for r in records}
    ids = [r["id"] for r in records]
    sets = dict(zip(ids, shingle_sets([by_id[i] for i in ids])))
    for g in groups:
        assert 2 <= len(g) <= 4
        assert min(jaccard(sets[a], sets[b]) for a in g for b in g if a < b) >= 0.9
    worst = max(jaccard(sets[a], sets[b]) for a in distinct for b in ids if a != b)
    assert worst < 0.3
    # no two groups are near each other either
    bases = [g[0] for g in groups]
    assert max(jaccard(sets[a], sets[b]) for a in bases for b in bases if a < b) < 0.3
    assert len(set(ids)) == len(ids) == sum(map(len, groups)) + len(distinct)


def _check_run(out: Path, records: list[dict], groups: list[list[str]], distinct: list[str], rule: str) -> dict:
    texts = {r["id"]: r["text"] for r in records}
    docs = read_dir(out / "documents")
    dups = read_dir(out / "duplicates")
    assert docs is not None and dups is not None
    kept_ids = docs.column("id").to_pylist()
    dup_ids = dups.column("id").to_pylist()

    # accounting: every input document is in exactly one of the two outputs
    assert len(kept_ids) == len(set(kept_ids))
    assert len(dup_ids) == len(set(dup_ids))
    assert not set(kept_ids) & set(dup_ids)
    assert set(kept_ids) | set(dup_ids) == set(texts)
    assert len(kept_ids) + len(dup_ids) == len(records)

    # every planted group keeps exactly one document: the one the rule names
    expected = expected_kept(groups, texts, rule)
    for g in groups:
        survivors = [i for i in g if i in set(kept_ids)]
        assert survivors == [expected[g[0]]], (g, survivors)

    # duplicates rows: reason, cluster_id (smallest id of the cluster) and kept_id
    assert set(dups.column_names) >= {"id", "cluster_id", "kept_id", "reason"}
    assert set(dups.column("reason").to_pylist()) == {"fuzzy_duplicate"}
    cluster_of = {i: min(g) for g in groups for i in g}
    for row in dups.select(["id", "cluster_id", "kept_id"]).to_pylist():
        assert row["kept_id"] == expected[row["id"]]
        assert row["cluster_id"] == cluster_of[row["id"]]
        assert row["kept_id"] in set(kept_ids)
    assert set(dup_ids) == {i for g in groups for i in g} - set(expected.values())

    # distinct documents: all kept, text unchanged
    out_text = dict(zip(kept_ids, docs.column("text").to_pylist()))
    for i in distinct:
        assert out_text[i] == texts[i]

    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents_in"] == len(records)
    assert stats["documents_out"] == len(kept_ids)
    assert stats["rejected"] == {"fuzzy_duplicate": len(dup_ids)}
    fz = stats["fuzzy_dedup"]
    assert fz["components"] == len(groups)
    assert fz["duplicates"] == len(dup_ids)
    sizes = Counter(len(g) for g in groups)
    assert fz["cluster_size_histogram"] == {str(k): v for k, v in sorted(sizes.items())}
    assert fz["num_perm"] == fz["bands"] * fz["rows"]
    assert (out / "report.html").is_file()
    return stats


@pytest.mark.ray
def test_cli_keep_first_default_bands(planted, tmp_path):
    path, records, groups, distinct = planted
    out = tmp_path / "out"
    proc = run_cli("--input", str(path), "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = _check_run(out, records, groups, distinct, "first")
    fz = stats["fuzzy_dedup"]
    assert (fz["bands"], fz["rows"]) == (25, 10)  # the documented optimum for t = 0.8
    assert fz["components_path"] == "local"  # a few pairs: the driver-side fast path
    assert stats["config"]["fuzzy"]["keep"] == "first"
    assert "25 x 10" in proc.stdout


@pytest.mark.ray
def test_cli_keep_longest_explicit_bands(planted, tmp_path):
    path, records, groups, distinct = planted
    out = tmp_path / "out"
    proc = run_cli("--input", str(path), "--output", str(out), "--keep", "longest", "--bands", "20",
                   "--rows", "10", "--threshold", "0.8", "--ngram", "5", "--local-components-max-edges", "0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = _check_run(out, records, groups, distinct, "longest")
    fz = stats["fuzzy_dedup"]
    assert (fz["bands"], fz["rows"], fz["num_perm"]) == (20, 10, 200)
    assert fz["components_path"] == "distributed" and fz["rounds"] >= 1
    assert stats["config"]["fuzzy"]["local_fast_path_max_edges"] == 0
    # the rules disagree on at least some groups, else this test would not tell them apart
    texts = {r["id"]: r["text"] for r in records}
    assert expected_kept(groups, texts, "longest") != expected_kept(groups, texts, "first")


def _assert_usage_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    err = [line for line in proc.stderr.splitlines() if line.startswith("raysift: error:")]
    assert len(err) == 1, proc.stderr[-3000:]
    for needle in needles:
        assert needle in err[0], err[0]


def test_bands_without_rows_is_a_usage_error(planted, tmp_path):
    path = planted[0]
    proc = run_cli("--input", str(path), "--output", str(tmp_path / "out"), "--bands", "5", timeout=120)
    _assert_usage_error(proc, "--bands and --rows go together")
    assert not (tmp_path / "out").exists()


def _tiny_warc(path: Path) -> Path:
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as f:
        writer = WARCWriter(f, gzip=True)
        body = b"<html><body><p>Hello world, this is a page.</p></body></html>"
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record("https://example.org/", "response",
                                                      payload=BytesIO(body), http_headers=headers))
    return path


@pytest.mark.ray
def test_warc_input_points_to_raysift_run(tmp_path):
    warc = _tiny_warc(tmp_path / "crawl.warc.gz")
    proc = run_cli("--input", str(warc), "--output", str(tmp_path / "out"))
    _assert_usage_error(proc, "raysift run", "crawl.warc.gz")


@pytest.mark.ray
def test_unknown_keep_column_is_a_config_error(planted, tmp_path):
    path = planted[0]
    proc = run_cli("--input", str(path), "--output", str(tmp_path / "out"), "--keep", "no_such_score")
    _assert_usage_error(proc, "no_such_score", "first", "longest", "newest")
