"""The math switch of the extraction stage (OpenWebMath, Paster et al. 2023, Sec. 3).

Pages whose raw HTML shows math (the cheap :func:`operators.math_extract.has_math`
prefilter: MathJax, KaTeX, MathML, formula images, LaTeX commands) get their math
rewritten to LaTeX text (``$...$`` / ``$$...$$``) before the normal extractor runs, so
formulas survive main-content extraction; other pages pay only the prefilter. With
``require_math`` the pages without math are rejected (OpenWebMath keeps only those).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from operators.math_extract import MathExtractConfig, has_math, replace_math
from operators.schema import SKIP, with_reason

NO_MATH_MARKUP = "math_no_markup"  # require_math is on and the raw HTML shows no math
REASONS = (NO_MATH_MARKUP,)


@dataclass(frozen=True)
class MathPagesConfig:
    """Math-aware extraction.

    extract: how math is turned into LaTeX (:class:`MathExtractConfig`).
    require_math: reject pages whose HTML has no math markup (OpenWebMath's prefilter).
    """

    extract: MathExtractConfig = field(default_factory=MathExtractConfig)
    require_math: bool = False


def rewrite_math_html(table: pa.Table, cfg: MathPagesConfig) -> pa.Table:
    """Rewrite the ``html`` of math pages to carry LaTeX text; add the ``math_markup`` column."""
    from operators.extract import decode_html

    n = table.num_rows
    skips = table.column(SKIP).to_pylist() if SKIP in table.column_names else [None] * n
    bodies = table.column("html").to_pylist()
    charsets = table.column("http_charset").to_pylist() if "http_charset" in table.column_names else [None] * n
    marks: list[bool | None] = [None] * n
    reasons: list[str | None] = [None] * n
    new_bodies = list(bodies)
    new_charsets = list(charsets)
    for i, (skip, body) in enumerate(zip(skips, bodies)):
        if skip is not None or body is None:
            continue
        marks[i] = has_math(body)
        if not marks[i]:
            if cfg.require_math:
                reasons[i] = NO_MATH_MARKUP
            continue
        text = decode_html(body, charsets[i])
        if text is None:
            continue  # the extractor names it undecodable_html
        new_bodies[i] = replace_math(text, cfg.extract).encode("utf-8", "surrogatepass")
        new_charsets[i] = "utf-8"
    table = table.set_column(table.schema.get_field_index("html"), "html", pa.array(new_bodies, table.schema.field("html").type))
    if "http_charset" in table.column_names:
        table = table.set_column(table.schema.get_field_index("http_charset"), "http_charset", pa.array(new_charsets, pa.string()))
    table = table.append_column("math_markup", pa.array(marks, pa.bool_()))
    return with_reason(table, reasons)
