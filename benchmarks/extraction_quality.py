"""Extraction quality and speed: resiliparse alone vs raysift vs trafilatura, side by side.

Data: the mozilla/readability test pages in ../shared/data (source.html.gz; expected.html.gz is
the accepted cleaned HTML). Ground truth text = resiliparse ``extract_plain_text`` of the
expected HTML with ``main_content=False`` (all visible text of the cleaned article), the same
for every system. Metric: bag-of-words precision/recall/F1 per page (multiset overlap of
lower-cased word tokens, CJK characters as single tokens), then mean and median over pages.
raysift's boilerplate thresholds were tuned on the even-indexed pages ("tune"); the
odd-indexed ones ("holdout") are reported separately.

trafilatura (``favor_precision=True``) runs in its own virtualenv under benchmarks/_work,
created on first use, in a subprocess that gets the pages through a JSON file.
Speed is pages per second on one core, the best of ``--repeat`` runs.

    python benchmarks/extraction_quality.py [--repeat 3] [--no-trafilatura]

Writes benchmarks/_work/extraction_quality.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import subprocess
import sys
import time
import venv
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from resiliparse.extract.html2text import extract_plain_text  # noqa: E402

from operators.extract import ExtractConfig, extract_text  # noqa: E402

PAGES_DIR = REPO.parent / "shared" / "data" / "extraction-dev" / "mozilla-readability" / "test-pages"
WORK = REPO / "benchmarks" / "_work"
TRAF_VENV = WORK / "trafilatura-venv"
# lxml >= 5.2 moved lxml.html.clean out; trafilatura's jusText fallback imports it.
TRAF_PACKAGES = ["trafilatura", "lxml_html_clean"]

_CJK = "\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")

TRAF_WORKER = r"""
import json, sys, time
import trafilatura
pages = json.load(open(sys.argv[1]))
repeat = int(sys.argv[3])
best = None
for _ in range(repeat):
    t = time.perf_counter()
    out = [trafilatura.extract(html, favor_precision=True) or "" for html in pages]
    dt = time.perf_counter() - t
    best = dt if best is None else min(best, dt)
json.dump({"texts": out, "seconds": best, "version": trafilatura.__version__}, open(sys.argv[2], "w"))
"""


def tokens(text: str) -> Counter:
    return Counter(_TOKEN.findall(text.lower()))


def bow_prf(pred: str, gold: str) -> tuple[float, float, float]:
    """Bag-of-words precision, recall, F1 of ``pred`` against ``gold``."""
    p, g = tokens(pred), tokens(gold)
    if not g:
        return (1.0, 1.0, 1.0) if not p else (0.0, 1.0, 0.0)
    inter = sum((p & g).values())
    prec = inter / sum(p.values()) if p else 0.0
    rec = inter / sum(g.values())
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return prec, rec, f1


def load_pages(pages_dir: Path = PAGES_DIR) -> list[tuple[str, str, str]]:
    """(name, source html, ground-truth text) for every test page, sorted by name."""
    out = []
    for d in sorted(p for p in pages_dir.iterdir() if p.is_dir()):
        src = gzip.decompress((d / "source.html.gz").read_bytes()).decode("utf-8", "replace")
        exp = gzip.decompress((d / "expected.html.gz").read_bytes()).decode("utf-8", "replace")
        out.append((d.name, src, extract_plain_text(exp, main_content=False)))
    return out


def timed(fn, htmls: list[str], repeat: int) -> tuple[list[str], float]:
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = [fn(h) for h in htmls]
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return out, best


def run_trafilatura(htmls: list[str], repeat: int) -> tuple[list[str], float, str]:
    py = TRAF_VENV / "bin" / "python"
    if not py.exists():
        print("creating", TRAF_VENV, file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(TRAF_VENV)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *TRAF_PACKAGES], check=True)
    WORK.mkdir(parents=True, exist_ok=True)
    inp, outp = WORK / "trafilatura_in.json", WORK / "trafilatura_out.json"
    inp.write_text(json.dumps(htmls))
    subprocess.run([str(py), "-c", TRAF_WORKER, str(inp), str(outp), str(repeat)], check=True)
    res = json.loads(outp.read_text())
    return res["texts"], res["seconds"], res["version"]


def summarize(rows: list[tuple[float, float, float]]) -> dict[str, float]:
    return {
        "mean_f1": statistics.mean(r[2] for r in rows),
        "median_f1": statistics.median(r[2] for r in rows),
        "mean_precision": statistics.mean(r[0] for r in rows),
        "mean_recall": statistics.mean(r[1] for r in rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timing runs per system (best is kept)")
    ap.add_argument("--no-trafilatura", action="store_true", help="skip the trafilatura peer")
    args = ap.parse_args()
    if not PAGES_DIR.is_dir():
        sys.exit(f"../shared/data not found: expected the readability test pages at {PAGES_DIR}")
    pages = load_pages()
    names = [n for n, _, _ in pages]
    htmls = [s for _, s, _ in pages]
    golds = [g for _, _, g in pages]
    cfg = ExtractConfig()
    systems: dict[str, tuple[list[str], float]] = {
        "resiliparse main_content": timed(lambda h: extract_plain_text(h, main_content=True), htmls, args.repeat),
        "raysift (main_content + pruning)": timed(lambda h: extract_text(h, cfg), htmls, args.repeat),
    }
    traf_version = None
    if not args.no_trafilatura:
        texts, secs, traf_version = run_trafilatura(htmls, args.repeat)
        systems[f"trafilatura {traf_version} favor_precision"] = (texts, secs)

    report: dict[str, dict] = {}
    for name, (texts, secs) in systems.items():
        per_page = [bow_prf(t, g) for t, g in zip(texts, golds)]
        report[name] = {
            "pages_per_second": len(htmls) / secs,
            "all": summarize(per_page),
            "tune": summarize(per_page[0::2]),
            "holdout": summarize(per_page[1::2]),
            "per_page_f1": dict(zip(names, (round(r[2], 4) for r in per_page))),
        }
    WORK.mkdir(parents=True, exist_ok=True)
    out = WORK / "extraction_quality.json"
    out.write_text(json.dumps({"pages": len(pages), "systems": report}, indent=2))

    print(f"{len(pages)} mozilla/readability test pages; bag-of-words vs expected.html text\n")
    print("| system | pages/s | mean F1 | median F1 | mean P | mean R | holdout F1 | holdout P | holdout R |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in report.items():
        a, h = r["all"], r["holdout"]
        print(
            f"| {name} | {r['pages_per_second']:.0f} | {a['mean_f1']:.3f} | {a['median_f1']:.3f} | "
            f"{a['mean_precision']:.3f} | {a['mean_recall']:.3f} | {h['mean_f1']:.3f} | "
            f"{h['mean_precision']:.3f} | {h['mean_recall']:.3f} |"
        )
    print(f"\nwrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
