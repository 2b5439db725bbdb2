"""Regression tests for six defects found in review (each failed before its fix):

1. charset decoding: UTF-8 pages labelled windows-1252 / iso-8859-1 / ascii that carry one damaged
   byte (a record truncated inside a character) came out as mojibake (``Ã©``);
2. ``extract._codec`` read a declared UTF-16BE without a BOM as little endian, and a body declared
   UTF-16 whose bytes were also valid UTF-8 (ASCII text: NULs) was dropped as binary;
3. ``c4.badwords_regex`` built a file path from the document's language value (``../x``);
4. ``text.has_alpha`` counted numerals other than decimal digits (``Ⅻ``, ``½``, ``²``) as letters;
5. document files whose names hold a tab, CR or LF (legal in S3 keys and local names) stopped the
   run: Ray Data parses paths as URLs and deletes those characters (FileNotFoundError);
6. S3 keys with ``.``/``..`` segments were skipped as hidden names, and a URI with one was read
   as another object (pyarrow's S3 client resolves the segments): now a ConfigError.

Ray-backed reads of such names are in tests/test_io.py (``test_read_documents_with_odd_names``).
"""

from __future__ import annotations

import json
import os
import string

import pyarrow.fs as pafs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from operators import io as rio
from operators import storage
from operators.config import ConfigError
from operators.extract import _codec, decode_html
from operators.filters import c4, dirty_words
from operators.filters import gopher_quality as gq
from operators.filters.text import has_alpha
from operators.stats import BatchStats
from operators.warc import SKIP_CORRUPT_FILE
from operators.writer import shard_name

