"""Fuzzy dedup benchmark: raysift vs datatrove's 4-stage MinHash vs datasketch MinHashLSH.

One command, one machine, one run:

    python benchmarks/bench_dedup.py [--sizes 10000,100000,1000000] [--workdir benchmarks/_work]

Corpus per size (seeded, rebuilt every run):

- **Real documents** from ``../shared/data``: the Dolma Common Crawl samples, StackMathQA
  question + answer texts, the text of mozilla/readability's expected pages, and the
  HTML responses of the WARC files extracted with :mod:`operators.extract`; exact-text
  duplicates removed, at least 30 words each.
- **Near-duplicates** (15 % of the size) at a controlled Jaccard: word edits (60 % replacements,
  20 % insertions, 20 % deletions at random positions) of a base document; the number of
  edits is chosen from the target similarity (0.60 ... 1.00, spread around the 0.8 threshold)
  with ``J = (N - 5k) / (N + 5k)`` for ``k`` edits on ``N`` 5-gram shingles. Bases are the real
  documents first (up to 3 variants each), then filler documents. Whatever Jaccard the edits
  really give is measured, never assumed.
- **Filler** to reach the size: documents of 80-500 words drawn from a 100,000-word vocabulary
  (real words of the pool first, then generated ones; Zipf exponent 0.9), so a random pair
  of fillers shares almost no 5-gram (J ≈ 0).

Systems, each on the same Parquet shards (8 files, row groups of 10,000 documents):

1. raysift: ``raysift dedup`` (the CLI as a subprocess, local Ray on every core); wall time of
   the whole process and the stage; private memory (``RssAnon``) and ``VmRSS`` of every Ray
   worker process (``ray::*`` descendants of the CLI) sampled from /proc every 0.2 s. VmRSS also
   counts the object-store pages a worker has mapped, shared with every other worker and
   growing with the data streamed through it, so the per-worker target is judged on private
   memory. From ``--distributed-min-size`` on (default 1M) raysift runs with
   ``--local-components-max-edges 0``: components on the distributed path at any edge count.
2. datatrove 0.10: MinhashDedupSignature -> MinhashDedupBuckets -> MinhashDedupCluster ->
   MinhashDedupFilter with its default MinhashConfig (14 buckets x 8 hashes, 5-grams),
   ``LocalPipelineExecutor(workers=2)``, one task per input file (stage 2: one per bucket;
   stage 3: one task, by design). Own virtualenv ``<workdir>/datatrove-venv``.
3. datasketch: MinHashLSH(threshold=0.8, num_perm=128) in-process; each document's
   signature by ``MinHash.update_batch`` over raysift's 5-gram shingles (the same shingle
   sets, so only the hashing and LSH differ); every document queried, candidate pairs
   unioned into clusters (no verification: plain datasketch).

Quality (``evaluate``): ground truth is the exact Jaccard of raysift's normalised 5-gram
shingle sets, by brute force over all pairs that involve a *sample* of documents: the sample
(all documents up to ``--exact-max`` = 10,000, else ``--sample`` documents drawn uniformly) is
compared with every document of the corpus through a sparse shingle-incidence product
(only shingles occurring in the sample matter), so every true pair with one end in the sample
is found, whatever the other end. Pair recall at J >= 0.85 and >= 0.8: share of such true
pairs whose two documents ended in the same cluster. Precision on flagged documents: a
sampled document the system removed counts as correct when its own cluster holds a document
with true J >= 0.8 to it; the stricter "J >= 0.8 to the kept document" asks that of the
document its cluster kept. Pair precision: share of same-cluster pairs (one end sampled) with
true J >= 0.8 (chains make this lower than the document precision for every system).

Signature throughput: ``operators.dedup.minhash.signatures`` on a batch of 2,000 corpus
documents vs datasketch per document (raysift's normalisation, 5-gram strings, then
``MinHash.update`` per shingle, and ``update_batch``), both at raysift's permutation count.

1M documents run only when raysift took < 5 minutes (``--gate-1m-s``) at 100k (else reported as not run, with
the measured time); peers are skipped above ``--peers-max-size``. Writes the "Fuzzy dedup"
section of ``benchmarks/RESULTS.md`` between ``<!-- dedup:start -->`` / ``<!-- dedup:end -->``
and the raw numbers to ``<workdir>/dedup/bench_dedup.json`` (``--render-only`` rewrites the section from
it; ``--merge-previous`` keeps the sizes of the last run that this run does not measure).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import venv
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED_DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "RESULTS.md"
START, END = "<!-- dedup:start -->", "<!-- dedup:end -->"
HEADING = "## Fuzzy dedup"
DATATROVE_PACKAGES = ["datatrove[processing,io]", "spacy"]
TARGET_J = np.array([0.60, 0.70, 0.75, 0.78, 0.80, 0.82, 0.85, 0.88, 0.90, 0.95, 1.00])
N_FILES = 8
ROW_GROUP = 10_000  # documents per Parquet row group: a reader holds one row group, whatever the file size
GATE_1M_S = 300.0


# ------------------------------------------------------------------------------------ corpus


def require_shared_data() -> None:
    if not SHARED_DATA.is_dir():
        raise SystemExit(f"../shared/data not found (looked for {SHARED_DATA}); the benchmark needs its real texts")


def real_documents() -> list[tuple[str, str]]:
    """(origin, text) of every real text in ../shared/data, exact duplicates removed, >= 30 words."""
    import pyarrow as pa

    from operators.extract import ExtractConfig, extract_batch, extract_text
    from operators.warc import iter_warc_tables

    docs: list[tuple[str, str]] = []
    for path in sorted((SHARED_DATA / "text" / "dolma-cc-samples").glob("*.json*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            docs += [("dolma", json.loads(line)["text"]) for line in f if line.strip()]
    for path in sorted((SHARED_DATA / "math-seed" / "stackmathqa").glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    docs.append(("stackmathqa", f"{rec.get('Q', '')}\n\n{rec.get('A', '')}"))
    plain = ExtractConfig(main_content=False, boilerplate_pruning=False, timeout_seconds=None)
    for page in sorted((SHARED_DATA / "extraction-dev" / "mozilla-readability" / "test-pages").glob("*/expected.html.gz")):
        docs.append(("readability", extract_text(gzip.decompress(page.read_bytes()).decode("utf-8", "replace"), plain)))
    cfg = ExtractConfig()
    for path in sorted((SHARED_DATA / "warc").glob("*.warc.gz")):
        if path.name.endswith((".wat.gz", ".wet.gz")):
            continue
        with path.open("rb") as f:
            for table in iter_warc_tables(f, path.name):
                out = extract_batch(table, cfg)
                docs += [("warc", t) for t in out.column("text").to_pylist() if t]
    seen: set[str] = set()
    unique = []
    for origin, text in docs:
        if text and len(text.split()) >= 30 and text not in seen:
            seen.add(text)
            unique.append((origin, text))
    return unique


def filler_vocabulary(real: list[tuple[str, str]], rng: np.random.Generator, size: int = 100_000) -> list[str]:
    """Real words by frequency, then generated words, ``size`` in all."""
    counts: dict[str, int] = defaultdict(int)
    for _, text in real:
        for w in text.lower().split():
            w = w.strip(".,;:!?\"'()[]{}")
            if w.isalpha():
                counts[w] += 1
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: -kv[1])][: size // 2]
    seen = set(words)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    while len(words) < size:
        w = "".join(rng.choice(letters, int(rng.integers(4, 11))))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def edit_words(words: list[str], target: float, vocab: list[str], rng: np.random.Generator) -> list[str]:
    """Copy of ``words`` with as many random word edits as give ~``target`` shingle Jaccard."""
    n_sh = max(1, len(words) - 4)
    k = int(round(n_sh * (1.0 - target) / (5.0 * (1.0 + target))))
    out = list(words)
    for _ in range(k):
        op = rng.random()
        pos = int(rng.integers(0, max(1, len(out))))
        if op < 0.6 and out:
            out[pos] = vocab[int(rng.integers(0, len(vocab)))]
        elif op < 0.8:
            out.insert(pos, vocab[int(rng.integers(0, len(vocab)))])
        elif len(out) > 10:
            del out[pos]
    return out


def build_corpus(size: int, real: list[tuple[str, str]], seed: int = 0) -> dict[str, Any]:
    """ids, texts, origins (real / variant / filler) and planted variant targets."""
    rng = np.random.default_rng(seed)
    vocab = filler_vocabulary(real, rng)
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 0.9
    p /= p.sum()
    n_var = int(round(0.15 * size))
    n_real = min(len(real), size - n_var)
    n_fill = size - n_real - n_var
    texts = [t for _, t in real[:n_real]]
    origins = [o for o, _ in real[:n_real]]
    lengths = rng.integers(80, 501, n_fill)
    for lo in range(0, n_fill, 50_000):
        chunk = lengths[lo : lo + 50_000]
        draws = rng.choice(len(vocab), int(chunk.sum()), p=p).tolist()
        pos = 0
        for n in chunk.tolist():
            texts.append(" ".join([vocab[i] for i in draws[pos : pos + n]]))
            pos += n
    origins += ["filler"] * n_fill
    bases = list(range(n_real)) * 3
    bases = bases[:n_var] + list(rng.integers(n_real, n_real + max(n_fill, 1), max(0, n_var - len(bases))))
    targets = rng.choice(TARGET_J, n_var)
    for b, t in zip(bases, targets):
        texts.append(" ".join(edit_words(texts[int(b)].split(), float(t), vocab, rng)))
        origins.append("variant")
    perm = rng.permutation(len(texts))
    ids = [f"d{int(k):08d}" for k in rng.permutation(len(texts))]
    return {
        "ids": [ids[i] for i in perm], "texts": [texts[i] for i in perm], "origins": [origins[i] for i in perm],
        "counts": {"real": n_real, "variants": n_var, "filler": n_fill},
        "real_by_origin": {o: sum(1 for oo, _ in real[:n_real] if oo == o) for o in sorted({o for o, _ in real})},
    }


def write_shards(corpus: dict[str, Any], folder: Path, n_files: int = N_FILES) -> list[Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    n = len(corpus["ids"])
    paths = []
    for k in range(n_files):
        lo, hi = k * n // n_files, (k + 1) * n // n_files
        path = folder / f"part-{k:03d}.parquet"
        pq.write_table(pa.table({"id": corpus["ids"][lo:hi], "text": corpus["texts"][lo:hi]}), path,
                       row_group_size=ROW_GROUP)
        paths.append(path)
    return paths


# -------------------------------------------------------------------------- machine, sampling


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = next((int(l.split()[1]) * 1024 for l in Path("/proc/meminfo").read_text().splitlines()
                if l.startswith("MemTotal:")), None)
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_bytes": mem, "python": platform.python_version(),
            "platform": platform.platform()}


def versions(names: list[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = "not installed"
    return out


class TreeSampler:
    """Peak memory of a process and its descendants, every ``interval`` s; workers = ``ray::*``.

    Per process it keeps the peak of ``VmRSS`` (resident pages, *including* the pages of Ray's
    shared-memory object store the process has mapped: one object-store page read by several
    workers counts in each of them) and of ``RssAnon`` (the process's private heap: what
    the process itself allocated), plus the process title (``ray::<task or actor>``) seen at
    its anonymous peak.
    """

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root, self.interval = root, interval
        self.peak: dict[int, int] = {}
        self.peak_anon: dict[int, int] = {}
        self.title_at_peak: dict[int, str] = {}
        self.worker: dict[int, bool] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def _sample(self) -> None:
        children: dict[int, list[int]] = defaultdict(list)
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    raw = Path(f"/proc/{name}/stat").read_text()
                except OSError:
                    continue
                children[int(raw[raw.rfind(")") + 2 :].split()[1])].append(int(name))
        todo = [self.root]
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, []))
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            fields = {l.split(":", 1)[0]: l for l in status.splitlines() if l.startswith(("VmRSS:", "RssAnon:"))}
            rss, anon = (int(fields[k].split()[1]) * 1024 if k in fields else 0 for k in ("VmRSS", "RssAnon"))
            self.peak[pid] = max(self.peak.get(pid, 0), rss)
            if anon > self.peak_anon.get(pid, -1):
                self.peak_anon[pid] = anon
                title = cmd.split(b"\0", 1)[0].decode("utf-8", "replace")[:120]
                if title != "ray::IDLE" or pid not in self.title_at_peak:  # an idle worker keeps its last task's heap
                    self.title_at_peak[pid] = title
            if cmd:
                self.worker[pid] = cmd.startswith(b"ray::")

    def summary(self) -> dict[str, Any]:
        workers = [p for p, w in self.worker.items() if w]
        top = max(workers, key=lambda p: self.peak_anon.get(p, 0), default=None)
        return {"worker_processes": len(workers), "peak_worker_rss": max((self.peak[p] for p in workers), default=None),
                "peak_worker_anon": self.peak_anon.get(top) if top is not None else None,
                "peak_worker_anon_title": self.title_at_peak.get(top) if top is not None else None,
                "peak_driver_rss": self.peak.get(self.root), "peak_driver_anon": self.peak_anon.get(self.root),
                "peak_any_rss": max(self.peak.values(), default=None),
                "peak_any_anon": max(self.peak_anon.values(), default=None)}


# ---------------------------------------------------------------------------------- systems


def raysift_command() -> list[str]:
    script = Path(sys.executable).with_name("raysift")
    return [str(script)] if script.exists() else [sys.executable, "-m", "jobs.cli"]


def run_raysift(shards: Path, out: Path, log: Path, extra: list[str] | None = None) -> dict[str, Any]:
    if out.exists():
        shutil.rmtree(out)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env |= {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "PYTHONPATH": str(REPO)}
    cmd = raysift_command() + ["dedup", "--quiet", "--input", str(shards), "--output", str(out)] + (extra or [])
    with log.open("w") as logf:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        with TreeSampler(proc.pid) as sampler:
            rc = proc.wait()
        wall = time.perf_counter() - t
    if rc != 0:
        raise SystemExit(f"raysift dedup failed (exit {rc}); see {log}")
    stats = json.loads((out / "stats.json").read_text())
    return {"wall_s": round(wall, 2), "stage_wall_s": stats["wall_time_s"],
            "fuzzy_wall_s": stats["fuzzy_dedup"].get("wall_time_s"), "fuzzy": stats["fuzzy_dedup"],
            "documents_out": stats["documents_out"], **sampler.summary()}


def raysift_clusters(out: Path, index: dict[str, int], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(label per document, -1 = no cluster; removed flag) from raysift's duplicates/."""
    import pyarrow.parquet as pq

    label = np.full(n, -1, np.int64)
    flagged = np.zeros(n, bool)
    files = sorted((out / "duplicates").glob("*.parquet"))
    if not files:
        return label, flagged
    cid: dict[str, int] = {}
    for f in files:
        t = pq.read_table(f, columns=["id", "cluster_id", "kept_id"])
        for i, c, k in zip(*(t.column(x).to_pylist() for x in ("id", "cluster_id", "kept_id"))):
            c = cid.setdefault(c, len(cid))
            label[index[i]] = c
            label[index[k]] = c
            flagged[index[i]] = True
    return label, flagged


