"""``raysift expand``: DeepSeekMath-style math seed expansion (also ``python -m jobs.expand``)."""

from __future__ import annotations

import argparse
import sys

from jobs.common import run_main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="raysift expand", description=__doc__)
    p.add_argument("--seed", nargs="+", action="extend", required=True, metavar="SEED",
                   help="math seed documents (Parquet/JSONL with text, e.g. OpenWebMath)")
    p.add_argument("--pool", nargs="+", action="extend", required=True, metavar="POOL",
                   help="candidate documents with id, url and text (e.g. `raysift run --recipe extract` output)")
    p.add_argument("--output", required=True, metavar="DST")
    p.add_argument("--iterations", type=int, help="at most K iterations (default 4)")
    p.add_argument("--approved-paths", metavar="FILE", help="reviewed URL prefixes (one per line) that may grow the seed")
    p.add_argument("--decontaminate", nargs="+", action="extend", metavar="FILE",
                   help="JSONL benchmark files: drop pool documents sharing a 10-gram with them")
    p.add_argument("--seed-text-column", help="text field(s) of the seed, e.g. 'Q,A' for StackMathQA")
    p.add_argument("--threshold", type=float, help="math score to recall a document (default 0.5)")
    p.add_argument("--config", metavar="FILE", help="YAML config (sections expansion, scoring, decontamination, ...)")
    p.add_argument("--address", help="Ray cluster address to join (default: start a local Ray)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace what DST holds; without it a rerun of the same command resumes the expansion in DST "
                        "after its last finished iteration (or does nothing if it finished), and an expansion with "
                        "another config or other inputs is refused")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    def go() -> int:
        import dataclasses

        import yaml

        from operators.classify.job import check_iterations, load_expand_config, run_expand
        from operators.recipe import _recipe_data
        from operators.runtime import init_ray

        data = yaml.safe_load(open(args.config).read()) if args.config else _recipe_data("deepseekmath")
        cfg = load_expand_config(data)
        exp = cfg.expansion
        if check_iterations(args.iterations) is not None:
            exp = dataclasses.replace(exp, iterations=args.iterations)
        if args.threshold is not None:
            exp = dataclasses.replace(exp, threshold=args.threshold)
        cfg = dataclasses.replace(cfg, expansion=exp)
        if args.seed_text_column:
            cfg = dataclasses.replace(cfg, seed_input=dataclasses.replace(cfg.seed_input, text_column=args.seed_text_column))
        init_ray(args.address, quiet=args.quiet)
        stats = run_expand(args.seed, args.pool, args.output, cfg, args.approved_paths, args.decontaminate,
                           overwrite=args.overwrite)
        print(f"pool documents {stats['documents_in']:,}; recalled {stats['documents_out']:,} "
              f"after {stats['iterations_run']} iterations ({stats['stopped_because']})")
        for g in stats["growth"]:
            print(f"  iteration {g['iteration']}: recalled {g['recalled']:,} (+{g['new_recalled']:,} new), "
                  f"seed +{g['seed_added']:,} from paths, +{g.get('seed_added_formula_dense', 0):,} formula-dense")
        print(f"output: {args.output}  (recalled/, iterations/<k>/, stats.json, report.html)")
        return 0

    return run_main(go)


if __name__ == "__main__":
    sys.exit(main())
