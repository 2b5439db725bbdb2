"""Classifier filter: scores equal fastText's own predictions, thresholds at their boundaries,
Dolma's sentence masking, corpus top-p % rules, model loading and the missing-model error.

The models are trained here, in a temp dir, on generated sentences from three disjoint
vocabularies (fruit, machines, weather) plus shared function words.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from operators.classify.fasttext_model import format_line
from operators.config import ConfigError, from_dict
from operators.filters import classifier as clf
from operators.filters import corpus

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

FRUIT = ("apple pear banana grape cherry mango kiwi peach plum melon lemon lime orange papaya guava fig date "
         "apricot berry currant quince lychee nectarine tangerine coconut pineapple raspberry blueberry "
         "strawberry cranberry gooseberry mulberry persimmon pomegranate olive avocado jackfruit durian").split()
MACHINE = ("truck engine wheel piston gear axle bolt crank lever motor pump valve turbine rotor shaft clutch "
           "brake chassis boiler cylinder gasket spindle bearing throttle exhaust radiator carburetor sprocket "
           "chain hydraulic welder lathe drill forklift tractor bulldozer crane conveyor compressor").split()
WEATHER = ("rain snow storm thunder lightning cloud fog drizzle hail breeze gale hurricane tornado sleet frost "
           "drought monsoon humidity forecast blizzard mist dew sunshine heatwave cyclone typhoon downpour "
           "overcast temperature barometer thermometer").split()
COMMON = "the a of to and in it is was for on with as by at from this that".split()


def sentences(words: list[str], n: int, rng: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        toks = [rng.choice(words if rng.random() < 0.6 else COMMON) for _ in range(rng.randint(6, 14))]
        out.append(" ".join(toks))
    return out


def train(path: Path, classes: dict[str, list[str]], seed: int = 0):
    import fasttext

    rng = random.Random(seed)
    lines = [f"{label} {s}" for label, words in classes.items() for s in sentences(words, 300, rng)]
    rng.shuffle(lines)
    data = path.with_suffix(".txt")
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = fasttext.train_supervised(input=str(data), dim=16, epoch=20, lr=0.5, wordNgrams=2, minCount=1,
                                      bucket=20_000, thread=1, seed=seed, verbose=0)
    model.save_model(str(path))
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    hq = train(d / "hq.bin", {"__label__hq": FRUIT, "__label__cc": MACHINE})
    toxic = train(d / "toxic.bin", {"__label__toxic": MACHINE, "__label__non-toxic": FRUIT + WEATHER}, seed=1)
    nsfw = train(d / "nsfw.bin", {"__label__nsfw": WEATHER, "__label__non-nsfw": FRUIT + MACHINE}, seed=2)
    return {"hq": (str(d / "hq.bin"), hq), "toxic": (str(d / "toxic.bin"), toxic), "nsfw": (str(d / "nsfw.bin"), nsfw)}


def label_prob(model, line: str, label: str) -> float:
    labels, probs = model.predict(line, k=-1)
    return dict(zip(labels, probs.tolist()))[label]


def doc_spec(models, **kw) -> clf.ClassifierSpec:
    return clf.ClassifierSpec(name="q", model=models["hq"][0], label="__label__hq", **kw)


FRUIT_DOC = "The apple and the pear.\nA mango with kiwi, and peach for plum.\n\nCherry grape!"
MACHINE_DOC = "The truck engine and the gear.\r\nA piston with axle and bolt\nfor the crank lever."
MIXED_DOC = "Apple with pear and banana.\nThe truck engine and piston gear."


def table(texts, reasons=None):
    cols = {"id": [str(i) for i in range(len(texts))], "text": texts}
    if reasons is not None:
        cols["reason"] = pa.array(reasons, pa.string())
    return pa.table(cols)


# ----------------------------------------------------------------------------- document level


def test_document_scores_equal_fasttext_predict_and_dead_rows_stay_null(models):
    cfg = clf.Config(classifiers=(doc_spec(models),))
    texts = [FRUIT_DOC, MACHINE_DOC, MIXED_DOC, "", None, FRUIT_DOC]
    out = clf.apply(table(texts, [None, None, None, None, None, "earlier"]), cfg)
    scores = out.column("q_score").to_pylist()
    model = models["hq"][1]
    for i in range(5):
        # DCLM's line: the lines joined by spaces, case kept (fastText's predict takes one line)
        line = " ".join((texts[i] or "").strip().splitlines())
        assert scores[i] == label_prob(model, line, "__label__hq"), i
    assert scores[5] is None  # already rejected: not scored
    assert scores[0] > 0.9 and scores[1] < 0.1
    assert out.column("text").to_pylist() == texts
    assert out.column("reason").to_pylist() == [None] * 5 + ["earlier"]


def test_text_formats_follow_each_publisher(models):
    model = models["hq"][1]
    text = "Apple\nPEAR\r\nmango"
    st = clf.measure(text, clf.Config(classifiers=(doc_spec(models, text_format="dolma"),)))
    assert st.scores["q"] == label_prob(model, "Apple PEAR\r mango", "__label__hq")
    st = clf.measure(text, clf.Config(classifiers=(doc_spec(models, text_format="math"),)))
    assert st.scores["q"] == label_prob(model, "apple pear mango", "__label__hq")  # lower-cased, one line
    st = clf.measure("apple pear banana truck engine", clf.Config(classifiers=(doc_spec(models, max_chars=17),)))
    assert st.scores["q"] == label_prob(model, "apple pear banana", "__label__hq")


def test_min_and_max_score_boundaries(models):
    s = clf.measure(MIXED_DOC, clf.Config(classifiers=(doc_spec(models),))).scores["q"]
    assert 0.0 < s < 1.0
    up = float(np.nextafter(s, 1.0))

    def reason(**kw):
        cfg = clf.Config(classifiers=(doc_spec(models, **kw),))
        return clf.apply(table([MIXED_DOC]), cfg).column("reason").to_pylist()[0]

    assert reason(min_score=s) is None  # a score equal to min_score is kept (DCLM: >= threshold)
    assert reason(min_score=up) == clf.LOW_SCORE
    assert reason(max_score=s) == clf.HIGH_SCORE  # equal to max_score is dropped (Dolma: >= 0.4)
    assert reason(max_score=up) is None


def test_first_failing_classifier_names_the_reason(models):
    low = doc_spec(models, min_score=0.5)
    toxic = clf.ClassifierSpec(name="tox", model=models["toxic"][0], label="__label__toxic", max_score=0.5)
    cfg = clf.Config(classifiers=(low, toxic))
    out = clf.apply(table([FRUIT_DOC, MACHINE_DOC]), cfg)
    # the machine document fails both; the quality spec comes first
    assert out.column("reason").to_pylist() == [None, clf.LOW_SCORE]
    assert out.column("tox_score").to_pylist()[1] > 0.5
    cfg = clf.Config(classifiers=(toxic, low))
    assert clf.apply(table([MACHINE_DOC]), cfg).column("reason").to_pylist() == [clf.HIGH_SCORE]


def test_rescoring_replaces_columns(models):
    cfg = clf.Config(classifiers=(doc_spec(models),))
    once = clf.apply(table([FRUIT_DOC]), cfg)
    twice = clf.apply(once.drop_columns(["reason"]), cfg)
    assert twice.column_names.count("q_score") == 1
    assert twice.column("q_score").to_pylist() == once.column("q_score").to_pylist()


# ----------------------------------------------------------------------------- sentence level


def sentence_spec(models, which="toxic", **kw) -> clf.ClassifierSpec:
    kw.setdefault("max_score", 0.4)
    return clf.ClassifierSpec(name=which, model=models[which][0], label=f"__label__{which}", level="sentence",
                              text_format="dolma", **kw)


THREE = "Apple pear banana grape cherry. Truck engine wheel piston gear. Mango kiwi peach plum melon."


def test_sentence_masking_removes_toxic_sentences_only(models):
    import blingfire

    model = models["toxic"][1]
    _, spans = blingfire.text_to_sentences_and_offsets(THREE)
    probs = [label_prob(model, THREE[a:b], "__label__toxic") for a, b in spans]
    assert len(spans) == 3 and probs[1] >= 0.4 > max(probs[0], probs[2])  # the fixture's premise
    out = clf.apply(table([THREE]), clf.Config(classifiers=(sentence_spec(models),)))
    assert out.column("text").to_pylist() == ["Apple pear banana grape cherry.  Mango kiwi peach plum melon."]
    assert out.column("toxic_score").to_pylist() == [max(probs)]
    assert out.column("toxic_sentences").to_pylist() == [3]
    assert out.column("toxic_masked").to_pylist() == [1]
    assert out.column("reason").to_pylist() == [None]  # Dolma keeps the document


def test_sentence_threshold_boundary(models):
    st = clf.measure(THREE, clf.Config(classifiers=(sentence_spec(models, max_score=0.5),)))
    top = st.scores["toxic"]
    at = clf.measure(THREE, clf.Config(classifiers=(sentence_spec(models, max_score=top),)))
    above = clf.measure(THREE, clf.Config(classifiers=(sentence_spec(models, max_score=float(np.nextafter(top, 2))),)))
    assert at.masked["toxic"] == 1 and at.text != THREE  # a score equal to max_score is masked
    assert above.masked["toxic"] == 0 and above.text == THREE


def test_two_sentence_classifiers_mask_the_union_once(models):
    text = "Apple pear banana grape cherry. Rain snow storm thunder fog. Truck engine wheel piston gear. Kiwi fig."
    cfg = clf.Config(classifiers=(sentence_spec(models, "toxic"), sentence_spec(models, "nsfw")))
    out = clf.apply(table([text]), cfg)
    assert out.column("text").to_pylist() == ["Apple pear banana grape cherry.   Kiwi fig."]
    assert out.column("toxic_masked").to_pylist() == [1]
    assert out.column("nsfw_masked").to_pylist() == [1]
    assert out.column("toxic_sentences").to_pylist() == [4] == out.column("nsfw_sentences").to_pylist()


def test_sentence_drop_action_and_texts_without_sentences(models):
    cfg = clf.Config(classifiers=(sentence_spec(models, sentence_action="drop"),))
    out = clf.apply(table([THREE, "Apple pear. Kiwi fig.", "   \n ", ""]), cfg)
    assert out.column("reason").to_pylist() == [clf.HIGH_SCORE, None, None, None]
    assert out.column("text").to_pylist()[0] == THREE  # drop does not rewrite
    assert "toxic_masked" not in out.column_names
    scores = out.column("toxic_score").to_pylist()
    assert scores[2] is None and scores[3] is None  # no sentence, no score
    assert out.column("toxic_sentences").to_pylist() == [3, 2, 0, 0]


def test_masking_keeps_non_ascii_offsets_right(models):
    text = "Zürich äpple pear 😀 banana — grape. Truck engine wheel piston gear. Über mango kiwi peach."
    out = clf.apply(table([text]), clf.Config(classifiers=(sentence_spec(models),)))
    assert out.column("text").to_pylist() == ["Zürich äpple pear 😀 banana — grape.  Über mango kiwi peach."]


def test_mask_spans_and_sentence_offsets_edge_cases():
    assert clf.mask_spans("abcdef", []) == "abcdef"
    assert clf.mask_spans("abcdef", [(0, 2), (4, 6)]) == "cd"
    assert clf.sentence_offsets("") == [] and clf.sentence_offsets(" \n\t ") == []
    assert clf.sentence_offsets("One. Two.") == [(0, 4), (5, 9)]


def real_texts() -> list[str]:
    dolma = DATA / "text" / "dolma-cc-samples"
    truth = DATA / "extraction-dev" / "modern-wceb-2026" / "ground-truth"
    if not dolma.is_dir() or not truth.is_dir():
        pytest.skip(f"../shared/data not found: {dolma} / {truth}")
    out = []
    for p in sorted(dolma.glob("*.jsonl")):
        out += [json.loads(line)["text"] for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    for p in sorted(truth.glob("*.json.gz"))[:300]:
        out.append(json.loads(gzip.decompress(p.read_bytes()))["ground_truth"]["main_content"] or "")
    return out


@pytest.mark.shared_data
def test_sentence_offsets_equal_blingfire_wrapper_on_real_text():
    import blingfire

    texts = [t for t in real_texts() if t.strip()]
    assert len(texts) > 250
    for t in texts:
        assert clf.sentence_offsets(t) == blingfire.text_to_sentences_and_offsets(t)[1]


# ----------------------------------------------------------------------------- corpus rules


def test_corpus_rules_keep_the_top_percent(models):
    spec = doc_spec(models, top_percent=10)
    other = clf.ClassifierSpec(name="tox", model=models["toxic"][0], label="__label__toxic")
    cfg = clf.Config(classifiers=(spec, other))
    (rule,) = clf.corpus_rules(cfg)
    assert (rule.column, rule.cuts, rule.labels, rule.reject) == (
        "q_score", (0.9,), ("below", "top"), {"below": clf.BELOW_TOP_PERCENT})
    assert clf.corpus_rules(clf.Config(classifiers=(other,))) == ()
    rng = random.Random(3)
    texts = [" ".join(rng.choice(FRUIT if rng.random() < i / 20 else MACHINE) for _ in range(12)) for i in range(20)]
    scored = clf.apply(table(texts), cfg)
    assert scored.column("reason").to_pylist() == [None] * 20  # top_percent is not decided per batch
    scores = scored.column("q_score").to_pylist()
    assert len(set(np.float32(scores).tolist())) == 20
    cuts = corpus.cut_values(corpus.summarize(scored, (rule,)), (rule,))
    out = corpus.apply_rules(scored, (rule,), cuts)
    kept = [i for i, r in enumerate(out.column("reason").to_pylist()) if r is None]
    assert sorted(kept) == sorted(np.argsort(scores)[-2:].tolist())  # the top 10 % of 20 documents
    assert set(out.column("reason").to_pylist()) == {None, clf.BELOW_TOP_PERCENT}


# ----------------------------------------------------------------------------- models and config


def test_model_loads_once_per_process_and_label_is_checked(models):
    spec = doc_spec(models)
    assert clf.load_model(spec) is clf.load_model(spec)
    wrong = clf.ClassifierSpec(name="q", model=models["hq"][0], label="__label__toxic")
    with pytest.raises(ConfigError, match=r"has no label '__label__toxic'; its labels: __label__cc, __label__hq"):
        clf.load_model(wrong)


def test_missing_model_error_says_what_to_supply(tmp_path, models):
    missing = tmp_path / "oh_eli5.bin"
    cfg = clf.Config(classifiers=(clf.ClassifierSpec(name="dclm", model=str(missing), label="__label__hq"),))
    with pytest.raises(ConfigError) as err:
        clf.check_models(cfg)
    msg = str(err.value)
    assert str(missing) in msg and "never downloads" in msg
    assert "mlfoundations/fasttext-oh-eli5" in msg
    assert "jigsaw_fasttext_bigrams_hatespeech_final.bin" in msg  # the other published models are listed
    tox = clf.Config(classifiers=(clf.ClassifierSpec(name="t", model="file://" + str(missing), label="__label__toxic",
                                                     level="sentence", max_score=0.4),))
    with pytest.raises(ConfigError, match="Dolma's Jigsaw hate-speech classifier"):
        clf.check_models(tox)
    web = clf.Config(classifiers=(clf.ClassifierSpec(name="w", model="https://example.org/m.bin", label="__label__hq"),))
    with pytest.raises(ConfigError, match="web URL; raysift never downloads"):
        clf.check_models(web)
    with pytest.raises(ConfigError, match="lists no classifiers"):
        clf.check_models(clf.Config())
    # a present model passes; loading a missing one on a worker raises the same message
    clf.check_models(clf.Config(classifiers=(doc_spec(models), sentence_spec(models))))
    with pytest.raises(ConfigError, match="mlfoundations/fasttext-oh-eli5"):
        clf.load_model(cfg.classifiers[0])


def test_s3_model_checked_fetched_and_scored(models, moto_s3, s3_env, tmp_path):
    s3_env(moto_s3)
    client = moto_s3.client()
    client.create_bucket(Bucket="models")
    client.upload_file(models["hq"][0], "models", "clf/hq.bin")
    spec = clf.ClassifierSpec(name="q", model="s3://models/clf/hq.bin", label="__label__hq")
    cfg = clf.Config(classifiers=(spec,), model_cache_dir=str(tmp_path / "cache"))
    clf.check_models(cfg)
    out = clf.apply(table([FRUIT_DOC]), cfg)
    assert out.column("q_score").to_pylist() == [label_prob(models["hq"][1], " ".join(FRUIT_DOC.splitlines()),
                                                             "__label__hq")]
    assert len(list((tmp_path / "cache").iterdir())) == 1  # fetched once into the cache
    gone = clf.Config(classifiers=(clf.ClassifierSpec(name="q", model="s3://models/clf/nope.bin", label="__label__hq"),))
    with pytest.raises(ConfigError, match="not found"):
        clf.check_models(gone)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"name": "Bad-Name"}, "lower-case letters"),
        ({"name": "language"}, "language_score is a document column"),
        ({"label": "hq"}, "__label__NAME"),
        ({"level": "paragraph"}, "level must be document or sentence"),
        ({"min_score": 1.5}, r"min_score must be a probability in \[0, 1\]"),
        ({"min_score": 0.5, "max_score": 0.5}, "min_score .* must be below max_score"),
        ({"top_percent": 100}, r"top_percent must be in \(0, 100\)"),
        ({"top_percent": 0}, r"top_percent must be in \(0, 100\)"),
        ({"level": "sentence"}, "level sentence needs max_score"),
        ({"level": "sentence", "max_score": 0.4, "top_percent": 10}, "apply to level document only"),
        ({"text_format": "lowercase"}, "text_format must be dclm, dolma or math"),
        ({"max_chars": 0}, "max_chars must be >= 1"),
    ],
)
def test_bad_specs_raise_config_error(kw, message):
    base = {"name": "q", "model": "m.bin", "label": "__label__hq"}
    with pytest.raises(ConfigError, match=message):
        clf.ClassifierSpec(**{**base, **kw})


def test_config_from_recipe_mapping():
    data = {"classifiers": [
        {"name": "dclm", "model": "s3://b/oh.bin", "label": "__label__hq", "top_percent": 10},
        {"name": "hate", "model": "/m/hate.bin", "label": "__label__toxic", "level": "sentence", "max_score": 0.4,
         "text_format": "dolma"},
    ]}
    cfg = from_dict(clf.Config, data, "filters.classifier")
    assert [s.name for s in cfg.classifiers] == ["dclm", "hate"]
    assert cfg.classifiers[1].level == "sentence" and cfg.classifiers[1].sentence_action == "mask"
    with pytest.raises(ConfigError, match="unique"):
        from_dict(clf.Config, {"classifiers": [data["classifiers"][0]] * 2}, "filters.classifier")
    with pytest.raises(ConfigError, match="valid keys"):
        from_dict(clf.Config, {"classifiers": [{**data["classifiers"][0], "treshold": 1}]}, "filters.classifier")


def test_empty_config_passes_tables_through():
    t = table(["a"])
    assert clf.apply(t, clf.Config()) is t
    assert clf.corpus_rules(clf.Config()) == ()


def test_format_line_is_one_line_for_fasttext():
    for fmt in ("dclm", "dolma", "math"):
        assert "\n" not in format_line("a\nb\n\nc\r\n", fmt)
