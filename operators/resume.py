"""Resumable runs: what a run was started with, and which inputs it has finished.

A run of ``raysift run`` (without a ledger) records in ``<output>/_run/``:

* ``manifest.json``: the raysift version, the resolved config and the expanded input files it
  was started with, and whether it finished;
* ``done/<digest>.json``: one marker per finished input *group*, written when the group's shards
  are all written, holding each input's counts (:class:`operators.stats.BatchStats`).

Inputs are processed in waves of groups (:func:`waves`); a group is the inputs whose shard names
share a stem (``writer.shard_name``: ``<input stem>-<digest>``, so ``a/x.warc.gz`` and
``b/x.warc.gz`` are one group), which lets a rerun delete exactly the shards of the groups it
redoes. Rerunning the same command over the same output therefore:

* on a finished run: does nothing and says so;
* on an interrupted run (driver killed, cluster lost): keeps the finished groups and their
  counts, deletes whatever shards the unfinished groups left, and processes only those; the
  final documents, rejected documents and ``stats.json`` counts equal an undisturbed run's;
* with a different config or inputs: refuses (:class:`ResumeMismatch` names the first difference)
  unless ``--overwrite`` is given, so two runs are never mixed in one folder.

Global stages (dedup, corpus-level cuts) read every annotated shard, so they run once all groups
are done, from the persisted ``_work/annotated`` shards; an interruption during them redoes them
(not the extraction).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from operators import storage
from operators.config import ConfigError, to_dict
from operators.stats import BatchStats

RUN_DIR = "_run"
MANIFEST = "manifest.json"
DONE_DIR = "done"

_SUFFIXES = re.compile(r"(\.(warc|arc|wet|wat|jsonl|json|parquet|gz|zst|zstd|txt))+$", re.IGNORECASE)


class ResumeMismatch(ConfigError):
    """The output folder holds a run started with another config or other inputs."""


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as pkg_version

    try:
        return pkg_version("raysift")
    except PackageNotFoundError:
        return "unknown"


def stem(uri: str) -> str:
    """The shard-name stem of an input (as ``writer.shard_name`` derives it).

    >>> stem("s3://b/crawl/CC-MAIN-1.warc.gz"), stem("docs/part 1.jsonl.zst"), stem("in/.hidden.warc")
    ('CC-MAIN-1', 'part_1', 'hidden')
    """
    base = _SUFFIXES.sub("", posixpath.basename(uri.rstrip("/")))
    # never a hidden name: listings (ours, Ray's, Spark's) skip names starting with "." or "_"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base)[:80].lstrip("._-") or "documents"


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            where = f"{path}.{key}" if path else key
            if key not in a or key not in b:
                return where
            diff = _first_difference(a[key], b[key], where)
            if diff:
                return diff
        return None
    return None if a == b else (path or "(top level)")


@dataclass
class RunState:
    """What :func:`open_run` found in the output folder."""

    output: str
    complete: bool = False
    resumed: bool = False
    done: dict[str, BatchStats] = field(default_factory=dict)  # input URI -> its counts


def _manifest_uri(output: str) -> str:
    return storage.join(output, RUN_DIR, MANIFEST)


def _write_manifest(output: str, manifest: dict[str, Any], storage_cfg) -> None:
    storage.write_bytes_atomic(_manifest_uri(output), json.dumps(manifest, indent=1).encode(), storage_cfg)


def read_manifest(output: str, storage_cfg=None) -> dict[str, Any] | None:
    uri = _manifest_uri(output)
    if not storage.exists(uri, storage_cfg):
        return None
    try:
        return json.loads(storage.read_bytes(uri, storage_cfg))
    except ValueError as exc:
        raise ConfigError(f"{uri} is not valid JSON ({exc}); it is raysift's record of an earlier run: "
                          f"give --overwrite to start over") from exc


def open_run(output: str, cfg, files: list[str], storage_cfg, *, overwrite: bool, clear: tuple[str, ...],
             log: Callable[[str], None] = print) -> RunState:
    """Start or resume the run in ``output`` (see the module docstring). ``clear``: the output
    sub-folders a fresh run empties first."""
    wanted = {"raysift": version(), "config": _plain(to_dict(cfg)), "inputs": sorted(files)}
    found = None if overwrite else read_manifest(output, storage_cfg)
    if found is not None:
        diff = _first_difference({"config": found.get("config"), "inputs": found.get("inputs")},
                                 {"config": wanted["config"], "inputs": wanted["inputs"]})
        if diff is not None:
            what = "inputs" if diff.startswith("inputs") else f"setting {diff[len('config.'):]!r}"
            raise ResumeMismatch(
                f"{output} holds a run started with different {what}; rerunning the same command "
                f"resumes it, so use another --output for this one, or give --overwrite to replace it"
            )
        if found.get("finished"):
            return RunState(output, complete=True)
        state = RunState(output, resumed=True)
        for uri, stats in _read_done(output, storage_cfg):
            state.done[uri] = stats
        log(f"raysift: resuming the run in {output}: {len(state.done)} of {len(files)} inputs already done")
        return state
    for sub in (*clear, RUN_DIR):
        storage.delete_dir(storage.join(output, sub), storage_cfg)
    _write_manifest(output, {**wanted, "finished": False}, storage_cfg)
    return RunState(output)


def _read_done(output: str, storage_cfg) -> Iterator[tuple[str, BatchStats]]:
    folder = storage.join(output, RUN_DIR, DONE_DIR)
    if not storage.is_dir(folder, storage_cfg):
        return
    for uri in storage.list_files(folder, cfg=storage_cfg):
        try:
            marker = json.loads(storage.read_bytes(uri, storage_cfg))
            entries = [(entry["input"], BatchStats.from_json(entry["stats"])) for entry in marker["inputs"]]
        except (ValueError, KeyError, TypeError):
            continue  # a marker torn by a crash: its group is redone
        yield from entries


def groups(files: list[str]) -> list[list[str]]:
    """Inputs grouped by shard-name stem, in input order.

    >>> groups(["a/x.warc.gz", "b/y.warc.gz", "c/x.warc.gz"])
    [['a/x.warc.gz', 'c/x.warc.gz'], ['b/y.warc.gz']]
    """
    by_stem: dict[str, list[str]] = {}
    for uri in files:
        by_stem.setdefault(stem(uri), []).append(uri)
    return list(by_stem.values())


def waves(todo: list[list[str]], files_per_wave: int) -> Iterator[list[list[str]]]:
    """Consecutive groups holding about ``files_per_wave`` inputs each (a group is never split)."""
    wave: list[list[str]] = []
    count = 0
    for group in todo:
        if wave and count + len(group) > files_per_wave:
            yield wave
            wave, count = [], 0
        wave.append(group)
        count += len(group)
    if wave:
        yield wave


def pending_groups(state: RunState, files: list[str]) -> list[list[str]]:
    """The groups not entirely done (a group partly marked is redone whole)."""
    todo = []
    for group in groups(files):
        if not all(uri in state.done for uri in group):
            for uri in group:
                state.done.pop(uri, None)
            todo.append(group)
    return todo


def delete_partial_shards(output: str, folders: tuple[str, ...], todo: list[list[str]], storage_cfg) -> int:
    """Delete the shards the unfinished groups may have left in ``folders``; returns how many."""
    stems = {stem(group[0]) for group in todo}
    if not stems:
        return 0
    pattern = re.compile(r"^(?P<stem>.+)-[0-9a-f]{12}\.parquet$")
    removed = 0
    for sub in folders:
        folder = storage.join(output, sub)
        if not storage.is_dir(folder, storage_cfg):
            continue
        for uri in storage.list_files(folder, cfg=storage_cfg):
            match = pattern.match(posixpath.basename(uri))
            if match and match.group("stem") in stems:
                storage.delete_dir(uri, storage_cfg)  # a file URI: deletes that file
                removed += 1
    return removed


def mark_done(output: str, group_stats: dict[str, BatchStats], storage_cfg) -> None:
    """Record one finished group (its inputs' counts) in a single atomic write."""
    key = hashlib.sha1("\0".join(sorted(group_stats)).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    body = {"inputs": [{"input": uri, "stats": stats.to_json()} for uri, stats in sorted(group_stats.items())]}
    storage.write_bytes_atomic(storage.join(output, RUN_DIR, DONE_DIR, f"{key}.json"), json.dumps(body).encode(),
                               storage_cfg)


def finish(output: str, storage_cfg) -> None:
    """Mark the run finished (a rerun then has nothing to do)."""
    manifest = read_manifest(output, storage_cfg) or {}
    manifest["finished"] = True
    _write_manifest(output, manifest, storage_cfg)