DT_SCRIPT = r'''
import json, sys, time
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                              MinhashDedupFilter, MinhashDedupSignature)
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import JsonlWriter

def main():
    shards, work, n_files, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    cfg = MinhashConfig()
    def reader():
        return ParquetReader(shards, glob_pattern="*.parquet", text_key="text", id_key="id")
    stages = [
        ("signatures", [reader(), MinhashDedupSignature(output_folder=f"{work}/sigs", config=cfg, language="en")], n_files),
        ("buckets", [MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets", config=cfg)], cfg.num_buckets),
        ("cluster", [MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids", config=cfg,
                                         save_cluster_id=True)], 1),
        ("filter", [reader(), MinhashDedupFilter(input_folder=f"{work}/remove_ids", load_cluster_ids=True,
                                                 exclusion_writer=JsonlWriter(f"{work}/removed", compression=None)),
                    JsonlWriter(f"{work}/output", compression=None)], n_files),
    ]
    walls = {}
    t0 = time.perf_counter()
    for name, pipeline, tasks in stages:
        t = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(workers, tasks),
                              logging_dir=f"{work}/logs/{name}", skip_completed=False).run()
        walls[name] = round(time.perf_counter() - t, 2)
    json.dump({"stage_wall_s": walls, "executor_wall_s": round(time.perf_counter() - t0, 2),
               "config": {"num_buckets": cfg.num_buckets, "hashes_per_bucket": cfg.hashes_per_bucket, "n_grams": cfg.n_grams}},
              open(f"{work}/result.json", "w"))


if __name__ == "__main__":
    main()
'''