PROPERTY = settings(max_examples=200, deadline=None,
                    derandomize=os.environ.get("RAYSIFT_HYPOTHESIS_RANDOM", "") in ("", "0"),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

FRENCH = "Le café de la gare a fermé ses portes après quarante-deux années d'activité à Genève."
JAPANESE = "今日は良い天気です。桜がとても綺麗でした。"
WESTERN_LABELS = ["windows-1252", "iso-8859-1", "latin1", "ascii", "US-ASCII"]


# --- 1. mislabeled UTF-8 with a damaged byte -----------------------------------------------

def _page(body: str) -> str:
    return f"<html><head><title>t</title></head><body><p>{body}</p><p>Prix : 5 € net</p></body></html>"


@pytest.mark.parametrize("label", [*WESTERN_LABELS, None])
@pytest.mark.parametrize("damage", ["cut_2_byte_char", "cut_3_byte_char", "stray_byte"])
def test_mislabeled_utf8_with_a_damaged_byte_is_read_as_utf8(label, damage):
    page = _page(FRENCH)
    body = page.encode()
    if damage == "cut_2_byte_char":  # the record was truncated inside "é"
        body, want = body + "é".encode()[:1], page + "\ufffd"
    elif damage == "cut_3_byte_char":  # ... inside "€"
        body, want = body + "€".encode()[:2], page + "\ufffd"
    else:  # one windows-1252 byte pasted into a UTF-8 page
        body, want = body.replace(b"Prix", b"Pr\x80ix"), page.replace("Prix", "Pr\ufffdix")
    assert decode_html(body, label) == want


def test_mislabeled_utf8_declared_by_meta_tag_is_read_as_utf8():
    page = "<html><head><meta charset=\"windows-1252\"></head><body>" + FRENCH * 2 + "</body></html>"
    assert decode_html(page.encode() + b"\xc3", None) == page + "\ufffd"


_ACCENTED = "àâäçéèêëîïôöùûüÿñßæÀÉÈÇÖÜ"  # windows-1252 bytes >= 0xC0: UTF-8 lead bytes only
_ASCII_TEXT = string.ascii_letters + string.digits + " .,;:!?'()-"


@PROPERTY
@given(st.text(st.sampled_from(_ASCII_TEXT + _ACCENTED), min_size=40, max_size=400),
       st.sampled_from(["é", "€", "𝄞"]), st.sampled_from(WESTERN_LABELS))
def test_property_utf8_cut_inside_its_last_character_is_utf8(text, last, label):
    assume(sum(ch in _ACCENTED for ch in text) >= 2)  # more valid multi-byte sequences than damaged
    cut = last.encode()[:-1]
    assert decode_html(text.encode() + cut, label) == text + "\ufffd"


@PROPERTY
@given(st.lists(st.one_of(st.text(st.sampled_from(_ASCII_TEXT + _ACCENTED), min_size=1, max_size=12),
                          st.sampled_from(["€", "–", "“quoted”", "™", "œ"])), min_size=1, max_size=60),
       st.sampled_from(WESTERN_LABELS))
def test_property_genuine_windows_1252_stays_windows_1252(words, label):
    """No windows-1252 byte below 0xC0 follows a lead byte here (words are space separated and
    the symbols stand alone), so no byte pair is valid UTF-8: the page is cp1252 and read so."""
    text = " ".join(words)
    assert decode_html(text.encode("cp1252"), label) == text


def test_genuine_windows_1252_page_with_header_stays_windows_1252():
    page = _page(FRENCH + " Œuvre, “quotes” – 5 €.")
    for label in WESTERN_LABELS:
        assert decode_html(page.encode("cp1252"), label) == page


# --- 2. UTF-16 byte order -----------------------------------------------------------------

def test_codec_maps_every_utf16_label_to_its_byte_order():
    assert {label: _codec(label) for label in ["utf-16be", "UTF-16BE", "unicodeFFFE", "utf-16le", "utf-16",
                                               "UTF-16", "unicode", "csUnicode", "ucs-2"]} == {
        "utf-16be": "utf-16-be", "UTF-16BE": "utf-16-be", "unicodeFFFE": "utf-16-be", "utf-16le": "utf-16-le",
        "utf-16": "utf-16-le", "UTF-16": "utf-16-le", "unicode": "utf-16-le", "csUnicode": "utf-16-le",
        "ucs-2": "utf-16-le"}
    assert _codec("iso-8859-1") == "cp1252" and _codec("x-no-such-charset") is None
    assert _codec("\xff\x00") is None  # a NUL in a hostile header's label: no charset, no ValueError
    assert decode_html("Grüße".encode("cp1252"), "\xff\x00") is not None


@pytest.mark.parametrize("encoding,label", [("utf-16-be", "utf-16be"), ("utf-16-be", "UTF-16BE"),
                                            ("utf-16-be", "unicodeFFFE"), ("utf-16-le", "utf-16le"),
                                            ("utf-16-le", "utf-16")])
@pytest.mark.parametrize("content", [FRENCH + " " + JAPANESE, "Hello, plain ASCII world."])
def test_bomless_utf16_is_read_in_the_declared_byte_order(encoding, label, content):
    page = _page(content)
    assert decode_html(page.encode(encoding), label) == page


@pytest.mark.parametrize("encoding,label", [("utf-16-le", "utf-16be"), ("utf-16-be", "utf-16le")])
def test_a_byte_order_mark_beats_the_declared_byte_order(encoding, label):
    page = _page(FRENCH)
    assert decode_html(("\ufeff" + page).encode(encoding), label) == page


@PROPERTY
@given(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn"),
                             blacklist_characters="\ufeff\ufffd"), max_size=200),
       st.sampled_from([("utf-16-be", "utf-16be"), ("utf-16-le", "utf-16le"), ("utf-16-le", "utf-16")]))
def test_property_declared_bomless_utf16_round_trips(text, pair):
    encoding, label = pair
    page = f"<p>{text}</p>"
    assert decode_html(page.encode(encoding), label) == page


# --- 3. language codes never become paths ---------------------------------------------------

@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    """A bad-words folder with ``en.txt`` and, beside it, a file a hostile language could reach."""
    tmp_path = tmp_path_factory.mktemp("badwords")
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "en.txt").write_text("darn\n")
    (tmp_path / "zz.txt").write_text("hello\n")
    return str(folder)


@pytest.mark.fault_case("hostile input", "document language '../zz' (path traversal into the bad-words folder)",
                        "no file outside the lists is opened; the language counts as one without a list")
@pytest.mark.parametrize("language", ["../zz", "./en", "en/../en", "..", "", "en\n", "EN"])
def test_a_language_that_is_no_plain_code_has_no_list(lists, language):
    assert c4.badwords_regex(language, lists) is None
    assert c4.badwords_regex("en", lists) is not None


