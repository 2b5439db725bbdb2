"""Stand-in models for the recipes that need a published one, built from the bundled sample.

The ``ccnet``, ``arctic``, ``dolma``, ``llama3-web`` and ``dclm`` recipes score text with models
their authors published (CCNet's KenLM and SentencePiece models, Dolma's Jigsaw fastText
classifiers, DCLM's OH-2.5+ELI5 classifier) or did not publish (Llama 3's quality classifier).
raysift never downloads them. To try a recipe end to end without them,
``raysift recipes demo-models DIR`` writes small stand-ins under the file names the recipes
expect, trained in seconds from the bundled sample crawl:

* ``cc_net/en.sp.model`` and ``cc_net/en.arpa.bin``: a SentencePiece model and a bigram model
  (:mod:`operators.ngram_lm`, ARPA text under CCNet's binary's name: KenLM reads either) over
  the text of the sample's pages that the ``fineweb`` filters keep;
* ``dclm/...bin`` and ``llama3/...bin``: fastText classifiers with the published presets
  (``train-classifier --kind dclm`` / ``llama3``), positives = the pages the ``fineweb``
  filters keep, negatives = the pages they reject (a stand-in for "high quality");
* ``dolma/jigsaw_..._{hatespeech,nsfw}_final.bin``: the Jigsaw presets, trained on the sample's
  sentences holding an English LDNOOBW word (positives) against the others;
* ``ut1/blacklists.tar.gz``: a UT1-shaped archive whose ``blacklists/adult/domains`` lists every
  20th host of the sample (sorted), so the URL stage visibly rejects some pages; RefinedWeb's URL
  filter reads the real list the same way.

These are demonstrations of the plumbing, not models to curate real data with: the README says
where each published model is and ``raysift recipes show NAME`` prints the paths it looks for.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

DEMO_FILES: dict[str, str] = {
    "ccnet_sp": "cc_net/en.sp.model",
    "ccnet_lm": "cc_net/en.arpa.bin",
    "dclm": "dclm/openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin",
    "llama3": "llama3/wikipedia_referenced.bin",
    "toxic": "dolma/jigsaw_fasttext_bigrams_hatespeech_final.bin",
    "nsfw": "dolma/jigsaw_fasttext_bigrams_nsfw_final.bin",
    "ut1": "ut1/blacklists.tar.gz",
}
"""Model -> path under the models folder, as the bundled recipes name them (``{models_dir}/...``)."""

_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")


def sample_texts() -> tuple[list[str], list[str], list[str]]:
    """(kept, rejected) texts of the bundled sample under the ``fineweb`` recipe (no Ray), and
    every 20th of the sample's hosts (sorted): the stand-in blocklist."""
    from operators import warc
    from operators.pipeline import annotate_batch
    from operators.recipe import load_recipe
    from operators.samplegen import sample_path
    from operators.filters.urls import host_of
    from operators.schema import REASON, SKIP, TEXT, URL

    cfg = load_recipe("fineweb")
    kept: list[str] = []
    rejected: list[str] = []
    hosts: set[str] = set()
    for path in sample_path():
        with open(path, "rb") as f:
            for table in warc.iter_warc_tables(f, str(path), cfg.warc):
                hosts.update(host_of(url) for url in table.column(URL).to_pylist() if url)
                out = annotate_batch(table, cfg)
                skip = out.column(SKIP).to_pylist() if SKIP in out.column_names else [None] * out.num_rows
                reason = out.column(REASON).to_pylist() if REASON in out.column_names else [None] * out.num_rows
                for text, s, r in zip(out.column(TEXT).to_pylist() if TEXT in out.column_names else [None] * out.num_rows,
                                      skip, reason):
                    if s is None and text:
                        (kept if r is None else rejected).append(text)
    if not kept or not rejected:
        raise RuntimeError("the bundled sample gave no kept or no rejected page; cannot train stand-in models")
    return kept, rejected, sorted(hosts)[::20]


def _sentences(texts: list[str]) -> list[str]:
    return [s.strip() for t in texts for line in t.splitlines() for s in _SENTENCE_RE.split(line) if len(s.split()) >= 4]


def build_demo_models(folder: str | Path, seed: int = 0) -> dict[str, Path]:
    """Write every stand-in model under ``folder``; returns model -> path."""
    import dataclasses

    from operators.classify.fasttext_model import PRESETS, train
    from operators.filters.c4 import BADWORDS_DIR, badwords_regex
    from operators.ngram_lm import build_models

    folder = Path(folder)
    kept, rejected, adult_hosts = sample_texts()
    out = {name: folder / rel for name, rel in DEMO_FILES.items()}
    for path in out.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    sp, arpa = build_models(out["ccnet_sp"].parent, kept, language="en", order=2, vocab_size=2000,
                            arpa_suffix=".arpa.bin")
    assert sp == out["ccnet_sp"] and arpa == out["ccnet_lm"]
    def small(kind: str):  # the published settings, with a small hash table and vectors (a few MB)
        return dataclasses.replace(PRESETS[kind], bucket=100_000, dim=32, small_bucket=100_000, small_dim=32)

    train(kept, rejected, small("dclm"), str(out["dclm"]))
    train(kept, rejected, small("llama3"), str(out["llama3"]))
    bad = badwords_regex("en")
    sentences = _sentences(kept + rejected)[:20_000]
    flagged = [s for s in sentences if bad is not None and bad.search(s.lower())]
    clean = [s for s in sentences if bad is None or not bad.search(s.lower())]
    rng = random.Random(seed)
    if len(flagged) < 20:  # the sample is mostly clean: mark clean sentences with listed words
        listed = [w.strip() for w in (BADWORDS_DIR / "en.txt").read_text(encoding="utf-8").splitlines()]
        words = [w for w in listed if w.isalpha()]
        flagged += [f"{s} {' '.join(rng.sample(words, 3))}" for s in rng.sample(clean, min(len(clean), 1000))]
    for kind in ("toxic", "nsfw"):
        train(flagged, clean, small("toxicity" if kind == "toxic" else "nsfw"), str(out[kind]))
    _write_ut1(out["ut1"], adult_hosts)
    return out


def _write_ut1(path: Path, domains: list[str]) -> None:
    """A UT1-shaped ``.tar.gz``: ``blacklists/adult/domains``, one domain per line."""
    import io
    import tarfile

    data = "".join(f"{d}\n" for d in domains).encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("blacklists/adult/domains")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