def ensure_datatrove_venv(path: Path, log: Path) -> Path:
    """The datatrove virtualenv's python (reused when it imports; else created/installed)."""
    py = path / "bin" / "python"
    probe = [str(py), "-c", "import datatrove.pipeline.dedup.minhash, datatrove.pipeline.readers.parquet, spacy"]
    if py.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return py
    print(f"[datatrove] installing {' '.join(DATATROVE_PACKAGES)} into {path} ...", flush=True)
    if not py.exists():
        venv.EnvBuilder(with_pip=True).create(path)
    with log.open("w") as logf:
        rc = subprocess.run([str(py), "-m", "pip", "install", *DATATROVE_PACKAGES], stdout=logf,
                            stderr=subprocess.STDOUT).returncode
    if rc != 0 or subprocess.run(probe, capture_output=True).returncode != 0:
        raise SystemExit(f"installing datatrove into {path} failed; see {log}")
    return py


def run_datatrove(py: Path, shards: Path, work: Path, log: Path, workers: int = 2) -> dict[str, Any]:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    script = work / "dt_minhash.py"
    script.write_text(DT_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    with log.open("w") as logf:
        t = time.perf_counter()
        proc = subprocess.Popen([str(py), str(script), str(shards), str(work), str(N_FILES), str(workers)],
                                stdout=logf, stderr=subprocess.STDOUT, env=env)
        with TreeSampler(proc.pid) as sampler:
            rc = proc.wait()
        wall = time.perf_counter() - t
    if rc != 0:
        raise SystemExit(f"datatrove minhash failed (exit {rc}); see {log}")
    res = json.loads((work / "result.json").read_text())
    s = sampler.summary()
    return {"wall_s": round(wall, 2), **res, "peak_process_rss": s["peak_any_rss"], "peak_process_anon": s["peak_any_anon"]}


def datatrove_clusters(work: Path, index: dict[str, int], n: int) -> tuple[np.ndarray, np.ndarray]:
    label = np.full(n, -1, np.int64)
    flagged = np.zeros(n, bool)
    for sub, removed in (("output", False), ("removed", True)):
        for f in sorted((work / sub).glob("*.jsonl")):
            with f.open() as fh:
                for line in fh:
                    rec = json.loads(line)
                    c = rec.get("metadata", {}).get("minhash_cluster_id", -1)
                    i = index[rec["id"]]
                    if c != -1:
                        label[i] = c
                    flagged[i] = removed
    return label, flagged


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, x: int) -> int:
        p = self.parent
        root = x
        while p[root] != root:
            root = p[root]
        while p[x] != root:
            p[x], x = root, p[x]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def run_datasketch(hashes: np.ndarray, off: np.ndarray, ids: list[str]) -> dict[str, Any]:
    """MinHashLSH(0.8, 128) over raysift's shingles; clusters = union of every query's candidates."""
    from datasketch import MinHash, MinHashLSH

    n = len(off) - 1
    raw = hashes.astype("<u8").tobytes()
    t0 = time.perf_counter()
    sigs = []
    for d in range(n):
        b = raw[off[d] * 8 : off[d + 1] * 8]
        m = MinHash(num_perm=128, seed=1)
        m.update_batch([b[k : k + 8] for k in range(0, len(b), 8)])
        sigs.append(m)
    t1 = time.perf_counter()
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    for d in range(n):
        lsh.insert(d, sigs[d])
    t2 = time.perf_counter()
    uf = UnionFind(n)
    for d in range(n):
        for e in lsh.query(sigs[d]):
            if e != d:
                uf.union(d, e)
    roots = np.array([uf.find(d) for d in range(n)])
    t3 = time.perf_counter()
    sizes = np.bincount(roots, minlength=n)
    label = np.where(sizes[roots] > 1, roots, -1)
    # keep the smallest id of each cluster, as raysift's `first`
    order = sorted(range(n), key=lambda d: ids[d])
    kept_root: set[int] = set()
    flagged = np.zeros(n, bool)
    for d in order:
        if label[d] >= 0:
            if label[d] in kept_root:
                flagged[d] = True
            else:
                kept_root.add(int(label[d]))
    return {"signature_s": round(t1 - t0, 2), "index_s": round(t2 - t1, 2), "query_cluster_s": round(t3 - t2, 2),
            "wall_s": round(t3 - t0, 2), "label": label, "flagged": flagged}


