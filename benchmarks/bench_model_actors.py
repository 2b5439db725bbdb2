"""Model stages in the read tasks or in a pool of Ray actors (issue 12, ``resources.model_actors``).

    python benchmarks/bench_model_actors.py [--pages 2000] [--files 8] [--rounds 2]

The ``dolma`` recipe (CCNet perplexity, sentence-level Jigsaw classifiers, PII, Gopher, C4,
dedup) on the spine benchmark's crawl (``build_corpus.py``: the distinct real pages repeated to
``--pages`` pages in ``--files`` WARC files), on a local Ray with ``num_cpus=2`` (loopback only),
with the stand-in models of ``operators.demo_models`` except the KenLM model, replaced by a
larger trigram model (``bench_stages.big_trigram``, built from the shared texts) so that a model
copy weighs something. Three settings, alternating within each round, fastest of ``--rounds``:

* ``model_actors`` unset: every read task runs the whole chain; each worker process that runs
  one loads the models once and keeps them;
* ``model_actors: 1``: one actor runs the model stages and the stages after them (Ray Data
  fuses the read and the stages before into the actors' map too, so the raw HTML still never
  enters the object store). On 2 CPUs a larger pool is capped to 1 (``pipeline.model_pool``
  leaves the read tasks a slot).

Reported per setting: wall seconds per page, and while the run lasts (``/proc`` sampled every
0.1 s) how many processes held the models (a process holds them once it has mapped kenlm's
extension module: raysift imports kenlm only to load a model) and the largest sum of those
processes' resident memory. Each run starts its own Ray, so no process of another run counts.
The output of every setting must be identical (checked).
Scratch files go to ``<workdir>/model-actors/`` (gitignored).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_stages import big_trigram  # noqa: E402
from build_corpus import build_corpus, require_shared_data  # noqa: E402
from results_file import machine_info  # noqa: E402

START = "<!-- bench_model_actors:start -->"
END = "<!-- bench_model_actors:end -->"
SETTINGS = (None, 1)


def _descendants(root: int) -> set[int]:
    """PIDs of every process descended from ``root`` (Ray's raylet and workers are the driver's)."""
    parent: dict[int, int] = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
                    parent[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parent.items() if ppid in frontier} - out
        out |= frontier
    return out


def _model_processes() -> dict[int, int]:
    """PID -> resident bytes of every process of this run (descended from this one) that has
    kenlm's extension module mapped (other programs on the machine do not count)."""
    out: dict[int, int] = {}
    for pid in map(str, _descendants(os.getpid())):
        try:
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
                if "/kenlm" not in f.read():
                    continue
            with open(f"/proc/{pid}/status", encoding="utf-8") as f:
                rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            continue
        out[int(pid)] = rss
    return out


