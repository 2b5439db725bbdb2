"""Math recall benchmark: the README's math loop on labelled dev pages and on the bundled sample.

What it runs (exactly the README's "Math mining" commands, as subprocesses):

    printf 'base: extract\\nmath: {}\\nfilters: {language: {}}\\n' > pool.yaml
    raysift run --config pool.yaml --input <dev.warc.gz> --output pool/
    raysift expand --seed ../shared/data/math-seed/stackmathqa --seed-text-column Q,A \\
      --pool pool/documents --output math/ --iterations 3 --threshold 0.2

The dev pool is every HTML page of ``../shared/data/extraction-dev`` (readability, magic-html
article + forum, modern-wceb-2026) plus every HTML response of ``../shared/data/warc``, written
into one temporary WARC (record id = the page's path, so results map back to labels). Labels:
``benchmarks/math_labels.json`` (the rule is in that file; pages not listed are negatives).
A second run uses the bundled sample as the pool and its planted truth (``is_math``).

Reported: recall and precision of ``math/recalled/`` per page kind, and formula retention on the
kept math pages: the formulas of the page's source (MathJax ``math/tex`` scripts, TeX annotations
of MathML/KaTeX, other MathML converted to LaTeX, LaTeX carried by formula-image URLs or alt texts, TeX written
as ``$...$`` / ``\\(...\\)`` in the text), each looked up in the kept text with all whitespace removed.

    python benchmarks/math_recall.py            # prints, writes the math section of RESULTS.md
"""

from __future__ import annotations

import datetime
import glob
import gzip
import io
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
SEED = DATA / "math-seed" / "stackmathqa"
LABELS = ROOT / "benchmarks" / "math_labels.json"
POOL_YAML = "base: extract\nmath: {}\nfilters: {language: {}}\n"
EXPAND_ARGS = ["--seed-text-column", "Q,A", "--iterations", "3", "--threshold", "0.2"]
KINDS_WANTED = ("forum", "solver", "lecture_notes", "mathjax_docs")


# --- the dev pool -------------------------------------------------------------------------------


def _canonical_url(html: bytes) -> str | None:
    for pat in (rb'<link[^>]+rel="canonical"[^>]+href="([^"]+)"', rb'<meta[^>]+property="og:url"[^>]+content="([^"]+)"'):
        m = re.search(pat, html[:200_000], re.IGNORECASE)
        if m and m.group(1).startswith(b"http"):
            return m.group(1).decode("utf-8", "replace")
    return None


def dev_pages() -> list[dict]:
    """Every dev HTML page: ``path`` (relative to ../shared/data), ``url``, ``html``, ``dataset``."""
    pages = []
    for src in sorted(glob.glob(str(DATA / "extraction-dev/mozilla-readability/test-pages/*/source.html.gz"))):
        html = gzip.open(src).read()
        name = Path(src).parent.name
        pages.append({"path": os.path.relpath(src, DATA), "html": html, "dataset": "readability",
                      "url": _canonical_url(html) or f"http://readability-test-pages.invalid/{name}/"})
    for part in ("article", "forum"):
        base = json.loads((DATA / "extraction-dev/magic-html-bench" / part / "base.json").read_text())
        for src in sorted(glob.glob(str(DATA / "extraction-dev/magic-html-bench" / part / "htmls/*.html.gz"))):
            key = Path(src).name[: -len(".html.gz")]
            pages.append({"path": os.path.relpath(src, DATA), "html": gzip.open(src).read(),
                          "dataset": f"magic-html/{part}", "url": base.get(key, {}).get("url") or f"http://magic.invalid/{key}"})
    for src in sorted(glob.glob(str(DATA / "extraction-dev/modern-wceb-2026/html/*.html.gz"))):
        num = Path(src).name.split(".")[0]
        gt = DATA / "extraction-dev/modern-wceb-2026/ground-truth" / f"{num}.json.gz"
        url = json.loads(gzip.open(gt).read()).get("url") if gt.exists() else None
        pages.append({"path": os.path.relpath(src, DATA), "html": gzip.open(src).read(),
                      "dataset": "modern-wceb-2026", "url": url or f"http://modern.invalid/{num}"})
    from warcio.archiveiterator import ArchiveIterator

    for src in sorted(glob.glob(str(DATA / "warc/*.warc.gz"))):
        with open(src, "rb") as fh:
            for i, rec in enumerate(ArchiveIterator(fh)):
                if rec.rec_type != "response" or rec.http_headers is None:
                    continue
                if "html" not in (rec.http_headers.get_header("Content-Type") or "").lower():
                    continue
                pages.append({"path": f"{os.path.relpath(src, DATA)}#{i}", "html": rec.content_stream().read(),
                              "dataset": "warc", "url": rec.rec_headers.get_header("WARC-Target-URI")})
    return pages


def write_warc(pages: list[dict], path: str) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for p in pages:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            rec = w.create_warc_record(p["url"], "response", payload=io.BytesIO(p["html"]), http_headers=http,
                                       warc_headers_dict={"WARC-Record-ID": f"<dev:{p['path']}>"})
            w.write_record(rec)


