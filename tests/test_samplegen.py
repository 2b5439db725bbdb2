"""The bundled sample crawl: deterministic, readable, and planted as its truth manifest says.

The quality checks below are compact re-statements of the published rules (Gopher, Rae et al. 2021;
C4, Raffel et al. 2020; FineWeb, Penedo et al. 2024; thresholds as in DESIGN.md) with whitespace word
splitting, so the sample's planted good/bad pages are checked independently of raysift's own filters.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import pytest
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.lang import detect_fast
from warcio.archiveiterator import ArchiveIterator

from operators import samplegen as sg

# ------------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    t0 = time.process_time()
    paths = sg.generate_sample(out)
    cpu = time.process_time() - t0
    truth = sg.load_truth(out)
    return {"dir": out, "paths": paths, "truth": truth, "cpu": cpu}


@pytest.fixture(scope="module")
def records(sample):
    """Every WARC record as (file, type, id, url, http status, http headers, payload bytes)."""
    out = []
    for path in sample["paths"]:
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                status = headers = None
                if rec.http_headers is not None and rec.rec_type in ("response", "revisit"):
                    status = int(rec.http_headers.get_statuscode())
                    headers = dict(rec.http_headers.headers)
                out.append(dict(file=path.name, type=rec.rec_type, id=rec.rec_headers.get_header("WARC-Record-ID"),
                                url=rec.rec_headers.get_header("WARC-Target-URI"), status=status, headers=headers,
                                payload=rec.content_stream().read(), rec_headers=dict(rec.rec_headers.headers)))
    return out


def _decode(payload: bytes, content_type: str) -> str:
    m = re.search(r"charset=([\w-]+)", content_type)
    return payload.decode(m.group(1) if m else "utf-8", errors="replace")


@pytest.fixture(scope="module")
def texts(sample, records):
    """Main-content text of every page, keyed by id."""
    by_id = {r["id"]: r for r in records if r["type"] == "response"}
    out = {}
    for page in sample["truth"]["pages"]:
        rec = by_id[page["id"]]
        html = _decode(rec["payload"], rec["headers"]["Content-Type"])
        out[page["id"]] = extract_plain_text(html, main_content=True)
    return out


# ------------------------------------------------------------------------------------------------
# the published rules, restated (whitespace words)
# ------------------------------------------------------------------------------------------------

_STOP = {"the", "be", "to", "of", "and", "that", "have", "with"}
_TERMINAL = (".", "?", "!", '"', "'")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


def gopher_quality(text: str) -> str | None:
    words = text.split()
    nonsym = [w for w in words if any(ch.isalnum() for ch in w)]
    if not 50 <= len(nonsym) <= 100_000:
        return "too_few_words"
    mean = sum(len(w) for w in nonsym) / len(nonsym)
    if not 3 <= mean <= 10:
        return "word_length"
    if text.count("#") / len(words) > 0.1:
        return "hash"
    if (text.count("...") + text.count("…")) / len(words) > 0.1:
        return "ellipsis"
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if sum(ln.lstrip().startswith(("•", "-", "*", "‣", "◦")) for ln in lines) / len(lines) > 0.9:
        return "bullet_lines"
    if sum(ln.rstrip().endswith(("...", "…")) for ln in lines) / len(lines) > 0.3:
        return "ellipsis_lines"
    if sum(any(ch.isalpha() for ch in w) for w in words) / len(words) < 0.8:
        return "alpha_words"
    if sum(w.lower().strip(".,;:!?\"'") in _STOP for w in words) < 2:
        return "stop_words"
    return None


def _dup_chars(elems: list[str]) -> tuple[int, int]:
    seen, n, chars = set(), 0, 0
    for e in elems:
        if e in seen:
            n += 1
            chars += len(e)
        else:
            seen.add(e)
    return n, chars


def gopher_repetition(text: str) -> str | None:
    total = len(text)
    paras = re.split(r"\n{2,}", text.strip())
    n, chars = _dup_chars(paras)
    if n / len(paras) > 0.3 or chars / total > 0.2:
        return "dup_paragraphs"
    lines = re.split(r"\n+", text)
    n, chars = _dup_chars(lines)
    if n / len(lines) > 0.3 or chars / total > 0.2:
        return "dup_lines"
    words = text.split()
    for n_, thr in ((2, 0.20), (3, 0.18), (4, 0.16)):
        grams = Counter(" ".join(words[i:i + n_]) for i in range(len(words) - n_ + 1))
        if grams:
            g, c = grams.most_common(1)[0]
            if c > 1 and len(g) * c / total > thr:
                return f"top_{n_}gram"
    for n_, thr in zip(range(5, 11), (0.15, 0.14, 0.13, 0.12, 0.11, 0.10)):
        seen, i, rep = set(), 0, 0
        while i <= len(words) - n_:
            g = " ".join(words[i:i + n_])
            if g in seen:
                rep += len(g)
                i += n_
            else:
                seen.add(g)
                i += 1
        if rep / total > thr:
            return f"dup_{n_}gram"
    return None


def c4(text: str) -> str | None:
    """C4's per-line order: lines failing punctuation/length are dropped before the document checks."""
    kept = []
    for line in text.split("\n"):
        line = line.strip()
        if not line.endswith(_TERMINAL) or line.endswith("...") or len(line.split()) < 3:
            continue
        ll = line.lower()
        if "lorem ipsum" in ll:
            return "lorem_ipsum"
        if "javascript" in ll:
            continue
        if "{" in line:
            return "curly_bracket"
        if any(p in ll for p in _POLICY):
            continue
        kept.append(line)
    sentences = sum(len(re.findall(r"[.?!][\"']?(?:\s|$)", ln)) for ln in kept)
    if sentences < 5:
        return "too_few_sentences"
    return None


