"""The thin adapter shared by every filter: measure -> decide over an Arrow batch.

A filter module provides a frozen ``Config``, a ``Stats`` dataclass, ``measure(text, cfg)``
and ``decide(stats, cfg) -> reason | None`` (STYLE.md, principle 1). ``apply_filter`` runs
them on the alive rows of a batch, keeps every measured field as a ``<prefix>_<field>``
column (null for rows that were already dead) and names the reject reason.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from operators.schema import TEXT, alive_mask, put_column, with_reason


def apply_filter(
    table: pa.Table,
    prefix: str,
    measure: Callable[[str, Any], Any],
    decide: Callable[[Any, Any], str | None],
    cfg: Any,
    stats_type: type,
) -> pa.Table:
    """Measure every alive document of ``table``, add score columns, set ``reason``."""
    alive = alive_mask(table)
    texts = table.column(TEXT).to_pylist()
    names = [f.name for f in dataclasses.fields(stats_type)]
    types = arrow_types(stats_type)
    columns: dict[str, list[Any]] = {n: [None] * table.num_rows for n in names}
    reasons: list[str | None] = [None] * table.num_rows
    for i, (ok, text) in enumerate(zip(alive, texts)):
        if not ok:
            continue
        stats = measure(text or "", cfg)
        for n in names:
            columns[n][i] = getattr(stats, n)
        reasons[i] = decide(stats, cfg)
    for n in names:
        col = f"{prefix}_{n}"
        arr = pa.array(columns[n], type=types[n])
        table = put_column(table, col, arr)
    return with_reason(table, reasons)


_ARROW_TYPES = {int: pa.int64(), float: pa.float64(), bool: pa.bool_(), str: pa.string()}


def arrow_types(stats_type: type) -> dict[str, pa.DataType]:
    """Arrow type of each ``Stats`` field, from its type hint (so all-null batches keep a type)."""
    hints = typing.get_type_hints(stats_type)
    out = {}
    for f in dataclasses.fields(stats_type):
        tp = hints[f.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        base = args[0] if args else tp
        out[f.name] = _ARROW_TYPES.get(base, pa.float64())
    return out
