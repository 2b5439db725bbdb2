"""operators.storage against a real S3 HTTP endpoint on loopback (moto server mode)."""

from __future__ import annotations

import os
import socket

import pytest

from operators import storage
from operators.storage import StorageConfig, with_retries


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on 127.0.0.1 with bucket ``raysift-test``; yields a StorageConfig."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="raysift-test")
    try:
        yield StorageConfig(endpoint_url=endpoint, retries=3)
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_s3_roundtrip(s3):
    base = "s3://raysift-test/run1"
    storage.write_bytes_atomic(storage.join(base, "documents", "part-0.parquet"), b"abc", s3)
    storage.write_bytes_atomic(storage.join(base, "documents", "part-1.parquet"), b"defg", s3)
    storage.write_bytes_atomic(storage.join(base, "stats.json"), b"{}", s3)
    storage.write_bytes_atomic(storage.join(base, "_SUCCESS"), b"", s3)

    assert storage.read_bytes(f"{base}/documents/part-1.parquet", s3) == b"defg"
    # bytes are stored as given, whatever the name (pyarrow would gzip *.gz by default)
    storage.write_bytes_atomic("s3://raysift-test/raw/x.warc.gz", b"raw", s3)
    fs, path = storage.resolve("s3://raysift-test/raw/x.warc.gz", s3)
    assert fs.get_file_info(path).size == 3 and storage.read_bytes("s3://raysift-test/raw/x.warc.gz", s3) == b"raw"
    assert storage.exists(f"{base}/stats.json", s3)
    assert storage.exists(base, s3)
    assert not storage.exists(f"{base}/nope.json", s3)
    assert storage.list_files(base, [".parquet"], s3) == [
        "s3://raysift-test/run1/documents/part-0.parquet",
        "s3://raysift-test/run1/documents/part-1.parquet",
    ]
    # _SUCCESS is hidden; a file URI lists itself.
    assert storage.list_files(base, None, s3) == [
        "s3://raysift-test/run1/documents/part-0.parquet",
        "s3://raysift-test/run1/documents/part-1.parquet",
        "s3://raysift-test/run1/stats.json",
    ]
    assert storage.list_files(f"{base}/stats.json", None, s3) == ["s3://raysift-test/run1/stats.json"]

    # overwrite is whole-object
    storage.write_bytes_atomic(f"{base}/stats.json", b'{"a": 1}', s3)
    assert storage.read_bytes(f"{base}/stats.json", s3) == b'{"a": 1}'

    storage.delete_dir(base, s3)
    assert storage.list_files(base, None, s3) == []
    assert not storage.exists(f"{base}/stats.json", s3)
    storage.delete_dir(base, s3)  # missing is fine


def test_s3_endpoint_from_env(s3, monkeypatch):
    monkeypatch.setenv("RAYSIFT_S3_ENDPOINT", s3.endpoint_url)
    cfg = StorageConfig(retries=2)
    storage.write_bytes_atomic("s3://raysift-test/env/x.txt", b"x", cfg)
    assert storage.read_bytes("s3://raysift-test/env/x.txt", cfg) == b"x"


def test_filesystems_are_cached_and_hold_no_credentials(s3):
    fs1, path = storage.resolve("s3://raysift-test/a/b.txt", s3)
    fs2, _ = storage.resolve("s3://raysift-test/c", s3)
    assert fs1 is fs2
    assert path == "raysift-test/a/b.txt"
    anon, _ = storage.resolve("s3://commoncrawl/crawl-data/x", s3)
    assert anon is not fs1  # public bucket: anonymous filesystem
    assert "testing" not in repr(fs1) and "testing" not in repr(s3)


def test_local_roundtrip(tmp_path):
    target = tmp_path / "out" / "stats.json"
    storage.write_bytes_atomic(str(target), b"{}")
    assert target.read_bytes() == b"{}"
    assert [p.name for p in target.parent.iterdir()] == ["stats.json"]  # no temp file left
    (tmp_path / "out" / ".hidden").write_bytes(b"")
    assert storage.list_files(str(tmp_path / "out"), [".json"]) == [str(target)]
    assert storage.list_files(str(tmp_path / "missing"), None) == []
    storage.delete_dir(str(tmp_path / "out"))
    assert not storage.exists(str(tmp_path / "out"))


