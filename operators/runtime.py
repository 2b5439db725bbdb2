"""Starting or joining Ray for a job, the same way from the CLI and from ``ray job submit``."""

from __future__ import annotations

import logging
import os


def init_ray(address: str | None = None, num_cpus: int | None = None, quiet: bool = False) -> None:
    """Join the cluster at ``address`` (or ``$RAY_ADDRESS``, as under ``ray job submit``),
    else start a local Ray using every core. A no-op when Ray is already initialised."""
    import ray

    if ray.is_initialized():
        return
    kwargs: dict = {"logging_level": logging.WARNING, "log_to_driver": not quiet}
    if address:
        ray.init(address=address, **kwargs)
    elif os.environ.get("RAY_ADDRESS"):
        ray.init(**kwargs)
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = not quiet
    ctx.print_on_execution_start = False
