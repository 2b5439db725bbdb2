"""``raysift recipes``: list the bundled recipes, or print one fully resolved (also ``python -m jobs.recipes``).

``raysift recipes`` prints one line per recipe (the first line of its file's header comment);
``raysift recipes show NAME`` prints every setting the recipe resolves to, after ``base``
recipes and defaults, as a YAML file you can save, edit and pass to ``raysift run --config``.
Each stage carries a comment saying what it is and where its rule is published.
``raysift recipes demo-models DIR`` writes small stand-ins for the published models the recipes
use (:mod:`operators.demo_models`), to try them with ``--set models_dir=DIR``.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import resources
from typing import Any

from jobs.common import run_main


def describe(name: str) -> str:
    """The one-line description of a bundled recipe: the first line of its file's header comment."""
    first = (resources.files("recipes") / f"{name}.yaml").read_text().splitlines()[0].lstrip("#").strip()
    return first[len(name) + 1:].strip() if first.startswith(f"{name}:") else first


_ITEM = re.compile(r"^(\d+)\. (.*)$")


def _header(name: str) -> list[str]:
    lines = []
    for line in (resources.files("recipes") / f"{name}.yaml").read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return lines


def provenance_markdown() -> str:
    """docs/recipes.md: every recipe's stage-by-stage provenance table, from the recipe files'
    header comments (so the docs cannot drift from the recipes)."""
    from operators.recipe import recipe_names

    out = ["# Recipes: where each stage comes from", "",
           "Generated from the header comment of each file in `recipes/` by `raysift recipes docs`; "
           "`raysift recipes show NAME` prints a recipe's resolved settings.", ""]
    for name in recipe_names():
        header = _header(name)
        out += [f"## `{name}`", "", describe(name), ""]
        items: list[list[str]] = []
        prose: list[str] = []
        for line in header[1:]:
            match = _ITEM.match(line)
            if match:
                items.append([match.group(1), match.group(2)])
            elif items and line:
                items[-1][1] += " " + line
            elif line:
                prose.append(line)
        if prose:
            out += [" ".join(prose), ""]
        if items:
            out += ["| # | stage (source) | what raysift runs, and deviations |", "|---|---|---|"]
            for number, text in items:
                stage, sep, rest = text.partition(": ")
                if not sep:
                    stage, rest = text, ""
                out.append(f"| {number} | {stage.replace('|', '/')} | {rest.replace('|', '/')} |")
            out.append("")
    return "\n".join(out)


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0].strip() if (doc or "").strip() else ""


def _dump(data: Any, indent: int) -> list[str]:
    import yaml

    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=110).rstrip("\n")
    return [" " * indent + line for line in text.splitlines()]


def resolved_yaml(name: str) -> str:
    """Recipe ``name`` as a complete, commented YAML config (loadable by ``load_config``)."""
    import dataclasses

    from operators.config import to_dict
    from operators.filters.registry import FILTER_STAGES
    from operators.recipe import _recipe_data, load_config

    data = _recipe_data(name)
    job = data.get("job", "run")
    out = [f"# {name}: {describe(name)}"]
    if job != "run":
        out.append(f"# for `raysift {job}` (not `raysift run`); its file as bundled:")
        out.append((resources.files("recipes") / f"{name}.yaml").read_text().rstrip("\n"))
        return "\n".join(out) + "\n"
    cfg = load_config(data)
    out.append("# every setting after `base` recipes and defaults are applied; save it and run it with")
    out.append("# `raysift run --config FILE`. A stage set to null is off.")
    for f in dataclasses.fields(cfg):
        section = getattr(cfg, f.name)
        out.append("")
        if f.name == "filters":
            out.append("# the quality filters, in pipeline order")
            out.append("filters:")
            for stage, module in FILTER_STAGES.items():
                stage_cfg = getattr(section, stage)
                out.append(f"  # {stage}: {_first_line(module.__doc__)}")
                if stage_cfg is None:
                    out.append(f"  {stage}: null")
                else:
                    out += _dump({stage: to_dict(stage_cfg)}, 2)
            continue
        if section is None:
            out.append(f"# {f.name}: off")
            out.append(f"{f.name}: null")
            continue
        if not dataclasses.is_dataclass(section):
            out.append(f"# {f.name}: where the recipe's published models are looked for (already substituted "
                       f"for {{{f.name}}} below)")
            out += _dump({f.name: section}, 0)
            continue
        out.append(f"# {f.name}: {_first_line(type(section).__doc__)}")
        if dataclasses.is_dataclass(section) and any(
            dataclasses.is_dataclass(getattr(section, g.name)) or getattr(section, g.name) is None
            for g in dataclasses.fields(section)
        ) and f.name == "dedup":
            out.append("dedup:")
            for g in dataclasses.fields(section):
                sub = getattr(section, g.name)
                if sub is None:
                    out.append(f"  {g.name}: null")
                else:
                    out.append(f"  # {g.name}: {_first_line(type(sub).__doc__)}")
                    out += _dump({g.name: to_dict(sub)}, 2)
            continue
        out += _dump({f.name: to_dict(section)}, 0)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="raysift recipes", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action")
    show = sub.add_parser("show", help="print a recipe's fully resolved config with a comment per stage")
    show.add_argument("name", metavar="NAME")
    demo = sub.add_parser("demo-models", help="write small stand-ins for the published models the recipes use, "
                                              "trained from the bundled sample (for trying recipes, not for real data)")
    demo.add_argument("folder", metavar="DIR", help="where to write them; then run with --set models_dir=DIR")
    sub.add_parser("docs", help="print every recipe's stage-by-stage provenance table (docs/recipes.md)")
    args = p.parse_args(argv)

    def go() -> int:
        from operators.recipe import recipe_names

        if args.action == "docs":
            sys.stdout.write(provenance_markdown())
            return 0
        if args.action == "demo-models":
            from operators.demo_models import build_demo_models

            for name, path in build_demo_models(args.folder).items():
                print(f"{name:<10}{path}")
            print(f"\nstand-ins only: try a recipe with `raysift run --recipe NAME --set models_dir={args.folder}`")
            return 0
        if args.action == "show":
            if args.name not in recipe_names():
                from operators.config import ConfigError

                raise ConfigError(f"unknown recipe {args.name!r}; available recipes: {', '.join(recipe_names())}")
            sys.stdout.write(resolved_yaml(args.name))
            return 0
        names = recipe_names()
        width = max(len(n) for n in names) + 2
        try:
            for name in names:
                print(f"{name:<{width}}{describe(name)}")
            print("\n`raysift recipes show NAME` prints one in full; `raysift run --recipe NAME` runs it.")
        except BrokenPipeError:  # `raysift recipes | head`
            sys.stderr.close()
        return 0

    return run_main(go)


if __name__ == "__main__":
    sys.exit(main())