def fineweb(text: str) -> str | None:
    lines = [ln for ln in text.split("\n") if ln.strip()]
    words = text.split()
    if sum(ln.rstrip().endswith(_TERMINAL) for ln in lines) / len(lines) < 0.12:
        return "punctuation"
    if sum(len(ln.strip()) <= 30 for ln in lines) / len(lines) > 0.67:
        return "short_lines"
    if _dup_chars(lines)[1] / max(1, len(text.replace("\n", ""))) > 0.01:
        return "dup_lines"
    if text.count("\n") / len(words) > 0.3:
        return "newlines"
    return None


def test_rule_restatements_can_fail():
    """Guard the helpers themselves: each one rejects an obviously bad text."""
    assert gopher_quality("too short") == "too_few_words"
    assert gopher_repetition("same line here\n" * 20) is not None
    assert c4("Lorem ipsum dolor sit amet.") == "lorem_ipsum"
    assert c4("function f() {\n  return 1;\n}\n" + "A short line of prose here. " * 5) is None
    assert fineweb("\n".join(["a b"] * 40)) is not None


# ------------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = sg.generate_sample(tmp_path / "a", n_pages=80, n_files=2, seed=7)
    b = sg.generate_sample(tmp_path / "b", n_pages=80, n_files=2, seed=7)
    c = sg.generate_sample(tmp_path / "c", n_pages=80, n_files=2, seed=8)
    for pa, pb, pc in zip(a, b, c):
        assert pa.read_bytes() == pb.read_bytes()
        assert pa.read_bytes() != pc.read_bytes()
    assert (tmp_path / "a" / sg.SAMPLE_TRUTH).read_bytes() == (tmp_path / "b" / sg.SAMPLE_TRUTH).read_bytes()


def test_same_bytes_in_another_process(tmp_path):
    """No dependence on str hashing or process state: a fresh interpreter writes the same files."""
    sg.generate_sample(tmp_path / "here", n_pages=60, n_files=1, seed=3)
    code = ("import sys; from operators.samplegen import generate_sample; "
            "generate_sample(sys.argv[1], n_pages=60, n_files=1, seed=3)")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "there")], check=True, env=env,
                   cwd=Path(sg.__file__).resolve().parents[1])
    for name in ("sample-00000.warc.gz", sg.SAMPLE_TRUTH):
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / "there" / name).read_bytes()


def test_rejects_too_small_requests(tmp_path):
    with pytest.raises(ValueError, match="n_pages"):
        sg.generate_sample(tmp_path, n_pages=10)
    with pytest.raises(ValueError, match="n_files"):
        sg.generate_sample(tmp_path, n_pages=100, n_files=0)


def test_generation_is_fast(sample):
    assert sample["cpu"] < 6.0, f"generating 600 pages took {sample['cpu']:.1f} s of CPU"


def test_kind_counts_follow_the_spec(sample):
    truth = sample["truth"]
    assert len(truth["pages"]) == 600
    counts = Counter(p["kind"] for p in truth["pages"])
    assert counts == truth["kinds"]
    for kind, share in sg.KIND_SHARES.items():
        assert abs(counts[kind] - share * 600) <= 1, kind
    assert 0.5 <= counts["article"] / 600 <= 0.6
    langs = Counter(p["language"] for p in truth["pages"] if p["kind"] == "non_english")
    assert set(langs) == {"de", "fr", "es", "zh", "ja"}
    assert len({p["domain"] for p in truth["pages"]}) >= 40
    urls = Counter(p["url"] for p in truth["pages"] if p["kind"] != "url_duplicate")
    assert max(urls.values()) == 1
    files = Counter(p["file"] for p in truth["pages"])
    assert len(files) == 6 and max(files.values()) - min(files.values()) <= 1


