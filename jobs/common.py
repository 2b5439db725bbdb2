"""Shared argument handling of the job drivers: clean errors instead of tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable

from operators.config import ConfigError


def run_main(main: Callable[[], int]) -> int:
    """Run a driver; configuration and input errors print one line and exit with 2."""
    from operators.io import InputError
    from operators.storage import StorageError

    try:
        return main()
    except (ConfigError, InputError, StorageError, FileNotFoundError) as exc:
        print(f"raysift: error: {exc}", file=sys.stderr)
        return 2
