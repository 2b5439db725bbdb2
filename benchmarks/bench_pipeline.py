"""Spine benchmark: raysift vs its own single-core ceiling vs datatrove, plus filter agreement.

One command, one machine, one run:

    python benchmarks/bench_pipeline.py [--pages 5000] [--files 8] [--workdir benchmarks/_work]

1. Builds a crawl of real pages (``benchmarks/build_corpus.py``): the ~430 distinct HTML pages
   of ``../shared/data/warc`` and ``../shared/data/extraction-dev``, repeated (fresh record ids,
   ``copy=N`` URLs) to ``--pages`` responses in ``--files`` WARC.gz files.
2. Throughput, side by side:
   (a) ``raysift run --recipe fineweb`` as a subprocess (the real CLI, a local Ray on every
       core), ``--raysift-runs`` times (3) spread over the benchmark, the median run reported;
       the Ray worker processes' memory is sampled from /proc while it runs;
   (b) the same operators in a plain Python loop on one core (``iter_warc_tables`` ->
       ``annotate_batch`` -> ``write_shards``): the ceiling;
   (c) datatrove's FineWeb pipeline (WarcReader -> URLFilter -> Trafilatura -> Gopher
       repetition -> Gopher quality -> C4 quality -> FineWeb quality -> JsonlWriter) in its
       own virtualenv (created on first use), LocalPipelineExecutor with one task per file.
3. Agreement of keep/drop decisions, raysift's ``gopher`` and ``c4`` recipe filters vs
   datatrove's GopherRepetition+GopherQuality and C4Quality+C4BadWords (defaults), on the
   Dolma Common Crawl texts and the extracted texts of the distinct benchmark pages.
4. Writes the "Spine: crawl → documents" section of benchmarks/RESULTS.md (replacing the
   previous one) and the raw numbers to ``<workdir>/bench_pipeline.json``.

Nothing is downloaded at run time except the datatrove virtualenv's packages: datatrove's
steps that would fetch a file (the fastText language-id model, the bad-words lists, the public
suffix list) are skipped or given a local copy, as the generated section says.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import venv
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from build_corpus import SHARED_DATA, build_corpus, require_shared_data  # noqa: E402

RESULTS = REPO / "benchmarks" / "RESULTS.md"
SECTION = "## Spine: crawl → documents"
DOLMA_DIR = SHARED_DATA / "text" / "dolma-cc-samples"
# lxml >= 5.2 moved lxml.html.clean out; trafilatura's jusText fallback imports it.
DATATROVE_PACKAGES = ["datatrove[processing,io]", "warcio", "spacy", "lxml_html_clean"]
TARGET_SPEEDUP = 10.0
TARGET_EFFICIENCY = 0.70
TARGET_WORKER_RSS = 1.5 * 1024**3
TARGET_AGREEMENT = 0.99
GIB = 1024**3

# --------------------------------------------------------------------------------------------
# Scripts run inside the datatrove virtualenv (written to the workdir at run time).
# --------------------------------------------------------------------------------------------

DT_OFFLINE_GUARD = r'''
import datatrove.io as _dtio

def _no_download(remote_path, *args, **kwargs):
    raise RuntimeError(f"benchmark: datatrove tried to download {remote_path!r}; downloads are not allowed")

_dtio.download_file = _no_download
'''

DT_PIPELINE = DT_OFFLINE_GUARD + r'''
import json, sys, time
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                        GopherRepetitionFilter, URLFilter)
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.writers import JsonlWriter


def main():
    corpus, out, logs, tasks, workers, result = sys.argv[1:7]
    from tldextract import TLDExtract
    url_filter = URLFilter()
    # tldextract fetches the public suffix list from the internet by default: use its bundled snapshot.
    url_filter.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)
    pipeline = [
        WarcReader(corpus, glob_pattern="*.warc.gz"),
        url_filter,
        Trafilatura(favour_precision=True),
        # LanguageFilter skipped: it needs fastText's lid.176.bin, downloaded at run time.
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        JsonlWriter(out),
    ]
    executor = LocalPipelineExecutor(pipeline, tasks=int(tasks), workers=int(workers), logging_dir=logs)
    t = time.perf_counter()
    stats = executor.run()
    seconds = time.perf_counter() - t
    json.dump({"run_seconds": seconds, "stats": json.loads(stats.to_json())}, open(result, "w"))


if __name__ == "__main__":
    main()
'''

DT_AGREE = DT_OFFLINE_GUARD + r'''
import json, sys
from collections import Counter
import numpy as np
import datatrove.pipeline.filters.c4_filters as c4f
from datatrove.data import Document
from datatrove.pipeline.filters import C4BadWordsFilter, C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter
from datatrove.pipeline.filters.gopher_repetition_filter import (find_all_duplicate, find_duplicates,
                                                                 find_top_duplicate, get_n_grams)
from datatrove.utils.text import PUNCTUATION_SET, split_into_sentences, split_into_words

inp, outp, lists_json = sys.argv[1:4]
LISTS = json.load(open(lists_json))  # language -> local bad-words file (raysift's bundled LDNOOBW copies)
URL_TO_LANG = {(c4f._BADWORDS_URL + l if l != "en" else c4f._EN_BADWORDS_URL): l for l in c4f._BADWORDS_LANGS}


def _local_badwords(remote_path, **kwargs):
    lang = URL_TO_LANG.get(remote_path)
    if lang not in LISTS:
        raise RuntimeError(f"benchmark: no local bad-words list for {remote_path!r}")
    return LISTS[lang]


c4f.cached_asset_path_or_download = _local_badwords  # supply the lists offline

rep, qual, c4q, c4bw = GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), C4BadWordsFilter(
    fail_on_missing_language=False)
c4_lines = C4QualityFilter(min_num_sentences=-1)  # same line rules, no sentence rule: to count sentences


def verdict(f, doc):
    r = f.filter(doc)
    if r is True:
        return None
    if isinstance(r, tuple):
        return r[1]
    return None if r else "dropped"


def ratio(a, b):
    return a / b if b else 0.0


def metrics(text):
    words = split_into_words(text)
    n = len(words)
    non_symbol = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
    lines = text.splitlines()
    m = {
        "n_words": len(non_symbol), "n_tokens": n,
        "mean_word_length": float(np.mean([len(w) for w in non_symbol])) if non_symbol else None,
        "hash_ratio": ratio(text.count("#"), n),
        "ellipsis_ratio": ratio(text.count("...") + text.count("…"), n),
        "bullet_lines_ratio": ratio(sum(s.lstrip().startswith(("•", "-")) for s in lines), len(lines)),
        "ellipsis_lines_ratio": ratio(sum(s.rstrip().endswith(("...", "…")) for s in lines), len(lines)),
        "alpha_words_ratio": ratio(sum(any(c.isalpha() for c in w) for w in words), n),
        "stop_words": len({"the", "be", "to", "of", "and", "that", "have", "with"} & set(words)),
        "nonalpha_tokens": dict(Counter(w for w in words if not any(c.isalpha() for c in w)).most_common(300)),
    }
    paras = rep.paragraph_exp.split(text.strip())
    pd, pc = find_duplicates(paras)
    lns = rep._line_splitter.split(text)
    ld, lc = find_duplicates(lns)
    m.update(duplicate_paragraphs=ratio(pd, len(paras)), duplicate_paragraph_chars=ratio(pc, len(text)),
             duplicate_lines=ratio(ld, len(lns)), duplicate_line_chars=ratio(lc, len(text)))
    for k in (2, 3, 4):
        grams = get_n_grams(words, k)
        m[f"top_{k}gram_share"] = ratio(find_top_duplicate(grams), len(text)) if grams else 0.0
    for k in range(5, 11):
        m[f"duplicate_{k}gram_share"] = ratio(find_all_duplicate(words, k), len(text))
    return m


with open(inp) as fin, open(outp, "w") as fout:
    for line in fin:
        d = json.loads(line)
        text = d["text"]
        out = {"id": d["id"]}
        out["gopher_repetition"] = verdict(rep, Document(text=text, id=d["id"]))
        out["gopher_quality"] = verdict(qual, Document(text=text, id=d["id"]))
        doc = Document(text=text, id=d["id"], metadata={"language": d["badwords_language"]})
        out["c4_quality"] = verdict(c4q, doc)
        out["c4_badwords"] = verdict(c4bw, doc) if out["c4_quality"] is None else None
        m = metrics(text)
        lines_doc = Document(text=text, id=d["id"])
        if c4_lines.filter(lines_doc) is True:
            kept = [l for l in lines_doc.text.split("\n") if l]
            m["c4_kept_lines"] = len(kept)
            m["c4_sentences"] = sum(len(split_into_sentences(l)) for l in kept)
            regex = c4bw._get_badwords(d["badwords_language"])
            hit = regex.search(lines_doc.text.lower()) if regex is not None else None
            m["c4_bad_word"] = (hit.group(1) if hit.re.groups else hit.group(0)) if hit else None
        out["metrics"] = m
        fout.write(json.dumps(out) + "\n")
'''

# --------------------------------------------------------------------------------------------
# Machine facts and process sampling
# --------------------------------------------------------------------------------------------


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"cpu_model": cpu, "cores": os.cpu_count(), "ram_bytes": mem, "python": platform.python_version(),
            "platform": platform.platform()}


def _versions(names: list[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = "not installed"
    return out


_CLK = os.sysconf("SC_CLK_TCK")


def _read_stat(pid: str) -> tuple[int, float] | None:
    """(ppid, cpu seconds) from /proc/<pid>/stat, or None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLK


