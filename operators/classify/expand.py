"""DeepSeekMath seed expansion (Shao et al. 2024, Sec. 2.1, Fig. 2).

One iteration: train fastText on the seed (positives) against an equal-size random pool sample
(negatives, seed excluded) -> score the pool -> recall documents above ``threshold`` (or the
top documents within ``token_budget`` tokens) -> per-domain recall share -> domains whose share
exceeds 10 % are math domains -> URL path prefixes inside them with a high recall share are
proposed (written out for review; an approved list can replace them) -> pool pages under the
approved prefixes that were not recalled join the seed -> next iteration. The final corpus is
what the last model recalls plus every pool page under an approved prefix. The loop stops after
``iterations`` rounds (DeepSeekMath: 4) or when an iteration recalls fewer than 2 % new
documents (DeepSeekMath stopped when ~98 % of iteration 4 had been found in iteration 3).

The driver keeps one small row per pool document (id, url, domain, tokens, math_score); the
texts stay in the pool (a pyarrow Table here, or a Ray Dataset via :class:`RayPool`). The
per-domain and per-prefix aggregation runs on the driver over those small columns, which is
fine for pools up to tens of millions of rows; larger pools should aggregate with Ray Data
``groupby`` (not implemented here).

Output layout (DESIGN.md, ``raysift expand``)::

    DST/recalled/part-00000.parquet   final corpus: pool rows + math_score + iteration
    DST/iterations/<k>/stats.json     counts, train report, score histogram
    DST/iterations/<k>/domains.parquet  per-domain pool_docs, recalled, share, is_math
    DST/iterations/<k>/proposed_paths.txt  prefixes for review (first field of each line)
    DST/iterations/<k>/model.bin      that iteration's classifier
    DST/stats.json                    documents_in/out, rejected, growth per iteration
    DST/_run/done/iteration-<k>.json  iteration k finished: the loop's small state after it
    DST/_run/expand/<k>/              its per-document state (scores, recalled, grown seed ids)

Resuming (issue 13; :mod:`operators.resume` records what the run was started with): the unit of
work is an iteration. Once iteration k has written ``iterations/<k>/``, the state the next
iteration starts from is saved (:func:`save_state`) and the marker written last. With
``resume=True`` the loop continues after the last marked iteration (:func:`load_state`), deleting
what an unfinished iteration left; the final corpus is then written from the saved state. Every
step is deterministic for a given config and input (negatives sampled by a stable rank of
(seed, id), scores sorted by id, fastText single-threaded with a fixed seed below
``classifier.small_seed_examples`` examples), so a resumed run writes what an undisturbed one
writes. Above that size fastText trains on ``classifier.threads`` threads (all cores by default),
which is not reproducible run to run (Hogwild updates): set ``classifier.threads: 1`` when
resumed and undisturbed runs must agree bit for bit.
"""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from operators.classify.fasttext_model import ClassifierConfig, TrainReport, load_model, score_texts, train
from operators.classify.formulas import FormulaConfig, formula_counts, formula_dense
from operators.config import to_dict

NOT_MATH = "not_math"
"""Reject reason (in stats.json) for pool documents the final classifier did not recall."""

_HOST_RE = r"^(?:[a-zA-Z][a-zA-Z0-9+.\-]*://)?(?:[^@/?#]*@)?(?P<host>[^/:?#]+)"


