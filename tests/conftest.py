"""Shared fixtures (tests/infra.py) and the rule that CI may not skip real-infrastructure tests.

Skips whose reason starts with ``INFRA:`` (Ceph, netns Ray cluster, moto unavailable) or with
``../shared/data`` (shared test data absent) are allowed on a developer machine. Under CI (env
``CI`` set to anything but ``0``/``false``) or with ``--require-infra`` they make the session
fail: the run reports them and exits non-zero.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

_REPO = str(Path(__file__).resolve().parents[1])
if _REPO not in sys.path:  # plain `pytest` (not `python -m pytest`): make `operators`, `tests.infra` importable
    sys.path.insert(0, _REPO)

from tests.infra import (  # noqa: F401  (fixtures are registered by import)
    INFRA,
    SHARED_DATA,
    _moto_server,
    ceph_s3,
    moto_s3,
    ray_multinode,
    s3_env,
)

REQUIRED_SKIP_PREFIXES = (INFRA, SHARED_DATA)

_required_skips: list[tuple[str, str]] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-infra",
        action="store_true",
        default=False,
        help="fail the session if a test was skipped for missing infrastructure (INFRA: ...) or "
        "missing ../shared/data; on by default when the CI environment variable is set",
    )


def _required(config: pytest.Config) -> bool:
    ci = os.environ.get("CI", "")
    return bool(config.getoption("--require-infra")) or (ci != "" and ci.lower() not in ("0", "false"))


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason[len("Skipped: ") :] if reason.startswith("Skipped: ") else reason


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        reason = _skip_reason(report)
        if reason.startswith(REQUIRED_SKIP_PREFIXES):
            _required_skips.append((report.nodeid, reason))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    # pytest.skip(..., allow_module_level=True) at import time
    if report.skipped:
        reason = _skip_reason(report)  # type: ignore[arg-type]
        if reason.startswith(REQUIRED_SKIP_PREFIXES):
            _required_skips.append((report.nodeid, reason))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    if _required_skips and _required(config):
        terminalreporter.section("required infrastructure missing (CI)", sep="=", red=True, bold=True)
        for nodeid, reason in _required_skips:
            terminalreporter.write_line(f"SKIPPED {nodeid}: {reason}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _required_skips and _required(session.config) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
