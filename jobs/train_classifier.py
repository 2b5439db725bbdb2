"""``raysift train-classifier``: train a fastText classifier (also ``python -m jobs.train_classifier``)."""

from __future__ import annotations

import argparse
import sys

from jobs.common import run_main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="raysift train-classifier", description=__doc__)
    p.add_argument("--positives", nargs="+", action="extend", required=True, metavar="DOCS")
    p.add_argument("--negatives", nargs="+", action="extend", required=True, metavar="DOCS")
    p.add_argument("--output", required=True, metavar="MODEL", help="model path (.bin), local or s3://")
    p.add_argument("--positives-text-column", default="text", help="e.g. 'Q,A' for Q&A corpora")
    p.add_argument("--negatives-text-column", default="text")
    p.add_argument("--config", metavar="FILE", help="YAML with ClassifierConfig fields (dim, lr, word_ngrams, ...)")
    args = p.parse_args(argv)

    def go() -> int:
        import dataclasses

        import yaml

        from operators.classify.fasttext_model import ClassifierConfig, train
        from operators.classify.job import read_texts
        from operators.config import from_dict
        from operators.io import InputConfig

        cfg = from_dict(ClassifierConfig, yaml.safe_load(open(args.config).read()) if args.config else {}, "classifier")
        pos = read_texts(args.positives, dataclasses.replace(InputConfig(), text_column=args.positives_text_column))
        neg = read_texts(args.negatives, dataclasses.replace(InputConfig(), text_column=args.negatives_text_column))
        report = train(pos, neg, cfg, args.output)
        print(f"trained on {report.n_positives:,} positives and {report.n_negatives:,} negatives in {report.seconds:.1f}s"
              f"{' (settings scaled down for a small training set)' if report.scaled_down else ''}")
        print(f"model: {args.output} ({report.model_bytes / 1e6:.1f} MB)")
        return 0

    return run_main(go)


if __name__ == "__main__":
    sys.exit(main())
