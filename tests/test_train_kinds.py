"""``raysift train-classifier --kind``: published presets, labels, line formats, CLI overrides, and
a trained model scored by the classifier filter."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from jobs.train_classifier import KINDS, main
from operators.classify.fasttext_model import PRESETS, ClassifierConfig
from operators.filters import classifier as clf
from tests.infra import write_jsonl

PROSE = ("Quantum Bridge River Garden Museum Harbor Library Canyon Meadow Forest Lantern Orchard Valley Summit "
         "Island Castle Cathedral Village Market Festival Theater Gallery Compass Voyage Horizon Meridian").split()
SPAM = ("cheap deal click offer bonus casino loan winner prize discount coupon promo subscribe download free "
        "viagra crypto jackpot instant cash credit lottery bargain clearance voucher giveaway").split()
COMMON = "the a of to and in it is was for on with as by at from this that".split()


def docs(words: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        lines = [" ".join(rng.choice(words if rng.random() < 0.5 else COMMON) for _ in range(rng.randint(8, 16)))
                 for _ in range(rng.randint(2, 5))]
        out.append("\n".join(lines))
    return out


def write_texts(path: Path, texts: list[str]) -> str:
    return str(write_jsonl(path, [{"text": t} for t in texts]))


@pytest.fixture
def training_sets(tmp_path):
    pos = write_texts(tmp_path / "pos.jsonl", docs(PROSE, 150, 0))
    neg = write_texts(tmp_path / "neg.jsonl", docs(SPAM, 150, 1))
    return pos, neg


def load(path: str):
    import fasttext

    return fasttext.load_model(path)


def test_presets_carry_the_published_settings():
    big = 10**6
    assert PRESETS["math"] == ClassifierConfig()
    dclm = PRESETS["dclm"].effective(big)
    assert (dclm["dim"], dclm["lr"], dclm["wordNgrams"], dclm["minCount"], dclm["epoch"]) == (100, 0.1, 2, 1, 5)
    llama = PRESETS["llama3"].effective(big)
    assert (llama["dim"], llama["lr"], llama["wordNgrams"], llama["minCount"], llama["epoch"]) == (100, 0.1, 1, 1, 5)
    for kind in ("toxicity", "nsfw"):
        assert PRESETS[kind].effective(big)["wordNgrams"] == 2
    labels = {k: (c.positive_label, c.negative_label, c.text_format) for k, c in PRESETS.items()}
    assert labels == {
        "math": ("__label__math", "__label__other", "math"),
        "dclm": ("__label__hq", "__label__cc", "dclm"),
        "llama3": ("__label__wiki", "__label__cc", "dclm"),
        "toxicity": ("__label__toxic", "__label__non-toxic", "dolma"),
        "nsfw": ("__label__nsfw", "__label__non-nsfw", "dolma"),
    }
    assert set(KINDS) == set(PRESETS)


def test_dclm_kind_keeps_case_and_its_model_feeds_the_filter(training_sets, tmp_path, capsys):
    pos, neg = training_sets
    out = str(tmp_path / "dclm.bin")
    assert main(["--kind", "dclm", "--positives", pos, "--negatives", neg, "--output", out]) == 0
    printed = capsys.readouterr().out
    assert "__label__hq vs __label__cc" in printed and "text_format: dclm" in printed
    model = load(out)
    assert set(model.get_labels()) == {"__label__hq", "__label__cc"}
    words = set(model.get_words())
    assert "Quantum" in words and "quantum" not in words  # DCLM lines keep case
    args = model.f.getArgs()
    assert (args.wordNgrams, args.dim, args.epoch) == (2, 64, 30)  # 300 examples: scaled down, bigrams kept
    spec = clf.ClassifierSpec(name="dclm", model=out, label="__label__hq", text_format="dclm", min_score=0.5)
    held_pos, held_neg = docs(PROSE, 20, 7), docs(SPAM, 20, 8)
    results = clf.score_texts(held_pos + held_neg, clf.Config(classifiers=(spec,)))
    scores = [st.scores["dclm"] for st in results]
    assert min(scores[:20]) > 0.5 > max(scores[20:])


def test_math_kind_lower_cases_as_before(training_sets, tmp_path):
    pos, neg = training_sets
    out = str(tmp_path / "math.bin")
    assert main(["--positives", pos, "--negatives", neg, "--output", out]) == 0
    model = load(out)
    assert set(model.get_labels()) == {"__label__math", "__label__other"}
    assert "quantum" in set(model.get_words()) and "Quantum" not in set(model.get_words())


def test_labels_and_config_override_the_kind(training_sets, tmp_path):
    pos, neg = training_sets
    cfg = tmp_path / "ft.yaml"
    cfg.write_text("small_seed_examples: null\nbucket: 5000\n", encoding="utf-8")
    out = str(tmp_path / "tox.bin")
    argv = ["--kind", "toxicity", "--label", "__label__hate", "--negative-label", "__label__ok", "--config", str(cfg),
            "--positives", pos, "--negatives", neg, "--output", out]
    assert main(argv) == 0
    model = load(out)
    assert set(model.get_labels()) == {"__label__hate", "__label__ok"}
    args = model.f.getArgs()
    # no scaling: the published values themselves (bucket from the YAML; a saved .bin does not keep lr)
    assert (args.dim, args.epoch, args.wordNgrams, args.minCount, args.bucket) == (100, 5, 2, 1, 5000)


def test_bad_overrides_exit_2_with_the_fix(training_sets, tmp_path, capsys):
    pos, neg = training_sets
    base = ["--positives", pos, "--negatives", neg, "--output", str(tmp_path / "m.bin")]
    assert main(["--kind", "dclm", "--label", "hq", *base]) == 2
    assert "must look like __label__NAME" in capsys.readouterr().err
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("word_ngram: 2\n", encoding="utf-8")
    assert main(["--config", str(cfg), *base]) == 2
    assert "unknown key 'word_ngram'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--kind", "gpt", *base])
    assert exc.value.code == 2


def test_help_says_how_to_build_each_training_set(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for kind in KINDS:
        assert f"\n  {kind}" in text
    for needle in ("reference URLs of a Wikipedia dump", "OpenHermes-2.5", "ExplainLikeImFive", "Jigsaw Toxic Comment", "OpenWebMath",
                   "--label", "--negative-label"):
        assert needle in text
