"""operators.io: input expansion, document readers (Parquet, JSONL, gz, zstd), domains."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators import io as rio
from operators.io import InputConfig, InputError, expand_inputs, registered_domain

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DOLMA = DATA / "text" / "dolma-cc-samples"


def _touch(path: Path, data: bytes = b"x") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def _read(uri: str, cfg: InputConfig | None = None) -> pa.Table:
    return pa.concat_tables(list(rio.iter_document_tables(uri, cfg)))


def test_expand_directory_glob_and_files(tmp_path):
    a = _touch(tmp_path / "crawl" / "b.warc.gz")
    b = _touch(tmp_path / "crawl" / "sub" / "a.warc")
    c = _touch(tmp_path / "crawl" / "docs.jsonl.zst")
    _touch(tmp_path / "crawl" / "README.md")  # ignored inside a directory
    _touch(tmp_path / "crawl" / ".tmp.warc.gz")  # hidden
    d = _touch(tmp_path / "other" / "x.parquet")

    plan = expand_inputs([str(tmp_path / "crawl"), d])
    assert plan.warc_files == sorted([a, b])
    assert plan.document_files == sorted([c, d])

    plan = expand_inputs([str(tmp_path / "**" / "*.warc*")])
    assert plan.warc_files == sorted([a, b]) and plan.document_files == []

    # duplicates collapse; max_files caps each kind after sorting
    plan = expand_inputs([a, a, b], cfg=InputConfig(max_files=1))
    assert plan.warc_files == [min(a, b)]


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    _touch(tmp_path / "x.warc.gz")
    monkeypatch.chdir(tmp_path)
    assert expand_inputs(["x.warc.gz"]).warc_files == [str(tmp_path / "x.warc.gz")]


def test_manifest_resolves_against_base(tmp_path):
    manifest = tmp_path / "warc.paths.gz"
    manifest.write_bytes(gzip.compress(
        b"crawl-data/CC-MAIN-2024-22/segments/2/warc/B.warc.gz\n"
        b"crawl-data/CC-MAIN-2024-22/segments/1/warc/A.warc.gz\n"))
    plan = expand_inputs([str(manifest)])
    assert plan.warc_files == [
        "s3://commoncrawl/crawl-data/CC-MAIN-2024-22/segments/1/warc/A.warc.gz",
        "s3://commoncrawl/crawl-data/CC-MAIN-2024-22/segments/2/warc/B.warc.gz",
    ]
    local_base = str(tmp_path / "mirror")
    plan = expand_inputs([str(manifest)], cfg=InputConfig(manifest_base=local_base))
    assert plan.warc_files[0] == os.path.join(local_base, "crawl-data/CC-MAIN-2024-22/segments/1/warc/A.warc.gz")


def test_errors_name_the_path_and_what_is_accepted(tmp_path):
    with pytest.raises(InputError, match=r"does-not-exist.*does not exist.*warc.paths.gz"):
        expand_inputs([str(tmp_path / "does-not-exist.warc.gz")])
    bad = _touch(tmp_path / "notes.txt")
    with pytest.raises(InputError, match=r"notes.txt.*accepted"):
        expand_inputs([bad])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no WARC or document file"):
        expand_inputs([str(tmp_path / "empty")])
    with pytest.raises(InputError, match="matches nothing"):
        expand_inputs([str(tmp_path / "*.warc.gz")])
    with pytest.raises(InputError, match="no input"):
        expand_inputs([])


def test_registered_domain_edge_cases():
    assert registered_domain("https://www.Example.com./a") == "example.com"
    assert registered_domain("http://sub.example.co.uk:8443") == "sub.example.co.uk"
    assert registered_domain("http://u@www2.example.com") == "www2.example.com"
    assert registered_domain("http://xn--bcher-kva.de/") == "xn--bcher-kva.de"
    assert registered_domain("mailto:someone@example.com") is None
    assert registered_domain("dns:www.archive.org") is None
    assert registered_domain("example.org:8080/x") == "example.org"
    assert registered_domain("http://[::1") is None  # malformed IPv6: no host, no exception
    assert registered_domain("not a url at all") is None
    assert registered_domain("http://") is None


def test_jsonl_zstd_and_missing_fields(tmp_path):
    zstandard = pytest.importorskip("zstandard")
    lines = [
        {"id": "a", "text": "hello", "url": "https://www.a.org/x", "language": "en", "language_score": 0.9,
         "warc_date": "2024-05-01T10:00:00Z"},
        {"text": "no id here"},
        {"id": 7, "text": None},
    ]
    raw = "\n".join(json.dumps(x) for x in lines).encode() + b"\n\nnot json\n"
    path = tmp_path / "docs.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(raw))
    table = _read(str(path))
    assert table.schema == rio.READ_SCHEMA
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == ["a", f"{path}#2", "7", f"{path}#5"]
    assert [r["text"] for r in rows] == ["hello", "no id here", None, None]
    assert [r["reason"] for r in rows] == [None, None, None, rio.MALFORMED_RECORD]  # "not json": counted, not dropped
    assert rows[0]["domain"] == "a.org" and rows[0]["language"] == "en" and rows[0]["language_score"] == 0.9
    assert rows[0]["warc_date"].year == 2024
    assert rows[1]["url"] is None and rows[1]["domain"] is None
    assert {r["source"] for r in rows} == {str(path)}


def test_a_line_that_is_no_json_object_is_a_named_reject(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "ok", "text": "fine"}\n{\n"pages": 3,\n[1, 2]\n"just a string"\n}\n')
    rows = _read(str(path)).to_pylist()
    assert [r["id"] for r in rows] == ["ok"] + [f"{path}#{n}" for n in range(2, 7)]
    assert [r["reason"] for r in rows] == [None] + [rio.MALFORMED_RECORD] * 5


def test_parquet_with_custom_columns(tmp_path):
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"doc_id": ["x", None], "content": ["t1", "t2"], "link": ["http://b.com/", None],
                             "extra": [1, 2]}), path)
    cfg = InputConfig(id_column="doc_id", text_column="content", url_column="link", rows_per_batch=1)
    tables = list(rio.iter_document_tables(str(path), cfg))
    assert [t.num_rows for t in tables] == [1, 1]
    rows = pa.concat_tables(tables).to_pylist()
    assert [(r["id"], r["text"], r["domain"]) for r in rows] == [("x", "t1", "b.com"), (f"{path}#2", "t2", None)]


@pytest.mark.shared_data
def test_dolma_samples():
    if not DOLMA.is_dir():
        pytest.skip(f"../shared/data not found: {DOLMA} is absent (Dolma JSONL samples)")
    plan = expand_inputs([str(DOLMA)])
    assert [Path(p).name for p in plan.document_files] == [
        "multiple_files__cc_en_head-0091.jsonl", "multiple_files__cc_en_head-0174.jsonl",
        "provided__documents__000.json.gz"]
    assert plan.warc_files == []
    total = 0
    for uri in plan.document_files:
        rows = _read(uri).to_pylist()
        total += len(rows)
        for r in rows:
            assert r["id"] and not r["id"].startswith(uri)  # Dolma ids are kept
            assert r["text"] and len(r["text"]) > 20
            assert r["url"].startswith("http")  # from metadata.url
            assert r["domain"] and "/" not in r["domain"]
            assert r["language"] == "en"
    assert total == 30


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray.init(num_cpus=2, object_store_memory=150 * 1024**2, include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_read_documents_with_ray(ray_cluster, tmp_path):
    zstandard = pytest.importorskip("zstandard")
    jsonl = tmp_path / "a.jsonl.gz"
    jsonl.write_bytes(gzip.compress(b'{"id": "j1", "text": "one"}\n{"id": "j2", "text": "two"}\n'))
    zst = tmp_path / "b.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(b'{"id": "z1", "text": "three", "url": "http://z.com"}\n'))
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": ["p1", "p2"], "text": ["four", "five"]}), parquet)
    plan = expand_inputs([str(tmp_path)])
    ds = rio.read_documents(plan.document_files)
    table = pa.concat_tables(ds.iter_batches(batch_format="pyarrow", batch_size=None))
    assert table.schema.equals(rio.READ_SCHEMA)
    assert sorted(table.column("id").to_pylist()) == ["j1", "j2", "p1", "p2", "z1"]
    by_id = {r["id"]: r for r in table.to_pylist()}
    assert by_id["z1"]["domain"] == "z.com" and by_id["z1"]["source"] == str(zst)
    assert by_id["p2"]["text"] == "five"


@pytest.mark.ray
@pytest.mark.fault_case("hostile input", "document file names with a tab, CR or LF (Ray Data's URL parsing "
                        "deletes them)", "every file read under its own name; the run goes on")
def test_read_documents_with_odd_names(ray_cluster, tmp_path):
    # name -> does Ray Data read it under this name (else raysift reads it itself)
    names = {"plain.jsonl": True, "new\nline.jsonl": False, "car\rriage.jsonl": False, "tab\there.jsonl": False,
             "q?uery.jsonl": True, "semi;.parquet": True, "ctl\x01.jsonl.gz": True}
    for i, name in enumerate(names):
        row = {"id": f"d{i}", "text": f"text {i}"}
        if name.endswith(".parquet"):
            pq.write_table(pa.table({k: [v] for k, v in row.items()}), tmp_path / name)
        elif name.endswith(".gz"):
            (tmp_path / name).write_bytes(gzip.compress(json.dumps(row).encode() + b"\n"))
        else:
            (tmp_path / name).write_text(json.dumps(row) + "\n")
    plan = expand_inputs([str(tmp_path)])
    assert sorted(plan.document_files) == sorted(str(tmp_path / n) for n in names)
    table = pa.concat_tables(rio.read_documents(plan.document_files).iter_batches(batch_format="pyarrow",
                                                                                 batch_size=None))
    got = sorted((r["id"], r["source"], r["text"]) for r in table.to_pylist())
    assert got == [(f"d{i}", str(tmp_path / n), f"text {i}") for i, n in enumerate(names)]
    assert {n: rio.ray_reads_as_named(str(tmp_path / n)) for n in names} == names
    gone = tmp_path / "tab\there.jsonl"
    gone.unlink()  # listed, then gone before the read: a counted corrupt_file row, not a failed run
    table = pa.concat_tables(rio.read_documents(plan.document_files).iter_batches(batch_format="pyarrow",
                                                                                 batch_size=None),
                             promote_options="default")  # the problem row adds a ``skip`` column
    assert [(r["source"], r["skip"]) for r in table.to_pylist() if r.get("skip")] == [(str(gone), "corrupt_file")]


def test_parquet_with_many_row_groups_reads_every_row_in_order(tmp_path):
    path = tmp_path / "groups.parquet"
    n = 2_500
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)]}),
                   path, row_group_size=700)  # 4 row groups, the last one short
    rows = [r for table in rio.iter_document_tables(str(path)) for r in table.to_pylist()]
    assert [r["id"] for r in rows] == [f"d{i}" for i in range(n)]
    assert [r["text"] for r in rows[698:702]] == ["text 698", "text 699", "text 700", "text 701"]


@pytest.mark.ray
@pytest.mark.fault_case("hostile input", "WARC file names with a tab, CR or LF (Ray Data's URL parsing "
                        "deletes them)", "every file read under its own name; the run goes on")
def test_read_warc_with_odd_names(ray_cluster, tmp_path):
    from operators.samplegen import generate_sample
    from operators.warc import read_warc

    paths = generate_sample(tmp_path / "gen", n_pages=60, n_files=2, seed=3)
    odd = [tmp_path / "new\nline.warc.gz", tmp_path / "tab\there.warc.gz"]
    for src, dst in zip(paths, odd):
        Path(src).rename(dst)

    def rows(files):
        ds = read_warc([str(f) for f in files], task_slots=2)
        return sorted((r["source"], r["id"]) for b in ds.iter_batches(batch_format="pyarrow", batch_size=None)
                      for r in b.select(["source", "id"]).to_pylist())

    got = rows(odd)
    assert {s for s, _ in got} == {str(f) for f in odd}
    plain = [tmp_path / "plain-a.warc.gz", tmp_path / "plain-b.warc.gz"]
    for src, dst in zip(odd, plain):
        src.rename(dst)
    names = dict(zip(map(str, plain), map(str, odd)))
    assert [(names[s], r) for s, r in rows(plain)] == got  # the same records as under plain names