def test_unsupported_scheme_names_the_fix():
    with pytest.raises(storage.StorageError, match="s3://"):
        storage.resolve("gs://bucket/x")


def test_bad_config_rejected():
    with pytest.raises(ValueError, match="retries"):
        StorageConfig(retries=0)
    with pytest.raises(ValueError, match="endpoint_url"):
        StorageConfig(endpoint_url="127.0.0.1:9000")


def test_with_retries_recovers_from_slowdown():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) <= 3:
            raise OSError("AWS Error SLOW_DOWN during GetObject operation: SlowDown: Please reduce your request rate.")
        return "ok"

    assert with_retries(flaky, attempts=5, base_delay=0.001) == "ok"
    assert len(calls) == 4


def test_with_retries_exhausts_and_reraises():
    calls = []

    def always_503():
        calls.append(1)
        raise OSError("HTTP 503 Service Unavailable")

    with pytest.raises(OSError, match="503"):
        with_retries(always_503, attempts=3, base_delay=0.001)
    assert len(calls) == 3


def test_with_retries_does_not_retry_permanent_errors():
    calls = []

    def missing():
        calls.append(1)
        raise FileNotFoundError("no such key")

    with pytest.raises(FileNotFoundError):
        with_retries(missing, attempts=5, base_delay=0.001)
    assert len(calls) == 1


DATA = __import__("pathlib").Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def s3_warcs(s3):
    """Two shared WARCs uploaded to s3://raysift-test/crawl/ plus a manifest naming them."""
    import gzip

    names = ["whirlwind__CC-MAIN-2024-22.warc.gz", "resiliparse__warcfile-CC-MAIN-2020-34.warc.gz"]
    if not all((DATA / "warc" / n).exists() for n in names):
        pytest.skip(f"../shared/data not found: {DATA / 'warc'}")
    for n in names:
        storage.write_bytes_atomic(f"s3://raysift-test/crawl/segments/1/{n}", (DATA / "warc" / n).read_bytes(), s3)
    manifest = "\n".join(f"segments/1/{n}" for n in names).encode()
    storage.write_bytes_atomic("s3://raysift-test/crawl/warc.paths.gz", gzip.compress(manifest), s3)
    return [f"s3://raysift-test/crawl/segments/1/{n}" for n in sorted(names)]


@pytest.mark.shared_data
def test_s3_inputs_expand_and_stream(s3, s3_warcs):
    from operators.io import InputConfig, expand_inputs
    from operators.warc import iter_warc_rows

    assert expand_inputs(["s3://raysift-test/crawl/segments"], s3).warc_files == s3_warcs
    assert expand_inputs(["s3://raysift-test/crawl/segments/*/*.warc.gz"], s3).warc_files == s3_warcs
    plan = expand_inputs(["s3://raysift-test/crawl/warc.paths.gz"], s3,
                         InputConfig(manifest_base="s3://raysift-test/crawl/"))
    assert plan.warc_files == s3_warcs
    # FastWARC over a non-seekable S3 input stream
    fs, path = storage.resolve(s3_warcs[0], s3)
    with fs.open_input_stream(path, compression=None) as f:
        rows = list(iter_warc_rows(f, s3_warcs[0]))
    assert sum(r["skip"] is None for r in rows) == 16 and len(rows) == 50


@pytest.fixture(scope="module")
def ray_cluster(s3):
    ray = pytest.importorskip("ray")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray.init(num_cpus=2, object_store_memory=150 * 1024**2, include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.mark.ray
@pytest.mark.shared_data
def test_read_warc_from_s3_with_ray(s3, s3_warcs, ray_cluster):
    import pyarrow as pa

    from operators.warc import read_warc

    ds = read_warc(s3_warcs, storage=s3)
    table = pa.concat_tables(ds.iter_batches(batch_format="pyarrow", batch_size=None))
    assert table.num_rows == 54
    assert set(table.column("source").to_pylist()) == set(s3_warcs)
    assert pa.compute.sum(pa.compute.is_null(table.column("skip"))).as_py() == 17