def test_manifest_matches_warc_records(sample, records):
    truth = sample["truth"]
    got = [(r["file"], r["type"], r["id"], r["url"] or None) for r in records]
    want = [(r["file"], r["type"], r["id"], r["url"]) for r in truth["records"]]
    assert got == want
    assert all(r["file"] == got_file for r, got_file in zip(records, (g[0] for g in got)))
    assert len({r["id"] for r in records}) == len(records)
    by_id = {r["id"]: r for r in records}
    for page in truth["pages"]:
        rec = by_id[page["id"]]
        assert rec["type"] == "response" and rec["url"] == page["url"] and rec["file"] == page["file"]
        assert rec["status"] == 200
        assert hashlib.sha1(rec["payload"]).hexdigest() == page["content_sha1"]
        assert rec["rec_headers"]["WARC-Date"] == page["warc_date"]
    types = Counter(r["type"] for r in records)
    assert types["warcinfo"] == 6
    assert types["request"] == types["response"]
    assert types["metadata"] >= 2 and types["revisit"] >= 1
    for rec in records:
        if rec["type"] in ("request", "metadata"):
            assert rec["rec_headers"]["WARC-Concurrent-To"] in by_id
        if rec["type"] == "revisit":
            ref = by_id[rec["rec_headers"]["WARC-Refers-To"]]
            assert ref["url"] == rec["url"]
            assert rec["rec_headers"]["WARC-Payload-Digest"] == sg._payload_digest(ref["payload"])


def test_every_file_is_gzip_per_record_and_fastwarc_reads_it(sample):
    from fastwarc.warc import ArchiveIterator as FastIterator
    from fastwarc.warc import WarcRecordType

    n_truth = Counter(r["file"] for r in sample["truth"]["records"])
    for path in sample["paths"]:
        raw = path.read_bytes()
        assert raw[:2] == b"\x1f\x8b" and raw.count(b"\x1f\x8b\x08") >= n_truth[path.name]
        assert gzip.decompress(raw).startswith(b"WARC/1.1\r\n")
        with open(path, "rb") as f:
            digests = [rec.verify_block_digest() for rec in FastIterator(f, parse_http=False)]
        assert len(digests) == n_truth[path.name] and all(digests)
        with open(path, "rb") as f:
            payloads = [rec.verify_payload_digest() for rec in FastIterator(f, record_types=WarcRecordType.response)]
        assert payloads and all(payloads)


def test_non_document_responses(records):
    ctypes = {r["headers"]["Content-Type"].split(";")[0] for r in records if r["type"] == "response"}
    assert {"text/html", "image/png", "application/pdf", "text/css"} <= ctypes
    statuses = {r["status"] for r in records if r["type"] == "response"}
    assert {200, 404, 301} <= statuses
    moved = [r for r in records if r["status"] == 301]
    assert all(r["headers"]["Location"].startswith("https://") for r in moved)
    png = next(r for r in records if r["type"] == "response" and r["headers"]["Content-Type"] == "image/png")
    assert png["payload"].startswith(b"\x89PNG\r\n\x1a\n")


def test_good_english_pages_pass_every_published_rule(sample, texts):
    good = [p for p in sample["truth"]["pages"] if p["good"]]
    assert len(good) >= 0.6 * 600
    failures = []
    for p in good:
        text = texts[p["id"]]
        for rule in (gopher_quality, gopher_repetition, c4, fineweb):
            reason = rule(text)
            if reason:
                failures.append((p["kind"], p["url"], rule.__name__, reason))
    assert not failures, failures[:5]


def test_good_articles_are_long_english(sample, texts):
    arts = [p for p in sample["truth"]["pages"] if p["kind"] == "article"]
    for p in arts:
        text = texts[p["id"]]
        lang, _ = detect_fast(text)
        assert lang == "en", (p["url"], text[:200])
        assert len(text.split()) >= 300, p["url"]
    sizes = [len(texts[p["id"]].split()) for p in arts]
    assert max(sizes) > 1200 and min(sizes) < 500
    vocab = {w.lower().strip(".,;:!?\"'") for p in arts for w in texts[p["id"]].split()}
    assert len(vocab) > 800