def _read_mem(pid: int) -> tuple[int, int] | None:
    """(VmRSS, RssAnon) in bytes."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    vals = {}
    for line in status.splitlines():
        if line.startswith(("VmRSS:", "RssAnon:")):
            k, v = line.split(":", 1)
            vals[k] = int(v.split()[0]) * 1024
    return vals.get("VmRSS", 0), vals.get("RssAnon", 0)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class ProcessTreeSampler:
    """Samples, every ``interval`` seconds, RSS and CPU time of a process and its descendants.

    Ray worker processes are the descendants whose command line starts with ``ray::`` (Ray
    renames its workers so); the peak per worker is the largest VmRSS any of them reached.
    CPU seconds are the last value seen per process (a process's final < interval is missed).
    """

    def __init__(self, root: int, interval: float = 0.2, worker_prefix: str | None = "ray::") -> None:
        self.root, self.interval, self.worker_prefix = root, interval, worker_prefix
        self.peak_rss: dict[int, int] = {}
        self.peak_anon: dict[int, int] = {}
        self.cpu: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "ProcessTreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        children: dict[int, list[int]] = defaultdict(list)
        cpu: dict[int, float] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            st = _read_stat(name)
            if st is None:
                continue
            children[st[0]].append(int(name))
            cpu[int(name)] = st[1]
        todo, tree = [self.root], []
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        for pid in tree:
            if pid not in cpu:
                continue
            mem = _read_mem(pid)
            if mem is None:
                continue
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), cpu[pid])
            self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), mem[0])
            self.peak_anon[pid] = max(self.peak_anon.get(pid, 0), mem[1])
            if pid == self.root:
                self.kind[pid] = "driver"
            elif self.worker_prefix is not None:
                cmd = _cmdline(pid)
                if cmd:
                    self.kind[pid] = "worker" if cmd.startswith(self.worker_prefix) else "other"
            else:
                self.kind.setdefault(pid, "worker")

    def summary(self) -> dict[str, Any]:
        workers = [p for p, k in self.kind.items() if k == "worker"]
        return {
            "worker_processes": len(workers),
            "peak_worker_rss": max((self.peak_rss[p] for p in workers), default=None),
            "peak_worker_rss_anon": max((self.peak_anon[p] for p in workers), default=None),
            "peak_driver_rss": self.peak_rss.get(self.root),
            "cpu_seconds_total": round(sum(self.cpu.values()), 2),
            "cpu_seconds_workers": round(sum(self.cpu[p] for p in workers), 2),
            "processes_seen": len(self.kind),
        }


# --------------------------------------------------------------------------------------------
# (b) plain loop, (a) raysift CLI, (c) datatrove
# --------------------------------------------------------------------------------------------


def run_loop(files: list[Path], out: Path) -> dict[str, Any]:
    """The fineweb recipe's operators in a plain loop on one core (read, annotate, write)."""
    import resource

    from operators.pipeline import annotate_batch
    from operators.recipe import load_recipe
    from operators.stats import BatchStats
    from operators.warc import iter_warc_tables
    from operators.writer import write_shards

    cfg = load_recipe("fineweb")
    if out.exists():
        shutil.rmtree(out)
    totals = BatchStats()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for path in files:
        with path.open("rb") as f:
            for table in iter_warc_tables(f, str(path), cfg.warc):
                stats = write_shards(annotate_batch(table, cfg), str(out), cfg.storage)
                for text in stats.column("stats").to_pylist():
                    totals.merge(BatchStats.from_json(text))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "pages": totals.documents_in, "documents_out": totals.documents_out,
        "rejected": dict(Counter(totals.rejected).most_common()),
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "pages_per_s": totals.documents_in / wall,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def _raysift_command() -> list[str]:
    script = Path(sys.executable).with_name("raysift")
    return [str(script)] if script.exists() else [sys.executable, "-m", "jobs.cli"]


def run_raysift(files: list[Path], out: Path, log: Path) -> dict[str, Any]:
    """``raysift run --recipe fineweb`` as a subprocess; wall time and sampled memory."""
    if out.exists():
        shutil.rmtree(out)
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", PYTHONPATH=str(REPO))
    cmd = _raysift_command() + ["run", "--recipe", "fineweb", "--quiet", "--output", str(out),
                                "--input", *map(str, files)]
    with log.open("w") as logf:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        with ProcessTreeSampler(proc.pid) as sampler:
            rc = proc.wait()
        wall = time.perf_counter() - t
    if rc != 0:
        raise SystemExit(f"raysift run failed (exit {rc}); see {log}")
    stats = json.loads((out / "stats.json").read_text())
    pages = stats["documents_in"]
    return {
        "pages": pages, "documents_out": stats["documents_out"], "rejected": stats["rejected"],
        "wall_s": round(wall, 2), "pipeline_wall_s": stats["wall_time_s"],
        "pages_per_s": pages / wall, "pages_per_s_pipeline": pages / stats["wall_time_s"],
        "ray_cpus": stats.get("ray", {}).get("cpus"), **sampler.summary(),
    }


def ensure_datatrove_venv(path: Path, log: Path) -> Path:
    """The datatrove virtualenv's python; create it and install the peer on first use."""
    py = path / "bin" / "python"
    probe = [str(py), "-c", "import datatrove, trafilatura, spacy, warcio"]
    if py.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return py
    print(f"[datatrove] installing {' '.join(DATATROVE_PACKAGES)} into {path} (1-2 min) ...", flush=True)
    if not py.exists():
        venv.EnvBuilder(with_pip=True).create(path)
    with log.open("w") as logf:
        rc = subprocess.run([str(py), "-m", "pip", "install", *DATATROVE_PACKAGES], stdout=logf,
                            stderr=subprocess.STDOUT).returncode
    if rc != 0 or subprocess.run(probe, capture_output=True).returncode != 0:
        raise SystemExit(f"installing datatrove into {path} failed; see {log}")
    return py


def _dt_env(workdir: Path) -> dict[str, str]:
    return dict(os.environ, HF_HOME=str(workdir / "hf-home"), HF_HUB_OFFLINE="1",
                TLDEXTRACT_CACHE=str(workdir / "tldextract-cache"), PYTHONPATH="")


def datatrove_versions(py: Path) -> dict[str, str]:
    code = ("import json; from importlib.metadata import version as v; "
            "print(json.dumps({n: v(n) for n in ['datatrove', 'trafilatura', 'spacy', 'warcio', 'nltk']}))")
    return json.loads(subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True).stdout)


