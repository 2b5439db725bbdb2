"""Ceph RGW on loopback behaves as the S3 the pipeline needs: boto3 and pyarrow round trips,
multipart uploads, listings, conditional writes (the ledger's claims), loopback-only sockets."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import botocore.exceptions
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from boto3.s3.transfer import TransferConfig

from tests.infra import S3Endpoint

MiB = 1024 * 1024


def _payload(n: int, seed: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * (MiB // 32)
    return (block * (n // len(block) + 1))[:n]


def test_boto3_put_get_list_delete(ceph_s3: S3Endpoint) -> None:
    s3 = ceph_s3.client()
    bucket = ceph_s3.new_bucket("smoke")
    s3.put_object(Bucket=bucket, Key="a/one.txt", Body=b"one")
    s3.put_object(Bucket=bucket, Key="a/two.txt", Body=b"two")
    assert s3.get_object(Bucket=bucket, Key="a/one.txt")["Body"].read() == b"one"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="a/")["Contents"]]
    assert keys == ["a/one.txt", "a/two.txt"]
    s3.delete_object(Bucket=bucket, Key="a/one.txt")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="a/one.txt")
    assert exc.value.response["Error"]["Code"] == "NoSuchKey"


def test_boto3_multipart_upload(ceph_s3: S3Endpoint) -> None:
    s3 = ceph_s3.client()
    bucket = ceph_s3.new_bucket("smoke")
    data = _payload(13 * MiB, 1)
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, use_threads=False)
    import io

    s3.upload_fileobj(io.BytesIO(data), bucket, "big.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3"), "uploaded in 3 parts (multipart ETag)"
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data


def test_pyarrow_s3filesystem_roundtrip_and_multipart(ceph_s3: S3Endpoint) -> None:
    fs = ceph_s3.filesystem()
    bucket = ceph_s3.new_bucket("smoke")
    data = _payload(23 * MiB, 2)  # above pyarrow's 10 MiB part size: a multipart upload
    with fs.open_output_stream(f"{bucket}/raw/big.bin") as out:
        for i in range(0, len(data), 4 * MiB):
            out.write(data[i : i + 4 * MiB])
    with fs.open_input_file(f"{bucket}/raw/big.bin") as f:
        assert f.size() == len(data)
        f.seek(17 * MiB)
        assert f.read(1000) == data[17 * MiB : 17 * MiB + 1000]
    etag = ceph_s3.client().head_object(Bucket=bucket, Key="raw/big.bin")["ETag"].strip('"')
    assert "-" in etag, "pyarrow used a multipart upload"

    table = pa.table({"id": [f"d{i}" for i in range(1000)], "text": [f"text {i}" * 10 for i in range(1000)]})
    pq.write_table(table, f"{bucket}/documents/part-0.parquet", filesystem=fs)
    assert pq.read_table(f"{bucket}/documents/part-0.parquet", filesystem=fs).equals(table)
    infos = fs.get_file_info(pafs.FileSelector(f"{bucket}/", recursive=True))
    files = sorted(i.path for i in infos if i.type == pafs.FileType.File)
    assert files == [f"{bucket}/documents/part-0.parquet", f"{bucket}/raw/big.bin"]


def test_conditional_create_is_exclusive(ceph_s3: S3Endpoint) -> None:
    """The ledger's claim relies on `If-None-Match: *` being honoured (RGW >= 16 does)."""
    s3 = ceph_s3.client()
    bucket = ceph_s3.new_bucket("smoke")
    s3.put_object(Bucket=bucket, Key="claim", Body=b"first", IfNoneMatch="*")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="claim", Body=b"second", IfNoneMatch="*")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert s3.get_object(Bucket=bucket, Key="claim")["Body"].read() == b"first"


def test_wrong_credentials_are_refused(ceph_s3: S3Endpoint) -> None:
    bad = S3Endpoint(ceph_s3.endpoint_url, ceph_s3.access_key, "not-the-secret", ceph_s3.region)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        bad.client().list_buckets()
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_daemons_listen_on_loopback_only(ceph_s3: S3Endpoint) -> None:
    if ceph_s3.workdir is None:
        pytest.skip("the Ceph endpoint was given by RAYSIFT_TEST_S3_ENDPOINT; its sockets are not ours to inspect")
    pids = {p.read_text().strip() for p in Path(ceph_s3.workdir, "run").glob("*.pid")}
    assert len(pids) == 3, "mon, osd, rgw"
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    ours = [ln for ln in out.splitlines() if any(f"pid={p}," in ln for p in pids)]
    assert ours, "no listening sockets found for the Ceph daemons"
    local = [ln.split()[3] for ln in ours]
    assert all(a.startswith(("127.0.0.1:", "[::ffff:127.0.0.1]:")) for a in local), local
    assert os.environ.get("AWS_REQUEST_CHECKSUM_CALCULATION") == "WHEN_REQUIRED"
