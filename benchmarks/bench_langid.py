"""Language id cost per page: fastText lid.176 (prose-only, the default) vs resiliparse.

Texts: raysift's extraction (``operators.extract.extract_text``, default settings) of the real
pages of ``../shared/data/extraction-dev`` (mozilla/readability test pages, magic-html-bench
article and forum pages, modern-wceb-2026), distinct texts only (exact duplicates removed),
empty texts left out. Each configuration identifies every text three times in this one process;
the fastest pass counts (CPU time of the process, ``time.process_time``). Model loading is
timed apart (once per worker process). Agreement: the share of texts on which fastText and
resiliparse return the same language, and on which they take the same decision under the
default language filter (keep ``en`` with score >= 0.65). Math pages: the pages labelled
``math`` in ``benchmarks/math_labels.json``, extracted as the math recipes do (formulas rewritten
to LaTeX by ``operators.math_extract.replace_math``, then ``extract_text``), identified by each
backend with and without the prose-only stripping.

    python benchmarks/bench_langid.py            # writes its sections of benchmarks/RESULTS.md and README.md
    python benchmarks/bench_langid.py --no-write
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from operators import langid  # noqa: E402
from operators.extract import ExtractConfig, decode_html, extract_text  # noqa: E402
from operators.langid import MAX_CHARS, LanguageIdConfig, detect_language, prose_text  # noqa: E402
from results_file import machine_info  # noqa: E402

DEV_DIR = REPO.parent / "shared" / "data" / "extraction-dev"
START, END = "<!-- langid:start -->", "<!-- langid:end -->"
README = REPO / "README.md"
README_START, README_END = "<!-- langid-cost:start -->", "<!-- langid-cost:end -->"
PASSES = 3
MATH_LABELS = REPO / "benchmarks" / "math_labels.json"
RESILIPARSE_CFG = LanguageIdConfig(backend="resiliparse")
KEEP_LANG, KEEP_SCORE = "en", 0.65  # the language filter's defaults (FineWeb)


def _html(raw: bytes) -> str:
    return decode_html(raw, None) or raw.decode("utf-8", "replace")


def load_html() -> list[tuple[str, str]]:
    """(set, html) of every page of the extraction dev sets."""
    out = []
    for d in sorted((DEV_DIR / "mozilla-readability" / "test-pages").iterdir()):
        if (d / "source.html.gz").is_file():
            out.append(("readability", _html(gzip.decompress((d / "source.html.gz").read_bytes()))))
    for kind in ("article", "forum"):
        for path in sorted((DEV_DIR / "magic-html-bench" / kind / "htmls").glob("*.html.gz")):
            out.append((f"magic-html {kind}", _html(gzip.decompress(path.read_bytes()))))
    for path in sorted((DEV_DIR / "modern-wceb-2026" / "html").glob("*.html.gz")):
        out.append(("modern-wceb", _html(gzip.decompress(path.read_bytes()))))
    return out


def distinct_texts(pages: list[tuple[str, str]]) -> tuple[list[str], Counter]:
    cfg = ExtractConfig()
    seen, texts, per_set = set(), [], Counter()
    for name, html in pages:
        text = extract_text(html, cfg)
        key = hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()
        if not text.strip() or key in seen:
            continue
        seen.add(key)
        texts.append(text)
        per_set[name] += 1
    return texts, per_set


def math_texts() -> list[tuple[str, str]]:
    """(path, math-mode extracted text) of the pages labelled math."""
    from operators.math_extract import replace_math

    labels = json.loads(MATH_LABELS.read_text())
    out = []
    for page in labels["pages"]:
        path = DEV_DIR.parent / page["path"]
        if page["label"] != "math" or not path.is_file():
            continue
        raw = path.read_bytes()
        html = _html(gzip.decompress(raw) if path.suffix == ".gz" else raw)
        out.append((page["path"], extract_text(replace_math(html), ExtractConfig())))
    return out


def timed(fn, texts: list[str]) -> tuple[list, float]:
    """(results, CPU ms per text) of the fastest of PASSES passes."""
    best, results = float("inf"), []
    for _ in range(PASSES):
        start = time.process_time()
        results = [fn(t) for t in texts]
        best = min(best, time.process_time() - start)
    return results, 1000 * best / len(texts)


def run() -> dict:
    pages = load_html()
    texts, per_set = distinct_texts(pages)
    chars = sorted(len(t) for t in texts)
    load_start = time.process_time()
    langid._MODELS.clear()
    langid._fasttext_model(None)
    load_ms = 1000 * (time.process_time() - load_start)
    configs = {
        "fastText lid.176.ftz, prose only (default)": LanguageIdConfig(),
        "fastText lid.176.ftz, raw text": LanguageIdConfig(prose_only=False),
        "resiliparse detect_fast, prose only": RESILIPARSE_CFG,
    }
    rows = {}
    for name, cfg in configs.items():
        results, ms = timed(lambda t, c=cfg: detect_language(t, c), texts)
        rows[name] = {"ms": ms, "results": results}
    _, strip_ms = timed(prose_text, texts)
    ft = rows["fastText lid.176.ftz, prose only (default)"]["results"]
    raw = rows["fastText lid.176.ftz, raw text"]["results"]
    rp = rows["resiliparse detect_fast, prose only"]["results"]

    def kept(r):
        return r[0] == KEEP_LANG and r[1] >= KEEP_SCORE

    maths = []
    for path, text in math_texts():
        row = {"page": path, "formulas": text.count("$") // 2}
        for name, cfg in (("fastText", LanguageIdConfig()), ("fastText raw", LanguageIdConfig(prose_only=False)),
                          ("resiliparse", RESILIPARSE_CFG), ("resiliparse raw", LanguageIdConfig(backend="resiliparse", prose_only=False))):
            row[name] = detect_language(text, cfg)
        maths.append(row)

    n = len(texts)
    return {
        "math": maths,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "machine": machine_info(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "pages": len(pages), "texts": n, "per_set": dict(per_set),
        "median_chars": chars[n // 2], "max_chars": chars[-1],
        "load_ms": load_ms, "strip_ms": strip_ms,
        "ms": {k: v["ms"] for k, v in rows.items()},
        "same_language": sum(a[0] == b[0] for a, b in zip(ft, rp)) / n,
        "same_decision": sum(kept(a) == kept(b) for a, b in zip(ft, rp)) / n,
        "kept": {"fastText": sum(map(kept, ft)), "fastText raw": sum(map(kept, raw)), "resiliparse": sum(map(kept, rp))},
        "languages": Counter(r[0] for r in ft).most_common(8),
        "raw_changed": sum(a[0] != b[0] for a, b in zip(ft, raw)),
    }


def render(r: dict) -> str:
    lines = [
        START,
        "## Language id: cost per page (benchmarks/bench_langid.py)",
        "",
        f"- Date (UTC): {r['date']}; machine: {r['machine']}; load average at the end: {r['load']}.",
        f"- Texts: raysift's extraction of the {r['pages']} pages of `../shared/data/extraction-dev`, "
        f"{r['texts']} distinct non-empty texts ("
        + ", ".join(f"{k} {v}" for k, v in sorted(r["per_set"].items()))
        + f"); median {r['median_chars']:,} characters, longest {r['max_chars']:,}. CPU time of one process, "
        f"fastest of {PASSES} passes; identification reads at most the first {MAX_CHARS:,} characters of prose "
        f"({4 * MAX_CHARS:,} of raw text).",
        "",
        "| language id | CPU ms per page |",
        "|---|---:|",
        *[f"| {k} | {v:.3f} |" for k, v in r["ms"].items()],
        f"| of which prose extraction (`prose_text`) | {r['strip_ms']:.3f} |",
        "",
        f"- Loading lid.176.ftz: {r['load_ms']:.0f} ms CPU, once per worker process.",
        f"- fastText (default) and resiliparse return the same language on {100 * r['same_language']:.1f} % of the "
        f"texts and take the same keep/drop decision under the default language filter (`en`, score >= 0.65) on "
        f"{100 * r['same_decision']:.1f} %. Kept: fastText {r['kept']['fastText']}, fastText on raw text "
        f"{r['kept']['fastText raw']}, resiliparse {r['kept']['resiliparse']} of {r['texts']} "
        "(resiliparse's score is a rank distance, not a probability).",
        f"- Stripping markup changed fastText's language on {r['raw_changed']} of {r['texts']} texts. Languages (fastText): "
        + ", ".join(f"{k or 'none'} {v}" for k, v in r["languages"]) + ".",
        "",
        "Pages labelled math in `benchmarks/math_labels.json`, extracted with formulas as LaTeX (language, score):",
        "",
        "| page | `$` pairs | fastText (default) | fastText raw text | resiliparse | resiliparse raw text |",
        "|---|---:|---|---|---|---|",
        *[f"| {m['page']} | {m['formulas']} | " + " | ".join(f"{m[k][0]} {m[k][1]:.2f}" for k in
          ("fastText", "fastText raw", "resiliparse", "resiliparse raw")) + " |" for m in r["math"]],
        END,
    ]
    return "\n".join(lines)


def render_readme(r: dict) -> str:
    """The cost sentence of the README's "Language id" paragraph."""
    ms = r["ms"]
    return "\n".join([
        README_START,
        f"Cost per page (benchmarks/bench_langid.py, {r['texts']} real pages, one core, {r['date'][:10]}): "
        f"{ms['fastText lid.176.ftz, prose only (default)']:.2f} ms CPU for fastText with the markup stripping "
        f"({r['strip_ms']:.2f} ms of it stripping), {ms['resiliparse detect_fast, prose only']:.2f} ms for "
        f"resiliparse; loading the model takes {r['load_ms']:.0f} ms once per worker.",
        README_END,
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/RESULTS.md alone")
    args = ap.parse_args()
    if not DEV_DIR.is_dir():
        sys.exit(f"../shared/data not found: expected the extraction dev pages at {DEV_DIR}")
    result = run()
    section = render(result)
    print(section)
    print(json.dumps({k: v for k, v in result.items() if k not in ("languages", "math")}, indent=1))
    if not args.no_write:
        from results_file import write_marked_section

        write_marked_section(section, START, END)
        write_marked_section(render_readme(result), README_START, README_END, README)


if __name__ == "__main__":
    main()
