"""``raysift train-classifier``: train a fastText classifier (also ``python -m jobs.train_classifier``).

--kind picks the published labels, line format and hyper-parameters (PRESETS in
operators/classify/fasttext_model.py); --config (YAML of ClassifierConfig fields), --label and
--negative-label override them. You bring the two sets of documents (Parquet/JSONL with a text
field); sets under 10,000 examples train with scaled-down settings (see the module).

kinds and how to build their training sets:

  math      DeepSeekMath (Shao et al. 2024, Sec. 2.1): dim 256, lr 0.1, word n-grams 3, minCount 3,
            3 epochs; __label__math vs __label__other, lower-cased, LaTeX split.
            positives: a math seed (OpenWebMath pages, or StackMathQA with
            --positives-text-column Q,A); negatives: random pages of the pool you mine
            (`raysift run --recipe extract` output). DeepSeekMath: 500k of each.

  dclm      DCLM OH-2.5+ELI5 (Li et al. 2024, Sec. 4.4; dclm baselines/README.md): fastText
            defaults (dim 100, lr 0.1, 5 epochs, minCount 1) with word bigrams;
            __label__hq vs __label__cc, lines joined by spaces, case kept.
            positives: OpenHermes-2.5 instruction/answer texts and the top-scored answers of
            r/ExplainLikeImFive (one example per text); negatives: random pages of the pool
            you will filter (DCLM used its RefinedWeb-filtered pool). Filter with
            text_format: dclm, label __label__hq, top_percent: 10.

  llama3    Llama 3 (Dubey et al. 2024, Sec. 3.1.1): "fasttext ... trained to recognize if a given
            text would be referenced by Wikipedia". Meta published no hyper-parameters, labels
            or sizes: we follow RedPajama-1T's reproduction of LLaMA's classifier (RedPajama-Data
            data_prep/cc): __label__wiki vs __label__cc, lines joined by spaces, fastText's
            defaults (`fasttext supervised` with no options).
            positives: pages cited by Wikipedia: take the reference URLs of a Wikipedia dump,
            fetch those pages (or find them in a Common Crawl crawl through its URL index) and
            extract their text with `raysift run --recipe extract`; RedPajama kept pages of
            1,000 characters or more (300k pages). negatives: as many random pages of the crawl
            you will filter. RedPajama then kept documents scoring 0.25 or more (min_score).

  toxicity  Dolma's Jigsaw hate-speech model (Soldaini et al. 2024; dolma taggers/jigsaw.py):
  nsfw      and its NSFW model. Labels as the released models (__label__toxic /
            __label__non-toxic, __label__nsfw / __label__non-nsfw), word bigrams as their file
            names say (jigsaw_fasttext_bigrams_*), everything else fastText's defaults (not
            published); newlines become spaces, case kept.
            positives: comments of the Jigsaw Toxic Comment Classification data carrying the
            kind's labels, one comment per example; negatives: the comments without them. The
            label split is ours (Dolma's code does not include its training script): toxicity =
            toxic, severe_toxic, threat, insult, identity_hate; nsfw = obscene. Filter with
            text_format: dolma, level: sentence, max_score: 0.4.
"""

from __future__ import annotations

import argparse
import sys

from jobs.common import run_main

KINDS = ("math", "dclm", "llama3", "toxicity", "nsfw")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="raysift train-classifier", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--positives", nargs="+", action="extend", required=True, metavar="DOCS")
    p.add_argument("--negatives", nargs="+", action="extend", required=True, metavar="DOCS")
    p.add_argument("--output", required=True, metavar="MODEL", help="model path (.bin), local or s3://")
    p.add_argument("--kind", choices=KINDS, default="math", help="published settings to start from (default: math)")
    p.add_argument("--label", metavar="LABEL", help="label of the positives (default: the kind's, e.g. __label__hq)")
    p.add_argument("--negative-label", metavar="LABEL", help="label of the negatives (default: the kind's)")
    p.add_argument("--positives-text-column", default="text", help="e.g. 'Q,A' for Q&A corpora")
    p.add_argument("--negatives-text-column", default="text")
    p.add_argument("--config", metavar="FILE", help="YAML with ClassifierConfig fields (dim, lr, word_ngrams, ...) "
                   "overriding the kind's")
    args = p.parse_args(argv)

    def go() -> int:
        import dataclasses

        import yaml

        from operators.classify.fasttext_model import PRESETS, ClassifierConfig, train
        from operators.classify.job import read_texts
        from operators.config import ConfigError, from_dict
        from operators.io import InputConfig

        overrides = (yaml.safe_load(open(args.config).read()) if args.config else None) or {}
        if not isinstance(overrides, dict):
            raise ConfigError(f"--config {args.config} must hold a mapping of ClassifierConfig fields")
        if args.label:
            overrides["positive_label"] = args.label
        if args.negative_label:
            overrides["negative_label"] = args.negative_label
        cfg = from_dict(ClassifierConfig, {**dataclasses.asdict(PRESETS[args.kind]), **overrides}, "classifier")
        pos = read_texts(args.positives, dataclasses.replace(InputConfig(), text_column=args.positives_text_column))
        neg = read_texts(args.negatives, dataclasses.replace(InputConfig(), text_column=args.negatives_text_column))
        report = train(pos, neg, cfg, args.output)
        print(f"trained {args.kind} ({cfg.positive_label} vs {cfg.negative_label}) on {report.n_positives:,} positives "
              f"and {report.n_negatives:,} negatives in {report.seconds:.1f}s"
              f"{' (settings scaled down for a small training set)' if report.scaled_down else ''}")
        print(f"model: {args.output} ({report.model_bytes / 1e6:.1f} MB)")
        print(f"use it with filters.classifier.classifiers: [{{name: {args.kind}, model: {args.output}, "
              f"label: {cfg.positive_label}, text_format: {cfg.text_format}}}]")
        return 0

    return run_main(go)


if __name__ == "__main__":
    sys.exit(main())
