"""`raysift recipes` (list, show) and `--set` overrides: no Ray needed."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from jobs.recipes import describe, resolved_yaml
from operators.config import ConfigError
from operators.recipe import apply_overrides, load_config, load_config_file, load_recipe, recipe_names


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], capture_output=True, text=True, timeout=120)


def test_list_has_one_line_per_recipe():
    out = _cli("recipes")
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    names = recipe_names()
    for name in names:
        (line,) = [x for x in lines if x.split()[0] == name]
        assert describe(name) in line and len(describe(name)) > 10
        assert describe(name) == describe(name).strip() and "\n" not in describe(name)


@pytest.mark.parametrize("name", [n for n in recipe_names()])
def test_show_resolves_to_the_same_config(name):
    text = resolved_yaml(name)
    assert text.startswith(f"# {name}: ")
    data = yaml.safe_load(text)
    if name == "deepseekmath":  # a `raysift expand` recipe: printed as bundled
        assert data["job"] == "expand"
        return
    assert load_config(data) == load_recipe(name)
    # every filter stage appears, commented, on or off
    for stage in load_recipe(name).filters.__dataclass_fields__:
        assert f"  # {stage}: " in text
        assert stage in data["filters"]


def test_show_unknown_recipe_is_a_clear_error():
    out = _cli("recipes", "show", "fineweeb")
    assert out.returncode == 2
    assert "unknown recipe 'fineweeb'" in out.stderr and "fineweb" in out.stderr and "Traceback" not in out.stderr


def test_set_overrides_a_recipe():
    cfg = load_recipe("fineweb", ["filters.language.min_score=0.5", "filters.c4=null", "filters.url.banned_words=[casino]"])
    assert cfg.filters.language.min_score == 0.5
    assert cfg.filters.c4 is None
    assert cfg.filters.url.banned_words == ("casino",)
    assert load_recipe("fineweb").filters.language.min_score == 0.65  # bundled recipe untouched


def test_set_overrides_a_config_file(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("base: gopher\nfilters: {gopher_quality: {min_words: 10}}\n")
    cfg = load_config_file(f, ["filters.gopher_quality.max_words=500"])
    assert cfg.filters.gopher_quality.min_words == 10 and cfg.filters.gopher_quality.max_words == 500


@pytest.mark.parametrize("item, match", [
    ("filters.c4", "KEY=VALUE"),
    ("=3", "KEY=VALUE"),
    ("filters.language.min_score=[1", "not valid YAML"),
])
def test_set_syntax_errors(item, match):
    with pytest.raises(ConfigError, match=match):
        apply_overrides({}, [item])


def test_set_unknown_key_is_rejected_with_valid_choices():
    with pytest.raises(ConfigError, match="unknown key 'min_scor' in config.filters.language; valid keys: languages, min_score"):
        load_recipe("default", ["filters.language.min_scor=0.3"])


def test_run_cli_reports_bad_set_without_traceback(tmp_path):
    out = _cli("run", "--recipe", "gopher", "--set", "filters.gopher_quality.min_words=lots", "--output", str(tmp_path / "o"))
    assert out.returncode == 2
    assert "min_words must be an integer" in out.stderr and "Traceback" not in out.stderr


def test_docs_recipes_md_is_generated_from_the_recipe_files():
    from pathlib import Path

    from jobs.recipes import provenance_markdown

    docs = Path(__file__).resolve().parents[1] / "docs" / "recipes.md"
    assert docs.read_text() == provenance_markdown(), "regenerate with: raysift recipes docs > docs/recipes.md"
    for name in ("ccnet", "refinedweb", "dclm", "dolma", "llama3-web", "arctic"):
        section = provenance_markdown().split(f"## `{name}`")[1].split("\n## ")[0]
        rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| #")]
        assert len(rows) >= 4, f"recipe {name} lacks its stage-by-stage provenance table"