def run_datatrove(py: Path, corpus: Path, n_files: int, workers: int, workdir: Path) -> dict[str, Any]:
    script = workdir / "datatrove_fineweb.py"
    script.write_text(DT_PIPELINE)
    out, logs, result = workdir / "datatrove-out", workdir / "datatrove-logs", workdir / "datatrove_result.json"
    for p in (out, logs):
        if p.exists():
            shutil.rmtree(p)  # LocalPipelineExecutor skips tasks its logs call completed
    result.unlink(missing_ok=True)
    log = workdir / "datatrove_run.log"
    with log.open("w") as logf:
        t = time.perf_counter()
        proc = subprocess.Popen([str(py), str(script), str(corpus), str(out), str(logs), str(n_files), str(workers),
                                 str(result)], stdout=logf, stderr=subprocess.STDOUT, env=_dt_env(workdir), cwd=workdir)
        with ProcessTreeSampler(proc.pid, worker_prefix=None) as sampler:
            rc = proc.wait()
        wall = time.perf_counter() - t
    if rc != 0 or not result.is_file():
        raise SystemExit(f"datatrove pipeline failed (exit {rc}); see {log}")
    res = json.loads(result.read_text())
    steps = {}
    for step in res["stats"]:
        name = re.sub(r"^[^A-Za-z]*[A-Z]+:\s*\W*\s*", "", step.get("name", "?")).strip() or step.get("name", "?")
        counts = {k: v.get("total", v) if isinstance(v, dict) else v for k, v in step.get("stats", {}).items()}
        ts = step.get("time_stats", {})
        steps[name] = {"time_s": ts.get("total"), "per_task_min_s": ts.get("global_min"), **counts}
    reader = next((v for k, v in steps.items() if "Warc" in k), {})
    writer = next((v for k, v in steps.items() if "Jsonl" in k), {})
    url = next((v for k, v in steps.items() if "Url" in k), {})
    traf = next((v for k, v in steps.items() if "Trafilatura" in k), {})
    pages = int(reader.get("documents", 0))
    summary = sampler.summary()
    # URLFilter loads its block lists once per task; with small input files that dominates its time.
    url_setup = (url.get("per_task_min_s") or 0.0) * n_files
    run_s = res["run_seconds"]
    return {
        "pages": pages, "documents_out": int(writer.get("total", 0) or 0),
        "wall_s": round(wall, 2), "run_s": round(run_s, 2),
        "pages_per_s": pages / wall if wall else None, "pages_per_s_run": pages / run_s,
        "url_filter_setup_s": round(url_setup, 1),
        "pages_per_s_no_url_setup": pages / max(run_s - url_setup / workers, 1e-9),
        "trafilatura_timeouts": int(traf.get("timeout", 0) or 0),
        "steps": steps, "cpu_seconds_total": summary["cpu_seconds_total"],
        "peak_process_rss": max(sampler.peak_rss.values(), default=None),
    }


# --------------------------------------------------------------------------------------------
# Agreement
# --------------------------------------------------------------------------------------------