# ------------------------------------------------------------------------------ ground truth


def corpus_shingles(texts: list[str], chunk: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Deduplicated per-document shingle hashes (raysift's normalisation, 5-grams) and offsets."""
    from operators.dedup.minhash import shingle_hashes

    parts, counts = [], []
    for lo in range(0, len(texts), chunk):
        h, off = shingle_hashes(texts[lo : lo + chunk], 5)
        for d in range(len(off) - 1):
            u = np.unique(h[off[d] : off[d + 1]])
            parts.append(u)
            counts.append(len(u))
    out_off = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=out_off[1:])
    return np.concatenate(parts) if parts else np.zeros(0, np.uint64), out_off


def sampled_truth(hashes: np.ndarray, off: np.ndarray, sample: np.ndarray, min_j: float = 0.5) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every pair (s, d), s in ``sample``, d any other document, with J >= ``min_j``.

    Sparse incidence matrix restricted to the shingles that occur in the sample; rows of the
    sample times all rows gives the intersections; keys are (min, max) document indexes.
    """
    import scipy.sparse as sp

    n = len(off) - 1
    sizes = np.diff(off)
    vocab = np.unique(np.concatenate([hashes[off[s] : off[s + 1]] for s in sample.tolist()]))
    rows, cols = [], []
    step = 50_000  # documents per chunk: bounds the temporaries at 1M documents
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        h = hashes[off[lo] : off[hi]]
        idx = np.minimum(np.searchsorted(vocab, h), len(vocab) - 1)
        hit = vocab[idx] == h
        rows.append(np.repeat(np.arange(lo, hi), sizes[lo:hi])[hit])
        cols.append(idx[hit])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    x = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, len(vocab)))
    truth: dict[tuple[int, int], float] = {}
    xt = x.T.tocsc()
    for lo in range(0, len(sample), 2000):
        rows = sample[lo : lo + 2000]
        inter = (x[rows] @ xt).tocoo()
        s = rows[inter.row]
        d = inter.col
        j = inter.data / (sizes[s] + sizes[d] - inter.data)
        m = (s != d) & (j >= min_j)
        for a, b, v in zip(s[m].tolist(), d[m].tolist(), j[m].tolist()):
            truth[(min(a, b), max(a, b))] = v
    return truth


def evaluate(label: np.ndarray, flagged: np.ndarray, truth: dict[tuple[int, int], float], sample: np.ndarray) -> dict[str, Any]:
    in_sample = np.zeros(len(label), bool)
    in_sample[sample] = True
    out: dict[str, Any] = {}
    for t in (0.8, 0.85, 0.9):
        pairs = [(a, b) for (a, b), j in truth.items() if j >= t]
        hit = sum(1 for a, b in pairs if label[a] >= 0 and label[a] == label[b])
        out[f"recall_{t}"] = hit / len(pairs) if pairs else None
        out[f"true_pairs_{t}"] = len(pairs)
    members: dict[int, list[int]] = defaultdict(list)
    for d in np.flatnonzero(label >= 0).tolist():
        members[int(label[d])].append(d)
    pred, pred_ok = set(), 0
    flagged_s = np.flatnonzero(flagged & in_sample).tolist()
    ok_flags = 0
    for s in np.flatnonzero(in_sample & (label >= 0)).tolist():
        for d in members[int(label[s])]:
            if d != s:
                pred.add((min(s, d), max(s, d)))
    pred_ok = sum(1 for k in pred if truth.get(k, 0.0) >= 0.8)
    false_best = []
    for s in flagged_s:
        best = max((truth.get((min(s, d), max(s, d)), 0.0) for d in members[int(label[s])] if d != s), default=0.0)
        if best >= 0.8:
            ok_flags += 1
        else:
            false_best.append(best)
    # stricter: the removed document is a near-duplicate of the one its cluster kept (what survives of it)
    kept_of: dict[int, int] = {}
    for c, ms in members.items():
        survivors = [d for d in ms if not flagged[d]]
        if len(survivors) == 1:
            kept_of[c] = survivors[0]
    ok_kept = 0
    for s in flagged_s:
        k = kept_of.get(int(label[s]))
        if k is not None and truth.get((min(s, k), max(s, k)), 0.0) >= 0.8:
            ok_kept += 1
    out["kept_precision"] = ok_kept / len(flagged_s) if flagged_s else None
    out["false_flags"] = len(false_best)
    out["false_flags_best_j_min"] = min(false_best) if false_best else None
    out["false_flags_best_j_ge_0.75"] = sum(1 for j in false_best if j >= 0.75)
    out["flagged_in_sample"] = len(flagged_s)
    out["flagged_precision"] = ok_flags / len(flagged_s) if flagged_s else None
    out["pair_precision"] = pred_ok / len(pred) if pred else None
    out["predicted_pairs"] = len(pred)
    out["flagged_total"] = int(flagged.sum())
    return out


# ------------------------------------------------------------------------------ throughput


def signature_throughput(texts: list[str], n_batch: int = 2000, n_ds: int = 200) -> dict[str, Any]:
    import pyarrow as pa
    from datasketch import MinHash

    from operators.dedup.minhash import MinHashConfig, signatures
    from operators.dedup.normalize import normalize_text

    cfg = MinHashConfig()
    # documents evenly spaced over the corpus (its real / variant / filler mix), and datasketch
    # on every k-th of those, so both sides see the same kind of text
    texts = texts[:: max(1, len(texts) // n_batch)][:n_batch]
    n_batch = len(texts)
    ds_texts = texts[:: max(1, n_batch // n_ds)][:n_ds]
    n_ds = len(ds_texts)
    batch = pa.array(texts, pa.string())
    mb = sum(len(t.encode()) for t in texts) / 1e6
    signatures(batch[:50], cfg)  # warm caches (permutations)

    def ds_run(num_perm: int, batch_mode: bool) -> None:
        for t in ds_texts:
            w = normalize_text(t).split()
            sh = [" ".join(w[i : i + 5]).encode() for i in range(max(1, len(w) - 4))]
            m = MinHash(num_perm=num_perm, seed=1)
            if batch_mode:
                m.update_batch(sh)
            else:
                for s in sh:
                    m.update(s)

    # rounds alternate the paths, so a change in the (shared) machine's speed hits all of them;
    # each path's fastest round counts
    paths = {"ours": lambda: signatures(batch, cfg), "upd": lambda: ds_run(cfg.num_perm, False),
             "bat": lambda: ds_run(cfg.num_perm, True), "upd128": lambda: ds_run(128, False)}
    times: dict[str, float] = {}
    for _ in range(5):
        for name, fn in paths.items():
            times[name] = min(times.get(name, float("inf")), _timed(fn))
    best = times["ours"]
    ours = n_batch / best
    upd, bat, upd128 = (n_ds / times[k] for k in ("upd", "bat", "upd128"))
    # datasketch times a subset of the documents: compare text bytes per second
    ds_mb_per_doc = sum(len(t.encode()) for t in ds_texts) / 1e6 / n_ds
    ours_mb_s = mb / best
    return {"num_perm": cfg.num_perm, "batch_docs": n_batch, "batch_mb": round(mb, 2), "raysift_docs_s": ours,
            "raysift_mb_s": ours_mb_s, "datasketch_update_docs_s": upd, "datasketch_update_batch_docs_s": bat,
            "datasketch_update_128_docs_s": upd128, "datasketch_mb_per_doc": ds_mb_per_doc,
            "ratio_vs_update": ours_mb_s / (upd * ds_mb_per_doc),
            "ratio_vs_update_batch": ours_mb_s / (bat * ds_mb_per_doc), "datasketch_docs": n_ds}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ----------------------------------------------------------------------------------- render


def _f(v: Any, fmt: str = "{:.4f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def _gb(b: int | None) -> str:
    return "n/a" if b is None else f"{b / 1024**3:.2f} GiB"


def _met(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**met**" if ok else "**missed**")


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    L = [START, HEADING, "",
         f"_Generated by `python benchmarks/bench_dedup.py` (`--sizes {r['args']['sizes']}`); re-running replaces this "
         "section (between the `dedup` markers). Do not edit by hand._", "",
         f"- Date (UTC): {r['date']}; total benchmark time {r['total_s']:.0f} s.",
         f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_bytes'] / 1024**3:.1f} GiB RAM; {m['platform']}; "
         f"Python {m['python']}. Shared with other engineers' jobs: wall times include their load.",
         f"- Load average (1/5/15 min) at start {' / '.join(f'{x:.2f}' for x in r['load_start'])}, "
         f"at end {' / '.join(f'{x:.2f}' for x in r['load_end'])}.",
         *[f"- {e['size']:,} documents: measured in an earlier run (`--merge-previous`) on {e['run']['date']}, load average "
           f"at its start {' / '.join(f'{x:.2f}' for x in e['run']['load_start'])}, at its end "
           f"{' / '.join(f'{x:.2f}' for x in (e['run']['load_end'] or []))}." for e in r["sizes"] if e.get("run")],
         "- Versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + "; datatrove side: "
         + ", ".join(f"{k} {v}" for k, v in r.get("datatrove_versions", {}).items()) + ".",
         f"- Real documents: {r['real_total']} distinct texts of `../shared/data` ("
         + ", ".join(f"{k} {v}" for k, v in r["real_by_origin_all"].items()) + "), ≥ 30 words each.",
         "- Corpus per size: all real documents (or as many as fit), 15 % near-duplicate variants by word edits at target "
         "Jaccard " + ", ".join(f"{t:.2f}" for t in TARGET_J) + " (real documents as bases first, up to 3 variants each, "
         "then filler documents), the rest filler from a 100k-word vocabulary (Zipf 0.9). "
         f"{N_FILES} Parquet files, row groups of {ROW_GROUP:,} documents.",
         "- Ground truth: exact Jaccard of raysift's normalised 5-gram shingle sets. Up to 10,000 documents every pair is "
         "computed; above, every pair that has one end in a uniform sample of documents (size in the table) is computed "
         "against the whole corpus (sparse incidence product), so recall is measured on an unbiased sample of the true pairs "
         "and precision on the sampled documents. datatrove shingles its own way (its `simplify_text` + spaCy words); "
         "it is judged against the same truth.",
         ""]
    L += ["### Quality at threshold 0.8", "",
          "| docs | sample | system | true pairs J≥0.85 | recall J≥0.85 | recall J≥0.8 | flagged (sampled) | precision on flagged docs | J≥0.8 to the kept doc | pair precision J≥0.8 |",
          "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in r["sizes"]:
        for name in ("raysift", "datatrove", "datasketch"):
            q = s.get("quality", {}).get(name)
            if q is None:
                continue
            L.append(f"| {s['size']:,} | {s['sample']:,} | {name} | {q['true_pairs_0.85']:,} | {_f(q['recall_0.85'])} | "
                     f"{_f(q['recall_0.8'])} | {q['flagged_in_sample']:,} | {_f(q['flagged_precision'])} | "
                     f"{_f(q.get('kept_precision'))} | {_f(q['pair_precision'])} |")
    L += ["", "Precision on flagged documents counts a removed (sampled) document as correct when its cluster holds a "
          "document at true J ≥ 0.8 to it: the pairwise relation the threshold defines, and what connected "
          "components (datatrove, NeMo Curator, raysift) act on. It does not say the removed text survives in the "
          "document that was kept: in a chain A ~ B ~ C (A kept, B and C removed) C may be far from A. The column "
          "\"J≥0.8 to the kept doc\" counts only removals at true J ≥ 0.8 to their cluster's kept document, the "
          "stricter reading; the target below is judged on the first one, as defined.", ""]
    L += ["False flags (removed documents whose cluster holds no document at true J ≥ 0.8 to them): "
          + "; ".join(f"{s['size']:,} docs {name}: {q['false_flags']} of {q['flagged_in_sample']}, "
                      f"{q['false_flags_best_j_ge_0.75']} of them at true J ≥ 0.75 to a cluster mate"
                      f" (lowest {_f(q['false_flags_best_j_min'], '{:.3f}')})"
                      for s in r["sizes"] for name, q in s.get("quality", {}).items()) + ".", ""]
    L += ["True pairs (J ≥ 0.5) by exact Jaccard, per size: "
          + "; ".join(f"{s['size']:,} docs: " + ", ".join(f"[{k}) {v}" for k, v in s["truth_histogram"].items() if v)
                      for s in r["sizes"]) + " (bins of 0.05; `1.00` = identical shingle sets).", ""]
    L += ["### Time and memory", "",
          "| docs | system | wall (s), whole process | stage / executor (s) | detail | peak private memory per worker | peak VmRSS per worker |",
          "|---:|---|---:|---:|---|---|---|"]
    for s in r["sizes"]:
        ray = s.get("raysift")
        if ray:
            fz = ray["fuzzy"]
            L.append(f"| {s['size']:,} | raysift `dedup` (Ray, 2 CPUs) | {ray['wall_s']:.1f} | {ray['stage_wall_s']:.1f} | "
                     f"fuzzy stage {fz.get('wall_time_s')} s; B×R {fz['bands']}×{fz['rows']}; {fz['candidate_pairs']:,} candidates, "
                     f"{fz['verified_pairs']:,} verified; {fz['components']:,} clusters; {fz.get('partitions', 'n/a')} shuffle "
                     f"partitions; components {_components_note(ray)} | {_gb(ray.get('peak_worker_anon'))} "
                     f"(`{ray.get('peak_worker_anon_title') or 'n/a'}`; driver {_gb(ray.get('peak_driver_anon'))}) | "
                     f"{_gb(ray['peak_worker_rss'])} ({ray['worker_processes']} `ray::` processes; driver {_gb(ray['peak_driver_rss'])}) |")
        dt = s.get("datatrove")
        if dt:
            st = dt["stage_wall_s"]
            L.append(f"| {s['size']:,} | datatrove MinHash, 4 stages | {dt['wall_s']:.1f} | {dt['executor_wall_s']:.1f} | "
                     + ", ".join(f"{k} {v} s" for k, v in st.items())
                     + f"; {dt['config']['num_buckets']}×{dt['config']['hashes_per_bucket']} | "
                     f"{_gb(dt.get('peak_process_anon'))} (largest process) | {_gb(dt['peak_process_rss'])} (largest process) |")
        ds = s.get("datasketch")
        if ds:
            L.append(f"| {s['size']:,} | datasketch MinHashLSH (1 process) | {ds['wall_s']:.1f} | | signatures {ds['signature_s']} s, "
                     f"index {ds['index_s']} s, query+union {ds['query_cluster_s']} s (shingling not included) | | |")
        for why in s.get("not_run", []):
            L.append(f"| {s['size']:,} | {why} | | | | | |")
    if r.get("skipped_sizes"):
        for sz, why in r["skipped_sizes"].items():
            L.append(f"| {int(sz):,} | **not run**: {why} | | | | | |")
    tp = r.get("throughput")
    L += ["", "### Signature throughput", ""]
    if tp:
        when = (f" Measured on its own (`--throughput-only`) on {tp['run']['date']}, load average at start "
                f"{'/'.join(f'{x:.2f}' for x in tp['run']['load_start'])}." if tp.get("run") else "")
        # measured on the smallest corpus of the run that measured it
        corpus_docs = tp.get("corpus_docs") or min(int(x) for x in str(r["args"]["sizes"]).split(","))
        L += [f"Batch of {tp['batch_docs']:,} documents evenly spaced over the {corpus_docs:,}-document corpus ({tp['batch_mb']} MB), "
              f"{tp['num_perm']} permutations, one core; datasketch on {tp['datasketch_docs']} of them (every "
              f"{max(1, tp['batch_docs'] // tp['datasketch_docs'])}th); 5 rounds alternating the paths, each path's fastest round. The ratio in the targets compares text bytes "
              f"per second, since the two sets of documents differ in length.{when}", "",
              "| path | docs/s |", "|---|---:|",
              f"| raysift `signatures()` (normalise + 5-grams + MinHash, vectorised per batch) | {tp['raysift_docs_s']:,.0f} ({tp['raysift_mb_s']:.1f} MB/s) |",
              f"| datasketch `MinHash.update` per shingle ({tp['num_perm']} perms; raysift's `normalize_text`, 5-gram strings) | {tp['datasketch_update_docs_s']:,.0f} |",
              f"| datasketch `MinHash.update_batch` ({tp['num_perm']} perms) | {tp['datasketch_update_batch_docs_s']:,.0f} |",
              f"| datasketch `MinHash.update` per shingle (128 perms) | {tp['datasketch_update_128_docs_s']:,.0f} |", ""]
    L += ["### Targets (issue 3)", "", "| target | measured | status |", "|---|---|---|"]
    big = max((s for s in r["sizes"] if s.get("quality", {}).get("raysift")), key=lambda s: s["size"], default=None)
    if big:
        q = big["quality"]["raysift"]
        L.append(f"| recall ≥ 0.98 on pairs with J ≥ 0.85 ({big['size']:,} docs) | {_f(q['recall_0.85'])} | "
                 f"{_met(q['recall_0.85'] is not None and q['recall_0.85'] >= 0.98)} |")
        L.append(f"| precision ≥ 0.995 on flagged documents ({big['size']:,} docs) | {_f(q['flagged_precision'])} | "
                 f"{_met(q['flagged_precision'] is not None and q['flagged_precision'] >= 0.995)} |")
    both = max((s for s in r["sizes"] if s.get("datatrove") and s.get("raysift")), key=lambda s: s["size"], default=None)
    if both:
        sp = both["datatrove"]["wall_s"] / both["raysift"]["wall_s"]
        L.append(f"| end-to-end ≥ 3× faster than datatrove ({both['size']:,} docs, whole processes; the largest size "
                 f"both ran) | {sp:.2f}× | {_met(sp >= 3)} |")
    if tp:
        L.append(f"| signature throughput ≥ 20× datasketch per-document `update` (text bytes per second) | {tp['ratio_vs_update']:.1f}× "
                 f"(vs `update_batch`: {tp['ratio_vs_update_batch']:.1f}×) | {_met(tp['ratio_vs_update'] >= 20)} |")
    by = {s["size"]: s for s in r["sizes"]}
    if 1_000_000 in by and by[1_000_000].get("raysift") and 100_000 in by:
        a, b = by[1_000_000]["raysift"], by[100_000]["raysift"]
        tr = a["wall_s"] / b["wall_s"]
        L.append(f"| time(1M) / time(100k) ≤ 12 | {tr:.2f} | {_met(tr <= 12)} |")
        if a.get("peak_worker_anon") and b.get("peak_worker_anon"):
            mr = a["peak_worker_anon"] / b["peak_worker_anon"]
            L.append(f"| peak memory per worker 1M / 100k ≤ 1.3 (private memory, RssAnon) | {mr:.2f} "
                     f"(VmRSS: {a['peak_worker_rss'] / b['peak_worker_rss']:.2f}) | {_met(mr <= 1.3)} |")
        else:
            L.append("| peak memory per worker 1M / 100k ≤ 1.3 | private memory not sampled in one of the runs | not measured |")
    else:
        why = r.get("skipped_sizes", {}).get("1000000")
        if why is None:
            t100 = by.get(100_000, {}).get("raysift", {}).get("wall_s")
            why = "1M was not in `--sizes` of this run" + (
                f" (raysift took {t100:.0f} s at 100k; the script's gate runs 1M only below "
                f"{r['args'].get('gate_1m_s', GATE_1M_S):.0f} s)"
                if t100 is not None else "")
        L.append(f"| time(1M) / time(100k) ≤ 12 | not run: {why} | not measured |")
        L.append(f"| peak memory per worker 1M / 100k ≤ 1.3 | not run | not measured |")
    L += ["", "Memory: \"private memory\" is a process's peak `RssAnon` (/proc, sampled every 0.2 s): what the process "
          "allocated itself. `VmRSS` also counts every page of Ray's shared-memory object store the process has mapped "
          "(blocks it wrote or read); those pages are shared, counted once per process that touched them, and grow "
          "with the data that streamed through a long-lived worker up to the object store's size, so VmRSS per worker "
          "grows with the corpus even when no task holds more. The per-worker target is judged on private memory; "
          "VmRSS is shown beside it. The process named is the Ray task or actor running at the private peak.", ""]
    L += ["Notes: datasketch gets raysift's shingle sets (8-byte shingle hashes), so its numbers isolate MinHash + banding "
          "without verification; its clusters are the union of all LSH candidates. datatrove's default 14×8 banding has "
          "its S-curve midpoint near 0.72 and no verification, and it removes all but one document of each cluster. "
          f"raysift verifies every candidate pair ({_verification_note(r)}). "
          "Wall times of raysift include interpreter and Ray start (≈ 10-20 s here).", END]
    return "\n".join(L) + "\n"


def _components_note(ray: dict[str, Any]) -> str:
    """Which connected-components path a raysift run took, and whether the benchmark forced it."""
    fz = ray["fuzzy"]
    path = fz["components_path"]
    if path == "distributed":
        path += f", {fz.get('rounds')} rounds"
    if ray.get("components_forced"):
        path += " (forced: `--local-components-max-edges 0`)"
    return path


def _verification_note(r: dict[str, Any]) -> str:
    """What raysift's runs in ``r`` used to verify candidates (read from their stats.json)."""
    modes = sorted({s["raysift"].get("fuzzy", {}).get("verification", "signature")
                    for s in r.get("sizes", []) if s.get("raysift")})
    text = {"shingles": "exact Jaccard of the shingle sets ≥ 0.8",
            "signature": "signature Jaccard ≥ 0.8, 250 permutations, 25×10", "none": "no verification"}
    return "; ".join(text.get(m, m) for m in modes) or "not run"


def write_section(section: str, path: Path = RESULTS) -> None:
    """Replace the text between the dedup markers (or append it); nothing outside them changes.

    If another script's section rewrite removed the start marker but left ``## Fuzzy dedup``
    and the end marker, that stretch is replaced instead.
    """
    text = path.read_text() if path.is_file() else "# Benchmark results\n"
    s, e = text.find(START), text.find(END)
    if s >= 0 and e > s:
        text = text[:s] + section.rstrip("\n") + text[e + len(END):]
    elif e >= 0 and text.rfind(HEADING, 0, e) >= 0:
        h = text.rfind(HEADING, 0, e)
        text = text[:h] + section.rstrip("\n") + text[e + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


# ------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "_work")
    p.add_argument("--sample", type=int, default=10_000, help="documents sampled for brute force above --exact-max")
    p.add_argument("--exact-max", type=int, default=10_000, help="up to this size every pair is brute-forced")
    p.add_argument("--peers-max-size", type=int, default=100_000, help="run datatrove/datasketch up to this size")
    p.add_argument("--gate-1m-s", type=float, default=GATE_1M_S,
                   help="run 1M documents only if raysift took less than this many seconds at 100k")
    p.add_argument("--distributed-min-size", type=int, default=1_000_000,
                   help="from this size on, raysift runs with --local-components-max-edges 0: connected "
                        "components on the distributed large-star/small-star path whatever the edge count")
    p.add_argument("--datatrove-venv", type=Path, default=None)
    p.add_argument("--skip-datatrove", action="store_true")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--merge-previous", action="store_true",
                   help="keep the sizes of the last run (<workdir>/dedup/bench_dedup.json) that this run does not "
                        "measure; they are shown with their own date and load average")
    p.add_argument("--throughput-only", action="store_true",
                   help="re-measure only signature throughput (on the smallest --sizes corpus) and merge it "
                        "into <workdir>/dedup/bench_dedup.json")
    p.add_argument("--render-only", action="store_true",
                   help="rewrite the RESULTS.md section from <workdir>/dedup/bench_dedup.json without measuring")
    args = p.parse_args(argv)
    if args.throughput_only:
        saved_file = args.workdir.resolve() / "dedup" / "bench_dedup.json"
        saved = json.loads(saved_file.read_text())
        size = min(int(x) for x in args.sizes.split(","))
        saved["throughput"] = signature_throughput(build_corpus(size, real_documents(), args.seed)["texts"]) | {"corpus_docs": size}
        saved["throughput"]["run"] = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                                      "load_start": os.getloadavg()}
        print(f"[throughput] {saved['throughput']}", flush=True)
        saved_file.write_text(json.dumps(saved, indent=2, default=str))
        write_section(render(saved), args.results)
        return 0
    if args.render_only:
        saved = json.loads((args.workdir.resolve() / "dedup" / "bench_dedup.json").read_text())
        write_section(render(saved), args.results)
        return 0
    require_shared_data()
    sizes = sorted(int(x) for x in args.sizes.split(","))
    work = args.workdir.resolve() / "dedup"
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    res: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine_info(),
        "load_start": os.getloadavg(), "args": {"sizes": args.sizes, "gate_1m_s": args.gate_1m_s}, "sizes": [], "skipped_sizes": {},
        "versions": versions(["ray", "pyarrow", "numpy", "datasketch", "scipy"]),
    }
    print("[corpus] reading real documents ...", flush=True)
    real = real_documents()
    res["real_total"] = len(real)
    res["real_by_origin_all"] = {o: sum(1 for oo, _ in real if oo == o) for o in sorted({o for o, _ in real})}
    dt_py = None
    if not args.skip_datatrove:
        dt_py = ensure_datatrove_venv(args.datatrove_venv or args.workdir.resolve() / "datatrove-venv",
                                      work / "datatrove_install.log")
        code = ("import json; from importlib.metadata import version as v; "
                "print(json.dumps({n: v(n) for n in ['datatrove', 'spacy', 'numpy']}))")
        res["datatrove_versions"] = json.loads(subprocess.run([str(dt_py), "-c", code], capture_output=True,
                                                              text=True, check=True).stdout)
    ray_100k = None
    previous: list[dict[str, Any]] = []
    prev_file = work / "bench_dedup.json"
    if args.merge_previous and prev_file.is_file():
        prev = json.loads(prev_file.read_text())
        for e in prev.get("sizes", []):
            if e["size"] not in sizes:
                e.setdefault("run", {"date": prev["date"], "load_start": prev["load_start"],
                                     "load_end": prev.get("load_end")})
                previous.append(e)
                if e["size"] == 100_000 and e.get("raysift"):
                    ray_100k = e["raysift"]["wall_s"]
    for size in sizes:
        if size >= 1_000_000 and (ray_100k is None or ray_100k >= args.gate_1m_s):
            why = (f"raysift took {ray_100k:.0f} s at 100k (gate: < {args.gate_1m_s:.0f} s)" if ray_100k is not None
                   else "100k was not run first")
            res["skipped_sizes"][str(size)] = why
            print(f"[{size}] not run: {why}", flush=True)
            continue
        entry: dict[str, Any] = {"size": size, "not_run": []}
        t = time.perf_counter()
        corpus = build_corpus(size, real, args.seed)
        entry["counts"] = corpus["counts"]
        shards = work / f"corpus-{size}"
        write_shards(corpus, shards)
        ids, texts = corpus["ids"], corpus["texts"]
        index = {i: k for k, i in enumerate(ids)}
        print(f"[{size}] corpus {corpus['counts']} in {time.perf_counter() - t:.0f} s", flush=True)

        forced = size >= args.distributed_min_size
        print(f"[{size}] raysift dedup{' (distributed components forced)' if forced else ''} ...", flush=True)
        entry["raysift"] = run_raysift(shards, work / f"raysift-{size}", work / f"raysift-{size}.log",
                                       ["--local-components-max-edges", "0"] if forced else None)
        entry["raysift"]["components_forced"] = forced
        print(f"[{size}] raysift {entry['raysift']['wall_s']} s, peak worker private {_gb(entry['raysift']['peak_worker_anon'])} "
              f"(VmRSS {_gb(entry['raysift']['peak_worker_rss'])})", flush=True)
        if size == 100_000:
            ray_100k = entry["raysift"]["wall_s"]
        labels = {"raysift": raysift_clusters(work / f"raysift-{size}", index, size)}

        if size <= args.peers_max_size:
            if dt_py is not None:
                print(f"[{size}] datatrove minhash ...", flush=True)
                entry["datatrove"] = run_datatrove(dt_py, shards, work / f"datatrove-{size}", work / f"datatrove-{size}.log")
                print(f"[{size}] datatrove {entry['datatrove']['wall_s']} s", flush=True)
                labels["datatrove"] = datatrove_clusters(work / f"datatrove-{size}", index, size)
            else:
                entry["not_run"].append("datatrove: --skip-datatrove")
        else:
            entry["not_run"].append(f"datatrove, datasketch: not run above --peers-max-size {args.peers_max_size:,}")

        t = time.perf_counter()
        hashes, off = corpus_shingles(texts)
        print(f"[{size}] shingles in {time.perf_counter() - t:.0f} s", flush=True)
        if size <= args.peers_max_size:
            print(f"[{size}] datasketch ...", flush=True)
            ds = run_datasketch(hashes, off, ids)
            labels["datasketch"] = (ds.pop("label"), ds.pop("flagged"))
            entry["datasketch"] = ds
            print(f"[{size}] datasketch {ds['wall_s']} s", flush=True)

        rng = np.random.default_rng(args.seed + 1)
        sample = np.arange(size) if size <= args.exact_max else np.sort(rng.choice(size, args.sample, replace=False))
        entry["sample"] = len(sample)
        t = time.perf_counter()
        truth = sampled_truth(hashes, off, sample)
        print(f"[{size}] ground truth: {len(truth):,} pairs with J >= 0.5 in {time.perf_counter() - t:.0f} s", flush=True)
        entry["truth_histogram"] = {f"{lo:.2f}": sum(1 for j in truth.values() if lo <= j < lo + 0.05)
                                    for lo in np.arange(0.5, 1.0, 0.05)} | {"1.00": sum(1 for j in truth.values() if j >= 1.0)}
        entry["quality"] = {name: evaluate(lab, fl, truth, sample) for name, (lab, fl) in labels.items()}
        for name, q in entry["quality"].items():
            print(f"[{size}] {name}: recall@0.85 {_f(q['recall_0.85'])}, recall@0.8 {_f(q['recall_0.8'])}, "
                  f"flagged precision {_f(q['flagged_precision'])}, pair precision {_f(q['pair_precision'])}", flush=True)
        if "throughput" not in res:
            res["throughput"] = signature_throughput(texts) | {"corpus_docs": size}
            print(f"[throughput] {res['throughput']}", flush=True)
        res["sizes"].append(entry)
        del corpus, texts, hashes, off, truth, labels
        (work / "bench_dedup.json").write_text(json.dumps(res, indent=2, default=str))
    res["sizes"] = sorted(previous + res["sizes"], key=lambda e: e["size"])
    res["load_end"] = os.getloadavg()
    res["total_s"] = time.perf_counter() - t_start
    (work / "bench_dedup.json").write_text(json.dumps(res, indent=2, default=str))
    write_section(render(res), args.results)
    print(f"wrote {args.results} (section {HEADING!r}) and {work / 'bench_dedup.json'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
