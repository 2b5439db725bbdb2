"""``raysift dedup``: global exact-text and fuzzy dedup of a document corpus (also ``python -m jobs.dedup``)."""

from __future__ import annotations

import argparse
import sys

from jobs.common import run_main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="raysift dedup", description=__doc__)
    p.add_argument("--input", nargs="+", action="extend", required=True, metavar="DOCS",
                   help="Parquet/JSONL document files or folders (local or s3://) with id and text")
    p.add_argument("--output", required=True, metavar="DST")
    p.add_argument("--threshold", type=float, help="Jaccard similarity threshold (default 0.8)")
    p.add_argument("--ngram", type=int, help="word n-gram shingle size (default 5)")
    p.add_argument("--bands", type=int, help="LSH bands B (default: chosen from the threshold)")
    p.add_argument("--rows", type=int, help="LSH rows per band R (give with --bands)")
    p.add_argument("--keep", help="which document of a cluster to keep: first, longest, newest, or a score column")
    p.add_argument("--verify", choices=("shingles", "signature", "none"),
                   help="how candidate pairs are verified: exact Jaccard of the shingle sets (default), "
                        "the MinHash signature estimate (less data shuffled), or not at all")
    p.add_argument("--no-verify", action="store_true", help="same as --verify none")
    p.add_argument("--local-components-max-edges", type=int, metavar="N",
                   help="compute connected components on the driver (scipy) when at most N pairs are verified "
                        "(default 500000); above N, or always with 0, they run distributed (large-star/small-star)")
    p.add_argument("--id-column", default="id")
    p.add_argument("--text-column", default="text")
    p.add_argument("--address", help="Ray cluster address to join (default: start a local Ray)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace what DST holds; without it a finished dedup in DST is kept and a dedup with "
                        "another config or other inputs is refused")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    def go() -> int:
        import dataclasses

        from operators.config import ConfigError, from_dict
        from operators.dedup.minhash import MinHashConfig
        from operators.dedup.stage import run_dedup
        from operators.io import InputConfig
        from operators.recipe import DedupConfig
        from operators.runtime import init_ray
        from operators.stats import summary_table

        if (args.bands is None) != (args.rows is None):
            raise ConfigError("--bands and --rows go together: give both, or neither to choose them from --threshold")
        overrides = {k: v for k, v in {"threshold": args.threshold, "ngram": args.ngram, "bands": args.bands,
                                        "rows": args.rows, "keep": args.keep,
                                        "local_fast_path_max_edges": args.local_components_max_edges}.items()
                     if v is not None}
        if args.no_verify or args.verify == "none":
            overrides["verify"] = False
        elif args.verify:
            overrides["verify_by"] = args.verify
        mh = from_dict(MinHashConfig, overrides, "dedup")
        dedup_cfg = DedupConfig(exact=None, fuzzy=mh)
        input_cfg = dataclasses.replace(InputConfig(), id_column=args.id_column, text_column=args.text_column)
        init_ray(args.address, quiet=args.quiet)
        stats = run_dedup(args.input, args.output, dedup_cfg, input_cfg, overwrite=args.overwrite)
        print(summary_table(stats))
        fz = stats.get("fuzzy_dedup", {})
        if fz:
            print(f"LSH bands x rows: {fz.get('bands')} x {fz.get('rows')}; clusters: {fz.get('components', 'n/a')}")
        print(f"output: {args.output}  (documents/, duplicates/, stats.json, report.html)")
        return 0

    return run_main(go)


if __name__ == "__main__":
    sys.exit(main())