def agreement_texts(files: list[Path]) -> list[dict[str, Any]]:
    """The Dolma texts and the extracted texts of the distinct benchmark pages, deduped by text."""
    import gzip

    import pyarrow as pa

    from operators.langid import detect_language
    from operators.pipeline import annotate_batch
    from operators.recipe import load_recipe
    from operators.warc import iter_warc_tables

    cfg = load_recipe("extract")
    docs: list[dict[str, Any]] = []
    for path in sorted(DOLMA_DIR.glob("*.json*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if line.strip():
                    rec = json.loads(line)
                    lang, _ = detect_language(rec["text"], cfg.extract.language)
                    docs.append({"id": f"dolma:{path.name}:{i}", "text": rec["text"], "language": lang, "origin": "dolma"})
    for path in files:
        with path.open("rb") as f:
            for table in iter_warc_tables(f, path.name, cfg.warc):
                keep = [i for i, u in enumerate(table.column("url").to_pylist()) if "copy=" not in (u or "")]
                if not keep:
                    continue
                out = annotate_batch(table.take(pa.array(keep)), cfg)
                for row in out.select(["url", "text", "language", "reason"]).to_pylist():
                    if row["reason"] is None and row["text"] and row["text"].strip():
                        docs.append({"id": row["url"], "text": row["text"], "language": row["language"], "origin": "page"})
    seen, unique = set(), []
    for d in docs:
        if d["text"] not in seen:
            seen.add(d["text"])
            unique.append(d)
    return unique


def raysift_decisions(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our ``gopher`` and ``c4`` recipe filters, called directly on each text."""
    from operators.filters import c4, gopher_quality, gopher_repetition
    from operators.filters.text import has_alpha, split_words
    from operators.recipe import load_recipe

    g, c = load_recipe("gopher").filters, load_recipe("c4").filters.c4
    c_lines = type(c)(**{**c.__dict__, "bad_words": False})
    out = []
    for d in docs:
        rep_stats = gopher_repetition.measure(d["text"], g.gopher_repetition)
        q_stats = gopher_quality.measure(d["text"], g.gopher_quality)
        lang = c4.normalize_language(d["language"], c.default_language)
        c4_stats, cleaned = c4.measure_and_clean(d["text"], c, lang)
        pattern = c4.badwords_regex(lang, c.badwords_dir)
        hit = pattern.search(cleaned.lower()) if pattern is not None else None
        out.append({
            "id": d["id"],
            "gopher_repetition": gopher_repetition.decide(rep_stats, g.gopher_repetition),
            "gopher_quality": gopher_quality.decide(q_stats, g.gopher_quality),
            "c4": c4.decide(c4_stats, c),
            "c4_quality": c4.decide(c4_stats, c_lines),
            "metrics": {**rep_stats.__dict__, **q_stats.__dict__, "c4_kept_lines": c4_stats.n_kept_lines,
                        "c4_sentences": c4_stats.n_sentences, "c4_bad_word": hit.group(0) if hit else None,
                        "nonalpha_tokens": dict(Counter(t for t in split_words(d["text"]) if not has_alpha(t)).most_common(300))},
            "badwords_language": lang if pattern is not None else "none",
        })
    return out


def datatrove_decisions(py: Path, docs: list[dict[str, Any]], ours: list[dict[str, Any]], workdir: Path) -> list[dict]:
    from operators.filters import c4

    inp, outp = workdir / "agreement_in.jsonl", workdir / "agreement_out.jsonl"
    with inp.open("w") as f:
        for d, o in zip(docs, ours):
            f.write(json.dumps({"id": d["id"], "text": d["text"], "badwords_language": o["badwords_language"]}) + "\n")
    lists = {p.stem: str(p) for p in sorted(c4.BADWORDS_DIR.glob("*.txt"))}
    lists_json = workdir / "agreement_badwords.json"
    lists_json.write_text(json.dumps(lists))
    script = workdir / "datatrove_agree.py"
    script.write_text(DT_AGREE)
    log = workdir / "datatrove_agree.log"
    with log.open("w") as logf:
        rc = subprocess.run([str(py), str(script), str(inp), str(outp), str(lists_json)], stdout=logf,
                            stderr=subprocess.STDOUT, env=_dt_env(workdir), cwd=workdir).returncode
    if rc != 0:
        raise SystemExit(f"datatrove filter comparison failed (exit {rc}); see {log}")
    return [json.loads(line) for line in outp.read_text().splitlines()]


# datatrove reason -> our reason (same rule)
DT_REASON = {
    "dup_para_frac": "gopher_rep_too_many_duplicate_paragraphs",
    "dup_para_char_frac": "gopher_rep_too_many_duplicate_paragraph_chars",
    "dup_line_frac": "gopher_rep_too_many_duplicate_lines",
    "dup_line_char_frac": "gopher_rep_too_many_duplicate_line_chars",
    **{f"top_{n}_gram": f"gopher_rep_top_{n}gram_too_frequent" for n in (2, 3, 4)},
    **{f"duplicated_{n}_n_grams": f"gopher_rep_too_many_duplicate_{n}grams" for n in range(5, 11)},
    "gopher_short_doc": "gopher_too_few_words",
    "gopher_long_doc": "gopher_too_many_words",
    "gopher_below_avg_threshold": "gopher_short_mean_word_length",
    "gopher_above_avg_threshold": "gopher_long_mean_word_length",
    "gopher_too_many_hashes": "gopher_too_many_hashes",
    "gopher_too_many_ellipsis": "gopher_too_many_ellipses",
    "gopher_too_many_bullets": "gopher_too_many_bullet_lines",
    "gopher_too_many_end_ellipsis": "gopher_too_many_ellipsis_lines",
    "gopher_below_alpha_threshold": "gopher_too_few_alpha_words",
    "gopher_enough_stop_words": "gopher_too_few_stop_words",
    "lorem_ipsum": "c4_lorem_ipsum",
    "curly_bracket": "c4_curly_bracket",
    "too_few_sentences": "c4_too_few_sentences",
    "document_removed_with_badwords": "c4_bad_words",
}

# our reason -> the metric both sides measure for it
REASON_METRIC = {
    "gopher_rep_too_many_duplicate_paragraphs": "duplicate_paragraphs",
    "gopher_rep_too_many_duplicate_paragraph_chars": "duplicate_paragraph_chars",
    "gopher_rep_too_many_duplicate_lines": "duplicate_lines",
    "gopher_rep_too_many_duplicate_line_chars": "duplicate_line_chars",
    **{f"gopher_rep_top_{n}gram_too_frequent": f"top_{n}gram_share" for n in (2, 3, 4)},
    **{f"gopher_rep_too_many_duplicate_{n}grams": f"duplicate_{n}gram_share" for n in range(5, 11)},
    "gopher_too_few_words": "n_words",
    "gopher_too_many_words": "n_words",
    "gopher_short_mean_word_length": "mean_word_length",
    "gopher_long_mean_word_length": "mean_word_length",
    "gopher_too_many_hashes": "hash_ratio",
    "gopher_too_many_ellipses": "ellipsis_ratio",
    "gopher_too_many_bullet_lines": "bullet_lines_ratio",
    "gopher_too_many_ellipsis_lines": "ellipsis_lines_ratio",
    "gopher_too_few_alpha_words": "alpha_words_ratio",
    "gopher_too_few_stop_words": "stop_words",
    "c4_too_few_sentences": "c4_sentences",
    "c4_no_lines_left": "c4_kept_lines",
    "c4_bad_words": "c4_bad_word",
}

TOKENIZER_DIFFERENCES = (
    "raysift follows spaCy's prefix/suffix/infix rules but has a smaller exception table, so e.g. `y'all`, "
    "`ol'`, `'em` and emoticons spanning affixes (`[:`) are split differently, and IP addresses, some URLs and "
    "CJK runs with symbols such as `③` differ")

# Why a rule can decide differently here and in datatrove (see operators/filters/*.py docstrings).
EXPLAIN = {
    "n_words": "word count: raysift re-implements spaCy's English tokenizer rules (operators/filters/text.py) "
               "with a smaller exception table (contractions by rule, ~130 abbreviations, a few emoticons), so "
               "tokens differ where spaCy has an exception we lack; documents near 50 words can flip",
    "mean_word_length": "mean word length: same tokenizer difference (spaCy's exception table vs our rules) "
                        "changes the words averaged",
    "alpha_words_ratio": "alphabetic-word share (tokenizer): " + TOKENIZER_DIFFERENCES
                         + "; a document within a few tokens of 0.8 can flip (see the token counts in the examples)",
    "stop_words": "stop words: both count distinct stop words (datatrove 0.10); tokens differ only where "
                  "spaCy's exception table and our rules differ",
    "hash_ratio": "`#` per word: same count of `#`, different token count (tokenizer)",
    "ellipsis_ratio": "ellipses per word: same ellipsis count, different token count (tokenizer)",
    "bullet_lines_ratio": "bullet lines: same rule on `str.splitlines()`; differs only through text handling",
    "ellipsis_lines_ratio": "ellipsis lines: same rule on `str.splitlines()`",
    "c4_sentences": "sentence count: datatrove runs spaCy's sentencizer on each kept line, raysift counts "
                    "runs of `. ! ? … 。` followed by whitespace or the line end (at least one per line). Initials "
                    "and abbreviations (`Paul G. Allen`) are sentence ends for raysift, not for spaCy; a period "
                    "without a following space (`you.Therefore`, Chinese text after `。`) ends a sentence for "
                    "spaCy, not for raysift; documents near 5 sentences flip",
    "c4_kept_lines": "no lines left: same line rules; differs only when the sentence rule differs",
    "c4_bad_word": "bad words: raysift lower-cases the list and matches `(?<!\\w)word(?!\\w)` on the "
                   "cleaned text; datatrove keeps list entries as written (mixed-case entries never match the "
                   "lower-cased text) and subtracts the ja/zh allowlists from every language",
}
for _n in (2, 3, 4):
    EXPLAIN[f"top_{_n}gram_share"] = (f"top {_n}-gram share: n-grams are built from tokens; where our tokens "
                                      "differ from spaCy's the n-grams and character counts differ")
for _n in range(5, 11):
    EXPLAIN[f"duplicate_{_n}gram_share"] = (f"duplicated {_n}-gram share: computed on tokens (ours vs spaCy's); "
                                            "different tokens make different repeated n-grams")
for _k in ("duplicate_paragraphs", "duplicate_paragraph_chars", "duplicate_lines", "duplicate_line_chars"):
    EXPLAIN[_k] = "duplicate lines/paragraphs: same splitting as datatrove; should not differ (investigate)"


def _fmt_metric(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _token_evidence(ours: dict[str, int], theirs: dict[str, int], k: int = 4) -> str:
    """The non-alphabetic tokens one side counts more often than the other (top ``k`` each way)."""
    more_ours = (Counter(ours) - Counter(theirs)).most_common(k)
    more_theirs = (Counter(theirs) - Counter(ours)).most_common(k)
    fmt = lambda items: ", ".join(f"`{t}`×{n}" for t, n in items) or "none"  # noqa: E731
    return f"non-alpha tokens more in raysift: {fmt(more_ours)}; more in datatrove: {fmt(more_theirs)}"


def tokenizer_summary(ours: list[dict], theirs: list[dict], threshold: float = 0.8) -> dict[str, Any]:
    """How close raysift's word split is to spaCy's (datatrove) on the agreement texts."""
    pairs = [(o["metrics"], t["metrics"]) for o, t in zip(ours, theirs)]
    diffs = [abs(a["alpha_words_ratio"] - b["alpha_words_ratio"]) for a, b in pairs
             if a.get("alpha_words_ratio") is not None and b.get("alpha_words_ratio") is not None]
    near = sum(1 for a, b in pairs if a.get("alpha_words_ratio") is not None and b.get("alpha_words_ratio") is not None
               and min(abs(a["alpha_words_ratio"] - threshold), abs(b["alpha_words_ratio"] - threshold)) < 0.01)
    return {
        "documents": len(pairs),
        "same_token_count": sum(1 for a, b in pairs if a.get("n_tokens") == b.get("n_tokens")),
        "token_count_within_1pct": sum(1 for a, b in pairs if abs(a.get("n_tokens", 0) - b.get("n_tokens", 0))
                                       <= 0.01 * max(b.get("n_tokens", 0), 1)),
        "alpha_ratio_max_diff": max(diffs, default=0.0),
        "alpha_ratio_mean_diff": sum(diffs) / len(diffs) if diffs else 0.0,
        "alpha_ratio_near_threshold": near,
    }


def compare(docs: list[dict], ours: list[dict], theirs: list[dict]) -> dict[str, Any]:
    """Agreement per recipe and the disagreement classes (dropping side + rule)."""
    recipes = {
        "gopher": (lambda o: o["gopher_repetition"] or o["gopher_quality"],
                   lambda t: t["gopher_repetition"] or t["gopher_quality"]),
        "c4": (lambda o: o["c4"], lambda t: t["c4_quality"] or t["c4_badwords"]),
        "c4 (quality rules only, no bad words)": (lambda o: o["c4_quality"], lambda t: t["c4_quality"]),
    }
    result: dict[str, Any] = {}
    for name, (ours_fn, theirs_fn) in recipes.items():
        agree = ours_keep_only = theirs_keep_only = kept_both = 0
        classes: dict[str, dict[str, Any]] = {}
        for d, o, t in zip(docs, ours, theirs):
            r_o, r_t = ours_fn(o), theirs_fn(t)
            if (r_o is None) == (r_t is None):
                agree += 1
                kept_both += r_o is None
                continue
            if r_o is None:
                ours_keep_only += 1
                rule, side = DT_REASON.get(r_t, r_t), "datatrove drops, raysift keeps"
            else:
                theirs_keep_only += 1
                rule, side = r_o, "raysift drops, datatrove keeps"
            metric = REASON_METRIC.get(rule)
            key = f"{rule} ({side})"
            cls = classes.setdefault(key, {"count": 0, "metric": metric, "examples": [],
                                           "explanation": EXPLAIN.get(metric, "not classified: investigate")})
            cls["count"] += 1
            if len(cls["examples"]) < 3:
                ex = {"id": d["id"], "raysift": _fmt_metric(o["metrics"].get(metric)),
                      "datatrove": _fmt_metric(t["metrics"].get(metric))}
                if metric == "alpha_words_ratio":
                    ex["evidence"] = _token_evidence(o["metrics"]["nonalpha_tokens"], t["metrics"]["nonalpha_tokens"])
                cls["examples"].append(ex)
        n = len(docs)
        result[name] = {"documents": n, "agree": agree, "agreement": agree / n if n else None,
                        "kept_both": kept_both, "raysift_keeps_datatrove_drops": ours_keep_only,
                        "raysift_drops_datatrove_keeps": theirs_keep_only,
                        "classes": dict(sorted(classes.items(), key=lambda kv: -kv[1]["count"]))}
    return result


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def _gb(b: int | None) -> str:
    return "–" if b is None else f"{b / GIB:.2f} GiB"


def render(r: dict[str, Any]) -> str:
    m, c, ray, loop, dt = r["machine"], r["corpus"], r["raysift"], r["loop"], r.get("datatrove")
    la0, la1 = r["load_start"], r["load_end"]
    lines = [
        SECTION, "",
        "_Generated by `python benchmarks/bench_pipeline.py` "
        f"(`--pages {c['pages']} --files {c['files']}`); re-running replaces this section. Do not edit by hand._",
        "",
        f"- Date (UTC): {r['date']}; total benchmark time {r['total_s']:.0f} s.",
        f"- Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_bytes'] / GIB:.1f} GiB RAM; {m['platform']}; "
        f"Python {m['python']}.",
        "- raysift side: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + ".",
        "- datatrove side (own virtualenv): " + (", ".join(f"{k} {v}" for k, v in r["dt_versions"].items())
                                                  if r.get("dt_versions") else "not run") + ".",
        f"- Load average (1/5/15 min) at start {la0[0]:.2f} / {la0[1]:.2f} / {la0[2]:.2f}, at end "
        f"{la1[0]:.2f} / {la1[1]:.2f} / {la1[2]:.2f}. The machine is shared with other engineers' jobs, "
        "so wall times include their load; the CPU-seconds columns are less sensitive to it.",
        f"- Input: {c['pages']:,} HTML responses in {c['files']} WARC.gz files ({c['bytes'] / 1e6:.0f} MB compressed): "
        f"the {c['unique_pages']} distinct real pages of `../shared/data` ({c['unique_from_warc']} HTML responses of "
        f"`warc/`, {c['unique_from_readability']} readability test pages) **repeated up to {c['max_copies']}×** with "
        "fresh record ids, `copy=N` URLs and a `[copy N]` marker opening the first paragraph (no two copies have the same "
        "text, so no cache keyed by text makes a repeat free). Repeats are fine for throughput; this corpus says nothing about dedup.",
        "",
        "### Throughput",
        "",
        "| system | what runs | pages | kept | wall (s) | pages/s | CPU s / page | peak RSS per worker |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    lines.append(
        f"| raysift, Ray ({ray['ray_cpus']:.0f} CPUs), whole CLI | `raysift run --recipe fineweb` subprocess incl. "
        f"interpreter + Ray start | {ray['pages']:,} | {ray['documents_out']:,} | {ray['wall_s']:.1f} | "
        f"{ray['pages_per_s']:.1f} | {ray['cpu_seconds_total'] / ray['pages'] * 1000:.1f} ms (all Ray processes) | "
        f"{_gb(ray['peak_worker_rss'])} RSS ({_gb(ray['peak_worker_rss_anon'])} anon), "
        f"{ray['worker_processes']} worker processes |")
    lines.append(
        f"| raysift, Ray, pipeline only | same run, `wall_time_s` of stats.json (after `ray.init`) | {ray['pages']:,} | "
        f"{ray['documents_out']:,} | {ray['pipeline_wall_s']:.1f} | {ray['pages_per_s_pipeline']:.1f} | | |")
    lines.append(
        f"| raysift, plain loop, 1 core | `iter_warc_tables` → `annotate_batch` → `write_shards` in one process | "
        f"{loop['pages']:,} | {loop['documents_out']:,} | {loop['wall_s']:.1f} | {loop['pages_per_s']:.1f} | "
        f"{loop['cpu_s'] / loop['pages'] * 1000:.1f} ms | {_gb(loop['peak_rss'])} (the process) |")
    if dt:
        lines.append(
            f"| datatrove, whole script | FineWeb pipeline below, `LocalPipelineExecutor(tasks={c['files']}, "
            f"workers={r['workers']})`, incl. interpreter start | {dt['pages']:,} | {dt['documents_out']:,} | "
            f"{dt['wall_s']:.1f} | {dt['pages_per_s']:.1f} | {dt['cpu_seconds_total'] / max(dt['pages'], 1) * 1000:.1f} ms "
            f"(all processes) | {_gb(dt['peak_process_rss'])} (largest process) |")
        lines.append(
            f"| datatrove, executor only | same run, `executor.run()` | {dt['pages']:,} | {dt['documents_out']:,} | "
            f"{dt['run_s']:.1f} | {dt['pages_per_s_run']:.1f} | | |")
        lines.append(
            f"| datatrove, executor minus URL-list loading (estimate) | `executor.run()` − {c['files']} tasks × "
            f"{dt['url_filter_setup_s'] / c['files']:.1f} s URLFilter list loading ÷ {r['workers']} workers | "
            f"{dt['pages']:,} | | {dt['pages'] / dt['pages_per_s_no_url_setup']:.1f} | "
            f"{dt['pages_per_s_no_url_setup']:.1f} | | |")
    if len(r.get("raysift_runs", [])) > 1:
        runs = r["raysift_runs"]
        lines += ["", f"raysift rows: the median of {len(runs)} CLI runs (by pages/s), spread over the benchmark (first "
                  "before the plain loop, second after it, the rest after datatrove). All runs, CLI / pipeline pages/s "
                  "(1-min load average at the run's start): " + "; ".join(
                      f"{x['pages_per_s']:.1f} / {x['pages_per_s_pipeline']:.1f} ({x['load_start'][0]:.2f})" for x in runs)
                  + "."]
    lines += ["", "### Targets (spine issue)", "", "| target | formula | measured | status |", "|---|---|---|---|"]
    t = r["targets"]
    if dt:
        lines.append(
            f"| end-to-end pages/s ≥ {TARGET_SPEEDUP:.0f}× datatrove | raysift CLI pages/s ÷ datatrove script pages/s "
            f"(both whole processes) | {t['speedup_e2e']:.2f}× | {_met(t['speedup_e2e'] >= TARGET_SPEEDUP)} |")
        lines.append(
            f"| (same, pipelines only) | stats.json pages/s ÷ `executor.run()` pages/s | {t['speedup_pipeline']:.2f}× | "
            f"{_met(t['speedup_pipeline'] >= TARGET_SPEEDUP)} |")
        lines.append(
            f"| (same, datatrove without URL-list loading) | stats.json pages/s ÷ estimate above | "
            f"{t['speedup_no_url_setup']:.2f}× | {_met(t['speedup_no_url_setup'] >= TARGET_SPEEDUP)} |")
        lines.append(
            f"| (same, CPU cost) | datatrove CPU s/page ÷ raysift CPU s/page (all processes) | {t['cpu_ratio']:.2f}× | "
            "for information |")
    else:
        lines.append(f"| end-to-end pages/s ≥ {TARGET_SPEEDUP:.0f}× datatrove | – | datatrove not run | n/a |")
    lines.append(
        f"| Ray overhead: ≥ {TARGET_EFFICIENCY:.0%} of the ceiling with {r['workers']} workers | pipeline pages/s ÷ "
        f"({r['workers']} × plain-loop pages/s) | {t['efficiency']:.0%} | {_met(t['efficiency'] >= TARGET_EFFICIENCY)} |")
    lines.append(
        f"| (same, whole CLI) | CLI pages/s ÷ ({r['workers']} × plain-loop pages/s) | {t['efficiency_e2e']:.0%} | "
        f"{_met(t['efficiency_e2e'] >= TARGET_EFFICIENCY)} |")
    lines.append(
        f"| (same, CPU cost) | loop CPU s/page ÷ Ray CPU s/page (all Ray processes) | {t['cpu_efficiency']:.0%} | "
        "for information |")
    lines.append(
        f"| peak memory per worker ≤ 1.5 GB | max VmRSS of any `ray::` worker process, sampled every 0.2 s | "
        f"{_gb(ray['peak_worker_rss'])} | {_met(ray['peak_worker_rss'] is not None and ray['peak_worker_rss'] <= TARGET_WORKER_RSS)} |")
    ag = r.get("agreement")
    if ag:
        for name in ("gopher", "c4"):
            a = ag["recipes"][name]
            lines.append(f"| filter agreement ≥ 99 %: `{name}` | same keep/drop ÷ documents | {a['agreement']:.1%} of "
                         f"{a['documents']} | {_met(a['agreement'] >= TARGET_AGREEMENT)} |")
    lines += ["", "### What runs on each side", ""]
    lines += [
        f"- raysift: recipe `fineweb` = resiliparse extraction with boilerplate pruning + language id (resiliparse), "
        "URL filter (default lists: empty), language (en ≥ 0.65), Gopher repetition, Gopher quality, C4 (no "
        "terminal-punctuation rule, no bad words), FineWeb; Parquet shards. Rejects: "
        + ", ".join(f"{k} {v}" for k, v in list(ray["rejected"].items())[:6]) + ".",
        f"- plain loop: the same config and functions in one Python process; it kept {loop['documents_out']:,} "
        f"documents vs {ray['documents_out']:,} under Ray (must be equal). Wall {loop['wall_s']:.1f} s, "
        f"CPU {loop['cpu_s']:.1f} s.",
    ]
    if dt:
        lines += [
            "- datatrove: `WarcReader → URLFilter (integrated block lists; tldextract's bundled suffix list, no "
            "fetch) → Trafilatura(favour_precision=True) → GopherRepetitionFilter → GopherQualityFilter → "
            "C4QualityFilter(filter_no_terminal_punct=False) → FineWebQualityFilter → JsonlWriter`. "
            "**LanguageFilter is skipped**: it needs fastText's `lid.176.bin`, downloaded at run time. So every "
            f"non-English page also goes through datatrove's Gopher/C4/FineWeb filters; in the raysift run "
            f"{t['language_rejected_share']:.0%} of the pages were dropped by the language rule before those filters "
            "(datatrove's fastText step would itself cost time too). Word and sentence splitting use "
            "`spacy.blank('en')` + sentencizer (no model download). Trafilatura's 1 s timeout dropped "
            f"{dt['trafilatura_timeouts']} pages. URLFilter loads its block lists once per task (≈ "
            f"{dt['url_filter_setup_s'] / c['files']:.1f} s each), a cost real Common Crawl files (~30k+ pages "
            "each) amortise far better than these small files. Per-step CPU time (s, summed over tasks): "
            + ", ".join(f"{k} {v['time_s']:.1f}" for k, v in dt["steps"].items()
                        if isinstance(v.get("time_s"), (int, float))) + ".",
            "- Not the same work: Trafilatura and raysift's extractor produce different texts, and the URL block "
            "lists differ (datatrove ships large lists, raysift's defaults are empty), so kept counts differ.",
        ]
    if ag:
        lines += agreement_lines(ag)
    lines.append("")
    return "\n".join(lines)


def agreement_lines(ag: dict[str, Any]) -> list[str]:
    src = ag["sources"]
    lines = [
        "", "### Filter agreement with datatrove", "",
        f"Texts: {ag['documents']} distinct texts ({src.get('dolma', 0)} Dolma Common Crawl documents of "
        f"`../shared/data/text`, {src.get('page', 0)} raysift extractions of the distinct benchmark pages; "
        "deduplicated by text). Both sides get the same text. raysift: the `gopher` / `c4` recipes' filter "
        "configs, `measure` + `decide` called directly. datatrove: `GopherRepetitionFilter()` + "
        "`GopherQualityFilter()`; `C4QualityFilter()` then `C4BadWordsFilter(fail_on_missing_language=False)` on "
        "the cleaned text. datatrove downloads the bad-words lists from GitHub at run time and has no option for a "
        "local path, so the benchmark hands it raysift's bundled LDNOOBW copies through its asset loader "
        "(English: the same commit datatrove pins; other languages: other commits). Each text's bad-words "
        "language is raysift's detected language when raysift has a list for it, else none (not checked on "
        "either side).",
        "",
        "| recipe | documents | same decision | agreement | kept by both | raysift keeps, datatrove drops | "
        "raysift drops, datatrove keeps |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, a in ag["recipes"].items():
        lines.append(f"| `{name}` | {a['documents']} | {a['agree']} | {a['agreement']:.1%} | {a['kept_both']} | "
                     f"{a['raysift_keeps_datatrove_drops']} | {a['raysift_drops_datatrove_keeps']} |")
    tok = ag.get("tokenizer")
    if tok:
        lines += ["", f"Word split (Gopher and FineWeb rules count tokens): raysift re-implements spaCy's English "
                  "tokenizer rules (prefixes, suffixes, infixes, contractions, abbreviations; operators/filters/text.py) "
                  f"without spaCy. Same token count as datatrove's spaCy split on {tok['same_token_count']} of "
                  f"{tok['documents']} texts, within 1 % on {tok['token_count_within_1pct']}; the alphabetic-word "
                  f"share differs by {tok['alpha_ratio_mean_diff']:.4f} on average and at most "
                  f"{tok['alpha_ratio_max_diff']:.4f}; {tok['alpha_ratio_near_threshold']} texts lie within 0.01 of the "
                  "0.8 threshold on one side, where such a difference can flip the decision. Remaining differences: "
                  + TOKENIZER_DIFFERENCES + "."]
    lines += ["", "Disagreement classes (the rule named by the side that drops; the values are that rule's "
              "measurement on each side, raysift / datatrove; causes below):", "",
              "| recipe | class | count | measured on | examples (id: raysift / datatrove) |", "|---|---|---:|---|---|"]
    causes: dict[str, str] = {}
    for name, a in ag["recipes"].items():
        for key, cls in a["classes"].items():
            causes.setdefault(cls["metric"] or key, cls["explanation"])
            ex = "; ".join(f"`{e['id'][:60]}`: {e['raysift']} / {e['datatrove']}"
                           + (f" ({e['evidence']})" if e.get("evidence") else "") for e in cls["examples"])
            lines.append(f"| `{name}` | {key} | {cls['count']} | `{cls['metric']}` | {ex} |")
    if not causes:
        lines.append("| – | none | 0 | | |")
    lines += ["", "Causes:", ""] + [f"- `{k}`: {v}." for k, v in causes.items()] if causes else []
    return lines


def write_section(section: str, path: Path = RESULTS) -> None:
    """Replace (or append) the spine section of RESULTS.md, leaving other sections alone."""
    text = path.read_text() if path.is_file() else "# Benchmark results\n\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = re.search(r"^(## |<!-- )", text[start + len(SECTION):], flags=re.M)
        end = start + len(SECTION) + nxt.start() if nxt else len(text)
        text = text[:start] + section + ("\n" if nxt else "") + text[end:]
    path.write_text(text.rstrip("\n") + "\n")


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=5000, help="HTML responses in the benchmark crawl (default 5000)")
    p.add_argument("--files", type=int, default=8, help="WARC.gz files to spread them over (default 8)")
    p.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "_work", help="scratch folder (gitignored)")
    p.add_argument("--workers", type=int, default=2, help="datatrove workers; Ray uses every core (default 2)")
    p.add_argument("--datatrove-venv", type=Path, default=None,
                   help="virtualenv for the datatrove peer (default <workdir>/datatrove-venv; created on first use)")
    p.add_argument("--skip-datatrove", action="store_true", help="only raysift (no peer, no agreement)")
    p.add_argument("--raysift-runs", type=int, default=3,
                   help="raysift CLI runs, spread over the benchmark; the tables show the median run (default 3)")
    p.add_argument("--results", type=Path, default=RESULTS, help="markdown file to write the section to")
    p.add_argument("--render-only", action="store_true",
                   help="rewrite the RESULTS.md section from <workdir>/bench_pipeline.json without measuring")
    args = p.parse_args(argv)
    work = args.workdir.resolve()
    if args.render_only:
        write_section(render(json.loads((work / "bench_pipeline.json").read_text())), args.results)
        print(f"wrote {args.results} from {work / 'bench_pipeline.json'}")
        return 0
    require_shared_data()
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    r: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine_info(),
        "load_start": load_average(), "workers": args.workers,
        "versions": _versions(["raysift", "ray", "pyarrow", "numpy", "resiliparse", "fastwarc"]),
    }

    print(f"[corpus] building {args.pages} pages in {args.files} WARC.gz files ...", flush=True)
    r["corpus"] = build_corpus(work / "corpus", args.pages, args.files)
    c = r["corpus"]
    files = [work / "corpus" / n for n in c["warc_files"]]
    print(f"[corpus] {c['pages']} pages = {c['unique_pages']} distinct real pages REPEATED up to {c['max_copies']}x "
          "(fine for throughput, meaningless for dedup)", flush=True)

    runs: list[dict[str, Any]] = []

    def raysift_run() -> None:
        print(f"[raysift] run {len(runs) + 1}/{args.raysift_runs}: raysift run --recipe fineweb (local Ray) ...", flush=True)
        load = load_average()
        run = run_raysift(files, work / "raysift-out", work / "raysift_run.log")
        runs.append({**run, "load_start": load})
        print(f"[raysift] {run['pages']} pages: CLI {run['wall_s']} s = {run['pages_per_s']:.1f} pages/s; pipeline "
              f"{run['pipeline_wall_s']} s = {run['pages_per_s_pipeline']:.1f} pages/s; peak worker RSS "
              f"{_gb(run['peak_worker_rss'])}", flush=True)

    # raysift runs are short next to datatrove's: spread over the benchmark (before and after
    # the loop, after datatrove) so one burst of load on the shared machine cannot decide them.
    raysift_run()
    print("[loop] raysift operators in a plain loop on one core ...", flush=True)
    r["loop"] = run_loop(files, work / "loop-out")
    print(f"[loop] {r['loop']['pages']} pages in {r['loop']['wall_s']} s = {r['loop']['pages_per_s']:.1f} pages/s", flush=True)
    if args.raysift_runs > 1:
        raysift_run()

    dt = None
    if not args.skip_datatrove:
        py = ensure_datatrove_venv((args.datatrove_venv or work / "datatrove-venv").resolve(),
                                   work / "datatrove_install.log")
        r["dt_versions"] = datatrove_versions(py)
        print(f"[datatrove] FineWeb pipeline, {args.files} tasks, {args.workers} workers ...", flush=True)
        dt = r["datatrove"] = run_datatrove(py, work / "corpus", args.files, args.workers, work)
        print(f"[datatrove] {dt['pages']} pages in {dt['wall_s']} s = {dt['pages_per_s']:.1f} pages/s "
              f"(executor {dt['run_s']} s)", flush=True)

        print("[agreement] collecting texts ...", flush=True)
        docs = agreement_texts(files)
        ours = raysift_decisions(docs)
        print(f"[agreement] {len(docs)} texts; running datatrove's filters ...", flush=True)
        theirs = datatrove_decisions(py, docs, ours, work)
        r["agreement"] = {"documents": len(docs), "sources": dict(Counter(d["origin"] for d in docs)),
                          "recipes": compare(docs, ours, theirs), "tokenizer": tokenizer_summary(ours, theirs)}
        for name, a in r["agreement"]["recipes"].items():
            print(f"[agreement] {name}: {a['agreement']:.1%} ({a['agree']}/{a['documents']})", flush=True)

    while len(runs) < args.raysift_runs:
        raysift_run()
    r["raysift_runs"] = [{k: run[k] for k in ("wall_s", "pages_per_s", "pipeline_wall_s", "pages_per_s_pipeline",
                                              "documents_out", "load_start")} for run in runs]
    if len({run["documents_out"] for run in runs}) != 1:
        raise SystemExit(f"raysift runs kept different numbers of documents: {[x['documents_out'] for x in runs]}")
    ray = r["raysift"] = sorted(runs, key=lambda x: x["pages_per_s"])[len(runs) // 2]  # the median run
    workers = args.workers
    lang_rejected = sum(v for k, v in ray["rejected"].items() if k.startswith("language_"))
    r["targets"] = {
        "efficiency": ray["pages_per_s_pipeline"] / (workers * r["loop"]["pages_per_s"]),
        "efficiency_e2e": ray["pages_per_s"] / (workers * r["loop"]["pages_per_s"]),
        "cpu_efficiency": (r["loop"]["cpu_s"] / r["loop"]["pages"]) / (ray["cpu_seconds_total"] / ray["pages"]),
        "language_rejected_share": lang_rejected / ray["pages"] if ray["pages"] else 0.0,
    }
    if dt:
        r["targets"].update(
            speedup_e2e=ray["pages_per_s"] / dt["pages_per_s"],
            speedup_pipeline=ray["pages_per_s_pipeline"] / dt["pages_per_s_run"],
            speedup_no_url_setup=ray["pages_per_s_pipeline"] / dt["pages_per_s_no_url_setup"],
            cpu_ratio=(dt["cpu_seconds_total"] / dt["pages"]) / (ray["cpu_seconds_total"] / ray["pages"]),
        )
    r["load_end"] = load_average()
    r["total_s"] = time.perf_counter() - t_start
    (work / "bench_pipeline.json").write_text(json.dumps(r, indent=2, default=str))
    section = render(r)
    write_section(section, args.results)
    print(section)
    print(f"wrote {args.results} (section '{SECTION}') and {work / 'bench_pipeline.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
