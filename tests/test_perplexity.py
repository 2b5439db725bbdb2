"""CCNet perplexity: the normaliser, scores against KenLM's own, thresholds, buckets, models, config."""

from __future__ import annotations

import math
import random
import unicodedata

import pyarrow as pa
import pytest

from operators.config import ConfigError, from_dict
from operators.filters import corpus
from operators.filters import perplexity as ppl
from operators.filters.ccnet_normalize import UNICODE_PUNCT, normalize, strip_accents
from operators.schema import REASON
from tests import lm_fixtures
from tests.infra import SHARED_DATA

kenlm = pytest.importorskip("kenlm")
spm = pytest.importorskip("sentencepiece")


# ----------------------------------------------------------------------------- normaliser


def test_normalize_follows_ccnet_steps_in_order():
    # strip, lower-case, accents, digits, punctuation, non-printing characters
    assert normalize("  Crème Brûlée à 12,50 €!  ") == "creme brulee a 00,00 €!"
    assert normalize("ÅNGSTRÖM Ñandú") == "angstrom nandu"
    assert normalize("٣ ０２３４ 7x9") == "0 0000 0x0"  # every Unicode decimal digit
    assert normalize("a\x00b\x7fc\x85d\x9fe\tf") == "abcdef"  # C0, DEL, C1 deleted, not spaced
    assert normalize("   \t\n ") == ""
    assert normalize("ABC 123") == "abc 000"


def test_normalize_unicode_punctuation_table():
    weird = "，。、„”“«»」「《》´∶：？！（）；–—．～’…━〈〉【】％►"
    assert normalize(weird, digits=False) == ',.,"""""""""\'::?!();- - . ~\'...-<>[]%-'
    assert normalize(weird, punct="remove") == ""
    assert normalize(weird, punct="keep") == weird
    assert len(UNICODE_PUNCT) == 34


def test_normalize_fullwidth_one_is_a_digit_first():
    # CCNet's table maps "１" to '"', but digits are replaced before punctuation
    assert normalize("１") == "0"
    assert normalize("１", digits=False) == '"'


def test_normalize_switches_off():
    text = "Été 2024 — «Ça»"
    assert normalize(text, lowercase=False) == 'Ete 0000  -  "Ca"'
    assert normalize(text, accents=False) == 'été 0000  -  "ça"'
    assert normalize(text, digits=False) == 'ete 2024  -  "ca"'
    assert normalize(text, punct="keep") == "ete 0000 — «ca»"


def test_strip_accents_keeps_text_decomposed_like_ccnet():
    out = strip_accents("한")  # Hangul syllable -> three conjoining jamo (category Lo, kept)
    assert len(out) == 3 and unicodedata.normalize("NFC", out) == "한"
    assert strip_accents("a\U0001D167b") == "ab"  # an astral combining mark (Mn)
    assert strip_accents("İ".lower()) == "i"