def test_boilerplate_stays_out_of_main_content(sample, texts):
    for p in sample["truth"]["pages"]:
        if p["kind"] != "article":
            continue
        text = texts[p["id"]]
        assert "cookie" not in text.lower() and "All rights reserved" not in text
        assert p["title"] in text


@pytest.mark.parametrize(("kind", "check"), [
    ("spam", lambda t: gopher_repetition(t) is not None),
    ("lorem", lambda t: c4(t) == "lorem_ipsum"),
    ("code", lambda t: c4(t) == "curly_bracket"),
    ("short", lambda t: gopher_quality(t) == "too_few_words"),
    ("boilerplate", lambda t: gopher_quality(t) == "too_few_words"),
    ("list", lambda t: gopher_quality(t) is not None or fineweb(t) is not None),
])
def test_bad_pages_trip_their_rule(sample, texts, kind, check):
    pages = [p for p in sample["truth"]["pages"] if p["kind"] == kind]
    assert pages
    for p in pages:
        assert check(texts[p["id"]]), (p["url"], texts[p["id"]][:300])


def test_javascript_pages(sample, texts):
    pages = [p for p in sample["truth"]["pages"] if p["kind"] == "javascript"]
    assert {p["good"] for p in pages} == {True, False}
    for p in pages:
        text = texts[p["id"]]
        assert "javascript" in text.lower()
        assert (c4(text) is None) == p["good"], p["url"]


def test_other_languages_are_detected(sample, texts):
    pages = [p for p in sample["truth"]["pages"] if p["kind"] == "non_english"]
    for p in pages:
        lang, _ = detect_fast(texts[p["id"]])
        assert lang == p["language"], (p["url"], texts[p["id"]][:200])


def test_exact_duplicates(sample, texts):
    pages = {p["id"]: p for p in sample["truth"]["pages"]}
    dups = [p for p in pages.values() if p["duplicate_of"]]
    assert len(dups) == 30
    for p in dups:
        orig = pages[p["duplicate_of"]]
        assert texts[p["id"]] == texts[orig["id"]]
        assert orig["kind"] == "article" and orig["warc_date"] < p["warc_date"]
        assert (p["url"] == orig["url"]) == (p["kind"] == "url_duplicate")


def test_near_duplicates_have_the_planted_jaccard(sample, texts):
    pages = {p["id"]: p for p in sample["truth"]["pages"]}
    near = [p for p in pages.values() if p["near_duplicate_of"]]
    assert len(near) == 30
    for p in near:
        assert 0.85 <= p["target_jaccard"] <= 0.95
        assert abs(p["jaccard"] - p["target_jaccard"]) <= 0.02
        j = sg.jaccard(texts[p["id"]], texts[p["near_duplicate_of"]])
        assert abs(j - p["target_jaccard"]) <= 0.05, (p["url"], j, p["target_jaccard"])
        assert p["url"] != pages[p["near_duplicate_of"]]["url"]


def test_no_unplanned_near_duplicates(sample, texts):
    """Pairs other than the planted ones stay far below a 0.8 dedup threshold."""
    pages = [p for p in sample["truth"]["pages"] if len(texts[p["id"]].split()) >= 50]
    sh = {p["id"]: sg.shingles(texts[p["id"]]) for p in pages}
    index: dict = defaultdict(list)
    for pid, s in sh.items():
        for g in s:
            index[g].append(pid)
    shared: Counter = Counter()
    for ids in index.values():
        if 1 < len(ids) < 50:
            for a, b in combinations(sorted(ids), 2):
                shared[a, b] += 1
    planted = set()
    by_id = {p["id"]: p for p in pages}
    for p in pages:
        other = p["duplicate_of"] or p["near_duplicate_of"]
        if other:
            planted.add(tuple(sorted((p["id"], other))))
    # pages duplicating the same original are planted pairs too
    roots = defaultdict(list)
    for p in pages:
        roots[p["duplicate_of"] or p["near_duplicate_of"] or p["id"]].append(p["id"])
    for group in roots.values():
        planted |= {tuple(sorted(pair)) for pair in combinations(group, 2)}
    worst = 0.0
    for (a, b), inter in shared.items():
        if (a, b) in planted:
            continue
        j = inter / (len(sh[a]) + len(sh[b]) - inter)
        worst = max(worst, j)
        assert j < 0.5, (by_id[a]["url"], by_id[b]["url"], j)
    print(f"worst unplanned Jaccard: {worst:.3f}")


