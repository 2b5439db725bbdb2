"""The math loop end to end, as the README runs it: a pool extracted from the bundled sample
(math switch on, English), StackMathQA as the seed, `raysift expand`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from operators.samplegen import sample_truth

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "data" / "math-seed" / "stackmathqa"
PLANTED_PREFIXES = {
    "mathqa.example.org/questions/",
    "theoremwiki.example.org/wiki/",
    "lecturenotes.example.edu/courses/",
}


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-m", *args, "--quiet"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.ray
@pytest.mark.shared_data
def test_loop_finds_planted_math_domains_and_paths(tmp_path):
    if not SEED.is_dir():
        pytest.skip(f"../shared/data not found: {SEED} holds the StackMathQA seed this test reads")
    config = tmp_path / "pool.yaml"
    config.write_text("base: extract\nmath: {}\nfilters: {language: {}}\n")
    _run("jobs.pipeline", "--config", str(config), "--output", str(tmp_path / "pool"))
    out = tmp_path / "math"
    _run("jobs.expand", "--seed", str(SEED), "--seed-text-column", "Q,A", "--pool", str(tmp_path / "pool" / "documents"),
         "--output", str(out), "--threshold", "0.2", "--iterations", "3")

    proposed = (out / "iterations" / "1" / "proposed_paths.txt").read_text()
    prefixes = {line.split("\t")[0] for line in proposed.splitlines() if line and not line.startswith("#")}
    assert PLANTED_PREFIXES <= prefixes, prefixes
    assert not any(p.startswith(("mathqa.example.org/meta", "mathqa.example.org/help")) for p in prefixes)
    domains = pq.read_table(out / "iterations" / "1" / "domains.parquet").to_pylist()
    math_domains = {d["domain"] for d in domains if d["is_math"]}
    assert {"mathqa.example.org", "theoremwiki.example.org", "lecturenotes.example.edu"} <= math_domains

    truth = {p["id"]: p for p in sample_truth()["pages"]}
    recalled = pq.read_table(out / "recalled").to_pylist()
    is_math = [truth[r["id"]]["is_math"] for r in recalled]
    planted = sum(p["is_math"] for p in truth.values())
    precision, recall = sum(is_math) / len(is_math), sum(is_math) / planted
    assert precision >= 0.9 and recall >= 0.95, (precision, recall)
    # look-alikes on the math sites (meta/help pages, syllabi) have no formulas: kept out even
    # though their paths are proposed
    assert not any(truth[r["id"]]["targets"] == ["math_lookalike"] for r in recalled)
    it1 = json.loads((out / "iterations" / "1" / "stats.json").read_text())
    assert it1["recalled_formula_dense"] > 0 and it1["seed_added_formula_dense"] > 0
    assert all(r["math_score"] is not None and r["iteration"] >= 1 for r in recalled)

    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents_in"] == stats["documents_out"] + sum(stats["rejected"].values())
    g1 = stats["growth"][0]
    assert g1["seed_added"] + g1["seed_added_formula_dense"] > 0, "the seed grows with the pool's own math pages"
    # the first iteration already recalls every planted math page (formula-dense or above the
    # threshold); the grown seed loses none of them
    assert stats["growth"][1]["recalled"] >= g1["recalled"]
    assert "iteration 1" in (out / "report.html").read_text()