class ModelWatch:
    """Samples :func:`_model_processes` in a thread: every PID seen and the largest RSS sum."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval, self.pids, self.peak_bytes = interval, set(), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            seen = _model_processes()
            self.pids |= set(seen)
            self.peak_bytes = max(self.peak_bytes, sum(seen.values()))
            self._stop.wait(self.interval)

    def __enter__(self) -> ModelWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def _rows(folder: Path) -> dict[str, str]:
    import pyarrow.parquet as pq

    return {r["id"]: json.dumps(r, sort_keys=True, default=str)
            for f in sorted(folder.glob("*.parquet")) for r in pq.read_table(f).to_pylist()}


def models_folder(work: Path) -> tuple[Path, dict[str, Any]]:
    """The stand-in models with ``en.arpa.bin`` replaced by the larger trigram model."""
    from operators.demo_models import build_demo_models
    from tests.lm_fixtures import shared_texts

    folder = work / "models"
    shutil.rmtree(folder, ignore_errors=True)
    demo = build_demo_models(folder)
    trigram = big_trigram(work, shared_texts())
    shutil.copyfile(trigram["sp"], demo["ccnet_sp"])
    shutil.copyfile(trigram["lm"], demo["ccnet_lm"])  # KenLM reads ARPA whatever the suffix
    return folder, {"ngrams": trigram["ngrams"], "bytes": trigram["bytes"]}


def run_once(files: list[Path], models: Path, out: Path, actors: int | None) -> tuple[dict[str, Any], tuple]:
    """One run of the recipe on a fresh local Ray (so that no worker process of an earlier run
    still holds a model): its row and its output."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    from operators.pipeline import run_pipeline
    from operators.recipe import load_recipe

    overrides = [f"models_dir={models}"] + ([f"resources.model_actors={actors}"] if actors else [])
    cfg = load_recipe("dolma", overrides)
    shutil.rmtree(out, ignore_errors=True)
    ray.init(num_cpus=2, object_store_memory=600 * 1024**2, include_dashboard=False, log_to_driver=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        with ModelWatch() as watch:
            t = time.perf_counter()
            stats = run_pipeline(cfg, [str(f) for f in files], str(out), overwrite=True, log=lambda _: None)
            wall = time.perf_counter() - t
    finally:
        ray.shutdown()
    got = (_rows(out / "documents"), _rows(out / "rejected"))
    shutil.rmtree(out, ignore_errors=True)
    return {"wall_s": wall, "pages": stats["documents_in"], "kept": stats["documents_out"],
            "ms_per_page": 1000 * wall / stats["documents_in"], "model_processes": len(watch.pids),
            "peak_rss_mb": watch.peak_bytes / 2**20}, got


def run(files: list[Path], models: Path, work: Path, rounds: int) -> dict[str, dict[str, Any]]:
    best: dict[str, dict[str, Any]] = {}
    reference: tuple | None = None
    for rnd in range(rounds):
        for actors in (SETTINGS if rnd % 2 == 0 else tuple(reversed(SETTINGS))):
            name = "in read tasks" if actors is None else f"model_actors: {actors}"
            row, got = run_once(files, models, work / "out", actors)
            if reference is None:
                reference = got
            elif got != reference:
                raise SystemExit(f"{name}: the output differs from the first setting's")
            print(f"  [round {rnd + 1}/{rounds}] {name:16s} {row['wall_s']:6.1f} s, {row['ms_per_page']:.2f} ms/page, "
                  f"{row['model_processes']} processes loaded the models, peak {row['peak_rss_mb']:.0f} MB", flush=True)
            prev = best.get(name)
            row["walls_s"] = (prev["walls_s"] if prev else []) + [row["wall_s"]]
            row["model_processes"] = max(row["model_processes"], prev["model_processes"] if prev else 0)
            row["peak_rss_mb"] = max(row["peak_rss_mb"], prev["peak_rss_mb"] if prev else 0)
            if prev is not None and prev["wall_s"] <= row["wall_s"]:
                prev.update(walls_s=row["walls_s"], model_processes=row["model_processes"], peak_rss_mb=row["peak_rss_mb"])
            else:
                best[name] = row
    return best


def render(r: dict[str, Any]) -> str:
    base = r["rows"]["in read tasks"]["ms_per_page"]
    lines = [
        START,
        "## Model stages in read tasks or Ray actors (issue 12)",
        "",
        f"`{r['command']}` on {r['date']} UTC; {r['machine']}. The `dolma` recipe on a {r['pages']:,}-page crawl "
        f"({r['files']} WARC files), local Ray with 2 CPUs, stand-in models with a trigram KenLM model of "
        f"{r['trigram']['bytes'] / 2**20:.0f} MB (ARPA; "
        f"{', '.join(f'{int(n):,} {k}-grams' for k, n in sorted(r['trigram']['ngrams'].items()))}). "
        f"Fastest of {r['rounds']} rounds; "
        "model processes: processes that loaded the models during the run (any round); peak RSS: the largest "
        "sum of their resident memory at one time. The output of every setting is identical (checked by the script). "
        f"Load average at start {' / '.join(f'{x:.2f}' for x in r['load'][0])}, at end "
        f"{' / '.join(f'{x:.2f}' for x in r['load'][1])} (a shared machine: wall times include others' load).",
        "",
        "| setting | ms per page | vs read tasks | wall s (each round) | processes holding the models | peak RSS of those, MB |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for name, row in r["rows"].items():
        lines.append(f"| {name} | {row['ms_per_page']:.2f} | {row['ms_per_page'] / base:.2f}x | "
                     f"{', '.join(f'{w:.1f}' for w in row['walls_s'])} | {row['model_processes']} | {row['peak_rss_mb']:.0f} |")
    lines += ["", "Reading: with the models in the read tasks, every worker process that runs a read task loads "
              "them; a pool of N actors holds N copies. Ray Data fuses the read and the stages before the model "
              "stages into the actors (`ReadWarc->MapBatches(annotate_slices)->MapBatches(ModelStages)`), so no "
              "extra data passes through the object store; the time column shows what the pool costs or saves "
              "on this machine.", END]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "_work")
    ap.add_argument("--no-results", action="store_true", help="print the section, do not write RESULTS.md")
    ap.add_argument("--render-only", action="store_true",
                    help="rewrite the section from the last run's <workdir>/model-actors/bench_model_actors.json")
    args = ap.parse_args()
    if args.render_only:
        publish(render(json.loads((args.workdir / "model-actors" / "bench_model_actors.json").read_text())),
                args.no_results)
        return
    require_shared_data()
    work = (args.workdir / "model-actors").resolve()
    work.mkdir(parents=True, exist_ok=True)
    models, trigram = models_folder(work)
    crawl = work / f"crawl-{args.pages}-{args.files}"
    build_corpus(crawl, pages=args.pages, files=args.files)
    files = sorted(crawl.glob("*.warc.gz"))
    load_start = os.getloadavg()
    rows = run(files, models, work, args.rounds)
    command = "python benchmarks/bench_model_actors.py" + "".join(
        f" {flag} {value}" for flag, value, default in (("--pages", args.pages, 2000), ("--files", args.files, 8),
                                                        ("--rounds", args.rounds, 2)) if value != default)
    r = {"command": command, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"), "machine": machine_info(),
         "pages": args.pages, "files": args.files, "rounds": args.rounds, "trigram": trigram, "rows": rows,
         "load": [load_start, os.getloadavg()]}
    (work / "bench_model_actors.json").write_text(json.dumps(r, indent=2, default=str))
    publish(render(r), args.no_results)


def publish(section: str, print_only: bool) -> None:
    print(section)
    if not print_only:
        from results_file import write_marked_section

        write_marked_section(section, START, END)


if __name__ == "__main__":
    main()
