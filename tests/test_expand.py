"""DeepSeekMath seed expansion: pure steps on tiny tables, and the loop on a planted pool."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from operators.classify.expand import (
    ExpansionConfig,
    domain_recall_share,
    grow_seed,
    math_domains,
    normalize_prefix,
    propose_path_prefixes,
    read_prefix_file,
    recall_decision,
    recall_mask,
    run_expansion,
    should_stop,
    under_prefixes,
)
from operators.classify.fasttext_model import ClassifierConfig
from operators.classify.formulas import FormulaConfig, formula_counts, formula_dense, is_formula, measure

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

URLS = [
    "https://math.example/q/1", "https://math.example/q/2", "https://math.example/q/3",
    "https://math.example/about", "https://www.uni.edu/math/notes/a.html", "https://uni.edu/math/notes/b.html",
    "https://uni.edu/math/c.html", "https://uni.edu/news/x.html", "https://uni.edu/news/y.html",
    "https://uni.edu/news/z.html", "https://shop.example/deals/1", "https://shop.example/deals/2",
]
RECALLED = np.array([1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0], dtype=bool)


def test_domain_recall_share_counts():
    t = domain_recall_share(URLS, RECALLED)
    rows = {r["domain"]: (r["pool_docs"], r["recalled"], round(r["share"], 3)) for r in t.to_pylist()}
    assert rows == {"math.example": (4, 3, 0.75), "uni.edu": (6, 2, 0.333), "shop.example": (2, 0, 0.0)}
    assert t["domain"].to_pylist()[0] == "math.example"
    assert math_domains(t, 0.10) == ["math.example", "uni.edu"]
    assert math_domains(t, 0.5) == ["math.example"]


def test_propose_path_prefixes_shallowest_qualifying():
    t = propose_path_prefixes(URLS, RECALLED, ["math.example", "uni.edu"], min_share=0.5, max_depth=2, min_docs=2)
    got = {r["prefix"]: (r["pool_docs"], r["recalled"], r["uncollected"]) for r in t.to_pylist()}
    # uni.edu/math/ qualifies at depth 1 (2 of 3 recalled), so its child notes/ is not listed;
    # uni.edu/news/ (0 of 3) and single-page /about are not proposed
    assert got == {"math.example/q/": (3, 3, 0), "uni.edu/math/": (3, 2, 1)}
    deeper = propose_path_prefixes(URLS, RECALLED, ["uni.edu"], min_share=0.9, max_depth=2, min_docs=2)
    assert deeper["prefix"].to_pylist() == []  # math/ fails, math/notes/ has 1 of 2 recalled


def test_grow_seed_adds_only_uncollected_under_approved():
    in_seed = np.zeros(len(URLS), dtype=bool)
    add = grow_seed(URLS, RECALLED, in_seed, ["uni.edu/math/"])
    assert np.flatnonzero(add).tolist() == [5]
    in_seed[5] = True
    assert not grow_seed(URLS, RECALLED, in_seed, ["uni.edu/math/"]).any()
    assert np.flatnonzero(grow_seed(URLS, RECALLED, np.zeros(12, bool), ["uni.edu/"])).tolist() == [5, 7, 8, 9]


def test_prefix_normalisation_and_file():
    assert normalize_prefix("https://www.Uni.edu/math/notes") == "uni.edu/math/notes/"
    assert read_prefix_file("# header\nuni.edu/math/\t# share=0.9\n\nhttps://x.org/a/b/\n") == [
        "uni.edu/math/", "x.org/a/b/"]
    assert under_prefixes(["https://uni.edu/mathematics/x"], ["uni.edu/math/"]).tolist() == [False]


def test_recall_and_stop_rule():
    s = np.array([0.1, 0.95, 0.6, 0.4])
    assert recall_mask(s, None, 0.5, None).tolist() == [False, True, True, False]
    assert recall_mask(s, np.array([10, 10, 10, 10]), 0.5, 25).tolist() == [False, True, True, False]
    assert not should_stop(0, 100, 1, 0.02)  # never after the first iteration
    assert should_stop(1, 100, 2, 0.02) and not should_stop(2, 100, 2, 0.02)
    assert not should_stop(0, 100, 3, None)


def test_config_validation():
    with pytest.raises(ValueError, match="iterations"):
        ExpansionConfig(iterations=0)
    with pytest.raises(ValueError, match="domain_min_share"):
        ExpansionConfig(domain_min_share=1.5)


# --- formula density (the structural signal) ----------------------------------------------------


@pytest.mark.parametrize("text, n", [
    (r"We get $x^2 + 1 = 0$, so $$\frac{a}{b}$$ and \(a \le b\) and \[ \sum_n a_n \].", 4),
    ("Prices: $35 + $60 = $95, or $5 to $10 each.", 0),  # money is not math
    ("if ($total > $max) { $this->page = $offset; }", 0),  # PHP / shell sigils
    (r"\$\begingroup\$ How is my house wired? \$\endgroup\$", 0),  # Stack Exchange post markers
    ("the acronym $R$ esources, $E$ valuation, $L$ ow-resource", 0),  # bare letters are too weak
    ("$this is a sentence with several plain words = yes$", 0),  # prose between dollars
    ("", 0),
])
def test_formula_count(text, n):
    assert measure(text).formulas == n


def test_recall_decision_openwebmath_thresholds():
    cfg = ExpansionConfig(threshold=0.2, threshold_without_formulas=0.8)
    scores = np.array([0.3, 0.3, 0.85, 0.05, 0.05])
    formulas = np.array([1, 0, 0, 6, 0])
    tokens = np.array([500, 500, 500, 500, 500])
    rec, dense = recall_decision(scores, tokens, formulas, cfg)
    # a formula lowers the bar to --threshold; none needs 0.8; formula-dense needs no score
    assert rec.tolist() == [True, False, True, True, False]
    assert dense.tolist() == [False, False, False, True, False]
    off = ExpansionConfig(threshold=0.2, threshold_without_formulas=None, formulas=None)
    assert recall_decision(scores, tokens, formulas, off)[0].tolist() == [True, True, True, False, False]
    with pytest.raises(ValueError, match="threshold_without_formulas"):
        ExpansionConfig(threshold_without_formulas=1.5)


def test_formula_dense_decision_and_mask():
    cfg = FormulaConfig(min_formulas=3, min_per_kwords=2.0)
    # 2 per 1,000 words; too few formulas; a few formulas lost in a long page; dense
    got = formula_dense(np.array([3, 2, 4, 10]), np.array([1500, 100, 4000, 50]), cfg)
    assert got.tolist() == [True, False, False, True]
    assert not formula_dense(np.array([10]), np.array([50]), None).any()  # switched off
    texts = ["Let $x^2>0$, $y^2>0$ and $z^2>0$.", "", None, "No formula here."]
    assert formula_counts(texts).tolist() == [measure(t).formulas for t in texts]
    with pytest.raises(ValueError, match="min_formulas"):
        FormulaConfig(min_formulas=0)
    assert is_formula(r"\alpha") and not is_formula(r"\begingroup")


# --- the loop on a planted pool --------------------------------------------------------------------


def _stackmathqa() -> list[str]:
    root = DATA / "math-seed" / "stackmathqa"
    if not root.is_dir():
        pytest.skip(f"../shared/data not found: {root} (StackMathQA seed)")
    out = []
    for p in sorted(root.glob("*.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            out.append(r["Q"] + "\n" + r["A"])
    return out


def _web_texts() -> list[str]:
    from resiliparse.extract.html2text import extract_plain_text

    dolma = DATA / "text" / "dolma-cc-samples"
    pages = DATA / "extraction-dev" / "mozilla-readability" / "test-pages"
    if not dolma.is_dir() or not pages.is_dir():
        pytest.skip(f"../shared/data not found: {dolma} / {pages}")
    out = []
    for p in sorted(dolma.glob("*.json*")):
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        out += [json.loads(line)["text"] for line in raw.decode("utf-8").splitlines() if line.strip()]
    for p in sorted(pages.glob("*/source.html.gz")):
        if p.parent.name in ("mathjax", "quanta-1"):
            continue
        text = extract_plain_text(gzip.decompress(p.read_bytes()).decode("utf-8", "replace"), main_content=True)
        if len(text.split()) >= 30:
            out.append(text)
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    for p in sorted((DATA / "warc").glob("*.warc.gz")):
        with open(p, "rb") as fh:
            for rec in ArchiveIterator(fh, record_types=WarcRecordType.response):
                if "html" not in (rec.http_content_type or ""):
                    continue
                text = extract_plain_text(rec.reader.read().decode("utf-8", "replace"), main_content=True)
                if len(text.split()) >= 30:
                    out.append(text)
    return out


def _shop_page(rng: random.Random) -> str:
    items = ["jacket", "laptop", "kettle", "shoes", "headphones", "tent", "backpack"]
    return "\n".join(
        f"The {rng.choice(items)} is ${rng.randint(5, 300)}.{rng.randint(10, 99)} today, {rng.randint(5, 70)}% off, "
        f"and {rng.randint(2, 900)} buyers rated it {rng.randint(1, 5)} stars."
        for _ in range(rng.randint(6, 12))
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    math = _stackmathqa()
    web = _web_texts()
    rng = random.Random(7)
    rng.shuffle(math)
    seed = math[:250]
    rows = []

    def add(url: str, text: str, kind: str) -> None:
        rows.append({"id": f"doc-{len(rows):05d}", "url": url, "text": text, "kind": kind})

    for i, t in enumerate(math[250:330]):  # a math Q&A site
        add(f"https://mathforum.example/questions/{1000 + i}/topic", t, "math")
    for i, t in enumerate(math[330:370]):  # a university: math notes next to campus news
        add(f"https://www.uni.example.edu/math/notes/lecture-{i}.html", t, "math")
    for i, t in enumerate(web[:40]):
        add(f"https://www.uni.example.edu/news/2024/item-{i}.html", t, "web")
    for i in range(40):  # look-alikes: dollar signs and percentages
        add(f"https://shop.example.com/deals/item-{i}", _shop_page(rng), "shop")
    for i, t in enumerate(web[40:]):  # the open web, many small sites
        add(f"https://site{i % 30}.example.org/blog/post-{i}", t, "web")
    pool = pa.Table.from_pylist(rows)
    return {"seed": seed, "pool": pool, "tmp": tmp_path_factory}


CFG = ExpansionConfig(iterations=3, classifier=ClassifierConfig(threads=1))


@pytest.mark.shared_data
def test_loop_discovers_planted_domains_and_paths(planted):
    out = planted["tmp"].mktemp("expand")
    pool = planted["pool"]
    res = run_expansion(planted["seed"], pool.drop_columns(["kind"]), CFG, str(out))

    it1 = out / "iterations" / "1"
    for name in ("stats.json", "domains.parquet", "proposed_paths.txt", "model.bin"):
        assert (it1 / name).exists(), name
    domains = pq.read_table(it1 / "domains.parquet").to_pylist()
    is_math = {d["domain"] for d in domains if d["is_math"]}
    assert {"mathforum.example", "uni.example.edu"} <= is_math
    assert "shop.example.com" not in is_math
    assert not any(d.startswith("site") for d in is_math)

    proposed = read_prefix_file((it1 / "proposed_paths.txt").read_text())
    assert "mathforum.example/questions/" in proposed
    assert "uni.example.edu/math/" in proposed
    assert not any(p.startswith("uni.example.edu/news") or p.startswith("shop.") for p in proposed)

    # final corpus: recalled math, with score and iteration; precision/recall on the planted labels
    recalled = pq.read_table(out / "recalled" / "part-00000.parquet")
    assert {"math_score", "iteration", "text", "url"} <= set(recalled.column_names)
    kinds = dict(zip(pool["id"].to_pylist(), pool["kind"].to_pylist()))
    got = recalled["id"].to_pylist()
    n_math = sum(k == "math" for k in kinds.values())
    tp = sum(kinds[i] == "math" for i in got)
    assert tp / len(got) >= 0.9 and tp / n_math >= 0.9, (tp, len(got), n_math)
    assert min(recalled["iteration"].to_pylist()) == 1

    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents_in"] == pool.num_rows
    assert stats["documents_in"] == stats["documents_out"] + sum(stats["rejected"].values())
    assert len(stats["growth"]) == res.stats["iterations_run"] >= 2
    it_stats = json.loads((it1 / "stats.json").read_text())
    assert sum(it_stats["histogram"]["counts"]) == pool.num_rows
    assert it_stats["negatives"] == it_stats["positives"] == 250


@pytest.mark.shared_data
def test_seed_grows_from_approved_prefixes_only(planted, tmp_path):
    pool = planted["pool"]
    # Make the university's notes hard: half of them lose their LaTeX, so the first classifier
    # misses them and only the approved path brings them into the seed.
    texts = pool["text"].to_pylist()
    urls = pool["url"].to_pylist()
    hard = []
    for i, u in enumerate(urls):
        if "/math/notes/lecture-" in u and int(u.rsplit("-", 1)[1].split(".")[0]) % 2 == 0:
            texts[i] = "Lecture notes. " + " ".join(w for w in texts[i].split() if w.isalpha() and len(w) > 3)
            hard.append(pool["id"][i].as_py())
    pool = pool.set_column(pool.schema.get_field_index("text"), "text", pa.array(texts))
    cfg = ExpansionConfig(iterations=2, stop_new_fraction=None, classifier=ClassifierConfig(threads=1))
    res = run_expansion(planted["seed"], pool.drop_columns(["kind"]), cfg, str(tmp_path),
                        approved_prefixes=["https://uni.example.edu/math/notes/"])
    it1 = res.iterations[0]
    assert it1["approved_prefixes"] == 1
    # grown = pages under the approved path that iteration 1 did not recall; nothing else
    final_ids = set(res.recalled["id"].to_pylist())
    rec1 = json.loads((tmp_path / "iterations" / "1" / "stats.json").read_text())
    assert rec1["seed_added"] == it1["seed_added"] > 0
    assert it1["seed_added"] <= len(hard) + 25
    assert res.iterations[1]["positives"] == 250 + it1["seed_added"] + it1["seed_added_formula_dense"]
    # every approved-path page ends up in the corpus (recalled or grown); nothing from /news/
    notes = {i for i, u in zip(pool["id"].to_pylist(), urls) if "/math/notes/" in u}
    assert notes <= final_ids
    news = {i for i, u in zip(pool["id"].to_pylist(), urls) if "/news/" in u}
    assert not (news & final_ids)


def _solver_page(rng: random.Random) -> str:
    a, b = rng.randint(2, 9), rng.randint(10, 99)
    return "\n".join([
        f"Solve for x: ${a}x + {b} = 0$",
        "Step-by-step solution",
        f"Step 1: subtract {b} from both sides: ${a}x = -{b}$",
        f"Step 2: divide both sides by {a}: $x = -\\frac{{{b}}}{{{a}}}$",
        f"Answer: $x \\approx {-b / a:.3f}$",
        "Was this solution helpful? Share it. Try our app. More examples below.",
    ])


def _forum_thread(rng: random.Random) -> str:
    n = rng.randint(3, 9)
    return "\n".join([
        f"Re: homework help thread #{rng.randint(100, 999)}  Posted by user{rng.randint(1, 500)} Reply Quote",
        f"hey guys i cant get this one, we need $\\lim_{{x \\to 0}} \\frac{{\\sin {n}x}}{{x}}$ lol",
        f"Reply: use $\\sin u \\approx u$ so it is ${n}$... wait, write $\\frac{{\\sin {n}x}}{{{n}x}} \\cdot {n}$",
        "thanks!! that worked. Like Reply Report  Join the community to post. Last edited.",
    ])


@pytest.mark.shared_data
def test_loop_recalls_formula_dense_pages_unlike_the_seed(planted, tmp_path):
    """Solver pages and forum threads share little vocabulary with StackMathQA; their formulas
    recall them, they join the seed, and money-laden shop pages stay out."""
    rng = random.Random(3)
    base = planted["pool"].drop_columns(["kind"])
    extra = [{"id": f"solver-{i}", "url": f"https://solver.example.com/solve/{i}", "text": _solver_page(rng)}
             for i in range(30)]
    extra += [{"id": f"forum-{i}", "url": f"https://talk.example.net/t/{i}", "text": _forum_thread(rng)}
              for i in range(30)]
    pool = pa.concat_tables([base, pa.Table.from_pylist(extra, schema=base.schema)])
    cfg = ExpansionConfig(iterations=2, threshold=0.5, stop_new_fraction=None, classifier=ClassifierConfig(threads=1))
    res = run_expansion(planted["seed"], pool, cfg, str(tmp_path))
    got = set(res.recalled["id"].to_pylist())
    assert {r["id"] for r in extra} <= got
    kinds = dict(zip(planted["pool"]["id"].to_pylist(), planted["pool"]["kind"].to_pylist()))
    assert not any(kinds.get(i) in ("shop", "web") for i in got)  # no prices, and no news pages dragged in by a math path
    it1 = res.iterations[0]
    assert it1["recalled_formula_dense"] >= 60 and it1["seed_added_formula_dense"] >= 60
    assert res.iterations[1]["positives"] == 250 + it1["seed_added"] + it1["seed_added_formula_dense"]
    # without the structural signal the fastText score alone misses most of them (the failure class)
    res0 = run_expansion(planted["seed"], pool, ExpansionConfig(iterations=1, threshold=0.5, formulas=None,
                         classifier=ClassifierConfig(threads=1)), str(tmp_path / "off"))
    assert len({r["id"] for r in extra} & set(res0.recalled["id"].to_pylist())) < len(extra)