def test_hostile_language_column_is_unchecked_in_c4_and_dirty_words(lists):
    text = "Hello there, friend.\n" * 6
    stats = c4.measure(text, c4.Config(badwords_dir=lists, min_sentences=None), language="../zz")
    assert (stats.bad_words_checked, stats.bad_words) == (False, False)
    assert c4.measure(text, c4.Config(badwords_dir=lists, min_sentences=None), language="en").bad_words_checked
    dw = dirty_words.measure("hello " * 50, dirty_words.Config(badwords_dir=lists), language="../zz")
    assert (dw.checked, dw.count) == (False, None)


@PROPERTY
@given(st.one_of(st.text(max_size=12),
                 st.lists(st.sampled_from(["..", ".", "zz", "en", "", "lists", "EN"]), min_size=1,
                          max_size=4).map("/".join)))
def test_property_only_a_plain_code_with_a_file_has_a_list(lists, language):
    assert (c4.badwords_regex(language, lists) is not None) == (language == "en")


# --- 4. has_alpha is about letters ---------------------------------------------------------

NUMERALS = "Ⅻⅷ½²³①〇٣፩௰ↂ"  # Nl and No characters (isnumeric, not isalpha) and decimal digits


def test_has_alpha_is_false_for_numerals_of_any_script():
    assert [has_alpha(t) for t in ["2024", "Ⅻ", "ⅫⅫⅫⅫ", "½", "x²", "①②", "〇", "٣", "Kapitel", "ⅻa", "_"]] == [
        False, False, False, False, True, False, False, False, True, True, False]


@PROPERTY
@given(st.text(st.one_of(st.sampled_from(NUMERALS + "abé東_-"), st.characters()), max_size=12))
def test_property_has_alpha_is_any_isalpha(token):
    assert has_alpha(token) == any(c.isalpha() for c in token)


def test_gopher_alpha_words_do_not_count_roman_numerals():
    """datatrove (gopher_quality_filter.py): ``any(c.isalpha() for c in w)`` per word."""
    words = ["the", "and"] + ["lorem"] * 78
    kept = gq.measure(" ".join(words + ["ⅫⅫⅫⅫ"] * 20), gq.Config())
    dropped = gq.measure(" ".join(words + ["ⅫⅫⅫⅫ"] * 21), gq.Config())
    assert (kept.alpha_words_ratio, gq.decide(kept, gq.Config())) == (0.8, None)
    assert (dropped.alpha_words_ratio, gq.decide(dropped, gq.Config())) == (80 / 101, gq.TOO_FEW_ALPHA_WORDS)


# --- 5. names Ray Data would change --------------------------------------------------------

_NAME_CHARS = st.sampled_from(list("ab/.") + ["\t", "\r", "\n", "?", ";", "#", "%", " ", "\x01", "é"])


@PROPERTY
@given(st.text(_NAME_CHARS, min_size=1, max_size=10))
def test_property_ray_reads_as_named_agrees_with_ray_data(name):
    from ray.data.datasource.path_util import _resolve_paths_and_filesystem

    path = "/data/in/" + name
    resolved, _ = _resolve_paths_and_filesystem([path], pafs.LocalFileSystem())
    assert rio.ray_reads_as_named(path) == (resolved == [path])


@pytest.mark.fault_case("hostile input", "S3 keys with a tab, a CR (listed back as LF by the store) or a control "
                        "character", "read by their own read task; a key that cannot be opened is a counted "
                        "corrupt_file, never a failed run; shard names sanitised")