def test_whole_document_normalisation_deletes_newlines():
    # what CCNet's mine.py does before SentencePiece: the lines are glued together
    assert normalize("First line.\nSecond line.") == "first line.second line."


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A SentencePiece model and a bigram ARPA trained on 400 generated sentences."""
    folder = tmp_path_factory.mktemp("lm")
    return lm_fixtures.build_models(folder, lm_fixtures.generated_lines(400, seed=0))


def config(models, **kw) -> ppl.Config:
    sp, arpa = models
    return ppl.Config(models={"en": ppl.LanguageModels(str(sp), str(arpa))}, **kw)


def kenlm_reference(text: str, sp_path, arpa_path) -> tuple[float, list[float]]:
    """Document and paragraph perplexities computed directly with sentencepiece and kenlm."""
    sp = spm.SentencePieceProcessor(model_file=str(sp_path))
    lm = kenlm.Model(str(arpa_path))
    total, tokens, paragraphs = 0.0, 0, []
    for line in text.split("\n"):
        norm = normalize(line)
        if not norm:
            continue
        sentence = " ".join(sp.encode_as_pieces(norm))
        score = lm.score(sentence)
        full = sum(prob for prob, _, _ in lm.full_scores(sentence))
        assert score == pytest.approx(full, rel=1e-5)  # score() sums in float32, as CCNet uses it
        total += score
        tokens += len(sentence.split()) + 1
        paragraphs.append(lm.perplexity(sentence))  # KenLM's own per-sentence perplexity
    return 10 ** (-total / tokens), paragraphs


def held_out(n: int, seed: int) -> str:
    return "\n".join(lm_fixtures.generated_lines(n, seed=seed))


def table(texts, languages=None, reasons=None) -> pa.Table:
    data = {"id": [str(i) for i in range(len(texts))], "text": texts}
    if languages is not None:
        data["language"] = languages
    if reasons is not None:
        data[REASON] = pa.array(reasons, type=pa.string())
    return pa.table(data)


# ----------------------------------------------------------------------------- the ARPA fixture


def test_fixture_arpa_is_a_normalised_backoff_model(models):
    sp, arpa = models
    lm = kenlm.Model(str(arpa))
    assert lm.order == 2
    words = lm_fixtures.sp_vocabulary(sp) + ["</s>", "<unk>"]
    for context in ([], ["<s>"], ["▁the"], ["▁farmer"]):
        state = kenlm.State()
        if context[:1] == ["<s>"]:
            lm.BeginSentenceWrite(state)
        else:
            lm.NullContextWrite(state)
        for w in context[1:] if context[:1] == ["<s>"] else context:
            out = kenlm.State()
            lm.BaseScore(state, w, out)
            state = out
        total = sum(10 ** lm.BaseScore(state, w, kenlm.State()) for w in set(words))
        assert total == pytest.approx(1.0, abs=1e-5), context


def test_trigram_fixture_loads_and_scores(tmp_path):
    lines = lm_fixtures.generated_lines(200, seed=5)
    sp = lm_fixtures.train_sentencepiece(lines, tmp_path / "x.sp.model", vocab_size=200)
    arpa = lm_fixtures.write_arpa(lm_fixtures.tokenize(sp, lines), tmp_path / "x.arpa", order=3,
                                  vocabulary=lm_fixtures.sp_vocabulary(sp))
    lm = kenlm.Model(str(arpa))
    assert lm.order == 3
    seen = " ".join(lm_fixtures.tokenize(sp, lines[:1])[0])
    assert [n for _, n, _ in lm.full_scores(seen)][2] == 3  # a seen trigram is used in full


# ----------------------------------------------------------------------------- scores


def test_hand_written_arpa_scores_by_hand(tmp_path):
    arpa = tmp_path / "hand.arpa"
    arpa.write_text(
        "\\data\\\nngram 1=5\nngram 2=2\n\n\\1-grams:\n-1.0\t<unk>\n-99\t<s>\t-0.30103\n-0.5\t</s>\n"
        "-0.6\ta\t-0.2\n-0.7\tb\t-0.1\n\n\\2-grams:\n-0.15\t<s> a\n-0.25\ta b\n\n\\end\\\n"
    )
    lm = kenlm.Model(str(arpa))
    scores, tokens = ppl.score_pieces([["a", "b"], ["b"], ["zzz"]], lm)
    # a|<s> bigram; b|a bigram; </s>|b backs off: bo(b) + p(</s>)
    assert scores[0] == pytest.approx(-0.15 - 0.25 + (-0.1 - 0.5), abs=1e-6)
    # b|<s> backs off: bo(<s>) + p(b); then </s>|b as above
    assert scores[1] == pytest.approx(-0.30103 - 0.7 + (-0.1 - 0.5), abs=1e-6)
    # an unknown piece is <unk>: bo(<s>) + p(<unk>), then p(</s>)
    assert scores[2] == pytest.approx(-0.30103 - 1.0 - 0.5, abs=1e-6)
    assert tokens == [3, 2, 2]
    expected = 10 ** ((1.0 + 1.60103 + 1.80103) / 7)
    assert ppl.document_perplexity(scores, tokens) == pytest.approx(expected, rel=1e-6)


def test_document_and_paragraph_perplexity_equal_kenlm(models):
    sp, arpa = models
    texts = [
        held_out(6, seed=11),
        "The Farmer visited the MARKET in 2011!\n\n  Élan: the river changed… \t\nBlorp zzz qqq",
        "Ünïcode «quotes» — and 12 digits１２ here.",
    ]
    out = ppl.apply(table(texts, ["en"] * 3), config(models, paragraph_perplexities=True))
    for i, text in enumerate(texts):
        doc, paragraphs = kenlm_reference(text, sp, arpa)
        assert out.column("perplexity")[i].as_py() == pytest.approx(doc, rel=1e-6)
        assert out.column("perplexity_paragraphs")[i].as_py() == pytest.approx(paragraphs, rel=1e-6)
        assert out.column("perplexity_n_paragraphs")[i].as_py() == len(paragraphs)
    assert out.column("perplexity_n_paragraphs").to_pylist() == [6, 3, 1]
    assert out.column("perplexity_scored").to_pylist() == [True, True, True]
    # measure() gives the same numbers one document at a time
    stats = ppl.measure(texts[1], config(models), "en")
    assert stats.perplexity == pytest.approx(out.column("perplexity")[1].as_py(), rel=1e-12)
    assert stats.n_tokens == out.column("perplexity_n_tokens")[1].as_py()


def test_whole_document_mode_scores_one_sentence_like_ccnet_mine(models):
    sp, arpa = models
    text = held_out(3, seed=12)
    out = ppl.apply(table([text], ["en"]), config(models, paragraphs=False, paragraph_perplexities=True))
    sentence = " ".join(spm.SentencePieceProcessor(model_file=str(sp)).encode_as_pieces(normalize(text)))
    lm = kenlm.Model(str(arpa))
    assert "\n" not in normalize(text)
    assert out.column("perplexity")[0].as_py() == pytest.approx(lm.perplexity(sentence), rel=1e-6)
    assert out.column("perplexity_n_paragraphs")[0].as_py() == 1


def test_blank_lines_and_line_layout_whitespace_do_not_change_the_score(models):
    text = held_out(4, seed=13)
    spaced = "\n\n" + text.replace("\n", "\n   \n\t\n") + "\n\n"
    out = ppl.apply(table([text, spaced], ["en", "en"]), config(models))
    a, b = out.column("perplexity").to_pylist()
    assert a == pytest.approx(b, rel=1e-12)


def test_lower_quality_text_gets_higher_perplexity(models):
    rng = random.Random(1)
    good = held_out(8, seed=21)
    words = good.replace("\n", " ").split()
    rng.shuffle(words)
    shuffled = " ".join(words)
    letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz    ") for _ in range(len(good)))
    out = ppl.apply(table([good, shuffled, letters], ["en"] * 3), config(models))
    p_good, p_shuffled, p_letters = out.column("perplexity").to_pylist()
    assert p_good < p_shuffled / 2
    assert p_good < p_letters / 10


@pytest.fixture(scope="module")
def real_models(tmp_path_factory):
    texts = lm_fixtures.shared_texts(14)
    if len(texts) < 14:
        pytest.skip(f"{SHARED_DATA} absent: no real page texts to train on")
    folder = tmp_path_factory.mktemp("real")
    train = [line for t in texts[:12] for line in t.split("\n")]
    sp, arpa = lm_fixtures.build_models(folder, train, vocab_size=800)
    return sp, arpa, texts[12:]


def test_real_text_scores_equal_kenlm_and_rank_quality(real_models):
    sp, arpa, unseen = real_models
    rng = random.Random(2)
    shuffled = []
    for text in unseen:
        words = text.split()
        rng.shuffle(words)
        shuffled.append(" ".join(words))
    cfg = ppl.Config(models={"en": ppl.LanguageModels(str(sp), str(arpa))})
    out = ppl.apply(table(unseen + shuffled, ["en"] * 4), cfg)
    scores = out.column("perplexity").to_pylist()
    for text, score in zip(unseen + shuffled, scores):
        assert score == pytest.approx(kenlm_reference(text, sp, arpa)[0], rel=1e-6)
    assert scores[0] < scores[2] and scores[1] < scores[3]


# ----------------------------------------------------------------------------- thresholds


def test_max_perplexity_boundary_and_per_language(models):
    texts = [held_out(3, seed=31), "qqq zzz blorp fjord"]
    measured = ppl.apply(table(texts, ["en", "en"]), config(models)).column("perplexity").to_pylist()
    low, high = measured
    at_limit = ppl.apply(table(texts, ["en", "en"]), config(models, max_perplexity=high))
    assert at_limit.column(REASON).to_pylist() == [None, None]  # equal to the limit: kept
    below = ppl.apply(table(texts, ["en", "en"]), config(models, max_perplexity=high * 0.999))
    assert below.column(REASON).to_pylist() == [None, ppl.TOO_HIGH]
    both = ppl.apply(table(texts, ["en", "en"]), config(models, max_perplexity=1e9,
                                                        max_perplexity_by_language={"EN": low * 0.999}))
    assert both.column(REASON).to_pylist() == [ppl.TOO_HIGH, ppl.TOO_HIGH]
    assert low < high


def test_unmodelled_languages_are_kept_unscored(models):
    texts = [held_out(2, seed=41)] * 4
    t = table(texts, ["en", "de", None, " EN "])
    out = ppl.apply(t, config(models, max_perplexity=1e-9))
    assert out.column("perplexity_scored").to_pylist() == [True, False, False, True]
    perplexities = out.column("perplexity").to_pylist()
    assert perplexities[1] is None and perplexities[2] is None
    assert perplexities[0] == perplexities[3]
    assert out.column(REASON).to_pylist() == [ppl.TOO_HIGH, None, None, ppl.TOO_HIGH]
    # no language column at all: nothing can be scored, nothing is rejected
    bare = ppl.apply(table(texts[:2]), config(models, max_perplexity=1e-9))
    assert bare.column("perplexity_scored").to_pylist() == [False, False]
    assert bare.column(REASON).to_pylist() == [None, None]


def test_dead_rows_are_not_scored_and_keep_their_reason(models):
    texts = [held_out(2, seed=42), held_out(2, seed=43), "   \n  "]
    t = table(texts, ["en"] * 3, reasons=["gopher_too_few_words", None, None])
    out = ppl.apply(t, config(models, paragraph_perplexities=True))
    assert out.column("perplexity")[0].as_py() is None
    assert out.column("perplexity_scored").to_pylist() == [None, True, False]  # empty text: not scored
    assert out.column("perplexity_paragraphs").to_pylist()[0] is None
    assert out.column("perplexity_paragraphs").to_pylist()[2] is None
    assert out.column(REASON).to_pylist() == ["gopher_too_few_words", None, None]


def test_paragraph_column_off_by_default_and_columns_typed_on_empty_batch(models):
    out = ppl.apply(table([held_out(1, seed=44)], ["en"]), config(models))
    assert "perplexity_paragraphs" not in out.column_names
    empty = ppl.apply(table([], []), config(models, paragraph_perplexities=True))
    assert empty.schema.field("perplexity").type == pa.float64()
    assert empty.schema.field("perplexity_paragraphs").type == pa.list_(pa.float64())


def test_models_load_once_per_process(models):
    for cached in (ppl._local_copy, ppl._kenlm, ppl._sentencepiece):
        cached.cache_clear()
    cfg = config(models)
    first = ppl.load_models("en", cfg)
    for _ in range(3):
        ppl.apply(table([held_out(2, seed=45)], ["en"]), cfg)
    # a second language on the same files shares the loaded models
    both = config(models, max_perplexity=1e9)
    both = ppl.Config(models={**both.models, "en-gb": both.models["en"]})
    ppl.apply(table([held_out(2, seed=45)] * 2, ["en", "en-GB"]), both)
    assert ppl.load_models("en", cfg)[1] is first[1] and ppl.load_models("en-gb", both)[1] is first[1]
    for cached in (ppl._kenlm, ppl._sentencepiece):
        assert cached.cache_info().misses == 1
    assert ppl._local_copy.cache_info().misses == 2  # one per file


# ----------------------------------------------------------------------------- corpus buckets


def test_corpus_rules_declare_ccnet_buckets():
    assert ppl.corpus_rules(ppl.Config()) == ()
    (rule,) = ppl.corpus_rules(ppl.Config(keep_buckets=("head", "middle")))
    assert rule == corpus.CorpusRule(
        column="perplexity", cuts=(0.3, 0.6), labels=("head", "middle", "tail"),
        reject={"tail": "perplexity_bucket_tail"}, by_language=True, bucket_column="perplexity_bucket",
    )
    (keep_all,) = ppl.corpus_rules(ppl.Config(keep_buckets=("head", "middle", "tail"), bucket_cuts=(0.2, 0.5)))
    assert keep_all.reject == {} and keep_all.cuts == (0.2, 0.5)
    (head_only,) = ppl.corpus_rules(ppl.Config(keep_buckets=("head",)))
    assert head_only.reject == {"middle": "perplexity_bucket_middle", "tail": "perplexity_bucket_tail"}
    assert set(ppl.REASONS) == {"perplexity_too_high", "perplexity_bucket_head", "perplexity_bucket_middle",
                                "perplexity_bucket_tail"}


def test_buckets_cut_each_language_at_its_own_percentiles(models):
    # ten scored documents per language (perplexities far apart across languages), one unscored
    en = [float(v) for v in range(10, 110, 10)]
    de = [float(v) for v in range(1000, 11000, 1000)]
    t = pa.table({
        "text": ["x"] * 21,
        "language": ["en"] * 10 + ["de"] * 10 + ["fr"],
        "perplexity": en + de + [None],
    })
    rules = ppl.corpus_rules(ppl.Config(keep_buckets=("head", "middle")))
    cuts = corpus.cut_values(corpus.summarize(t, rules), rules)
    out = corpus.apply_rules(t, rules, cuts)
    expected = ["head"] * 3 + ["middle"] * 3 + ["tail"] * 4
    assert out.column("perplexity_bucket").to_pylist() == expected + expected + [None]
    reasons = out.column(REASON).to_pylist()
    assert reasons[:10] == [None] * 6 + ["perplexity_bucket_tail"] * 4
    assert reasons[20] is None


# ----------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("data, message", [
    ({"sp_model_template": "m/{lang}.sp.model"}, "set both sp_model_template and lm_model_template"),
    ({"sp_model_template": "m/x.sp.model", "lm_model_template": "m/{lang}.arpa.bin", "languages": ["en"]},
     "sp_model_template must contain {lang}"),
    ({"sp_model_template": "m/{lang}.sp", "lm_model_template": "m/{lang}.arpa"}, "perplexity.languages must list"),
    ({"languages": ["en"]}, "only used with sp_model_template"),
    ({"keep_buckets": ["head", "best"]}, "keep_buckets must name buckets among head, middle, tail"),
    ({"keep_buckets": []}, "keep_buckets must name buckets"),
    ({"bucket_cuts": [0.6, 0.3]}, "bucket_cuts must be two increasing quantiles"),
    ({"bucket_cuts": [0.3]}, "bucket_cuts must be two increasing quantiles"),
    ({"max_perplexity": 0}, "max_perplexity must be > 0"),
    ({"max_perplexity_by_language": {"en": -5}}, "max_perplexity_by_language.en must be a number > 0"),
    ({"models": {"en": {"sp_model": "a"}}}, "perplexity.models.en: .*lm_model"),
    ({"models": {"en": {"sp_model": "a", "lm_model": ""}}}, "lm_model must be a path or URI"),
    ({"punct": "drop"}, "perplexity.punct"),
    ({"lm_load_method": "mmap"}, "lm_load_method"),
    ({"max_perplexty": 10}, "unknown key 'max_perplexty'"),
])
def test_config_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace("{", "\\{").replace("}", "\\}")):
        from_dict(ppl.Config, data, "perplexity")


def test_config_from_yaml_shapes(models):
    sp, arpa = models
    cfg = from_dict(ppl.Config, {
        "models": {"EN": {"sp_model": str(sp), "lm_model": f"file://{arpa}"}},
        "keep_buckets": ["head", "middle"], "max_perplexity_by_language": {"En": 900},
    }, "perplexity")
    assert cfg.models["en"] == ppl.LanguageModels(str(sp), f"file://{arpa}")
    assert cfg.max_perplexity_by_language == {"en": 900.0}
    ppl.check_models(cfg)


def test_check_models_names_the_missing_language_and_ccnet_urls(models, tmp_path):
    sp, arpa = models
    folder = sp.parent
    cfg = ppl.Config(sp_model_template=f"{folder}/{{lang}}.sp.model", lm_model_template=f"{folder}/{{lang}}.arpa",
                     languages=("en",))
    ppl.check_models(cfg)
    missing = ppl.Config(sp_model_template=f"{folder}/{{lang}}.sp.model", lm_model_template=f"{folder}/{{lang}}.arpa",
                         languages=("en", "de"))
    with pytest.raises(ConfigError) as err:
        ppl.check_models(missing)
    text = str(err.value)
    assert "SentencePiece model of language 'de' is missing" in text
    assert "KenLM model of language 'de' is missing" in text and f"{folder}/de.arpa not found" in text
    assert "http://dl.fbaipublicfiles.com/cc_net/lm/de.arpa.bin" in text
    assert "http://dl.fbaipublicfiles.com/cc_net/lm/de.sp.model" in text
    assert "'en'" not in text
    # a worker that meets a missing file says the same
    with pytest.raises(ConfigError, match="SentencePiece model of language 'de' is missing: .*de.sp.model not found"):
        ppl.apply(table(["Some text."], ["de"]), missing)
    with pytest.raises(ConfigError, match="no language models configured"):
        ppl.check_models(ppl.Config())
    with pytest.raises(ConfigError, match="no language models configured"):
        ppl.apply(table(["x"], ["en"]), ppl.Config())
    bad_scheme = ppl.Config(models={"en": ppl.LanguageModels("gs://b/en.sp.model", str(arpa))})
    with pytest.raises(ConfigError, match="unsupported URI scheme"):
        ppl.check_models(bad_scheme)


def test_models_from_s3_are_fetched_once_and_score_the_same(models, moto_s3, s3_env, tmp_path):
    from operators.storage import StorageConfig

    s3_env(moto_s3)
    sp, arpa = models
    bucket = moto_s3.new_bucket()
    client = moto_s3.client()
    client.upload_file(str(sp), bucket, "lm/en.sp.model")
    client.upload_file(str(arpa), bucket, "lm/en.arpa")
    storage_cfg = StorageConfig(endpoint_url=moto_s3.endpoint_url)
    cfg = ppl.Config(sp_model_template=f"s3://{bucket}/lm/{{lang}}.sp.model",
                     lm_model_template=f"s3://{bucket}/lm/{{lang}}.arpa", languages=("en",),
                     cache_dir=str(tmp_path / "cache"))
    ppl.check_models(cfg, storage_cfg)
    texts = [held_out(3, seed=51)]
    remote = ppl.apply(table(texts, ["en"]), cfg).column("perplexity")[0].as_py()
    local = ppl.apply(table(texts, ["en"]), config(models)).column("perplexity")[0].as_py()
    assert remote == local
    assert sorted(p.name.split("-", 1)[1] for p in (tmp_path / "cache").iterdir()) == ["en.arpa", "en.sp.model"]
    gone = ppl.Config(models={"de": ppl.LanguageModels(f"s3://{bucket}/lm/de.sp.model", f"s3://{bucket}/lm/en.arpa")},
                      cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match=f"SentencePiece model of language 'de' is missing: s3://{bucket}/lm/de.sp.model"):
        ppl.check_models(gone, storage_cfg)
    with pytest.raises(ConfigError, match="SentencePiece model of language 'de' is missing"):
        ppl.apply(table(texts, ["de"]), gone)


def test_document_perplexity_formula():
    assert ppl.document_perplexity([-3.0], [3]) == pytest.approx(10.0)
    assert ppl.document_perplexity([-2.0, -4.0], [2, 4]) == pytest.approx(10.0)
    assert math.isclose(ppl.document_perplexity([-1.0, -1.0], [1, 3]), 10 ** 0.5)
