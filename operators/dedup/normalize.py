"""Text normalisation and stable 64-bit hashing shared by every dedup stage.

Normalisation (DESIGN.md, "Global fuzzy dedup", step 1; the same steps as CCNet's
``normalize_for_dedup``, Wenzek et al. 2019): lowercase, strip accents (Unicode NFD, then drop
combining marks), every decimal digit -> ``0``, every run of characters that is neither a letter
nor a number (punctuation, symbols, whitespace) -> one space, trim. Vectorised with pyarrow
compute kernels (RE2 Unicode classes), so a batch of documents is normalised without a Python
loop per document.

Hashes never use Python's ``hash()``: words are hashed by a numpy polynomial over their UTF-8
bytes (:func:`word_hashes`), ids and lines by BLAKE2b (``hashlib``); all are the same on every
machine, process and Python version.

>>> normalize_text("Héllo,  WORLD! It's 2024...")
'hello world it s 0000'
>>> normalize_text("  ...  ")
''
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_SPACE = 0x20
_WORD_MULT = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime, as the polynomial base
_LEN_MULT = np.uint64(0xC2B2AE3D27D4EB4F)

# ASCII bytes: a-z kept, A-Z lowered, 0-9 -> '0', everything else -> space. Bytes >= 0x80 (UTF-8
# continuation/lead bytes) are left alone: an ASCII byte never occurs inside a multi-byte sequence.
_LUT = np.arange(256, dtype=np.uint8)
_LUT[:128] = _SPACE
_LUT[ord("a") : ord("z") + 1] = np.arange(ord("a"), ord("z") + 1, dtype=np.uint8)
_LUT[ord("A") : ord("Z") + 1] = np.arange(ord("a"), ord("z") + 1, dtype=np.uint8)
_LUT[ord("0") : ord("9") + 1] = ord("0")


def _as_string_array(texts: pa.Array | pa.ChunkedArray | list[str | None]) -> pa.Array:
    arr = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], type=pa.string())
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    return arr


def normalize_raw(texts: pa.Array | pa.ChunkedArray | list[str | None]) -> pa.Array:
    """Normalised texts before whitespace collapsing: every separator is a single ASCII space.

    Nulls become empty strings. Rows with non-ASCII characters go through the Unicode path
    (lowercase, NFD, drop marks, other punctuation/symbols/spaces -> space, other decimal digits
    -> 0); then one byte-level table maps the ASCII bytes of every row.
    """
    arr = pc.fill_null(_as_string_array(texts), "")
    if len(arr) == 0:
        return arr
    non_ascii = pc.invert(pc.string_is_ascii(arr))
    if pc.any(non_ascii).as_py():
        sub = pc.utf8_lower(arr.filter(non_ascii))
        sub = pc.utf8_normalize(sub, form="NFD")
        sub = pc.replace_substring_regex(sub, r"\p{M}+", "")
        sub = pc.replace_substring_regex(sub, r"[^\p{L}\p{N}\x00-\x7f]+", " ")
        sub = pc.replace_substring_regex(sub, r"[^\P{Nd}0-9]", "0")
        arr = pc.replace_with_mask(arr, non_ascii, sub)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    validity, offsets, data = arr.buffers()
    if data is None:
        return arr
    new_data = pa.py_buffer(_LUT[np.frombuffer(data, dtype=np.uint8)].tobytes())
    return pa.Array.from_buffers(pa.string(), len(arr), [validity, offsets, new_data], offset=arr.offset)


def normalize_texts(texts: pa.Array | pa.ChunkedArray | list[str | None]) -> pa.Array:
    """Normalise an array of strings (see the module docstring); nulls become empty strings."""
    raw = normalize_raw(texts)
    if len(raw) == 0:
        return raw
    return pc.binary_join(pc.utf8_split_whitespace(pc.utf8_trim_whitespace(raw)), " ")


def normalize_text(text: str) -> str:
    """Normalise one string (the scalar form of :func:`normalize_texts`)."""
    return normalize_texts([text])[0].as_py()


def word_hashes(raw: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Hash every word of :func:`normalize_raw` output: (uint64 word hashes, int64 offsets n+1).

    A word is a maximal run of non-space bytes; its hash is the polynomial
    ``sum(byte_i * K**i) mod 2**64`` plus its length, finished with SplitMix64. Words are split
    and deduplicated by Arrow kernels, and only the distinct words of the batch (a Zipfian
    vocabulary: a small share of its bytes) are hashed, with numpy (no Python loop per word).
    Equal words hash equally on every machine.
    """
    n = len(raw)
    word_off = np.zeros(n + 1, dtype=np.int64)
    if n == 0:
        return np.zeros(0, dtype=np.uint64), word_off
    split = pc.ascii_split_whitespace(raw)
    if isinstance(split, pa.ChunkedArray):
        split = split.combine_chunks()
    tokens = split.flatten()
    nonempty = pc.greater(pc.binary_length(tokens), 0)
    per_doc = np.diff(split.offsets.to_numpy().astype(np.int64))
    keep = nonempty.to_numpy(zero_copy_only=False)
    doc_of_token = np.repeat(np.arange(n), per_doc)
    np.cumsum(np.bincount(doc_of_token[keep], minlength=n), out=word_off[1:])
    if not keep.any():
        return np.zeros(0, dtype=np.uint64), word_off
    encoded = pc.dictionary_encode(tokens.filter(nonempty))
    return _hash_distinct(encoded.dictionary)[encoded.indices.to_numpy()], word_off


def _hash_distinct(words: pa.Array) -> np.ndarray:
    """The polynomial hash of :func:`word_hashes` for each (non-empty) string of ``words``."""
    _, offsets_buf, data_buf = words.buffers()
    offs = np.frombuffer(offsets_buf, dtype=np.int32)[words.offset : words.offset + len(words) + 1].astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8)[offs[0] : offs[-1]]
    starts = offs[:-1] - offs[0]
    lengths = np.diff(offs)
    pos = np.arange(len(data)) - np.repeat(starts, lengths)
    powers = np.cumprod(np.full(int(lengths.max()), _WORD_MULT, dtype=np.uint64), dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = np.add.reduceat(data.astype(np.uint64) * powers[pos], starts)
        return mix64(h + lengths.astype(np.uint64) * _LEN_MULT)


def hash64_str(value: str, person: bytes = b"raysift") -> int:
    """Stable unsigned 64-bit hash of a string (BLAKE2b, 8-byte digest)."""
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8, person=person).digest()
    return int.from_bytes(digest, "little")


def hash64_strings(values: pa.Array | list[str], person: bytes = b"raysift") -> np.ndarray:
    """Stable uint64 hashes of many strings; unique values are hashed once."""
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, type=pa.string())
    if len(arr) == 0:
        return np.zeros(0, dtype=np.uint64)
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    uniques = enc.dictionary.to_pylist()
    table = np.fromiter((hash64_str(u, person) for u in uniques), dtype=np.uint64, count=len(uniques))
    return table[enc.indices.to_numpy(zero_copy_only=False)]


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (a bijection with good avalanche), vectorised."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64, copy=True)
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z


def stable_node_ids(ids: pa.Array | list[str]) -> np.ndarray:
    """int64 node id per document id (BLAKE2b): the integer key used by LSH and components.

    Two distinct ids collide with probability about n^2 / 2^65 (1e-7 for 10^6 documents).
    """
    return hash64_strings(ids, b"raysift-id").view(np.int64)