def test_s3_document_keys_ray_would_rename_are_read_or_counted(moto_s3, s3_env):
    s3_env(moto_s3)
    client = moto_s3.client()
    client.create_bucket(Bucket="odd-keys")
    line = lambda i: json.dumps({"id": f"d{i}", "text": f"document {i}"}).encode() + b"\n"  # noqa: E731
    keys = {"in/tab\there.jsonl": line(1), "in/cr\rhere.jsonl": line(2), "in/ctl\x01here.jsonl": line(3)}
    for key, body in keys.items():
        client.put_object(Bucket="odd-keys", Key=key, Body=body)
    plan = rio.expand_inputs(["s3://odd-keys/in"], storage.StorageConfig())
    # moto's listing (XML) gives the CR back as an LF: a name that exists nowhere
    assert plan.document_files == ["s3://odd-keys/in/cr\nhere.jsonl", "s3://odd-keys/in/ctl\x01here.jsonl",
                                   "s3://odd-keys/in/tab\there.jsonl"]
    direct = [f for f in plan.document_files if not rio.ray_reads_as_named(f)]
    assert direct == ["s3://odd-keys/in/cr\nhere.jsonl", "s3://odd-keys/in/tab\there.jsonl"]
    fs, _ = storage.resolve(direct[0])
    source = rio.__getattr__("DocumentDatasource")([storage.resolve(f)[1] for f in direct], filesystem=fs,
                                                   uri_prefix="s3://")
    tasks = source.get_read_tasks(2)
    assert len(tasks) == 2  # one each, without Ray's file reader (which would have raised)
    tables = [table for task in tasks for table in task()]
    stats = BatchStats()
    for table in tables:
        stats.merge(BatchStats.of_table(table))
    assert stats.documents_in == 1
    assert stats.files_with_problems() == {"s3://odd-keys/in/cr\nhere.jsonl": {SKIP_CORRUPT_FILE: 1}}
    assert [shard_name(t).rsplit("-", 1)[0] for t in tables] == ["cr_here", "tab_here"]


# --- 6. '.' and '..' segments ---------------------------------------------------------------

def test_s3_key_problems():
    assert [storage.s3_key_problem(k) for k in ["a/b.warc.gz", "a/", "a/./b", "a/../b", "..", "a//b", "/a", ""]] == [
        None, None, "a '.' segment", "a '..' segment", "a '..' segment", "an empty segment ('//' or a leading '/')",
        "an empty segment ('//' or a leading '/')", None]


@pytest.mark.parametrize("uri", ["s3://bucket/./in", "s3://bucket/in/../x.jsonl", "s3://bucket/in//x.jsonl"])
def test_s3_uri_with_dot_segments_is_a_config_error_naming_it(uri):
    with pytest.raises(ConfigError, match=rf"^'{uri}' has (a '\.'|a '\.\.'|an empty) segment.*rename"):
        storage.resolve(uri, storage.StorageConfig(endpoint_url="http://127.0.0.1:9"))


@pytest.mark.fault_case("hostile input", "S3 keys with '.' or '..' segments under an input prefix",
                        "ConfigError naming the keys (pyarrow would read other objects); never skipped silently")
def test_listing_a_prefix_with_dot_segment_keys_refuses_them(moto_s3, s3_env):
    s3_env(moto_s3)
    client = moto_s3.client()
    client.create_bucket(Bucket="dots")
    for key in ["in/ok.jsonl", "in/./dot.jsonl", "in/x/../up.jsonl", "in/notes/./readme.txt"]:
        client.put_object(Bucket="dots", Key=key, Body=b'{"id": "a", "text": "b"}\n')
    cfg = storage.StorageConfig()
    with pytest.raises(ConfigError) as err:
        rio.expand_inputs(["s3://dots/in"], cfg)
    assert "'s3://dots/in/./dot.jsonl' has a '.' segment" in str(err.value)
    assert "'s3://dots/in/x/../up.jsonl' has a '..' segment" in str(err.value)
    assert "readme" not in str(err.value)  # not an input file: not read, not refused
    assert storage.list_files("s3://dots/in/notes", [".jsonl"], cfg) == []  # nothing wanted there ...
    with pytest.raises(ConfigError, match="readme.txt' has a '.' segment"):
        storage.list_files("s3://dots/in/notes", None, cfg)  # ... unless the caller wants every file


def test_local_dot_segments_are_normalised_like_os_path(tmp_path, monkeypatch):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.jsonl").write_text('{"id": "1", "text": "t"}\n')
    want = [str(tmp_path / "b" / "x.jsonl")]
    assert storage.list_files(str(tmp_path / "a" / ".." / "b")) == want  # "a" need not exist (lexical)
    assert storage.list_files(str(tmp_path / "." / "b" / ".")) == want
    monkeypatch.chdir(tmp_path / "b")
    assert rio.expand_inputs(["./../b/./x.jsonl"]).document_files == want