# --- ground-truth formulas --------------------------------------------------------------------------

_TEX_IN_TEXT = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$([^$\n]+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_TEXISH = re.compile(r"\\[a-zA-Z]+|[\^_=]")


def source_formulas(html: bytes | str) -> list[str]:
    """The LaTeX of every formula in the page source (see the module docstring)."""
    from resiliparse.parse.html import HTMLTree

    from operators.math_extract import alt_latex, image_latex
    from operators.mathml import element_to_latex

    tree = HTMLTree.parse_from_bytes(html, "utf-8") if isinstance(html, bytes) else HTMLTree.parse(html)
    root = tree.document
    if root is None:
        return []
    out = []
    for s in root.query_selector_all('script[type^="math/tex"], script[type^="math/TeX"]'):
        out.append(s.text or "")
    for m in root.get_elements_by_tag_name("math"):
        tex = None
        for ann in m.get_elements_by_tag_name("annotation"):
            if (ann.getattr("encoding") or "").lower() in ("application/x-tex", "application/x-latex"):
                tex = ann.text
        out.append(tex if tex is not None else element_to_latex(m))
    for img in root.get_elements_by_tag_name("img"):
        tex = image_latex(img.getattr("src") or "", None)
        if tex is None and not (img.parent is not None and len(img.parent.get_elements_by_tag_name("math"))):
            tex = (alt_latex(img.getattr("alt")) or ("",))[0]  # (a fallback image beside MathML is that formula)
        if tex:
            out.append(tex)
    body = root.query_selector("body")
    if body is not None:
        for bad in list(body.query_selector_all("script, style, math, noscript, textarea, code, pre")):
            bad.decompose()
        text = body.text or ""
        for m in _TEX_IN_TEXT.finditer(text):
            tex = next(g for g in m.groups() if g is not None)
            if _TEXISH.search(tex) and len(tex) < 2000:
                out.append(tex)
    return [f for f in out if f and f.strip()]


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def retention(html: bytes, text: str) -> tuple[int, int]:
    """(formulas found in ``text``, formulas in the source), whitespace ignored."""
    from operators.math_extract import normalize_formula

    formulas = source_formulas(html)
    hay = _squash(text or "")
    found = sum(1 for f in formulas if _squash(normalize_formula(f)) in hay)
    return found, len(formulas)


# --- running the README's commands ---------------------------------------------------------------


def _run(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    env.pop("RAY_ADDRESS", None)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", *args, "--quiet"], capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    return time.perf_counter() - t


def run_loop(work: Path, inputs: list[str] | None) -> tuple[pyarrow.Table, pyarrow.Table, float]:
    """The README's pool + expand commands; returns (pool documents, recalled, seconds)."""
    import pyarrow.parquet as pq

    (work / "pool.yaml").write_text(POOL_YAML)
    secs = _run(["jobs.pipeline", "--config", str(work / "pool.yaml"), *(["--input", *inputs] if inputs else []),
                 "--output", str(work / "pool")], work)
    secs += _run(["jobs.expand", "--seed", str(SEED), "--pool", str(work / "pool" / "documents"),
                  "--output", str(work / "math"), *EXPAND_ARGS], work)
    pool = pq.read_table(work / "pool" / "documents")
    recalled = pq.read_table(work / "math" / "recalled")
    return pool, recalled, secs


def _pr(tp: int, fp: int, fn: int) -> tuple[float | None, float | None]:
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    return recall, precision


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def dev_benchmark(work: Path) -> dict:
    labels = json.loads(LABELS.read_text())
    by_path = {p["path"]: p for p in labels["pages"]}
    pages = dev_pages()
    write_warc(pages, str(work / "dev.warc.gz"))
    pool, recalled, secs = run_loop(work, [str(work / "dev.warc.gz")])
    kept = set(recalled["id"].to_pylist())
    in_pool = dict(zip(pool["id"].to_pylist(), pool["text"].to_pylist()))
    rows = []
    for p in pages:
        lab = by_path.get(p["path"], {})
        label = lab.get("label", "not_math")
        pid = f"<dev:{p['path']}>"
        rows.append({"path": p["path"], "label": label, "kind": lab.get("kind") or p["dataset"],
                     "in_pool": pid in in_pool, "kept": pid in kept, "html": p["html"], "text": in_pool.get(pid)})
    scored = [r for r in rows if r["label"] != "ambiguous"]
    tp = sum(r["kept"] and r["label"] == "math" for r in scored)
    fp = sum(r["kept"] and r["label"] != "math" for r in scored)
    fn = sum(not r["kept"] and r["label"] == "math" for r in scored)
    recall, precision = _pr(tp, fp, fn)
    per_kind = {}
    for r in scored:
        if r["label"] != "math":
            continue
        k = per_kind.setdefault(r["kind"], [0, 0])
        k[0] += 1
        k[1] += int(r["kept"])
    ret = []
    for r in rows:
        if r["kept"] and r["label"] == "math":
            found, total = retention(r["html"], r["text"] or "")
            ret.append((r["path"], found, total))
    return {"pages": len(rows), "pool_docs": pool.num_rows, "math": tp + fn, "negatives": len(scored) - tp - fn,
            "ambiguous": len(rows) - len(scored), "tp": tp, "fp": fp, "fn": fn, "recall": recall,
            "precision": precision, "per_kind": per_kind, "retention": ret, "seconds": secs,
            "false_positives": [r["path"] for r in scored if r["kept"] and r["label"] != "math"],
            "missed": [r["path"] + ("" if r["in_pool"] else " (not in pool)") for r in scored
                       if not r["kept"] and r["label"] == "math"]}


def sample_benchmark(work: Path) -> dict:
    from operators.samplegen import sample_truth

    pool, recalled, secs = run_loop(work, None)
    truth = {p["id"]: p for p in sample_truth()["pages"]}
    kept = set(recalled["id"].to_pylist())
    tp = sum(1 for i in kept if truth[i]["is_math"])
    fp = len(kept) - tp
    fn = sum(1 for i, p in truth.items() if p["is_math"] and i not in kept)
    per_kind = {}
    for i, p in truth.items():
        if p["is_math"]:
            k = per_kind.setdefault(p.get("math_site") or "?", [0, 0])
            k[0] += 1
            k[1] += int(i in kept)
    recall, precision = _pr(tp, fp, fn)
    return {"pool_docs": pool.num_rows, "math": tp + fn, "tp": tp, "fp": fp, "fn": fn, "recall": recall,
            "precision": precision, "per_kind": per_kind, "seconds": secs}


def render(dev: dict, sample: dict) -> str:
    labels = json.loads(LABELS.read_text())
    kinds_present = {p["kind"] for p in labels["pages"] if p["label"] == "math"}
    lacking = [k for k in KINDS_WANTED if k not in kinds_present]
    ret_min = min((f / t for _, f, t in dev["retention"] if t), default=None)
    ret_all = sum(f for _, f, _ in dev["retention"]), sum(t for _, _, t in dev["retention"])
    lines = [
        "<!-- math:start -->",
        "## Math recall (`benchmarks/math_recall.py`)",
        "",
        f"Run {datetime.date.today().isoformat()} on {platform.node()} ({os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}). Commands: the README's math loop (pool `{POOL_YAML.strip()!r}` via "
        f"`raysift run`, then `raysift expand --seed stackmathqa {' '.join(EXPAND_ARGS)}`).",
        "",
        "| pool | pages | math pages | recalled math | false positives | recall | precision | seconds |",
        "|---|---|---|---|---|---|---|---|",
        f"| dev pages (labels: `benchmarks/math_labels.json`) | {dev['pages']} | {dev['math']} | {dev['tp']} | {dev['fp']} "
        f"| {_fmt(dev['recall'])} | {_fmt(dev['precision'])} | {dev['seconds']:.0f} |",
        f"| bundled sample (planted truth) | {sample['pool_docs']} in pool | {sample['math']} | {sample['tp']} | {sample['fp']} "
        f"| {_fmt(sample['recall'])} | {_fmt(sample['precision'])} | {sample['seconds']:.0f} |",
        "",
        "Recall per kind: dev " + ", ".join(f"{k} {n_kept}/{n}" for k, (n, n_kept) in sorted(dev["per_kind"].items()))
        + "; sample " + ", ".join(f"{k} {n_kept}/{n}" for k, (n, n_kept) in sorted(sample["per_kind"].items())) + ".",
        f"Dev pool: {dev['pool_docs']} of {dev['pages']} pages pass the English filter; {dev['negatives']} negatives, "
        f"{dev['ambiguous']} ambiguous page(s) left out of both figures.",
        f"Formula retention on kept math pages: {ret_all[0]}/{ret_all[1]} formulas, worst page {_fmt(ret_min)}.",
    ]
    if dev["false_positives"]:
        lines.append("False positives: " + ", ".join(f"`{p}`" for p in dev["false_positives"]) + ".")
    if dev["missed"]:
        lines.append("Missed: " + ", ".join(f"`{p}`" for p in dev["missed"]) + ".")
    if lacking:
        lines.append(f"The dev data holds no labelled math page of kind(s) {', '.join(lacking)}: the dev figures say "
                     "nothing about those kinds; the held-out evaluation has to.")
    lines.append("<!-- math:end -->")
    return "\n".join(lines)


def main() -> int:
    if not SEED.is_dir() or not (DATA / "extraction-dev").is_dir():
        print(f"skipped: ../shared/data not found ({DATA}); this benchmark reads the dev pages and the seed there")
        return 0
    from benchmarks.results_file import write_marked_section

    with tempfile.TemporaryDirectory(prefix="raysift-math-bench-") as tmp:
        for sub in ("dev", "sample"):
            (Path(tmp) / sub).mkdir()
        dev = dev_benchmark(Path(tmp) / "dev")
        sample = sample_benchmark(Path(tmp) / "sample")
    text = render(dev, sample)
    print(text)
    for path, found, total in dev["retention"]:
        print(f"  retention {found}/{total} {path}")
    if "--no-write" not in sys.argv:
        write_marked_section(text, "<!-- math:start -->", "<!-- math:end -->")
    return 0


if __name__ == "__main__":
    sys.exit(main())