def test_math_pages_carry_their_markup(sample, records):
    by_id = {r["id"]: r for r in records}
    pages = sample["truth"]["pages"]
    math = [p for p in pages if p["is_math"]]
    assert len(math) == 72 and all(p["kind"] == "math" for p in math)
    markers = {
        "mathjax_script": '<script type="math/tex', "tex_dollar": "$", "tex_paren": "\\(",
        "katex": 'annotation encoding="application/x-tex"', "mathml": "<math xmlns",
        "latex_img": "latex.php?latex=",
    }
    seen = set()
    for p in math:
        html = by_id[p["id"]]["payload"].decode("utf-8")
        assert p["math_markup"], p["url"]
        for m in p["math_markup"]:
            assert markers[m] in html, (p["url"], m)
            seen.add(m)
    assert seen == set(sg.MATH_MARKUPS)
    tex = "".join(by_id[p["id"]]["payload"].decode() for p in math)
    for formula in ("\\frac{", "\\int_0^", "\\sum_{k=", "x^2+y^2=z^2", "\\sqrt{", "\\begin{pmatrix}"):
        assert formula in tex, formula


def test_math_lookalikes_share_hosts_but_have_no_math(sample, records):
    by_id = {r["id"]: r for r in records}
    pages = sample["truth"]["pages"]
    math_hosts = {p["domain"] for p in pages if p["is_math"]}
    looks = [p for p in pages if p["kind"] == "math_lookalike"]
    assert len(looks) == 18
    assert sum(p["domain"] in math_hosts for p in looks) >= 8
    assert any(p["domain"] == sg.FINANCE for p in looks)
    for p in looks:
        html = by_id[p["id"]]["payload"].decode("utf-8").split("</head>", 1)[1]
        assert not p["is_math"] and not p["math_markup"]
        for marker in ('<script type="math/tex', "<math", "latex.php", "\\frac", "\\("):
            assert marker not in html, (p["url"], marker)
    # the same path prefix holds math and non-math pages on one math host
    blog = [p for p in pages if p["domain"] == sg.MATHBLOG and "/posts/" in p["url"]]
    assert {p["is_math"] for p in blog} == {True, False}


def test_charset_variety(sample, records):
    by_id = {r["id"]: r for r in records}
    pages = [p for p in sample["truth"]["pages"] if p["encoding"] != "utf-8" or p["invalid_bytes"]]
    kinds = {(p["encoding"], p["charset_in"], p["invalid_bytes"]) for p in pages}
    assert ("windows-1252", "header", False) in kinds and ("iso-8859-1", "header", False) in kinds
    assert ("windows-1252", "meta", False) in kinds and ("utf-8", "header+meta", True) in kinds
    for p in pages:
        rec = by_id[p["id"]]
        ctype = rec["headers"]["Content-Type"]
        with pytest.raises(UnicodeDecodeError):
            rec["payload"].decode("utf-8")
        if p["charset_in"] == "header":
            assert f"charset={p['encoding']}" in ctype
            assert b"<meta charset" not in rec["payload"]
        if p["charset_in"] == "meta":
            assert "charset" not in ctype
            assert f"charset={p['encoding']}".encode() in rec["payload"]
        if not p["invalid_bytes"]:
            text = rec["payload"].decode(p["encoding"])
            assert re.search("[éèüçñâ]", text)


def test_sample_path_generates_once(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYSIFT_CACHE", str(tmp_path))
    calls = []
    real = sg.generate_sample

    def counting(out_dir, **kw):
        calls.append(out_dir)
        return real(out_dir, n_pages=80, n_files=2)

    monkeypatch.setattr(sg, "generate_sample", counting)
    first = sg.sample_path()
    assert [p.name for p in first] == ["sample-00000.warc.gz", "sample-00001.warc.gz"]
    assert first[0].parent == tmp_path / sg.SAMPLE_VERSION
    assert (first[0].parent / sg.COMPLETE_MARKER).is_file()
    assert sg.sample_path() == first and len(calls) == 1
    assert sg.sample_truth()["n_pages"] == 80
    # a truncated file makes the cache incomplete: it is regenerated
    first[1].write_bytes(first[1].read_bytes()[:100])
    again = sg.sample_path()
    assert len(calls) == 2 and again[1].stat().st_size > 100
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_shingle_jaccard():
    assert sg.jaccard("a b c d e f", "a b c d e f") == 1.0
    assert sg.jaccard("a b c d e f", "A, b; c. d! e? f") == 1.0
    assert sg.jaccard("a b c d e f", "a b c d e g") == pytest.approx(1 / 3)
    assert sg.normalize_for_shingles("Crème 2024!") == "creme 0000"
