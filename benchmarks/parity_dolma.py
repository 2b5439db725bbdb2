"""Parity of raysift's PII stage with dolma's own taggers and mixer, on real text.

Run it with the Python of a virtualenv that has dolma 1.2.1 (and pyarrow, for raysift's stage); it
imports raysift from this checkout. For each variant (``pii_regex_with_counts_v2`` and
``pii_regex_with_counts_fast_v2``) it runs dolma's real pipeline, ``dolma tag`` then ``dolma mix``
with the PII filter and span replacement of Dolma's Common Crawl mixer config (exclude
``doc_count > 5``, replace spans by `` |||EMAIL_ADDRESS||| `` etc.), on the same texts as
``operators.filters.pii.apply`` (``variant="v2"`` / ``"fast_v2"``), and compares per rule:

* ``email`` / ``phone`` / ``ip``: documents whose spans of that kind are identical (start, end);
* ``doc_count``: documents with the same number of PII spans;
* ``decision``: documents kept by both or dropped by both;
* ``masked_text``: documents kept by both whose output text is identical.

Each disagreeing document is put in a class (``backspace_url``: the text holds U+0008, where dolma
v2's URL rule can fire, see ``operators/filters/pii.py``; ``unexplained`` otherwise, with examples).
Texts: every distinct text with at least one word under ``--data`` (the shared real-data folder):
Dolma's own Common Crawl samples, StackMathQA questions and answers, the reference main texts of the
extraction benchmarks and the visible text of their HTML pages (whole pages: footers, contact
blocks); plus the constructed edge cases of ``tests/test_filters_pii.py`` (ties, overlaps, context
window boundaries), so the mixer's handling of them is checked too. dolma's v2 tagger raises on a
text without words, so those are left out.

Exit status 1 when a rule agrees on fewer than ``--min-agreement`` (0.99) of the documents, 2 when
there are fewer than ``--min-texts`` texts.

    benchmarks/_work/dolma-venv/bin/python benchmarks/parity_dolma.py --json benchmarks/_work/parity_dolma.json
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402

from operators.filters import pii  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
TAGGERS = {"v2": "pii_regex_with_counts_v2", "fast_v2": "pii_regex_with_counts_fast_v2"}
KIND_NAMES = {pii.EMAIL: "EMAIL_ADDRESS", pii.PHONE: "PHONE_NUMBER", pii.IP: "IP_ADDRESS"}
RULES = ("email", "phone", "ip", "doc_count", "decision", "masked_text")
CONSTRUCTED: tuple[str, ...] = (
    # the edge cases of tests/test_filters_pii.py, checked here against dolma's tagger and mixer
    "Mail me at john@doe.com now",
    "see (@example.com here",
    "mail me@localhost now",
    "write to a@b.com",
    "x @john@doe.com y",
    "Call (555) 123-4567 or 555.123.4567 or 5551234567 today.",
    "x\n555-123-4567 is the line",
    "isbn: 555 123 4567 ok",
    "ISBN 555 123 4567 ok",
    "doi 10.1000/182 and 10.0.0.1 here",
    "#" + "x" * 99 + " 555 123 4567 z",
    "#" + "x" * 100 + " 555 123 4567 z",
    "server 999.1.1.1 down and 1.2.3.4.5 up",
    "john 555-123-4567@mail.com rest",
    "x 1 192.168.1001.5 y 10.0.0.1 z",
    "联系 test@example.com 谢谢",
    "tel 555 123 4567 see https://example.com/x ok",
    " ".join(["a@b.co"] * 5) + " end",
    " ".join(["a@b.co"] * 6) + " end",
    "@ " * 50 + " a@b.com ",
    # not "?" * 10_001 + ...: dolma's v2 search is cubic in such a run (it hangs for minutes)
)


_SKIP_RE = re.compile(r"(?is)<(script|style|noscript|template|svg|head)\b.*?</\1\s*>|<!--.*?-->")
_BLOCK_RE = re.compile(
    r"(?i)</?(?:p|div|br|li|tr|td|dd|dt|h[1-6]|section|article|header|footer|nav|ul|ol|table|blockquote|pre|form|address)\b[^>]*>"
)
_TAG_RE = re.compile(r"<[^>]*>")
_SPACES_RE = re.compile(r"[^\S\n]+")
_BLANK_LINES_RE = re.compile(r" ?\n\s*")


def page_text(raw: bytes) -> str:
    """The visible text of an HTML page, one line per block element (regular expressions, stdlib only)."""
    doc = _SKIP_RE.sub(" ", raw.decode("utf-8", errors="replace"))
    doc = html.unescape(_TAG_RE.sub("", _BLOCK_RE.sub("\n", doc)))
    return _BLANK_LINES_RE.sub("\n", _SPACES_RE.sub(" ", doc)).strip()


def load_texts(data: Path) -> list[tuple[str, str]]:
    """(source, text) for every distinct text with a word, in a fixed order."""
    found: list[tuple[str, str]] = []
    cc = data / "text" / "dolma-cc-samples"
    for path in sorted(cc.glob("*.jsonl")) + sorted(cc.glob("*.json.gz")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            found += [("dolma-cc", json.loads(line)["text"]) for line in f if line.strip()]
    for path in sorted((data / "math-seed" / "stackmathqa").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                found += [("stackmathqa", row["Q"]), ("stackmathqa", row["A"])]
    wceb = data / "extraction-dev" / "modern-wceb-2026"
    for path in sorted((wceb / "ground-truth").glob("*.json.gz")):
        truth = json.loads(gzip.decompress(path.read_bytes()))["ground_truth"]
        found.append(("wceb-main", truth.get("main_content") or ""))
    for path in sorted((wceb / "html").glob("*.html.gz")):
        found.append(("wceb-page", page_text(gzip.decompress(path.read_bytes()))))
    for part in ("article", "forum"):
        folder = data / "extraction-dev" / "magic-html-bench" / part
        if (folder / "base.json").is_file():
            base = json.loads((folder / "base.json").read_text(encoding="utf-8"))
            found += [("magic-main", row.get("content") or "") for _, row in sorted(base.items())]
        for path in sorted((folder / "htmls").glob("*.html.gz")):
            found.append(("magic-page", page_text(gzip.decompress(path.read_bytes()))))
    for path in sorted((data / "extraction-dev" / "mozilla-readability" / "test-pages").glob("*/source.html.gz")):
        found.append(("readability-page", page_text(gzip.decompress(path.read_bytes()))))
    found += [("constructed", text) for text in CONSTRUCTED]
    seen: set[str] = set()
    texts = []
    for source, text in found:
        if text and text.split() and text not in seen:
            seen.add(text)
            texts.append((source, text))
    return texts


def _dolma_cli() -> list[str]:
    exe = Path(sys.executable).with_name("dolma")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "dolma"]


def run_dolma(texts: list[str], variants: list[str], root: Path, processes: int) -> dict[str, tuple[list[dict], dict[str, str]]]:
    """One ``dolma tag`` (every variant's tagger) and one ``dolma mix`` (a stream per variant).

    Per variant: each document's attributes of that tagger, and the kept documents' output text by id.
    """
    (root / "documents").mkdir(parents=True)
    with gzip.open(root / "documents" / "part-0.jsonl.gz", "wt", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": str(i), "text": text, "source": "parity"}) + "\n")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    quiet = {"check": True, "cwd": root, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    subprocess.run(
        [*_dolma_cli(), "tag", "--documents", str(root / "documents" / "*.jsonl.gz"),
         "--taggers", *(TAGGERS[v] for v in variants), "--experiment", "pii", "--processes", str(processes)],
        **quiet,
    )
    with gzip.open(root / "attributes" / "pii" / "part-0.jsonl.gz", "rt", encoding="utf-8") as f:
        attributes = [json.loads(line)["attributes"] for line in f]
    streams = []
    for variant in variants:
        prefix = f"pii__{TAGGERS[variant]}__"
        streams.append({
            "name": variant,
            "documents": [str(root / "documents" / "*.jsonl.gz")],
            "attributes": ["pii"],
            "output": {"path": str(root / "out" / variant), "max_size_in_bytes": 1 << 40, "discard_fields": ["attributes"]},
            "filter": {"include": [], "exclude": [
                f"$.attributes[?(@.{prefix}doc_count && @.{prefix}doc_count[0] && @.{prefix}doc_count[0][2] > 5)]"
            ]},
            "span_replacement": [
                {"span": f"$.attributes.{prefix}{name}", "min_score": 0.5, "replacement": f" |||{name}||| "}
                for name in ("EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS")
            ],
        })
    mix = {"streams": streams, "work_dir": {"input": str(root / "work-in"), "output": str(root / "work-out")}, "processes": 1}
    (root / "mix.json").write_text(json.dumps(mix), encoding="utf-8")
    subprocess.run([*_dolma_cli(), "-c", str(root / "mix.json"), "mix"], **quiet)
    out = {}
    for variant in variants:
        kept: dict[str, str] = {}
        for path in sorted((root / "out" / variant).glob("*.json.gz")):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    kept[row["id"]] = row["text"]
        prefix = f"pii__{TAGGERS[variant]}__"
        out[variant] = ([{k[len(prefix):]: v for k, v in a.items() if k.startswith(prefix)} for a in attributes], kept)
    return out


def compare(texts: list[tuple[str, str]], variant: str, dolma: tuple[list[dict], dict[str, str]], examples: int) -> dict:
    """Per-rule agreement of raysift's ``variant`` with dolma's tagger + mixer output ``dolma``."""
    plain = [t for _, t in texts]
    attributes, dolma_kept = dolma
    cfg = pii.Config(variant=variant)
    t0 = time.process_time()
    spans = [pii.find_spans(t, cfg) for t in plain]
    measure_seconds = time.process_time() - t0
    table = pii.apply(pa.table({"id": [str(i) for i in range(len(plain))], "text": plain}), cfg)
    ours_text = table.column("text").to_pylist()
    ours_reason = table.column("reason").to_pylist()

    agree = Counter()
    classes: Counter = Counter()
    samples: list[dict] = []
    for i, (source, text) in enumerate(texts):
        attrs = attributes[i]
        differs = []
        for kind, rule in ((pii.EMAIL, "email"), (pii.PHONE, "phone"), (pii.IP, "ip")):
            theirs = sorted((s, e) for s, e, _ in attrs.get(KIND_NAMES[kind], []))
            ours = sorted((s.start, s.end) for s in spans[i] if s.kind == kind)
            if theirs == ours:
                agree[rule] += 1
            else:
                differs.append(rule)
        count = int(attrs["doc_count"][0][2])
        if count == len(spans[i]):
            agree["doc_count"] += 1
        else:
            differs.append("doc_count")
        theirs_kept, ours_kept = str(i) in dolma_kept, ours_reason[i] is None
        if theirs_kept == ours_kept:
            agree["decision"] += 1
        else:
            differs.append("decision")
        if theirs_kept and ours_kept:
            agree["masked_text_n"] += 1
            if dolma_kept[str(i)] == ours_text[i]:
                agree["masked_text"] += 1
            else:
                differs.append("masked_text")
        if differs:
            cls = "backspace_url" if "\x08" in text else "unexplained"
            classes[cls] += 1
            if cls == "unexplained" and len(samples) < examples:
                samples.append({"source": source, "rules": differs, "dolma": attrs, "raysift": [list(s) for s in spans[i]],
                                "text": text[:400]})
    n = len(texts)
    rates = {r: agree[r] / n for r in RULES if r != "masked_text"}
    rates["masked_text"] = agree["masked_text"] / agree["masked_text_n"] if agree["masked_text_n"] else 1.0
    return {
        "variant": variant,
        "tagger": TAGGERS[variant],
        "documents": n,
        "documents_with_pii_dolma": sum(1 for a in attributes if a["doc_count"][0][2] > 0),
        "spans_dolma": sum(len(a.get(k, [])) for a in attributes for k in KIND_NAMES.values()),
        "spans_raysift": sum(len(s) for s in spans),
        "dropped_dolma": n - len(dolma_kept),
        "dropped_raysift": sum(r is not None for r in ours_reason),
        "agreement": rates,
        "disagreement_classes": dict(classes),
        "examples": samples,
        "raysift_measure_ms_per_doc": round(1000 * measure_seconds / n, 4),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared real-data folder")
    ap.add_argument("--json", type=Path, help="write the result as JSON here")
    ap.add_argument("--min-agreement", type=float, default=0.99)
    ap.add_argument("--min-texts", type=int, default=1000)
    ap.add_argument("--variants", nargs="+", default=list(TAGGERS), choices=list(TAGGERS))
    ap.add_argument("--processes", type=int, default=1, help="dolma tag processes")
    ap.add_argument("--examples", type=int, default=5, help="unexplained disagreements to print per variant")
    args = ap.parse_args(argv)

    if not args.data.is_dir():
        print(f"no data folder at {args.data}", file=sys.stderr)
        return 2
    texts = load_texts(args.data)
    print(f"{len(texts)} distinct texts: {dict(Counter(s for s, _ in texts))}")
    if len(texts) < args.min_texts:
        print(f"fewer than {args.min_texts} texts", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="parity-dolma-") as tmp:
        t0 = time.perf_counter()
        try:
            dolma = run_dolma([t for _, t in texts], args.variants, Path(tmp), args.processes)
        except subprocess.CalledProcessError as exc:
            print(f"dolma failed: {' '.join(map(str, exc.cmd))}\n{(exc.stderr or b'').decode()[-2000:]}", file=sys.stderr)
            return 2
        print(f"dolma tag + mix: {time.perf_counter() - t0:.1f} s")
        for variant in args.variants:
            res = compare(texts, variant, dolma[variant], args.examples)
            results.append(res)
            print(f"\n== {res['tagger']} (raysift variant={variant!r}): {res['documents']} documents, "
                  f"{res['documents_with_pii_dolma']} with PII, spans dolma {res['spans_dolma']} / raysift "
                  f"{res['spans_raysift']}, dropped dolma {res['dropped_dolma']} / raysift {res['dropped_raysift']}")
            for rule, rate in res["agreement"].items():
                print(f"  {rule:<12} {100 * rate:8.3f} %")
            print(f"  disagreement classes: {res['disagreement_classes'] or 'none'}")
            for ex in res["examples"]:
                print(f"  example ({ex['source']}, {', '.join(ex['rules'])}): {ex['text'][:160]!r}")
            print(f"  raysift find_spans: {res['raysift_measure_ms_per_doc']} ms CPU per document")
    worst = min(rate for res in results for rate in res["agreement"].values())
    summary = {"texts": len(texts), "min_agreement": worst, "threshold": args.min_agreement, "results": results}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"\nlowest agreement {100 * worst:.3f} % (threshold {100 * args.min_agreement:.1f} %)")
    return 0 if worst >= args.min_agreement else 1


if __name__ == "__main__":
    sys.exit(main())