@dataclass(frozen=True)
class ExpansionConfig:
    """Seed-expansion settings (defaults: DeepSeekMath Sec. 2.1 where it states them).

    iterations: maximum number of iterations (DeepSeekMath: 4).
    threshold: recall documents with ``math_score >= threshold``; used when ``token_budget``
        is None.
    token_budget: recall the top-scored documents whose whitespace tokens fit in this budget
        (DeepSeekMath kept the top 40B tokens); None uses ``threshold``.
    domain_min_share: a domain whose recalled / pool documents exceeds this is a math domain (10 %).
    path_min_share: a path prefix inside a math domain is proposed when its recall share
        reaches this.
    path_max_depth: deepest directory level proposed (1 = ``host/dir/``); a prefix is only
        refined one level deeper when it does not qualify itself.
    min_prefix_docs: a prefix needs at least this many pool documents to be proposed.
    stop_new_fraction: stop when the documents recalled for the first time are fewer than this
        fraction of the iteration's recalled documents (2 %); None runs all iterations.
    negatives_ratio: negatives sampled per positive (DeepSeekMath: 1).
    max_chars: texts are truncated to this for scoring.
    histogram_bins: bins of the per-iteration score histogram over [0, 1].
    seed: negative sampling seed (changes per iteration deterministically).
    cross_fit: score each pool document with a model that never saw it as a negative: the
        pool is split in two folds by a hash of the id, model A takes its negatives from fold
        0 and scores fold 1, model B the reverse. Without it, the pool documents sampled as
        negatives (all of a small pool) are scored by a model that memorised them as "other",
        and math pages among them are never recalled.
    formulas: a pool page whose extracted text is formula-dense (:mod:`operators.classify.formulas`)
        is recalled whatever its fastText score, and joins the seed for the next iteration, so
        the classifier learns the pool's own math styles (forum threads, solver pages, lecture
        notes) that a seed such as StackMathQA lacks; None uses the fastText score alone.
    threshold_without_formulas: a page whose extracted text holds no formula is recalled only
        when its score reaches this (OpenWebMath, Paster et al. 2023, Sec. 3.1: 0.17 with math
        markup, 0.8 without); pages with a formula use ``threshold``. None: ``threshold`` for all.
    classifier: fastText settings.
    """

    iterations: int = 4
    threshold: float = 0.5
    token_budget: int | None = None
    domain_min_share: float = 0.10
    path_min_share: float = 0.25
    path_max_depth: int = 2
    min_prefix_docs: int = 2
    stop_new_fraction: float | None = 0.02
    negatives_ratio: float = 1.0
    max_chars: int = 20_000
    histogram_bins: int = 20
    seed: int = 0
    cross_fit: bool = True
    formulas: FormulaConfig | None = field(default_factory=FormulaConfig)
    threshold_without_formulas: float | None = 0.8
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError(f"ExpansionConfig.iterations must be >= 1, got {self.iterations}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"ExpansionConfig.threshold must be in [0, 1], got {self.threshold}")
        if self.threshold_without_formulas is not None and not 0.0 <= self.threshold_without_formulas <= 1.0:
            raise ValueError("ExpansionConfig.threshold_without_formulas must be in [0, 1] or null, "
                             f"got {self.threshold_without_formulas}")
        for name in ("domain_min_share", "path_min_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"ExpansionConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.path_max_depth < 1:
            raise ValueError(f"ExpansionConfig.path_max_depth must be >= 1, got {self.path_max_depth}")
        if self.negatives_ratio <= 0:
            raise ValueError(f"ExpansionConfig.negatives_ratio must be > 0, got {self.negatives_ratio}")


# --- URL helpers ----------------------------------------------------------------------------------


def url_hosts(urls: list[str | None] | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Lowercased host of each URL without ``www.`` (null when there is none), vectorised.

    >>> url_hosts(["https://www.MathOverflow.net/questions/1", "ftp://x.org", None]).to_pylist()
    ['mathoverflow.net', 'x.org', None]
    """
    arr = pa.chunked_array([pa.array(urls, type=pa.string())]) if isinstance(urls, list) else urls
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    host = pc.struct_field(pc.extract_regex(arr, _HOST_RE), "host")
    host = pc.utf8_lower(host)
    host = pc.replace_substring_regex(host, r"^www\.", "")
    return pc.if_else(pc.equal(host, ""), pa.scalar(None, pa.string()), host)


def _dirs(url: str | None) -> tuple[str, list[str]]:
    """(host, directory segments) of a URL; the last path segment is the page, not a directory."""
    if not url:
        return "", []
    rest = url.split("://", 1)[-1]
    cut = len(rest)
    for ch in "?#":
        i = rest.find(ch)
        if i != -1:
            cut = min(cut, i)
    rest = rest[:cut]
    host, _, path = rest.partition("/")
    host = host.rsplit("@", 1)[-1].split(":", 1)[0].lower()
    if host.startswith("www."):
        host = host[4:]
    segs = path.split("/")
    dirs = [s for s in segs[:-1] if s]  # a trailing '/' leaves an empty last segment: all dirs
    return host, dirs


def url_prefix(url: str | None, depth: int) -> str | None:
    """``host/dir1/.../dir<depth>/`` for a URL, or None when it has fewer directories.

    >>> url_prefix("https://www.uni.edu/math/notes/algebra.html", 1)
    'uni.edu/math/'
    >>> url_prefix("https://uni.edu/math/notes/algebra.html", 3) is None
    True
    """
    host, dirs = _dirs(url)
    if not host or len(dirs) < depth:
        return None
    return host + "/" + "".join(d + "/" for d in dirs[:depth])


def normalize_prefix(text: str) -> str:
    """An approved-path line (``https://www.x.org/a/b``, ``x.org/a/b/``) as ``x.org/a/b/``."""
    t = text.strip().split()[0] if text.strip() else ""
    t = t.split("://", 1)[-1]
    host, _, path = t.partition("/")
    host = host.lower()
    if host.startswith("www."):
        host = host[4:]
    segs = [s for s in path.split("/") if s]
    return host + "/" + "".join(s + "/" for s in segs)


def read_prefix_file(text: str) -> list[str]:
    """Prefixes from an approved-paths file: first field per line, ``#`` comments and blanks ignored."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(normalize_prefix(line))
    return out


def under_prefixes(urls: list[str | None], prefixes: list[str] | set[str]) -> np.ndarray:
    """Boolean mask: URL lies under one of ``prefixes`` (``host/dir/`` form; ``host/`` = whole host)."""
    pref = set(prefixes)
    if not pref:
        return np.zeros(len(urls), dtype=bool)
    max_depth = max(p.count("/") for p in pref)
    out = np.zeros(len(urls), dtype=bool)
    for i, u in enumerate(urls):
        host, dirs = _dirs(u)
        if not host:
            continue
        key = host + "/"
        if key in pref:
            out[i] = True
            continue
        for d in dirs[: max_depth - 1]:
            key += d + "/"
            if key in pref:
                out[i] = True
                break
    return out


# --- the loop's steps -------------------------------------------------------------------------------


def domain_recall_share(urls: list[str | None] | pa.Array, recalled_mask: np.ndarray) -> pa.Table:
    """Per domain: pool documents, recalled documents and their share, highest share first."""
    hosts = url_hosts(urls)
    t = pa.table({"domain": hosts, "recalled": pa.array(np.asarray(recalled_mask, dtype=np.int64))})
    t = t.filter(pc.is_valid(t["domain"]))
    g = t.group_by("domain").aggregate([("recalled", "count"), ("recalled", "sum")])
    g = g.select(["domain", "recalled_count", "recalled_sum"]).rename_columns(["domain", "pool_docs", "recalled"])
    share = pc.divide(pc.cast(g["recalled"], pa.float64()), pc.cast(g["pool_docs"], pa.float64()))
    g = g.append_column("share", share)
    return g.sort_by([("share", "descending"), ("recalled", "descending"), ("domain", "ascending")])


def math_domains(shares: pa.Table, min_share: float = 0.10) -> list[str]:
    """Domains whose recall share exceeds ``min_share`` (DeepSeekMath: 10 %)."""
    mask = pc.greater(shares["share"], min_share)
    return shares.filter(mask)["domain"].to_pylist()


def propose_path_prefixes(
    urls: list[str | None],
    recalled_mask: np.ndarray,
    domains: list[str] | set[str],
    min_share: float = 0.5,
    max_depth: int = 2,
    min_docs: int = 2,
    collected_mask: np.ndarray | None = None,
) -> pa.Table:
    """URL path prefixes inside math ``domains`` whose recall share reaches ``min_share``.

    Shallowest first: ``host/a/`` is proposed when it qualifies; only when it does not are its
    children ``host/a/b/`` considered (up to ``max_depth``). ``uncollected`` counts the pages
    under the prefix that are neither recalled nor in ``collected_mask`` (already seed).
    """
    doms = set(domains)
    recalled = np.asarray(recalled_mask, dtype=bool)
    collected = recalled if collected_mask is None else recalled | np.asarray(collected_mask, dtype=bool)
    parsed = [(i, *_dirs(u)) for i, u in enumerate(urls)]
    parsed = [(i, h, d) for i, h, d in parsed if h in doms]
    rows: list[dict[str, Any]] = []
    open_parents = {h + "/" for _, h, _ in parsed}  # prefixes whose children may still be proposed
    for depth in range(1, max_depth + 1):
        counts: dict[str, list[int]] = {}
        for i, host, dirs in parsed:
            if len(dirs) < depth:
                continue
            parent = host + "/" + "".join(x + "/" for x in dirs[: depth - 1])
            if parent not in open_parents:
                continue
            key = parent + dirs[depth - 1] + "/"
            c = counts.setdefault(key, [0, 0, 0])
            c[0] += 1
            c[1] += int(recalled[i])
            c[2] += int(not collected[i])
        next_open = set()
        for key, (n, r, unc) in sorted(counts.items()):
            share = r / n
            if n >= min_docs and share >= min_share:
                rows.append({"prefix": key, "domain": key.split("/", 1)[0], "depth": depth,
                             "pool_docs": n, "recalled": r, "share": share, "uncollected": unc})
            else:
                next_open.add(key)
        open_parents = next_open
    schema = pa.schema([("prefix", pa.string()), ("domain", pa.string()), ("depth", pa.int64()),
                        ("pool_docs", pa.int64()), ("recalled", pa.int64()), ("share", pa.float64()),
                        ("uncollected", pa.int64())])
    return pa.Table.from_pylist(rows, schema=schema)


def grow_seed(
    urls: list[str | None],
    recalled_mask: np.ndarray,
    in_seed_mask: np.ndarray,
    approved_prefixes: list[str] | set[str],
) -> np.ndarray:
    """Mask of pool documents joining the seed: under an approved prefix, not recalled, not seed yet."""
    under = under_prefixes(urls, approved_prefixes)
    return under & ~np.asarray(recalled_mask, dtype=bool) & ~np.asarray(in_seed_mask, dtype=bool)


def recall_mask(scores: np.ndarray, tokens: np.ndarray | None, threshold: float,
                token_budget: int | None) -> np.ndarray:
    """Documents recalled: ``score >= threshold``, or the best-scored ones within ``token_budget``.

    >>> recall_mask(np.array([0.9, 0.2, 0.7]), np.array([5, 5, 5]), 0.5, None).tolist()
    [True, False, True]
    >>> recall_mask(np.array([0.9, 0.2, 0.7]), np.array([5, 5, 5]), 0.5, 6).tolist()
    [True, False, False]
    """
    scores = np.asarray(scores, dtype=np.float64)
    if token_budget is None:
        return scores >= threshold
    tok = np.ones(len(scores), dtype=np.int64) if tokens is None else np.asarray(tokens, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    keep = np.cumsum(tok[order]) <= token_budget
    out = np.zeros(len(scores), dtype=bool)
    out[order[keep]] = True
    return out


def recall_decision(scores: np.ndarray, tokens: np.ndarray, formulas: np.ndarray,
                    cfg: ExpansionConfig) -> tuple[np.ndarray, np.ndarray]:
    """(recalled, formula_dense) masks of one iteration.

    Recalled: score >= ``threshold`` (or within ``token_budget``) and, for a page without any
    formula, score >= ``threshold_without_formulas`` (OpenWebMath's 0.17 / 0.8 rule); or
    formula-dense whatever the score.

    >>> cfg = ExpansionConfig(threshold=0.2, threshold_without_formulas=0.8)
    >>> rec, dense = recall_decision(np.array([0.5, 0.5, 0.9, 0.01]), np.array([100] * 4), np.array([1, 0, 0, 5]), cfg)
    >>> rec.tolist(), dense.tolist()
    ([True, False, True, True], [False, False, False, True])
    """
    formulas = np.asarray(formulas, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    recalled = recall_mask(scores, tokens, cfg.threshold, cfg.token_budget)
    if cfg.threshold_without_formulas is not None:
        recalled &= (formulas > 0) | (scores >= cfg.threshold_without_formulas)
    dense = formula_dense(formulas, tokens, cfg.formulas)
    return recalled | dense, dense


def should_stop(new_recalled: int, recalled: int, iteration: int, stop_new_fraction: float | None) -> bool:
    """DeepSeekMath stop rule: after the first iteration, fewer than ``stop_new_fraction`` new docs."""
    if stop_new_fraction is None or iteration < 2:
        return False
    return new_recalled < stop_new_fraction * max(recalled, 1)


# --- pools -----------------------------------------------------------------------------------------


class Pool(Protocol):
    """Where the candidate documents live; the loop only ever asks for these."""

    def score(self, model_uri: str, max_chars: int) -> pa.Table:
        """``id``, ``url``, ``tokens``, ``math_score``, ``formulas`` for every pool document, in a stable order."""

    def texts(self, ids: list[str]) -> list[str]:
        """Texts of the given documents."""

    def sample_texts(self, n: int, exclude: set[str], seed: int, fold: int | None = None) -> list[str]:
        """Texts of ``n`` random documents whose id is not in ``exclude`` (and in ``fold``, if given)."""

    def write_documents(self, keep: pa.Table, dir_uri: str) -> int:
        """Write the pool rows whose id is in ``keep`` (+ math_score, iteration) as Parquet under ``dir_uri``."""


def id_folds(ids: list[str]) -> np.ndarray:
    """Fold (0 or 1) of each id: a stable hash, the same on every machine.

    >>> id_folds(["a", "b", "a"]).tolist()[0] == id_folds(["a"]).tolist()[0]
    True
    """
    import hashlib

    return np.fromiter((hashlib.blake2b((i or "").encode(), digest_size=1).digest()[0] & 1 for i in ids),
                       dtype=np.int8, count=len(ids))


def sample_ranks(ids: list[str], seed: int) -> np.ndarray:
    """A pseudo-random 64-bit rank of each id for sampling seed ``seed`` (BLAKE2b of both):
    the same on every machine, so "the n smallest ranks" is a uniform sample that does not
    depend on the order rows arrive in.

    >>> a = sample_ranks(["x", "y"], 1)
    >>> a.dtype.name, bool(a[0] == sample_ranks(["y", "x"], 1)[1]), bool(a[0] != sample_ranks(["x"], 2)[0])
    ('uint64', True, True)
    """
    import hashlib

    key = f"{seed}:".encode()
    return np.fromiter((int.from_bytes(hashlib.blake2b(key + (i or "").encode(), digest_size=8).digest(), "little")
                        for i in ids), dtype=np.uint64, count=len(ids))


def _token_counts(texts: pa.ChunkedArray | pa.Array) -> pa.Array:
    filled = pc.fill_null(texts, "")
    return pc.list_value_length(pc.utf8_split_whitespace(filled))


class TablePool:
    """A pool held in one pyarrow Table (``id``, ``url``, ``text``; extra columns are kept)."""

    def __init__(self, table: pa.Table) -> None:
        missing = {"id", "url", "text"} - set(table.column_names)
        if missing:
            raise ValueError(f"pool needs columns id, url and text; missing {sorted(missing)}")
        self.table = table
        self._ids = table["id"].to_pylist()
        self._index = {d: i for i, d in enumerate(self._ids)}

    def score(self, model_uri: str, max_chars: int) -> pa.Table:
        model = load_model(model_uri)
        texts = self.table["text"].to_pylist()
        scores = score_texts(model, texts, max_chars)
        formulas = formula_counts(texts)
        return pa.table({"id": self.table["id"], "url": self.table["url"],
                         "tokens": _token_counts(self.table["text"]), "math_score": scores,
                         "formulas": formulas})

    def texts(self, ids: list[str]) -> list[str]:
        col = self.table["text"]
        return [col[self._index[i]].as_py() or "" for i in ids]

    def sample_texts(self, n: int, exclude: set[str], seed: int, fold: int | None = None) -> list[str]:
        folds = id_folds(self._ids) if fold is not None else None
        candidates = [i for i, d in enumerate(self._ids) if d not in exclude and (folds is None or folds[i] == fold)]
        rng = random.Random(seed)
        pick = rng.sample(candidates, min(n, len(candidates)))
        col = self.table["text"]
        return [col[i].as_py() or "" for i in pick]

    def write_documents(self, keep: pa.Table, dir_uri: str) -> int:
        rows = self.table.join(keep, "id", join_type="inner")
        rows = rows.sort_by([("math_score", "descending"), ("id", "ascending")])
        _write_parquet(rows, _join(dir_uri, "part-00000.parquet"))
        return rows.num_rows


class RayPool:
    """A pool held in a Ray Dataset; scoring runs in the actor pool of :mod:`scoring`."""

    def __init__(self, ds, scoring_cfg=None) -> None:
        from operators.classify.scoring import ScoringConfig

        self.ds = ds.materialize()
        self.scoring_cfg = scoring_cfg or ScoringConfig()
        self._count = self.ds.count()

    def score(self, model_uri: str, max_chars: int) -> pa.Table:
        from dataclasses import replace

        from operators.classify.scoring import score_dataset

        cfg = replace(self.scoring_cfg, max_chars=max_chars, min_score=None)

        def small(t: pa.Table) -> pa.Table:
            formulas = formula_counts(t["text"].to_pylist())
            return pa.table({"id": t["id"], "url": t["url"], "tokens": _token_counts(t["text"]),
                             "math_score": t["math_score"], "formulas": pa.array(formulas, pa.int64())})

        scored = score_dataset(self.ds.select_columns(["id", "url", "text"]), model_uri, cfg)
        table = _collect(scored.map_batches(small, batch_format="pyarrow"))
        if table is None:
            raise ValueError("the pool dataset is empty; nothing to score")
        return table.sort_by("id")

    def _filter_ids(self, ids: set[str]):
        value_set = pa.array(sorted(ids), pa.string())

        def pick(t: pa.Table) -> pa.Table:
            return t.filter(pc.is_in(t["id"], value_set=value_set))

        return self.ds.map_batches(pick, batch_format="pyarrow")

    def texts(self, ids: list[str]) -> list[str]:
        if not ids:
            return []
        t = _collect(self._filter_ids(set(ids)).select_columns(["id", "text"]))
        by_id = dict(zip(t["id"].to_pylist(), t["text"].to_pylist())) if t is not None else {}
        return [by_id.get(i) or "" for i in ids]

    def sample_texts(self, n: int, exclude: set[str], seed: int, fold: int | None = None) -> list[str]:
        """``n`` texts with the smallest :func:`sample_ranks` among the candidates (about 1.5 n
        are pre-selected on the cluster by rank), in rank order: the same documents in the same
        order on any cluster, however blocks are laid out or tasks finish (a task retried after
        a node loss included). The order matters: the trainer shuffles its examples with a
        fixed seed, so another order would train another model."""
        available = self._count - len(exclude)
        if fold is not None:
            available //= 2
        frac = min(1.0, 1.5 * n / max(available, 1))
        cut = np.uint64(min(int(frac * 2.0**64), 2**64 - 1))
        value_set = pa.array(sorted(exclude), pa.string())

        def drop(t: pa.Table) -> pa.Table:
            ids = t["id"].to_pylist()
            keep = ~np.asarray(pc.is_in(t["id"], value_set=value_set).to_numpy(zero_copy_only=False), dtype=bool)
            if fold is not None:
                keep &= id_folds(ids) == fold
            ranks = sample_ranks(ids, seed)
            if frac < 1.0:
                keep &= ranks < cut
            picked = pa.array(keep)
            return pa.table({"id": t["id"].filter(picked), "text": t["text"].filter(picked),
                             "rank": pa.array(ranks[keep], pa.uint64())})

        table = _collect(self.ds.select_columns(["id", "text"]).map_batches(drop, batch_format="pyarrow"))
        if table is None:
            return []
        table = table.sort_by([("rank", "ascending"), ("id", "ascending")]).slice(0, n)
        return [t or "" for t in table["text"].to_pylist()]

    def write_documents(self, keep: pa.Table, dir_uri: str) -> int:
        from operators.storage import resolve

        def attach(t: pa.Table) -> pa.Table:
            return t.join(keep, "id", join_type="inner")

        rows = self.ds.map_batches(attach, batch_format="pyarrow").materialize()
        fs, path = resolve(dir_uri)
        rows.write_parquet(path, filesystem=fs)
        return rows.count()


def _collect(ds) -> pa.Table | None:
    import ray

    parts = [t for t in ray.get(ds.to_arrow_refs()) if t.num_rows]
    return pa.concat_tables(parts) if parts else None


# --- I/O -----------------------------------------------------------------------------------------


def _join(base: str, *parts: str) -> str:
    from operators.storage import join

    return join(base, *parts)


def _write_bytes(uri: str, data: bytes) -> None:
    from operators.storage import write_bytes_atomic

    write_bytes_atomic(uri, data)


def _write_json(uri: str, obj: Any) -> None:
    _write_bytes(uri, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def _write_parquet(table: pa.Table, uri: str) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    _write_bytes(uri, buf.getvalue())


def _read_text(uri: str) -> str:
    from operators.storage import read_bytes

    return read_bytes(uri).decode("utf-8")


def _read_parquet(uri: str) -> pa.Table:
    from operators.storage import read_bytes

    return pq.read_table(pa.BufferReader(read_bytes(uri)))


def _delete(uri: str) -> None:
    from operators.storage import delete_dir

    delete_dir(uri)  # a folder, a file or nothing


# --- resuming ----------------------------------------------------------------------------------------

RUN_DIR = "_run"  # operators.resume.RUN_DIR: the run's manifest and done markers live beside


@dataclass
class LoopState:
    """The loop after a finished iteration: what the next iteration (or the final write) starts from.

    scored: that iteration's ``id``, ``url``, ``tokens``, ``math_score``, ``formulas`` per pool document.
    recalled: that iteration's recall mask over ``scored``.
    grown_ids: pool documents added to the seed so far, in the order they joined (their texts
        follow the seed texts in the next training set, so the order matters).
    first_iteration: the iteration each recalled or grown document first appeared in.
    stopped_because: set when the stop rule ended the loop after this iteration.
    """

    iteration: int
    iterations: list[dict[str, Any]]
    scored: pa.Table
    recalled: np.ndarray
    grown_ids: list[str]
    approved_union: set[str]
    first_iteration: dict[str, int]
    model_uri: str
    stopped_because: str | None = None


def _marker_uri(out_dir: str, k: int) -> str:
    return _join(out_dir, RUN_DIR, "done", f"iteration-{k}.json")


def _state_dir(out_dir: str, k: int) -> str:
    return _join(out_dir, RUN_DIR, "expand", str(k))


def save_state(out_dir: str, state: LoopState) -> None:
    """Record iteration ``state.iteration`` as finished: its per-document state first, the
    marker (small JSON) last, then the previous iteration's state is dropped."""
    k = state.iteration
    where = _state_dir(out_dir, k)
    _write_parquet(state.scored.append_column("recalled", pa.array(np.asarray(state.recalled, dtype=bool))),
                   _join(where, "scored.parquet"))
    _write_parquet(pa.table({"id": pa.array(state.grown_ids, pa.string())}), _join(where, "grown.parquet"))
    _write_parquet(pa.table({"id": pa.array(list(state.first_iteration), pa.string()),
                             "iteration": pa.array(list(state.first_iteration.values()), pa.int32())}),
                   _join(where, "first_iteration.parquet"))
    marker = {"iteration": k, "model_uri": state.model_uri, "stopped_because": state.stopped_because,
              "approved_union": sorted(state.approved_union), "iterations": state.iterations}
    _write_bytes(_marker_uri(out_dir, k), json.dumps(marker, default=str).encode())
    if k > 1:
        _delete(_state_dir(out_dir, k - 1))


def load_state(out_dir: str, max_iterations: int) -> LoopState | None:
    """The state after the last iteration recorded finished (up to ``max_iterations``), or None.
    A marker whose JSON or state files cannot be read (torn by a crash) does not count."""
    from operators.storage import exists

    for k in range(max_iterations, 0, -1):
        uri = _marker_uri(out_dir, k)
        if not exists(uri):
            continue
        try:
            marker = json.loads(_read_text(uri))
            where = _state_dir(out_dir, k)
            scored = _read_parquet(_join(where, "scored.parquet"))
            grown = _read_parquet(_join(where, "grown.parquet"))
            first = _read_parquet(_join(where, "first_iteration.parquet"))
            state = LoopState(
                iteration=int(marker["iteration"]),
                iterations=list(marker["iterations"]),
                scored=scored.drop_columns(["recalled"]),
                recalled=scored["recalled"].to_numpy(zero_copy_only=False).astype(bool),
                grown_ids=grown["id"].to_pylist(),
                approved_union=set(marker["approved_union"]),
                first_iteration=dict(zip(first["id"].to_pylist(), first["iteration"].to_pylist())),
                model_uri=str(marker["model_uri"]),
                stopped_because=marker["stopped_because"],
            )
        except (ValueError, KeyError, TypeError, OSError, pa.ArrowException):
            continue  # torn marker or missing state: an earlier iteration, or a fresh start
        if state.iteration == k and len(state.iterations) == k:
            return state
    return None


def discard_after(out_dir: str, k: int, max_iterations: int) -> None:
    """Delete what iterations after ``k`` left (files, state, markers) and the state of earlier
    ones; ``k = 0`` clears every marker and state of an earlier run."""
    for j in range(1, max_iterations + 1):
        if j > k:
            _delete(_marker_uri(out_dir, j))
            _delete(_join(out_dir, "iterations", str(j)))
        if j != k:
            _delete(_state_dir(out_dir, j))


# --- driver ------------------------------------------------------------------------------------------


@dataclass
class ExpansionResult:
    """What :func:`run_expansion` produced: per-iteration stats, the recalled ids and the final model."""

    iterations: list[dict[str, Any]]
    recalled: pa.Table  # id, url, domain, math_score, iteration
    final_model: str
    stats: dict[str, Any]


def _histogram(scores: np.ndarray, bins: int) -> dict[str, list]:
    counts, edges = np.histogram(np.asarray(scores, dtype=np.float64), bins=bins, range=(0.0, 1.0))
    return {"edges": [round(float(e), 6) for e in edges], "counts": counts.tolist()}


def run_expansion(
    seed: pa.Table | list[str],
    pool: Pool | pa.Table,
    cfg: ExpansionConfig | None,
    out_dir: str,
    approved_prefixes: list[str] | None = None,
    *,
    resume: bool = False,
    log: Callable[[str], None] = print,
) -> ExpansionResult:
    """Run the DeepSeekMath loop and write DST (see the module docstring).

    ``seed``: texts, or a Table with ``text`` (and ``id``, excluded from negatives if in the pool).
    ``pool``: a :class:`TablePool` / :class:`RayPool` or a Table with id, url, text.
    ``approved_prefixes``: when given, only these prefixes (``host/dir/`` or URLs) grow the seed;
    otherwise every proposed prefix does.
    ``resume``: continue after the last iteration ``out_dir`` records as finished (the caller
    makes sure it was started with the same seed, pool and config: :mod:`operators.resume`);
    without it earlier records are cleared and the loop starts at iteration 1.
    """
    cfg = cfg or ExpansionConfig()
    started = time.perf_counter()
    if isinstance(pool, pa.Table):
        pool = TablePool(pool)
    if isinstance(seed, pa.Table):
        seed_texts = [t or "" for t in seed["text"].to_pylist()]
        seed_ids = set(seed["id"].to_pylist()) if "id" in seed.column_names else set()
    else:
        seed_texts, seed_ids = [t or "" for t in seed], set()
    seed_texts = [t for t in seed_texts if t.strip()]
    if not seed_texts:
        raise ValueError("the seed has no non-empty texts; pass documents with a 'text' column")
    approved = [normalize_prefix(p) for p in approved_prefixes] if approved_prefixes is not None else None

    grown_ids: list[str] = []
    approved_union: set[str] = set()
    grown_texts: list[str] = []
    first_iteration: dict[str, int] = {}
    iterations: list[dict[str, Any]] = []
    stopped_because = "max_iterations"
    model_uri = ""
    scored = None
    recalled = np.zeros(0, dtype=bool)
    state = load_state(out_dir, cfg.iterations) if resume else None
    done = state.iteration if state else 0
    discard_after(out_dir, done, cfg.iterations)
    _delete(_join(out_dir, "recalled"))  # written whole at the end (a Ray write adds files, never replaces)
    loop_ended = False
    if state is not None:
        iterations, scored, recalled, model_uri = state.iterations, state.scored, state.recalled, state.model_uri
        grown_ids, approved_union, first_iteration = list(state.grown_ids), set(state.approved_union), dict(state.first_iteration)
        loop_ended = state.stopped_because is not None or done == cfg.iterations
        stopped_because = state.stopped_because or stopped_because
        if not loop_ended:
            grown_texts = pool.texts(grown_ids)
        log(f"raysift: resuming the expansion in {out_dir}: iterations 1-{done} already done"
            + ("; writing the final corpus" if loop_ended else f", continuing with iteration {done + 1}"))
    elif resume:
        log(f"raysift: resuming the expansion in {out_dir}: no iteration had finished, starting at iteration 1")
    for k in range(cfg.iterations + 1 if loop_ended else done + 1, cfg.iterations + 1):
        it_dir = _join(out_dir, "iterations", str(k))
        positives = seed_texts + grown_texts
        exclude = seed_ids | set(grown_ids)
        n_neg = max(1, int(round(len(positives) * cfg.negatives_ratio)))
        model_uri = _join(it_dir, "model.bin")
        if cfg.cross_fit:
            # model.bin: negatives from fold 0, scores fold 1; model-fold1.bin the reverse
            negatives = pool.sample_texts(n_neg, exclude, cfg.seed + k, fold=0)
            report: TrainReport = train(positives, negatives, cfg.classifier, model_uri)
            other_uri = _join(it_dir, "model-fold1.bin")
            negatives_b = pool.sample_texts(n_neg, exclude, cfg.seed + 1000 + k, fold=1)
            train(positives, negatives_b, cfg.classifier, other_uri)
            scored = pool.score(model_uri, cfg.max_chars)
            scored_b = pool.score(other_uri, cfg.max_chars)
            in_fold0 = pa.array(id_folds(scored["id"].to_pylist()) == 0)
            fitted = pc.if_else(in_fold0, scored_b["math_score"], scored["math_score"])
            scored = scored.set_column(scored.schema.get_field_index("math_score"), "math_score", fitted)
        else:
            negatives_b = []
            negatives = pool.sample_texts(n_neg, exclude, cfg.seed + k)
            report = train(positives, negatives, cfg.classifier, model_uri)
            scored = pool.score(model_uri, cfg.max_chars)
        ids = scored["id"].to_pylist()
        urls = scored["url"].to_pylist()
        scores = scored["math_score"].to_numpy(zero_copy_only=False)
        tokens = scored["tokens"].to_numpy(zero_copy_only=False)
        formulas = scored["formulas"].to_numpy(zero_copy_only=False)
        recalled, dense = recall_decision(scores, tokens, formulas, cfg)

        new = 0
        for i in np.flatnonzero(recalled):
            if ids[i] not in first_iteration:
                first_iteration[ids[i]] = k
                new += 1

        shares = domain_recall_share(urls, recalled)
        doms = math_domains(shares, cfg.domain_min_share)
        shares = shares.append_column("is_math", pc.is_in(shares["domain"], value_set=pa.array(doms, pa.string())))
        in_seed = np.fromiter((i in exclude for i in ids), dtype=bool, count=len(ids))
        proposals = propose_path_prefixes(urls, recalled, doms, cfg.path_min_share, cfg.path_max_depth,
                                          cfg.min_prefix_docs, collected_mask=in_seed)
        use = approved if approved is not None else proposals["prefix"].to_pylist()
        approved_union.update(use)
        add = grow_seed(urls, recalled, in_seed, use)
        if approved is None:  # unreviewed proposals: only pages that show a formula join the seed
            add &= formulas > 0
        add_dense = dense & ~in_seed & ~add  # self-annotated math pages in the pool's own styles
        add_ids = [ids[i] for i in np.flatnonzero(add)] + [ids[i] for i in np.flatnonzero(add_dense)]
        for i in add_ids:
            first_iteration.setdefault(i, k)
        grown_texts += pool.texts(add_ids)
        grown_ids += add_ids

        n_rec = int(recalled.sum())
        hist = _histogram(scores, cfg.histogram_bins)
        it_stats = {
            "iteration": k,
            "positives": len(positives),
            "negatives": len(negatives),  # per model (cross-fitting trains two: see negatives_fold1)
            "negatives_fold1": len(negatives_b),
            "seed_original": len(seed_texts),
            "seed_grown_total": len(grown_ids),
            "pool_docs": len(ids),
            "recalled": n_rec,
            "recalled_formula_dense": int(dense.sum()),
            "new_recalled": new,
            "new_fraction": new / max(n_rec, 1),
            "math_domains": len(doms),
            "proposed_prefixes": proposals.num_rows,
            "approved_prefixes": len(use),
            "seed_added": int(add.sum()),  # pool pages under approved prefixes
            "seed_added_formula_dense": int(add_dense.sum()),
            "train": report.to_dict(),
            "histogram": hist,
        }
        _write_json(_join(it_dir, "stats.json"), it_stats)
        _write_parquet(shares, _join(it_dir, "domains.parquet"))
        lines = ["# prefix  share recalled/pool_docs uncollected  (first field of each line is the prefix;",
                 "# copy approved lines into a file for --approved-paths)"]
        for r in proposals.to_pylist():
            lines.append(f"{r['prefix']}\t# share={r['share']:.3f} recalled={r['recalled']}/{r['pool_docs']} "
                         f"uncollected={r['uncollected']}")
        _write_bytes(_join(it_dir, "proposed_paths.txt"), ("\n".join(lines) + "\n").encode())
        iterations.append(it_stats)
        stop = should_stop(new, n_rec, k, cfg.stop_new_fraction)
        save_state(out_dir, LoopState(iteration=k, iterations=iterations, scored=scored, recalled=recalled,
                                      grown_ids=grown_ids, approved_union=approved_union,
                                      first_iteration=first_iteration, model_uri=model_uri,
                                      stopped_because=f"new_fraction<{cfg.stop_new_fraction}" if stop else None))
        if stop:
            stopped_because = f"new_fraction<{cfg.stop_new_fraction}"
            break

    # Final corpus: recalled by the last model, plus the pages grown into the seed, plus (with a
    # reviewed --approved-paths list) every page under an approved prefix: reviewers judged
    # those paths math. Unreviewed proposals only add the pages that show a formula.
    ids = scored["id"].to_pylist()
    grown = set(grown_ids)
    approved_pages = under_prefixes(scored["url"].to_pylist(), approved_union if approved is not None else set())
    final = np.fromiter((bool(recalled[i]) or ids[i] in grown or bool(approved_pages[i]) for i in range(len(ids))),
                        dtype=bool, count=len(ids))
    for i in np.flatnonzero(final):
        first_iteration.setdefault(ids[i], len(iterations))
    keep_ids = [ids[i] for i in np.flatnonzero(final)]
    keep = pa.table({
        "id": pa.array(keep_ids, pa.string()),
        "math_score": scored["math_score"].filter(pa.array(final)),
        "iteration": pa.array([first_iteration[i] for i in keep_ids], pa.int32()),
    })
    n_out = pool.write_documents(keep, _join(out_dir, "recalled"))
    hosts = url_hosts(scored["url"].filter(pa.array(final)))
    recalled_table = pa.table({"id": keep["id"], "url": scored["url"].filter(pa.array(final)),
                               "domain": hosts, "math_score": keep["math_score"], "iteration": keep["iteration"]})
    n_in = len(ids)
    stats = {
        "documents_in": n_in,
        "documents_out": n_out,
        "rejected": {NOT_MATH: n_in - n_out},
        "iterations_run": len(iterations),
        "stopped_because": stopped_because,
        "growth": [{"iteration": s["iteration"], "recalled": s["recalled"], "new_recalled": s["new_recalled"],
                    "seed_added": s["seed_added"], "seed_added_formula_dense": s["seed_added_formula_dense"],
                    "positives": s["positives"]} for s in iterations],
        "final_model": model_uri,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "config": to_dict(cfg),
        **({"resumed": {"iterations_already_done": done}} if done else {}),
    }
    _write_json(_join(out_dir, "stats.json"), stats)
    return ExpansionResult(iterations=iterations, recalled=recalled_table, final_model=model_uri, stats=stats)


def load_approved_prefixes(uri: str) -> list[str]:
    """Read an ``--approved-paths`` file (local or s3://)."""
    return read_prefix_file(_read_text(uri))
