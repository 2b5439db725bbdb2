"""``report.html``: a self-contained page (inline SVG, no scripts) rendering ``stats.json``.

Shows the funnel of documents per stage, the reject reasons, the text-length and language
distributions of kept documents, cluster sizes when fuzzy dedup ran, and the config.
"""

from __future__ import annotations

import html
import json
from typing import Any

from operators.stats import LENGTH_BINS

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right}td:first-child,th:first-child{text-align:left}
.kpi{display:inline-block;margin-right:2em}.kpi b{font-size:1.5em;display:block}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:.85em}
"""


def bar_chart(items: list[tuple[str, float]], *, width: int = 900, color: str = "#4c78a8", unit: str = "") -> str:
    """Horizontal bar chart as inline SVG.

    >>> "<svg" in bar_chart([("a", 3), ("b", 1)])
    True
    """
    if not items:
        return "<p><i>none</i></p>"
    label_w, row_h = 260, 22
    top = max(v for _, v in items) or 1
    parts = [f'<svg width="{width}" height="{row_h * len(items) + 4}" role="img">']
    for i, (label, value) in enumerate(items):
        y = i * row_h + 2
        w = (width - label_w - 90) * value / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="13">{html.escape(str(label))}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row_h - 5}" fill="{color}"/>'
            f'<text x="{label_w + w + 5:.1f}" y="{y + 15}" font-size="12">{value:,.0f}{unit}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _length_labels() -> list[str]:
    edges = (0,) + LENGTH_BINS
    labels = [f"{edges[i]:,}–{edges[i + 1]:,} chars" for i in range(len(LENGTH_BINS))]
    return labels + [f"≥ {LENGTH_BINS[-1]:,} chars"]


def render_report(stats: dict[str, Any], title: str = "raysift run") -> str:
    """The HTML report of one run's ``stats.json``."""
    din, dout = stats.get("documents_in", 0), stats.get("documents_out", 0)
    kpis = [
        ("documents in", f"{din:,}"),
        ("documents out", f"{dout:,}"),
        ("kept", f"{dout / din:.1%}" if din else "n/a"),
        ("wall time", f"{stats.get('wall_time_s', 0):.1f} s"),
        ("documents/s", f"{stats.get('documents_per_s') or 0:,.1f}"),
    ]
    body = [f"<h1>{html.escape(title)}</h1>"]
    body.append("".join(f'<span class="kpi"><b>{v}</b>{html.escape(k)}</span>' for k, v in kpis))
    funnel = stats.get("stages", [])
    if funnel:
        body.append("<h2>Funnel: documents leaving each stage</h2>")
        body.append(bar_chart([(row["stage"], row["out"]) for row in funnel]))
        body.append(
            "<table><tr><th>stage</th><th>in</th><th>rejected</th><th>out</th></tr>"
            + "".join(
                f"<tr><td>{html.escape(r['stage'])}</td><td>{r['in']:,}</td><td>{r['rejected']:,}</td><td>{r['out']:,}</td></tr>"
                for r in funnel
            )
            + "</table>"
        )
    rejected = sorted(stats.get("rejected", {}).items(), key=lambda kv: -kv[1])
    body.append("<h2>Reject reasons</h2>")
    body.append(bar_chart(rejected, color="#e45756"))
    skipped = sorted(stats.get("records_skipped", {}).items(), key=lambda kv: -kv[1])
    if skipped:
        body.append("<h2>WARC records that are not documents</h2>")
        body.append(bar_chart(skipped, color="#9d9d9d"))
    hist = stats.get("length_histogram")
    if hist:
        body.append("<h2>Text length of kept documents</h2>")
        body.append(bar_chart(list(zip(_length_labels(), hist)), color="#54a24b"))
    langs = sorted(stats.get("languages", {}).items(), key=lambda kv: -kv[1])[:20]
    if langs:
        body.append("<h2>Languages of kept documents</h2>")
        body.append(bar_chart(langs, color="#f58518"))
    fuzzy = stats.get("fuzzy_dedup") or {}
    sizes = fuzzy.get("cluster_size_histogram") or {}
    if sizes:
        body.append("<h2>Near-duplicate cluster sizes</h2>")
        body.append(bar_chart([(f"size {k}", v) for k, v in sorted(sizes.items(), key=lambda kv: int(kv[0]))], color="#b279a2"))
    body.append("<h2>Configuration and full statistics</h2>")
    body.append(f"<pre>{html.escape(json.dumps(stats, indent=2, sort_keys=True, default=str))}</pre>")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>"
    )


def render_expansion_report(stats: dict[str, Any], iterations: list[dict[str, Any]]) -> str:
    """The HTML report of ``raysift expand``: growth of the recalled set per iteration."""
    title = "raysift expand"
    body = [f"<h1>{title}</h1>"]
    kpis = [("pool documents", f"{stats.get('documents_in', 0):,}"), ("recalled", f"{stats.get('documents_out', 0):,}"),
            ("iterations", str(stats.get("iterations_run", len(iterations)))), ("stopped because", str(stats.get("stopped_because")))]
    body.append("".join(f'<span class="kpi"><b>{html.escape(v)}</b>{html.escape(k)}</span>' for k, v in kpis))
    body.append("<h2>Recalled documents per iteration</h2>")
    body.append(bar_chart([(f"iteration {it['iteration']}", it["recalled"]) for it in iterations]))
    body.append("<h2>New documents per iteration</h2>")
    body.append(bar_chart([(f"iteration {it['iteration']}", it["new_recalled"]) for it in iterations], color="#54a24b"))
    body.append("<h2>Seed size (positives) per iteration</h2>")
    body.append(bar_chart([(f"iteration {it['iteration']}", it["positives"]) for it in iterations], color="#f58518"))
    for it in iterations:
        hist = it.get("histogram") or {}
        edges, counts = hist.get("edges", []), hist.get("counts", [])
        if counts:
            body.append(f"<h2>Iteration {it['iteration']}: math score histogram</h2>")
            body.append(bar_chart([(f"{edges[i]:.2f}–{edges[i + 1]:.2f}", c) for i, c in enumerate(counts)], color="#b279a2"))
    body.append("<h2>Full statistics</h2>")
    body.append(f"<pre>{html.escape(json.dumps(stats, indent=2, sort_keys=True, default=str))}</pre>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{_CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>")
