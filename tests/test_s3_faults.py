"""S3 faults against the real store (issue 13, item 3): Ceph RGW behind a fault-injecting proxy.

Every S3 request raysift makes (pyarrow in the driver and in Ray workers, boto3 in the ledger)
goes to :class:`tests.fault_proxy.FaultProxy` on loopback, which forwards it byte for byte to
Ceph RGW (``ceph_s3``) and, on a seeded fraction of requests, answers ``503 SlowDown`` or
``500 InternalError`` instead, resets the connection (before or after the store executed the
request), cuts the answer's body short, or holds the answer back. At 5 % and at 20 % faults,

- ``raysift run`` (WARC files on S3 in, every output on S3, recipe ``default``: extraction, the
  quality filters, exact and fuzzy dedup, whose work files then live on S3),
- ``raysift dedup`` (a Parquet corpus with planted duplicates on S3 in and out),
- a ledger-driven scheduled run (``raysift run --input s3://.../warc.paths.gz --ledger s3://...``),

complete with output identical to the same command without faults: the same rows per id in
``documents/`` and ``rejected/`` / ``duplicates/``, the same counts in ``stats.json``. Every
output Parquet object reads back whole and the row counts add up to ``stats.json`` (a cut-short
answer never becomes a complete-looking shard), faults of every kind were really served, and
``stats.json`` counts the retries.

Run inside the loopback-only namespace: ``.ci/netns.sh run NAME -- python -m pytest -q
tests/test_s3_faults.py``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators import storage
from operators.samplegen import generate_sample
from tests.fault_proxy import FAULTS, FaultProxy
from tests.infra import S3Endpoint, local_ray_with_env

pytestmark = pytest.mark.ray

N_PAGES, N_FILES = 96, 24
RECIPE = "fineweb"  # extraction + filters, streamed from the crawl to the shards (dedup: test_dedup_*)
SMALL_BATCHES = "resources.batch_size=8"
"""Many small files and shards: a run makes ~200 requests, more than a 5 % deck (120), so every
fault kind is served in every run."""
CORPUS_FILES = 30
RATES = (pytest.param(0.05, id="5%"), pytest.param(0.20, id="20%"))
DELAY_SECONDS = 0.5  # below every client's read timeout: a slow answer, not a failed one
RUN_STATS = ("documents_in", "documents_out", "rejected", "records_skipped", "languages", "chars_out",
             "length_histogram", "stages", "inputs")
DEDUP_STATS = ("documents_in", "documents_out", "rejected", "fuzzy_dedup")
DEDUP_ARGS = ("--no-verify",)  # LSH candidates are the duplicates: one shuffle stage less to wait for
FAILING_FAULTS = ("slowdown", "internal_error", "reset", "truncate")
"""Faults that fail a request (a delay only slows it down)."""
KIND_OF_FAULT = {"slowdown": "throttle", "internal_error": "server_error", "reset": "reset", "truncate": "truncated"}
"""The retry kind (operators.storage.RETRY_KINDS) a client sees for each fault the proxy serves."""


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def proxy(ceph_s3: S3Endpoint) -> Iterator[FaultProxy]:
    with FaultProxy(ceph_s3.endpoint_url, rate=0.0, seed=0, delay_seconds=DELAY_SECONDS) as p:
        yield p


@pytest.fixture(scope="module")
def ray_through_proxy(ceph_s3: S3Endpoint, proxy: FaultProxy) -> Iterator[S3Endpoint]:
    """One local Ray for the module whose driver and workers reach S3 only through the proxy.

    raysift takes the endpoint from ``RAYSIFT_S3_ENDPOINT`` and credentials from the AWS chain;
    Ray workers inherit the driver's environment at ``ray.init``. Yields the proxied endpoint.
    """
    via = S3Endpoint(proxy.url, ceph_s3.access_key, ceph_s3.secret_key, ceph_s3.region, "ceph+faults")
    with local_ray_with_env(via.env()):
        yield via


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return generate_sample(tmp_path_factory.mktemp("sample"), n_pages=N_PAGES, n_files=N_FILES, seed=4)


@pytest.fixture(scope="module")
def bucket(ceph_s3: S3Endpoint, sample: list[Path]) -> str:
    """A bucket holding the sample crawl (``in/``), a manifest of it and a document corpus
    (``corpus/``), uploaded straight to RGW (not through the proxy)."""
    client = ceph_s3.client()
    name = ceph_s3.new_bucket("faults")
    for p in sample:
        client.put_object(Bucket=name, Key=f"in/{p.name}", Body=p.read_bytes())
    manifest = "".join(f"in/{p.name}\n" for p in sample).encode()
    client.put_object(Bucket=name, Key="crawl/warc.paths.gz", Body=gzip.compress(manifest, mtime=0))
    for i, table in enumerate(_planted_corpus()):
        sink = io.BytesIO()
        pq.write_table(table, sink)
        client.put_object(Bucket=name, Key=f"corpus/part-{i:02d}.parquet", Body=sink.getvalue())
    return name


def _planted_corpus(n_groups: int = 40, seed: int = 7) -> list[pa.Table]:
    """:data:`CORPUS_FILES` Parquet tables of documents: ``n_groups`` distinct texts of random
    letter words; every other one also has an exact copy and a near copy (one word changed),
    spread over other files."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9))) for _ in range(4000)]
    docs: list[tuple[str, str]] = []
    for g in range(n_groups):
        words = rng.choices(vocab, k=rng.randint(120, 300))
        docs.append((f"doc-{g:03d}", " ".join(words)))
        if g % 2 == 0:
            docs.append((f"copy-{g:03d}", " ".join(words)))
            words[len(words) // 2] = "changed"
            docs.append((f"near-{g:03d}", " ".join(words)))
    rng.shuffle(docs)
    parts = [docs[i::CORPUS_FILES] for i in range(CORPUS_FILES)]
    return [pa.table({"id": [d[0] for d in part], "text": [d[1] for d in part]}) for part in parts]


# ------------------------------------------------------------------------------------- helpers


def _cli(*argv: str) -> None:
    from jobs.cli import main

    assert main(list(argv)) == 0, f"raysift {' '.join(argv)} failed"


def _keys(client: Any, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/"))
    return sorted(keys)


def _shards(client: Any, bucket: str, prefix: str) -> dict[str, list[dict]]:
    """key -> rows of every Parquet object under ``prefix``, each read back whole: its size as
    listed equals the bytes fetched and pyarrow reads every row group (a truncated object
    fails both)."""
    out = {}
    listed = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        listed.update({item["Key"]: item["Size"] for item in page.get("Contents", []) if not item["Key"].endswith("/")})
    for key, size in sorted(listed.items()):
        assert key.endswith(".parquet"), f"unexpected object {key}"
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert len(body) == size, f"{key}: {len(body)} bytes read, {size} listed"
        table = pq.read_table(io.BytesIO(body))
        assert table.num_rows == pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
        out[key] = table.to_pylist()
    return out


def _by_id(shards: dict[str, list[dict]]) -> dict[str, str]:
    """id -> the row as canonical JSON; every id once."""
    out: dict[str, str] = {}
    for rows in shards.values():
        for row in rows:
            assert row["id"] not in out, f"document {row['id']} written twice"
            out[row["id"]] = json.dumps(row, sort_keys=True, default=str)
    return out


class Result:
    """A finished command's outputs on S3, read back without the proxy."""

    def __init__(self, client: Any, bucket: str, prefix: str, rejected_dir: str) -> None:
        self.stats = json.loads(client.get_object(Bucket=bucket, Key=f"{prefix}/stats.json")["Body"].read())
        self.kept = _shards(client, bucket, f"{prefix}/documents/")
        self.rejected = _shards(client, bucket, f"{prefix}/{rejected_dir}/")
        self.keys = _keys(client, bucket, f"{prefix}/")
        self.prefix = prefix + "/"

    def shard_names(self) -> set[str]:
        return {k[len(self.prefix):] for k in [*self.kept, *self.rejected]}


def _untimed(value: Any) -> Any:
    """``value`` without the wall-clock entries (``*_s``, ``*time*``) of nested stats."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if not (k.endswith("_s") or "time" in k)}
    return value


def _assert_same_output(faulty: Result, clean: Result, stats_keys: tuple[str, ...], same_shards: bool) -> None:
    """Same rows per id, same counts; ``same_shards``: the same shard names too (a streamed run
    cuts the same batches; after a shuffle, batches depend on task timing)."""
    assert clean.kept and clean.rejected, "the fault-free run wrote no kept or no rejected documents"
    assert _by_id(faulty.kept) == _by_id(clean.kept)
    assert _by_id(faulty.rejected) == _by_id(clean.rejected)
    if same_shards:
        assert faulty.shard_names() == clean.shard_names()
    for key in stats_keys:
        assert _untimed(faulty.stats.get(key)) == _untimed(clean.stats.get(key)), key
    # every row of every shard is accounted for in stats.json
    kept_rows = sum(len(rows) for rows in faulty.kept.values())
    rejected_rows = sum(len(rows) for rows in faulty.rejected.values())
    assert kept_rows == faulty.stats["documents_out"]
    assert rejected_rows == sum(faulty.stats["rejected"].values())
    assert faulty.stats["documents_in"] == kept_rows + rejected_rows
    assert not [k for k in faulty.keys if "/_work/" in k], "work files left behind"


def _assert_retries_counted(proxy: FaultProxy, stats: dict[str, Any], output: str, may_lose: int = 0) -> None:
    """Every fault kind was served, and ``stats.json`` counts the retries they caused.

    ``stats["retries"]`` is collected just before ``stats.json`` is written, so the faults that
    count are those served before the first request for ``<output>/stats.json``. Each 503 and
    each 500 is one ``throttle`` / ``server_error`` retry, and each answer cut short one
    ``truncated`` retry, with one exception: the ledger's boto3 client takes a cut-short answer
    whose status says it all (a PUT's 200, a 404) as complete and does not retry it, rightly. A
    reset after forwarding is always retried; one before may be resent by libcurl unseen (see
    tests/fault_proxy.py). A delay is no failure. ``may_lose``: retries a run may lose with a
    process Ray Data kills (it force-cancels the tasks of a finished ``limit``).
    """
    log = proxy.log()
    stats_at = next(i for i, (_, target, _) in enumerate(log) if target.split("?")[0].endswith(f"/{output}/stats.json"))
    before = Counter(fault for _, _, fault in log[:stats_at] if fault)
    served = Counter(fault for _, _, fault in log if fault)
    assert all(served[kind] > 0 for kind in (*FAULTS, "reset_after_forward")), served
    ledger_cuts = sum(1 for _, target, fault in log[:stats_at] if fault == "truncate" and "-ledger" in target)
    counted = stats["retries"]
    faults = [entry for entry in log[:stats_at] if entry[2] and entry[2] != "delay"]
    assert set(counted) <= set(KIND_OF_FAULT.values()), counted
    expected = {"throttle": (before["slowdown"] - may_lose, before["slowdown"]),
                "server_error": (before["internal_error"] - may_lose, before["internal_error"]),
                "truncated": (before["truncate"] - ledger_cuts - may_lose, before["truncate"]),
                "reset": (before["reset_after_forward"] - may_lose, before["reset"] + before["reset_after_forward"])}
    for kind, (low, high) in expected.items():
        assert low <= counted.get(kind, 0) <= high, (kind, counted, expected, faults)
    exact = ("throttle", "server_error", "truncated")
    assert sum(counted.get(k, 0) for k in exact) >= sum(expected[k][1] for k in exact) - ledger_cuts - may_lose


def _run_with_faults(proxy: FaultProxy, rate: float, seed: int, fn: Any) -> tuple[float, dict[str, int]]:
    proxy.configure(rate=rate, seed=seed)
    proxy.reset_counts()
    start = time.monotonic()
    try:
        fn()
    finally:
        proxy.configure(rate=0.0)
    return time.monotonic() - start, proxy.counts()


# -------------------------------------------------------- the proxy and the retry layer alone


def _boto3(endpoint_url: str, ceph_s3: S3Endpoint, attempts: int) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint_url, aws_access_key_id=ceph_s3.access_key,
                        aws_secret_access_key=ceph_s3.secret_key, region_name=ceph_s3.region,
                        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required",
                                      retries={"total_max_attempts": attempts, "mode": "standard"}))


def test_proxy_forwards_signed_requests_and_serves_each_fault(ceph_s3: S3Endpoint) -> None:
    from botocore.exceptions import ClientError, ConnectionClosedError, ResponseStreamingError

    with FaultProxy(ceph_s3.endpoint_url, rate=0.0, seed=1, delay_seconds=0.3) as p:
        client = _boto3(p.url, ceph_s3, attempts=1)  # no retries: every fault reaches us
        bucket = ceph_s3.new_bucket("proxy")
        body = bytes(range(256)) * 4000
        client.put_object(Bucket=bucket, Key="k", Body=body)  # signed for the proxy's host, checked by RGW
        assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == body
        assert p.counts()["forwarded"] == p.counts()["requests"] == 2

        def only(kind: str) -> None:
            p.configure(rate=1.0, weights={kind: 1})

        only("slowdown")
        with pytest.raises(ClientError) as err:
            client.get_object(Bucket=bucket, Key="k")
        assert err.value.response["Error"]["Code"] == "SlowDown"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        only("internal_error")
        with pytest.raises(ClientError) as err:
            client.list_objects_v2(Bucket=bucket)
        assert err.value.response["Error"]["Code"] == "InternalError"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        only("reset")
        for _ in range(4):  # before and after forwarding
            with pytest.raises(ConnectionClosedError):
                client.head_object(Bucket=bucket, Key="k")
        only("truncate")
        stream = client.get_object(Bucket=bucket, Key="k")["Body"]
        assert stream._content_length == str(len(body))
        with pytest.raises(ResponseStreamingError, match="IncompleteRead"):
            stream.read()
        only("delay")
        start = time.monotonic()
        assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == body
        assert time.monotonic() - start >= 0.3
        counts = p.counts()
        assert {k: counts[k] for k in FAULTS} == {"slowdown": 1, "internal_error": 1, "reset": 4, "truncate": 1,
                                                 "delay": 1}
        assert counts["reset_after_forward"] == 2  # alternately before and after the store executed it
        assert counts["forwarded"] == 2 + counts["reset_after_forward"] + 2
        with pytest.raises(ValueError, match="unknown fault kinds"):
            p.configure(weights={"timeout": 1})
        with pytest.raises(ValueError, match="cards per deck"):
            p.configure(weights={"reset": 0.5})


def test_faults_are_dealt_as_exact_fractions() -> None:
    """Each deck of round(cards / rate) requests holds every card once, wherever the RNG put them;
    a truncation card drawn for a HEAD waits for the next request with a body."""
    proxy = FaultProxy("http://127.0.0.1:9", rate=0.2, seed=5)  # never started: the schedule alone
    faults = [proxy._decide("GET") for _ in range(60)]
    counts = proxy.counts()
    assert {k: counts[k] for k in FAULTS} == {"slowdown": 2, "internal_error": 2, "reset": 4, "truncate": 2, "delay": 2}
    assert sum(kind is not None for kind, _ in faults) == 12 == 0.2 * 60
    assert [after for kind, after in faults if kind == "reset"] == [False, True, False, True]
    first, second = faults[:30], faults[30:]
    assert sorted(k for k, _ in first if k) == sorted(k for k, _ in second if k)
    assert first != second  # the cards moved
    proxy.configure(rate=1.0, weights={"truncate": 1})
    assert [proxy._decide(m)[0] for m in ("HEAD", "HEAD", "GET", "PUT")] == [None, None, "truncate", "truncate"]
    assert proxy.counts()["method:HEAD"] == 2


def test_storage_retries_every_failed_request_and_counts_it_by_kind(ceph_s3: S3Endpoint, s3_env: Any) -> None:
    """Through 30 % faults, bytes written and read back are intact; with the SDK's own retries off,
    every 503, 500 and cut-short answer served is one retry of its kind. A reset before any
    answer header on a kept-alive connection is resent by libcurl unseen, so resets are bounded:
    at least those after forwarding, at most all."""
    s3_env(ceph_s3)  # credentials from the AWS chain, as in a run
    bucket = ceph_s3.new_bucket("retries")
    with FaultProxy(ceph_s3.endpoint_url, rate=0.3, seed=2, delay_seconds=0.05) as p:
        cfg = storage.StorageConfig(endpoint_url=p.url, retries=10)
        storage.reset_retry_counts()
        blobs = {f"s3://{bucket}/d/{i:02d}.bin": random.Random(i).randbytes(1000 + 150_000 * i) for i in range(12)}
        for uri, blob in blobs.items():
            storage.write_bytes_atomic(uri, blob, cfg)
        assert storage.list_files(f"s3://{bucket}/d", [".bin"], cfg) == sorted(blobs)
        for uri, blob in blobs.items():
            assert storage.read_bytes(uri, cfg) == blob
            fs, path = storage.resolve(uri, cfg)
            with fs.open_input_file(path) as f:
                assert f.read_at(500, len(blob) // 2) == blob[len(blob) // 2:len(blob) // 2 + 500]
        table = pa.table({"n": list(range(50_000)), "s": [str(i) for i in range(50_000)]})
        fs, path = storage.resolve(f"s3://{bucket}/t.parquet", cfg)
        pq.write_table(table, path, filesystem=fs)
        assert pq.read_table(path, filesystem=fs).equals(table)
        storage.delete_dir(f"s3://{bucket}/d", cfg)
        assert not storage.exists(f"s3://{bucket}/d", cfg)
        served, counted = p.counts(), storage.take_retry_counts()
        # a Ray worker gets the filesystem pickled, and a pickled S3FileSystem forgets its retry
        # strategy: the handler rebuilds its own, so the SDK still leaves every retry to raysift
        clone = pickle.loads(pickle.dumps(fs))
        p.configure(rate=0.5, seed=0, weights={"slowdown": 1})
        p.reset_counts()
        for _ in range(6):
            assert clone.get_file_info(path).size > 0
        assert storage.take_retry_counts() == {"throttle": p.counts()["slowdown"]}
        assert p.counts()["slowdown"] >= 3
    assert all(served[kind] >= 5 for kind in FAULTS), served
    assert counted["throttle"] == served["slowdown"]
    assert counted["server_error"] == served["internal_error"]
    assert counted["truncated"] == served["truncate"]
    assert served["reset_after_forward"] <= counted.get("reset", 0) <= served["reset"]
    assert set(counted) <= {"throttle", "server_error", "truncated", "reset"}, counted


@pytest.mark.fault_case('S3 faults (Ceph RGW behind a fault proxy)', 'a response body cut short', 'retried; never written as a complete shard')
def test_a_short_read_is_retried_never_returned() -> None:
    """The retry layer's own check: a positioned read that returns fewer bytes than exist (a cut
    answer that got past the HTTP client) is retried as ``truncated``."""

    class Flaky:  # a pyarrow input file whose first read comes back half as long as asked
        def __init__(self) -> None:
            self.calls = 0
            self.pos = 0

        def size(self) -> int:
            return 100

        def seek(self, pos: int) -> None:
            self.pos = pos

        def read_buffer(self, n: int) -> pa.Buffer:
            self.calls += 1
            return pa.py_buffer(bytes(range(self.pos, self.pos + n))[: n // 2 if self.calls == 1 else n])

        def close(self) -> None:
            pass

    class FakeFs:
        def open_input_file(self, path: str) -> Flaky:
            return Flaky()

    storage.reset_retry_counts()
    reader = storage._RetryingReader(FakeFs(), "b/k", attempts=3)
    assert bytes(reader.read(40)) == bytes(range(40))
    assert bytes(reader.read()) == bytes(range(40, 100)) and bytes(reader.read()) == b""
    assert storage.take_retry_counts() == {"truncated": 1}
    failing = storage._RetryingReader(FakeFs(), "b/k", attempts=1)
    with pytest.raises(storage.TruncatedReadError, match="50 of 100 bytes at offset 0"):
        failing.read()


def test_boto3_retries_are_counted_by_kind(ceph_s3: S3Endpoint) -> None:
    """The ledger's boto3 client (``storage.count_boto3_retries``): botocore retries, raysift counts.
    botocore reads a truncated PUT answer as complete (the PUT happened), so truncations are bounded."""
    bucket = ceph_s3.new_bucket("boto")
    with FaultProxy(ceph_s3.endpoint_url, rate=0.3, seed=3, delay_seconds=0.05) as p:
        client = storage.count_boto3_retries(_boto3(p.url, ceph_s3, attempts=10))
        storage.reset_retry_counts()
        for i in range(40):
            client.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x" * i)
            assert client.head_object(Bucket=bucket, Key=f"k{i}")["ContentLength"] == i
            assert len(client.list_objects_v2(Bucket=bucket, MaxKeys=5)["Contents"]) == min(i + 1, 5)
        served, counted = p.counts(), storage.take_retry_counts()
    assert all(served[kind] > 0 for kind in FAULTS), served
    assert counted["throttle"] == served["slowdown"]
    assert counted["server_error"] == served["internal_error"]
    assert counted["reset"] == served["reset"]
    assert 0 < counted["truncated"] <= served["truncate"]


# ------------------------------------------------------------------ counting across processes


def test_retry_sink_counts_the_retries_of_every_process(ray_through_proxy: S3Endpoint) -> None:
    """Retries made in Ray workers (and the driver) while a run's sink exists reach
    ``collect_retry_counts`` on the driver; the sink starts empty for each run."""
    import ray

    def retry_in_worker(kind: str, n: int) -> int:  # pickled by value: workers need not import this module
        from operators import storage

        for _ in range(n):
            storage.record_retry(kind)
        return os.getpid()

    storage.record_retry("reset")  # before the run: not counted
    storage.start_retry_sink()
    remote = ray.remote(num_cpus=1)(retry_in_worker)
    pids = ray.get([remote.remote("throttle", 3), remote.remote("truncated", 2), remote.remote("throttle", 1)])
    storage.record_retry("server_error")
    assert os.getpid() not in pids
    assert storage.collect_retry_counts() == {"server_error": 1, "throttle": 4, "truncated": 2}
    assert storage.collect_retry_counts() == {}
    storage.start_retry_sink()
    ray.get(remote.remote("timeout", 1))
    assert storage.collect_retry_counts() == {"timeout": 1}
    # a driver that planned its run before Ray was joined carries that phase's retries in
    storage.record_retry("throttle")
    storage.start_retry_sink(carry=True)
    ray.get(remote.remote("reset", 2))
    assert storage.collect_retry_counts() == {"reset": 2, "throttle": 1}


# --------------------------------------------------------------------------------- raysift run


@pytest.fixture(scope="module")
def clean_run(ray_through_proxy: S3Endpoint, ceph_s3: S3Endpoint, bucket: str, proxy: FaultProxy) -> Result:
    proxy.configure(rate=0.0)
    _cli("run", "--input", f"s3://{bucket}/in/*.warc.gz", "--output", f"s3://{bucket}/run-clean",
         "--recipe", RECIPE, "--set", SMALL_BATCHES, "--quiet")
    return Result(ceph_s3.client(), bucket, "run-clean", "rejected")


@pytest.mark.fault_case('S3 faults (Ceph RGW behind a fault proxy)', '`raysift run` S3 to S3 at {param} faults (503, 500, resets, cut bodies, slow answers)', 'completes; output identical to a fault-free run; retries counted in stats.json')
@pytest.mark.parametrize("rate", RATES)
def test_run_s3_to_s3_survives_faults(rate: float, ray_through_proxy: S3Endpoint, ceph_s3: S3Endpoint,
                                      bucket: str, proxy: FaultProxy, clean_run: Result) -> None:
    out = f"run-{int(rate * 100)}"
    wall, served = _run_with_faults(proxy, rate, seed=11, fn=lambda: _cli(
        "run", "--input", f"s3://{bucket}/in/*.warc.gz", "--output", f"s3://{bucket}/{out}",
        "--recipe", RECIPE, "--set", SMALL_BATCHES, "--quiet"))
    faulty = Result(ceph_s3.client(), bucket, out, "rejected")
    print(f"run at {rate:.0%}: {wall:.1f} s, proxy {served}, stats retries {faulty.stats.get('retries')}")
    _assert_same_output(faulty, clean_run, RUN_STATS, same_shards=True)
    assert faulty.stats["documents_in"] == N_PAGES
    _assert_retries_counted(proxy, faulty.stats, out)


# ------------------------------------------------------------------------------- raysift dedup


@pytest.fixture(scope="module")
def clean_dedup(ray_through_proxy: S3Endpoint, ceph_s3: S3Endpoint, bucket: str, proxy: FaultProxy) -> Result:
    proxy.configure(rate=0.0)
    _cli("dedup", "--input", f"s3://{bucket}/corpus/", "--output", f"s3://{bucket}/dedup-clean", *DEDUP_ARGS, "--quiet")
    result = Result(ceph_s3.client(), bucket, "dedup-clean", "duplicates")
    assert result.stats["rejected"] == {"fuzzy_duplicate": 40}, result.stats["rejected"]  # the planted copies
    return result


@pytest.mark.fault_case('S3 faults (Ceph RGW behind a fault proxy)', '`raysift dedup` S3 to S3 at {param} faults', 'completes; output identical to a fault-free run; retries counted')
@pytest.mark.parametrize("rate", RATES)
def test_dedup_s3_to_s3_survives_faults(rate: float, ray_through_proxy: S3Endpoint, ceph_s3: S3Endpoint,
                                        bucket: str, proxy: FaultProxy, clean_dedup: Result) -> None:
    out = f"dedup-{int(rate * 100)}"
    wall, served = _run_with_faults(proxy, rate, seed=12, fn=lambda: _cli(
        "dedup", "--input", f"s3://{bucket}/corpus/", "--output", f"s3://{bucket}/{out}", *DEDUP_ARGS, "--quiet"))
    faulty = Result(ceph_s3.client(), bucket, out, "duplicates")
    print(f"dedup at {rate:.0%}: {wall:.1f} s, proxy {served}, stats retries {faulty.stats.get('retries')}")
    _assert_same_output(faulty, clean_dedup, DEDUP_STATS, same_shards=False)
    # dedup reads a first block for the column names (a limit): Ray Data then kills that read
    # task, and a retry it made in its last moment may not reach the count
    _assert_retries_counted(proxy, faulty.stats, out, may_lose=1)


# ------------------------------------------------------------------- ledger-driven scheduled run


@pytest.fixture(scope="module")
def nightly_config(tmp_path_factory: pytest.TempPathFactory, bucket: str) -> Path:
    path = tmp_path_factory.mktemp("nightly") / "nightly.yaml"
    key, value = SMALL_BATCHES.split("=")
    section, field = key.split(".")
    path.write_text(f"base: {RECIPE}\n{section}:\n  {field}: {value}\n"
                    f"input:\n  manifest_base: {json.dumps(f's3://{bucket}/')}\n")
    return path


def _nightly(bucket: str, name: str, config: Path) -> None:
    _cli("run", "--config", str(config), "--input", f"s3://{bucket}/crawl/warc.paths.gz",
         "--output", f"s3://{bucket}/{name}", "--ledger", f"s3://{bucket}/{name}-ledger", "--max-files", "100", "--quiet")


@pytest.fixture(scope="module")
def clean_nightly(ray_through_proxy: S3Endpoint, ceph_s3: S3Endpoint, bucket: str, proxy: FaultProxy,
                  nightly_config: Path) -> Result:
    proxy.configure(rate=0.0)
    _nightly(bucket, "nightly-clean", nightly_config)
    return Result(ceph_s3.client(), bucket, "nightly-clean", "rejected")


@pytest.mark.fault_case('S3 faults (Ceph RGW behind a fault proxy)', 'a ledger-driven scheduled run at {param} faults', 'completes; output and ledger identical to a fault-free run')
@pytest.mark.parametrize("rate", RATES)
def test_scheduled_ledger_run_survives_faults(rate: float, ray_through_proxy: S3Endpoint, ceph_s3: S3Endpoint,
                                              bucket: str, proxy: FaultProxy, nightly_config: Path,
                                              sample: list[Path], clean_nightly: Result) -> None:
    from operators.ledger import Ledger

    name = f"nightly-{int(rate * 100)}"
    wall, served = _run_with_faults(proxy, rate, seed=13, fn=lambda: _nightly(bucket, name, nightly_config))
    faulty = Result(ceph_s3.client(), bucket, name, "rejected")
    print(f"scheduled run at {rate:.0%}: {wall:.1f} s, proxy {served}, stats retries {faulty.stats.get('retries')}")
    _assert_same_output(faulty, clean_nightly, RUN_STATS, same_shards=True)
    inputs = {f"s3://{bucket}/in/{p.name}" for p in sample}
    assert set(faulty.stats["inputs"]["files"]) == inputs
    _assert_retries_counted(proxy, faulty.stats, name)
    direct = storage.StorageConfig(endpoint_url=ceph_s3.endpoint_url)
    assert Ledger(f"s3://{bucket}/{name}-ledger", direct).done() == inputs
    assert not _keys(ceph_s3.client(), bucket, f"{name}-ledger/claims/"), "claims left behind"
    # the next night, through the same faults: everything is done, nothing is read
    _run_with_faults(proxy, rate, seed=14, fn=lambda: _nightly(bucket, name, nightly_config))
    again = json.loads(ceph_s3.client().get_object(Bucket=bucket, Key=f"{name}/stats.json")["Body"].read())
    assert again["documents_in"] == 0 and again["inputs"]["warc_files"] == 0
