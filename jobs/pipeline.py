"""``raysift run``: crawl or documents -> clean documents (also ``python -m jobs.pipeline``)."""

from __future__ import annotations

import argparse
import sys

from jobs.common import run_main

DEFAULT_OUTPUT = "./raysift-out"


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--input", nargs="+", action="extend", metavar="SRC",
                   help="WARC files, directories, globs, s3:// URIs, Common Crawl warc.paths.gz manifests, "
                        "or document files (Parquet, JSONL[.gz|.zst]); default: the bundled sample crawl")
    p.add_argument("--output", default=DEFAULT_OUTPUT, metavar="DST", help=f"output folder or s3:// prefix (default {DEFAULT_OUTPUT})")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--recipe", default=None, help="bundled recipe (default: default); `raysift recipes` lists them")
    group.add_argument("--config", metavar="FILE", help="YAML config file (may start from a recipe with `base: NAME`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override one setting of the recipe or config (dotted key, YAML value), e.g. "
                        "--set filters.language.min_score=0.5 --set filters.c4=null; repeatable")
    p.add_argument("--address", help="Ray cluster address to join (default: start a local Ray)")
    p.add_argument("--ledger", metavar="URI", help="ledger of processed inputs (local or s3://): skip inputs already done")
    p.add_argument("--max-files", type=int, metavar="N", help="process at most N not-yet-done input files")
    p.add_argument("--overwrite", action="store_true",
                   help="replace what DST holds; without it a rerun of the same command resumes the run in DST "
                        "and a run with another config or other inputs is refused")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = add_arguments(argparse.ArgumentParser(prog="raysift run", description=__doc__)).parse_args(argv)

    def go() -> int:
        from operators.pipeline import run_pipeline
        from operators.recipe import check_models, load_config_file, load_recipe
        from operators.runtime import init_ray
        from operators.stats import summary_table

        cfg = (load_config_file(args.config, args.overrides) if args.config
               else load_recipe(args.recipe or "default", args.overrides))
        inputs = args.input
        if not inputs:
            from operators.samplegen import sample_path

            inputs = [str(p) for p in sample_path()]
            print(f"raysift: no --input given; running on the bundled sample crawl ({len(inputs)} WARC files)")
        check_models(cfg)  # before Ray starts: a missing model is a one-line error, not a cluster job
        # Ray starts once the run is checked: a refused or finished rerun answers at once.
        stats = run_pipeline(cfg, inputs, args.output, ledger=args.ledger, max_files=args.max_files,
                             overwrite=args.overwrite,
                             start_ray=lambda: init_ray(args.address, quiet=args.quiet))
        print(summary_table(stats))
        print(f"output: {args.output}  (documents/, rejected/, stats.json, report.html)")
        return 0

    return run_main(go)


if __name__ == "__main__":
    sys.exit(main())
