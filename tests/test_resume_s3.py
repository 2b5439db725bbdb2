"""Resumable runs with the output on S3 (issue 13, item 1): a killed driver, rerun, gives an
undisturbed run's output, on a real object store (Ceph RGW, ``ceph_s3`` in tests/infra.py).

As in tests/test_resume.py the kill is real: the driver runs in its own process group with a
private marker in its environment (inherited by the local Ray it starts); once the output, as
any S3 client sees it (polled with boto3), shows the run mid-way, the driver and every process
of its Ray get SIGKILL. The same command is then run again through the job's ``main(argv)`` in
this process, on the module's Ray (as are the undisturbed runs): a Ray start less per run.

``raysift dedup`` keeps nothing of an interrupted dedup (its stages are global and live in Ray's
object store): the promise is that the rerun redoes it whole, deleting what the killed run had
written. Its write phase lasts a fraction of a second, so the killed run reaches the store
through a proxy on loopback that holds each shard upload for a moment; the kill then lands with
some shards written and others in flight, and the proxy forwards nothing after it.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import posixpath
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow.parquet as pq
import pytest

from jobs.dedup import main as dedup_main
from jobs.pipeline import main as pipeline_main
from operators import resume
from operators.recipe import load_recipe
from operators.samplegen import generate_sample
from tests.infra import REPO, S3Endpoint, kill_processes_mentioning, local_ray_with_env, read_request_body

pytestmark = pytest.mark.ray

COUNTS = ("documents_in", "documents_out", "rejected", "records_skipped", "languages", "chars_out",
          "length_histogram")
TIMING = ("wall_time_s", "documents_per_s")
N_FILES = 3
RECIPE, WAVE = "fineweb", "resources.files_per_wave=1"  # one input per wave: a kill can land between them


# ---------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def store(ceph_s3: S3Endpoint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Endpoint, Any, str]]:
    """The Ceph endpoint, a boto3 client and a fresh bucket holding a crawl under ``in/`` and a
    document corpus under ``docs/``; a local Ray in this process (for the runs not killed) whose
    workers reach the store through the standard AWS chain."""
    client = ceph_s3.client()
    bucket = ceph_s3.new_bucket("resume")
    for p in generate_sample(tmp_path_factory.mktemp("crawl"), n_pages=90, n_files=N_FILES, seed=5):
        client.put_object(Bucket=bucket, Key=f"in/{p.name}", Body=p.read_bytes())
    for i, body in enumerate(_corpus()):
        client.put_object(Bucket=bucket, Key=f"docs/part-{i}.jsonl", Body=body)
    with local_ray_with_env(ceph_s3.env()):
        yield ceph_s3, client, bucket


@pytest.fixture(scope="module")
def reference(store) -> dict[str, Any]:
    """An undisturbed run of :func:`_pipeline` into ``s3://BUCKET/ref``: its documents, rejected and
    stats (read at once: a test may replace ``ref`` afterwards)."""
    _, client, bucket = store
    assert pipeline_main(_pipeline(bucket, "ref")) == 0
    ref = {"documents": _rows(client, bucket, "ref/documents/"), "rejected": _rows(client, bucket, "ref/rejected/"),
           "stats": _stats(client, bucket, "ref")}
    assert ref["documents"] and ref["rejected"] and ref["stats"]["documents_in"] > 0
    return ref


# ----------------------------------------------------------------------------------- helpers


def _objects(client: Any, bucket: str, prefix: str) -> dict[str, tuple[str, Any]]:
    """key -> (ETag, LastModified) of the objects under ``prefix`` (not pyarrow's ``dir/`` markers)."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):
                out[item["Key"]] = (item["ETag"], item["LastModified"])
    return out


def _get(client: Any, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def _rows(client: Any, bucket: str, prefix: str) -> dict[str, str]:
    """id -> the row as canonical JSON, over every shard under ``prefix``; no id twice."""
    out: dict[str, str] = {}
    for key in sorted(_objects(client, bucket, prefix)):
        assert key.endswith(".parquet"), key
        for row in pq.read_table(io.BytesIO(_get(client, bucket, key))).to_pylist():
            assert row["id"] not in out, f"document {row['id']} written twice (again in {key})"
            out[row["id"]] = json.dumps(row, sort_keys=True, default=str)
    return out


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMING}
    return value


def _stats(client: Any, bucket: str, prefix: str) -> dict[str, Any]:
    """``stats.json`` without its timings (at any depth)."""
    return _untimed(json.loads(_get(client, bucket, f"{prefix}/stats.json")))


def _server_clock(client: Any, bucket: str) -> Any:
    """The store's time now, as its ``LastModified`` stamps read it."""
    client.put_object(Bucket=bucket, Key="clock", Body=b"")
    stamp = _objects(client, bucket, "clock")["clock"][1]  # as listings stamp objects
    time.sleep(1.1)  # stamps may count whole seconds: objects written from now on are stamped later
    return stamp


def _env(endpoint: S3Endpoint, marker: str, via: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(endpoint.env())  # endpoint and credentials through the standard AWS chain
    if via:
        env["RAYSIFT_S3_ENDPOINT"] = env["AWS_ENDPOINT_URL"] = via
    env["RAYSIFT_TEST_MARKER"] = marker  # inherited by the local Ray the driver starts
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    return env


def _kill_when(job: str, argv: list[str], endpoint: S3Endpoint, marker: str, ready: Callable[[], bool],
               via: str | None = None, before_kill: Callable[[], None] = lambda: None) -> None:
    """Start ``python -m job *argv`` with its own Ray, poll ``ready()`` and SIGKILL the driver and
    its Ray as soon as it holds."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a full pipe would stall the driver
        proc = subprocess.Popen([sys.executable, "-m", job, *argv], cwd=REPO, env=_env(endpoint, marker, via),
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        deadline = time.monotonic() + 300
        try:
            while time.monotonic() < deadline and proc.poll() is None and not ready():
                time.sleep(0.05)
            if proc.poll() is not None or time.monotonic() >= deadline:
                err.seek(0)
                pytest.fail(f"the run was not seen mid-way before it ended or timed out: {err.read()[-2000:]!r}")
            before_kill()
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            kill_processes_mentioning(marker, grace_seconds=2)


def _pipeline(bucket: str, out: str, *extra: str) -> list[str]:
    """Arguments of ``raysift run`` (``jobs.pipeline``) over the crawl, into ``s3://BUCKET/out``."""
    return ["--recipe", RECIPE, "--input", f"s3://{bucket}/in/", "--output", f"s3://{bucket}/{out}", "--quiet",
            "--set", WAVE, *extra]


def _stem_of(shard_key: str) -> str:
    """The input stem of a shard ``<stem>-<12 hex>.parquet``."""
    return posixpath.basename(shard_key).rsplit("-", 1)[0]


# ------------------------------------------------------------ the bookkeeping, on S3 (no Ray)


def test_resume_bookkeeping_on_an_s3_prefix(store):
    """operators.resume on an S3 prefix: the manifest and markers are read back, a non-JSON marker
    is ignored, exactly the unfinished groups' shards are deleted, a mismatch is refused before
    anything is touched, and ``overwrite`` empties the run's folders."""
    from operators.config import ConfigError
    from operators.stats import BatchStats

    _, client, bucket = store
    out = f"s3://{bucket}/unit"
    files = [f"s3://{bucket}/in/x.warc.gz", f"s3://{bucket}/in/y.warc.gz", f"s3://{bucket}/other/x.warc.gz"]
    cfg = load_recipe("fineweb")
    assert not resume.open_run(out, cfg, files, None, overwrite=False, clear=("documents",)).resumed
    names = ("x-0123456789ab", "x-fedcba987654", "x-2-0123456789ab", "y-ba9876543210", "x-notashard", "xy-0123456789ab")
    for name in names:
        client.put_object(Bucket=bucket, Key=f"unit/documents/{name}.parquet", Body=b"")
    client.put_object(Bucket=bucket, Key="unit/rejected/x-00000000000a.parquet", Body=b"")
    resume.mark_done(out, {files[1]: BatchStats(documents_in=4)}, None)
    resume.mark_done(out, {files[0]: BatchStats(documents_in=2)}, None)  # one of group x only: x is redone
    client.put_object(Bucket=bucket, Key="unit/_run/done/torn.json", Body=b'{"inputs": [{"input": "s3://')

    state = resume.open_run(out, cfg, list(reversed(files)), None, overwrite=False, clear=("documents",),
                            log=lambda _: None)
    assert state.resumed and not state.complete
    assert {uri: st.documents_in for uri, st in state.done.items()} == {files[0]: 2, files[1]: 4}
    todo = resume.pending_groups(state, files)
    assert todo == [[files[0], files[2]]] and set(state.done) == {files[1]}
    records = _objects(client, bucket, "unit/_run/")
    assert len(records) == 4  # manifest, two markers, the torn one
    assert resume.delete_partial_shards(out, ("documents", "rejected", "duplicates"), todo, None) == 3
    assert sorted(_objects(client, bucket, "unit/documents/")) == [
        f"unit/documents/{name}.parquet" for name in ("x-2-0123456789ab", "x-notashard", "xy-0123456789ab",
                                                      "y-ba9876543210")]
    assert not _objects(client, bucket, "unit/rejected/") and _objects(client, bucket, "unit/_run/") == records

    before = _objects(client, bucket, "unit/")
    other = load_recipe("fineweb", ["filters.language.min_score=0.5"])
    with pytest.raises(ConfigError, match=r"s3://\S+/unit holds a run started with different setting "
                                          r"'filters.language.min_score'"):
        resume.open_run(out, other, files, None, overwrite=False, clear=("documents",))
    with pytest.raises(ConfigError, match="different inputs"):
        resume.open_run(out, cfg, files[:2], None, overwrite=False, clear=("documents",))
    assert _objects(client, bucket, "unit/") == before
    fresh = resume.open_run(out, other, files, None, overwrite=True, clear=("documents", "rejected"))
    assert not fresh.resumed and not fresh.done
    assert list(_objects(client, bucket, "unit/")) == ["unit/_run/manifest.json"]
    resume.finish(out, None)
    assert resume.open_run(out, other, files, None, overwrite=False, clear=()).complete


# ----------------------------------------------------------------------- raysift run, on S3


@pytest.mark.fault_case("driver and node loss",
                        "`raysift run` writing to S3 (Ceph RGW): driver and its Ray SIGKILLed once the first "
                        "input is marked done there, same command rerun",
                        "resumes: the finished inputs' shards and markers are left as they were; documents, "
                        "rejected and stats counts identical to an undisturbed S3 run, no document twice")
def test_killed_run_writing_to_s3_resumes_to_the_undisturbed_output(store, reference, tmp_path, capsys):
    endpoint, client, bucket = store
    _kill_when("jobs.pipeline", _pipeline(bucket, "out"), endpoint, f"{tmp_path}-killed",
               lambda: bool(_objects(client, bucket, "out/_run/done/")))
    markers = _objects(client, bucket, "out/_run/done/")
    manifest = json.loads(_get(client, bucket, "out/_run/manifest.json"))
    assert manifest["finished"] is False and len(manifest["inputs"]) == N_FILES
    assert "out/stats.json" not in _objects(client, bucket, "out/")
    finished = {entry["input"] for key in markers for entry in json.loads(_get(client, bucket, key))["inputs"]}
    assert 1 <= len(finished) < N_FILES, finished  # the kill landed mid-run
    finished_stems = {resume.stem(uri) for uri in finished}
    shards = {**_objects(client, bucket, "out/documents/"), **_objects(client, bucket, "out/rejected/")}
    kept_shards = {k: v for k, v in shards.items() if _stem_of(k) in finished_stems}
    assert {_stem_of(k) for k in kept_shards} == finished_stems

    clock = _server_clock(client, bucket)
    capsys.readouterr()
    assert pipeline_main(_pipeline(bucket, "out")) == 0
    assert (f"resuming the run in s3://{bucket}/out: {len(finished)} of {N_FILES} inputs already done"
            in capsys.readouterr().out)

    assert _rows(client, bucket, "out/documents/") == reference["documents"]
    assert _rows(client, bucket, "out/rejected/") == reference["rejected"]
    stats = _stats(client, bucket, "out")
    for key in COUNTS:
        assert stats[key] == reference["stats"][key], key
    assert stats["resumed"] == {"inputs_already_done": len(finished)}
    # the finished inputs were not redone: their shards and markers are the objects written before the kill
    after = {**_objects(client, bucket, "out/documents/"), **_objects(client, bucket, "out/rejected/")}
    assert {k: after.get(k) for k in kept_shards} == kept_shards
    # ... and every other shard was written by the rerun
    assert all(stamp > clock for k, (_, stamp) in after.items() if k not in kept_shards)
    done_after = _objects(client, bucket, "out/_run/done/")
    assert len(done_after) == N_FILES and {k: done_after[k] for k in markers} == markers
    assert json.loads(_get(client, bucket, "out/_run/manifest.json"))["finished"] is True
    assert not _objects(client, bucket, "out/_work/")


@pytest.mark.fault_case("driver and node loss",
                        "`raysift run` rerun over its finished S3 output with another setting, then with --overwrite",
                        "refused (exit 2, the setting named), nothing on S3 touched; --overwrite replaces every object")
def test_rerun_on_s3_with_another_setting_is_refused_and_overwrite_replaces(store, reference, capsys):
    _, client, bucket = store
    before = _objects(client, bucket, "ref/")
    other = ("--set", "filters.language.min_score=0.97")
    capsys.readouterr()
    assert pipeline_main(_pipeline(bucket, "ref", *other)) == 2
    err = capsys.readouterr().err
    assert (f"raysift: error: s3://{bucket}/ref holds a run started with different setting "
            f"'filters.language.min_score'; rerunning the same command resumes it, so use another --output "
            f"for this one, or give --overwrite to replace it\n") in err
    assert "Traceback" not in err
    assert _objects(client, bucket, "ref/") == before

    clock = _server_clock(client, bucket)
    assert pipeline_main(_pipeline(bucket, "ref", *other, "--overwrite")) == 0
    after = _objects(client, bucket, "ref/")
    assert after and all(stamp > clock for _, stamp in after.values()), "an object of the replaced run is left"
    stats = _stats(client, bucket, "ref")
    assert stats["config"]["filters"]["language"]["min_score"] == 0.97 and "resumed" not in stats
    manifest = json.loads(_get(client, bucket, "ref/_run/manifest.json"))
    assert manifest["finished"] is True and manifest["config"]["filters"]["language"]["min_score"] == 0.97
    documents = [json.loads(row) for row in _rows(client, bucket, "ref/documents/").values()]
    assert len(documents) == stats["documents_out"] < reference["stats"]["documents_out"]
    assert min(doc["language_score"] for doc in documents) >= 0.97
    assert len(_rows(client, bucket, "ref/rejected/")) == sum(stats["rejected"].values())
    assert stats["rejected"]["language_low_score"] > reference["stats"]["rejected"].get("language_low_score", 0)


# --------------------------------------------------------------------- raysift dedup, on S3


class SlowShardUploads:
    """HTTP proxy on 127.0.0.1 in front of an S3 endpoint that holds every PUT whose path contains
    one of ``held`` for ``delay`` seconds before forwarding it. After :meth:`cut` it forwards
    nothing more (a request still held is dropped with its connection), as when the client dies."""

    def __init__(self, upstream: str, held: tuple[str, ...], delay: float = 1.5) -> None:
        self.upstream = upstream.split("://", 1)[1].rstrip("/")
        self.held, self.delay = held, delay
        self._cut = threading.Event()
        self._busy = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlowShardUploads:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        self.server.shutdown()
        self.server.server_close()

    def cut(self) -> None:
        """Forward nothing from now on; return once no request is being forwarded."""
        self._cut.set()
        while True:
            with self._lock:
                if not self._busy:
                    return
            time.sleep(0.01)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                return read_request_body(self)

            def _serve(self) -> None:
                body = self._body()
                if self.command == "PUT" and any(h in self.path for h in proxy.held):
                    proxy._cut.wait(proxy.delay)
                with proxy._lock:
                    if proxy._cut.is_set():  # the client is dead: no answer, the connection closed
                        self.close_connection = True
                        return
                    proxy._busy += 1
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("transfer-encoding", "expect", "connection", "content-length")}
                    if body or self.command in ("PUT", "POST"):
                        headers["Content-Length"] = str(len(body))
                    conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                    try:
                        conn.request(self.command, self.path, body=body or None, headers=headers)
                        resp = conn.getresponse()
                        data = resp.read()
                    finally:
                        conn.close()
                finally:
                    with proxy._lock:
                        proxy._busy -= 1
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "server", "date", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", resp.getheader("Content-Length", "0") if self.command == "HEAD"
                                 else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _serve

        return Handler


def _corpus(n_files: int = 4, per_file: int = 300) -> list[bytes]:
    """JSONL files of documents over a small vocabulary; a third of them are one of 500 texts plus a
    word, so many of those are near-duplicates of one another (the rest share no 5-gram to speak of)."""
    rng = random.Random(7)
    words = [f"w{i}" for i in range(300)]
    bases = [" ".join(rng.choice(words) for _ in range(60)) for _ in range(500)]
    files = []
    for f in range(n_files):
        lines = []
        for i in range(per_file):
            if i % 3 == 0:
                text = bases[rng.randrange(len(bases))] + " " + rng.choice(words)
            else:
                text = " ".join(rng.choice(words) for _ in range(60))
            lines.append(json.dumps({"id": f"f{f}-{i}", "text": text}))
        files.append(("\n".join(lines) + "\n").encode())
    return files


def _dedup(bucket: str, out: str) -> list[str]:
    """Arguments of ``raysift dedup`` (``jobs.dedup``, its defaults) over the corpus, into ``s3://BUCKET/out``."""
    return ["--input", f"s3://{bucket}/docs/", "--output", f"s3://{bucket}/{out}", "--quiet"]


@pytest.mark.fault_case("driver and node loss",
                        "`raysift dedup` writing to S3 (Ceph RGW): driver and its Ray SIGKILLed while it writes "
                        "its shards, same command rerun",
                        "redone whole: every shard the killed run wrote is replaced; documents, duplicates and "
                        "stats.json identical to an undisturbed S3 dedup")
def test_killed_dedup_writing_to_s3_is_redone_to_the_undisturbed_output(store, tmp_path):
    endpoint, client, bucket = store
    assert dedup_main(_dedup(bucket, "dd-ref")) == 0
    ref_docs, ref_dups = _rows(client, bucket, "dd-ref/documents/"), _rows(client, bucket, "dd-ref/duplicates/")
    ref_stats = _stats(client, bucket, "dd-ref")
    assert ref_docs and ref_dups and ref_stats["rejected"]["fuzzy_duplicate"] == len(ref_dups)

    def shards() -> dict[str, tuple[str, Any]]:
        return {**_objects(client, bucket, "dd/documents/"), **_objects(client, bucket, "dd/duplicates/")}

    held = (f"/{bucket}/dd/documents/", f"/{bucket}/dd/duplicates/")
    with SlowShardUploads(endpoint.endpoint_url, held) as proxy:
        _kill_when("jobs.dedup", _dedup(bucket, "dd"), endpoint, f"{tmp_path}-killed", lambda: bool(shards()),
                   via=proxy.url, before_kill=proxy.cut)
    stale = shards()
    assert stale  # some shards reached the store before the kill
    assert json.loads(_get(client, bucket, "dd/_run/manifest.json"))["finished"] is False
    assert "dd/stats.json" not in _objects(client, bucket, "dd/")

    clock = _server_clock(client, bucket)
    assert dedup_main(_dedup(bucket, "dd")) == 0
    assert _rows(client, bucket, "dd/documents/") == ref_docs
    assert _rows(client, bucket, "dd/duplicates/") == ref_dups
    assert _stats(client, bucket, "dd") == ref_stats
    written = shards()
    assert len(stale) < len(written), "the kill landed after every shard was written"
    assert all(stamp > clock for _, stamp in written.values()), "a shard of the killed dedup was kept"
    assert json.loads(_get(client, bucket, "dd/_run/manifest.json"))["finished"] is True
