"""Replace one benchmark's marked section of benchmarks/RESULTS.md, leaving the others alone."""

from __future__ import annotations

import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_marked_section(text: str, start: str, end: str, path: Path = RESULTS) -> None:
    """``text`` must begin with ``start`` and end with ``end``; an existing section is replaced."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if start in old and end in old:
        new = old[: old.index(start)] + text + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(new)


def machine_info() -> str:
    """CPU model, core count, OS and Python, for a results section's header."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.machine())
    return f"{cpu}, {os.cpu_count()} cores; {platform.platform()}; Python {platform.python_version()}"
