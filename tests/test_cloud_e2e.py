"""End to end on object storage: the main job reads WARC files from ``s3://`` and writes every output
to ``s3://``, and the result equals the same run on local paths (issue 5, "S3 everywhere").

- Real store: Ceph's RADOS Gateway on loopback (``ceph_s3``, tests/infra.py), recipe ``default``
  (extraction, every filter, exact and fuzzy dedup, whose work files and shuffles then live on S3).
- Error paths a real store cannot be made to produce: moto's S3 server behind a fault-injecting HTTP
  proxy on loopback that answers some requests with ``503 SlowDown`` and resets the connection on
  others; the run must retry through them and still equal the local run. Nothing in boto3 or
  pyarrow is mocked: the faults travel over real sockets.
"""

from __future__ import annotations

import dataclasses
import http.client
import io
import json
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from operators.recipe import PipelineConfig, load_recipe
from operators.samplegen import generate_sample
from operators.storage import StorageConfig
from tests.infra import S3Endpoint, local_ray_with_env, read_request_body

pytestmark = pytest.mark.ray

N_PAGES, N_FILES = 120, 3
SOURCE = "source"


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return generate_sample(tmp_path_factory.mktemp("sample"), n_pages=N_PAGES, n_files=N_FILES, seed=0)


@pytest.fixture(scope="module")
def ray_s3(request: pytest.FixtureRequest) -> Iterator[S3Endpoint | None]:
    """One local Ray for the module, started after the S3 settings are in ``os.environ``.

    Ray's worker processes inherit the driver's environment at ``ray.init``, and raysift reads
    the endpoint and credentials from there (standard AWS chain). Yields the Ceph endpoint, or
    None where Ceph cannot run (the Ceph test then skips with the fixture's ``INFRA:`` reason;
    the moto test still runs, moto accepting any credentials).
    """
    try:
        endpoint: S3Endpoint | None = request.getfixturevalue("ceph_s3")
    except pytest.skip.Exception:
        endpoint = None
    env = endpoint.env() if endpoint else {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                                           "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    with local_ray_with_env(env):
        yield endpoint


@pytest.fixture(scope="module")
def local_runs(ray_s3, sample: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``local_runs(recipe)``: the same job on local paths (run once per recipe, cached)."""
    from operators.pipeline import run_pipeline

    cache: dict[str, tuple[dict, dict, dict]] = {}

    def get(recipe: str) -> tuple[dict, dict, dict]:
        if recipe not in cache:
            out = tmp_path_factory.mktemp(f"local-{recipe}")
            stats = run_pipeline(load_recipe(recipe), [str(p) for p in sample], str(out), log=lambda _: None)
            cache[recipe] = (_rows_local(out / "documents"), _rows_local(out / "rejected"), stats)
        return cache[recipe]

    return get


# ------------------------------------------------------------------------------------- helpers


def _canonical(rows: list[dict]) -> dict[str, str]:
    """id -> every column but ``source`` as canonical JSON (NaN-safe, order-free), one row per id."""
    out: dict[str, str] = {}
    for row in rows:
        key = row["id"]
        assert key not in out, f"document {key} written twice"
        out[key] = json.dumps({k: v for k, v in row.items() if k != SOURCE}, sort_keys=True, default=str)
    return out


def _rows_local(folder: Path) -> list[dict]:
    rows: list[dict] = []
    for f in sorted(folder.glob("*.parquet")):
        rows.extend(pq.read_table(f).to_pylist())
    return rows


def _keys(client: Any, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def _rows_s3(client: Any, bucket: str, prefix: str) -> list[dict]:
    rows: list[dict] = []
    for key in _keys(client, bucket, prefix):
        assert key.endswith(".parquet"), key
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        rows.extend(pq.read_table(io.BytesIO(body)).to_pylist())
    return rows


def _upload_sample(client: Any, bucket: str, sample: list[Path]) -> list[str]:
    for p in sample:
        client.put_object(Bucket=bucket, Key=f"in/{p.name}", Body=p.read_bytes())
    return [f"s3://{bucket}/in/{p.name}" for p in sample]


def _assert_same_documents(s3_rows: tuple[list[dict], list[dict]], local: tuple[dict, dict, dict],
                           uris: list[str], sample: list[Path]) -> None:
    """Same ids, same text and every other column per id, same reasons; sources map file to file."""
    kept, rejected = s3_rows
    local_kept, local_rejected, _ = local
    assert kept and rejected, "the S3 run wrote no kept or no rejected documents"
    assert _canonical(kept) == _canonical(local_kept)
    assert _canonical(rejected) == _canonical(local_rejected)
    by_name = {Path(u).name: u for u in uris}
    assert set(by_name) == {p.name for p in sample}
    local_sources = {r["id"]: r[SOURCE] for r in local_kept + local_rejected}
    for r in kept + rejected:
        assert r[SOURCE] == by_name[Path(local_sources[r["id"]]).name]


# ------------------------------------------------------------------------------ Ceph RGW (real)


def test_s3_to_s3_run_on_ceph_equals_local_run(ceph_s3: S3Endpoint, ray_s3: S3Endpoint | None,
                                               sample: list[Path], local_runs) -> None:
    from operators.pipeline import run_pipeline

    endpoint = ceph_s3
    client = endpoint.client()
    bucket = endpoint.new_bucket("e2e")
    uris = _upload_sample(client, bucket, sample)

    stats = run_pipeline(load_recipe("default"), [f"s3://{bucket}/in/*.warc.gz"], f"s3://{bucket}/out",
                         log=lambda _: None)

    local = local_runs("default")
    s3_rows = (_rows_s3(client, bucket, "out/documents/"), _rows_s3(client, bucket, "out/rejected/"))
    _assert_same_documents(s3_rows, local, uris, sample)
    local_stats = local[2]
    for key in ("documents_in", "documents_out", "rejected", "records_skipped", "languages", "chars_out"):
        assert stats[key] == local_stats[key], key
    assert stats["documents_in"] == N_PAGES
    assert stats["inputs"]["files"] == sorted(uris)

    # every output is on S3, the work folder of the dedup stage is gone
    # (keys ending in "/" are the empty directory markers pyarrow's S3 filesystem keeps)
    keys = [k for k in _keys(client, bucket, "out/") if not k.endswith("/")]
    assert "out/stats.json" in keys and "out/report.html" in keys
    assert not [k for k in keys if k.startswith("out/_work/")], "dedup work files left behind"
    assert {k.split("/")[1] for k in keys} == {"documents", "rejected", "stats.json", "report.html", "_run"}
    manifest = json.loads(client.get_object(Bucket=bucket, Key="out/_run/manifest.json")["Body"].read())
    assert manifest["finished"] is True and manifest["inputs"] == sorted(uris)  # a rerun resumes, on S3 too
    on_s3 = json.loads(client.get_object(Bucket=bucket, Key="out/stats.json")["Body"].read())
    assert on_s3["documents_out"] == stats["documents_out"] == len(s3_rows[0])
    report = client.get_object(Bucket=bucket, Key="out/report.html")["Body"].read()
    assert b"<svg" in report

    # credentials never reach an output object (stats.json holds the whole config)
    for key in keys:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert endpoint.secret_key.encode() not in body, f"secret key written to s3://{bucket}/{key}"
        assert endpoint.access_key.encode() not in body, f"access key written to s3://{bucket}/{key}"


# --------------------------------------------------------------- throttling and resets (moto)


class FaultProxy:
    """HTTP proxy on 127.0.0.1 in front of an S3 endpoint that injects the faults S3 clients must
    survive: request ``n`` is answered ``503 SlowDown`` when ``n % slowdown_every == 1`` and its
    connection is reset without an answer when ``n % reset_every == 2`` (n counts from 1)."""

    def __init__(self, upstream: str, slowdown_every: int = 5, reset_every: int = 7) -> None:
        self.upstream = upstream.split("://", 1)[1].rstrip("/")
        self.slowdown_every, self.reset_every = slowdown_every, reset_every
        self.requests = self.slowdowns = self.resets = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _next(self) -> str:
        with self._lock:
            self.requests += 1
            n = self.requests
            if n % self.slowdown_every == 1:
                self.slowdowns += 1
                return "slowdown"
            if n % self.reset_every == 2:
                self.resets += 1
                return "reset"
            return "forward"

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
                action = proxy._next()
                if action == "reset":  # RST instead of an answer
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                if action == "slowdown":
                    payload = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                               b"<Message>Please reduce your request rate.</Message></Error>")
                    self.send_response(503, "Slow Down")
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("transfer-encoding", "expect", "connection", "content-length")}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status, resp.reason)
                    for k, v in resp.getheaders():
                        if k.lower() in ("transfer-encoding", "connection", "server", "date"):
                            continue
                        if k.lower() == "content-length" and self.command != "HEAD":
                            continue
                        self.send_header(k, v)
                    if self.command != "HEAD":
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _serve

        return Handler


def test_run_retries_through_slowdown_and_connection_resets(ray_s3, moto_s3: S3Endpoint, sample: list[Path],
                                                            local_runs) -> None:
    from operators.pipeline import run_pipeline
    from operators.warc import plan_ranges

    client = moto_s3.client()
    bucket = moto_s3.new_bucket("flaky")
    uris = _upload_sample(client, bucket, sample)
    base: PipelineConfig = load_recipe("fineweb")
    with FaultProxy(moto_s3.endpoint_url) as proxy:
        cfg = dataclasses.replace(base, storage=StorageConfig(endpoint_url=proxy.url, retries=10))
        stats = run_pipeline(cfg, [f"s3://{bucket}/in/"], f"s3://{bucket}/out", log=lambda _: None)
        # the same files cut into byte ranges: ranged GETs, each retried on its own
        ranged = dataclasses.replace(cfg, warc=dataclasses.replace(cfg.warc, split_min_bytes=8 * 1024))
        assert len(plan_ranges([(str(p), p.stat().st_size) for p in sample], 2, 8 * 1024)) > len(sample)
        before = proxy.requests
        ranged_stats = run_pipeline(ranged, [f"s3://{bucket}/in/"], f"s3://{bucket}/ranges", log=lambda _: None)
        assert proxy.requests > before
    # the faults were really served, and enough of them to hit reads, listings and writes alike
    assert proxy.slowdowns >= 5 and proxy.resets >= 3, (proxy.requests, proxy.slowdowns, proxy.resets)
    s3_rows = (_rows_s3(client, bucket, "out/documents/"), _rows_s3(client, bucket, "out/rejected/"))
    _assert_same_documents(s3_rows, local_runs("fineweb"), uris, sample)
    assert stats["documents_in"] == ranged_stats["documents_in"] == N_PAGES
    ranged_rows = (_rows_s3(client, bucket, "ranges/documents/"), _rows_s3(client, bucket, "ranges/rejected/"))
    _assert_same_documents(ranged_rows, local_runs("fineweb"), uris, sample)
    assert json.loads(client.get_object(Bucket=bucket, Key="out/stats.json")["Body"].read())["documents_in"] == N_PAGES
