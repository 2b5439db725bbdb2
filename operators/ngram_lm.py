"""Small SentencePiece + n-gram language models, trained from your own text (no ``lmplz`` needed).

CCNet (Wenzek et al. 2020, §3.3) scores text with a 5-gram KenLM model (``lmplz``, modified
Kneser-Ney) over the pieces of a unigram SentencePiece model, both trained on CCNet-normalised
Wikipedia, and publishes them for 48 languages. For a language it does not cover, a quick
demo (``raysift recipes demo-models``) or tests, :func:`build_models` trains the SentencePiece
model offline and :func:`write_arpa` estimates a smaller model itself: an absolute-discount
backoff model, written in ARPA format (which KenLM loads):

* unigrams: add-``unigram_add`` estimates over the vocabulary (every SentencePiece piece, the
  words seen, ``</s>`` and ``<unk>``); ``<s>`` gets log10 probability -99 (never predicted);
* order k >= 2: a seen k-gram ``h w`` gets ``(c(h w) - D) / c(h)`` with ``c(h)`` the count of
  ``h`` followed by any word; the mass left, ``D * types(h) / c(h)``, goes to the lower order
  through the backoff weight ``alpha(h) = left / (1 - sum of the lower-order probabilities of
  the words seen after h)``, so that every context's distribution sums to one.

Such a model is no substitute for CCNet's Wikipedia models when comparing perplexities with
published corpora: train on Wikipedia-like text of the language for that.
"""

from __future__ import annotations

import io
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from operators.filters.ccnet_normalize import normalize

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


def normalized_lines(texts: Iterable[str]) -> list[str]:
    """The non-empty CCNet-normalised lines of ``texts`` (what CCNet trains and scores on)."""
    return [n for t in texts for line in t.split("\n") if (n := normalize(line))]


def train_sentencepiece(lines: Sequence[str], path: str | Path, vocab_size: int = 1000,
                        model_type: str = "unigram") -> Path:
    """Train a SentencePiece model on the CCNet-normalised ``lines``; write it to ``path``."""
    import sentencepiece as spm

    corpus = normalized_lines(lines)
    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_writer=proto, vocab_size=vocab_size,
        model_type=model_type, character_coverage=1.0, num_threads=1, minloglevel=2,
        hard_vocab_limit=False,
    )
    path = Path(path)
    path.write_bytes(proto.getvalue())
    return path


def tokenize(sp_model: str | Path, lines: Sequence[str]) -> list[list[str]]:
    """SentencePiece pieces of each CCNet-normalised, non-empty line of ``lines``."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(sp_model))
    return sp.encode(normalized_lines(lines), out_type=str)


def sp_vocabulary(sp_model: str | Path) -> list[str]:
    """Every piece of the SentencePiece model except its control symbols and ``<unk>``."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(sp_model))
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size())
            if not (sp.is_control(i) or sp.is_unknown(i))]


def write_arpa(sentences: Iterable[Sequence[str]], path: str | Path, order: int = 2,
               vocabulary: Iterable[str] = (), discount: float = 0.7, unigram_add: float = 0.5) -> Path:
    """Estimate an absolute-discount backoff n-gram model and write it as ARPA (module docstring)."""
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    if not 0 < discount < 1:
        raise ValueError(f"discount must be in (0, 1), got {discount}")
    counts: list[Counter] = [Counter() for _ in range(order + 1)]  # counts[k][k-gram tuple]
    for sentence in sentences:
        padded = (BOS, *sentence, EOS)
        for i in range(1, len(padded)):  # every predicted position (never <s>)
            for k in range(1, min(order, i + 1) + 1):
                counts[k][padded[i - k + 1: i + 1]] += 1
    vocab = {w for w in vocabulary if w not in (BOS, EOS, UNK)} | {g[0] for g in counts[1]} | {EOS, UNK}
    vocab.discard(BOS)
    total = sum(counts[1].values())
    denominator = total + unigram_add * len(vocab)
    prob: dict[tuple[str, ...], float] = {(w,): (counts[1][(w,)] + unigram_add) / denominator for w in vocab}

    def full_prob(ctx: tuple[str, ...], w: str) -> float:
        """P(w | ctx) under the orders estimated so far, with backoff."""
        if (*ctx, w) in prob:
            return prob[(*ctx, w)]
        if not ctx:
            return prob[(UNK,)]
        return backoff.get(ctx, 1.0) * full_prob(ctx[1:], w)

    backoff: dict[tuple[str, ...], float] = {}
    for k in range(2, order + 1):
        followers: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
        for gram, c in counts[k].items():
            followers[gram[:-1]].append((gram[-1], c))
        new: dict[tuple[str, ...], float] = {}
        for ctx, seen in followers.items():
            c_ctx = sum(c for _, c in seen)
            left = discount * len(seen) / c_ctx
            lower = sum(full_prob(ctx[1:], w) for w, _ in seen)
            if lower >= 1.0 - 1e-12:
                raise ValueError(f"context {' '.join(ctx)!r} is followed by every word; use a larger vocabulary")
            for w, c in seen:
                new[(*ctx, w)] = (c - discount) / c_ctx
            backoff[ctx] = left / (1.0 - lower)
        prob.update(new)

    by_order: list[list[tuple[str, ...]]] = [[] for _ in range(order + 1)]
    for gram in prob:
        by_order[len(gram)].append(gram)
    by_order[1].append((BOS,))
    path = Path(path)
    with open(path, "w", encoding="utf-8") as out:
        out.write("\n\\data\\\n")
        for k in range(1, order + 1):
            out.write(f"ngram {k}={len(by_order[k])}\n")
        for k in range(1, order + 1):
            out.write(f"\n\\{k}-grams:\n")
            for gram in sorted(by_order[k]):
                logp = -99.0 if gram == (BOS,) else math.log10(prob[gram])
                line = f"{logp:.9f}\t{' '.join(gram)}"
                if k < order and gram in backoff:
                    line += f"\t{math.log10(backoff[gram]):.9f}"
                out.write(line + "\n")
        out.write("\n\\end\\\n")
    return path


def build_models(folder: str | Path, lines: Sequence[str], language: str = "en", order: int = 2,
                 vocab_size: int = 1000, arpa_suffix: str = ".arpa") -> tuple[Path, Path]:
    """Train ``<language>.sp.model`` and write ``<language><arpa_suffix>`` in ``folder`` from ``lines``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sp_path = train_sentencepiece(lines, folder / f"{language}.sp.model", vocab_size=vocab_size)
    arpa_path = write_arpa(tokenize(sp_path, lines), folder / f"{language}{arpa_suffix}", order=order,
                           vocabulary=sp_vocabulary(sp_path))
    return sp_path, arpa_path
