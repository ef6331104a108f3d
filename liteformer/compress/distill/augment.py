"""TinyBERT-style data augmentation: new sentences for the teacher to label.

TinyBERT replaces each word, with probability p, by one of its K nearest neighbours (GloVe vectors
for whole words). Offline we have no GloVe, but the teacher's own input embeddings place words the
teacher treats alike close together, so the neighbours come from there: a corpus word that is one
piece of the teacher's vocabulary is swapped for one of its K most cosine-similar corpus words.
Words the vocabulary splits into several pieces (rare words, names) stay as they are. The teacher
labels every new sentence (soft targets only), so a swap that flips the sentiment is a lesson too.
Without a teacher vocabulary, a swapped word is drawn from the corpus by frequency.
"""

from __future__ import annotations

import random

import torch

from liteformer.data.tokenizer import TextTokenizer


def _corpus_words(texts: list[str]) -> list[str]:
    return [w for t in texts for w in t.split()]


@torch.no_grad()
def embedding_neighbours(texts: list[str], tokenizer: TextTokenizer, word_embedding: torch.nn.Module,
                         k: int = 15, block: int = 2048) -> dict[str, list[str]]:
    """word -> its ``k`` nearest corpus words by the cosine of their input embeddings."""
    vocab = tokenizer.tok.get_vocab()
    words = sorted({w for w in _corpus_words(texts) if w.isalpha() and w in vocab})
    if len(words) < 2:
        return {}
    ids = torch.tensor([vocab[w] for w in words])
    emb = torch.nn.functional.normalize(word_embedding(ids).float(), dim=-1)  # (W, H)
    k = min(k, len(words) - 1)
    out: dict[str, list[str]] = {}
    for s in range(0, len(words), block):
        sim = emb[s:s + block] @ emb.T  # (b, W)
        sim[torch.arange(sim.shape[0]), torch.arange(s, s + sim.shape[0])] = -2.0  # not itself
        top = sim.topk(k, dim=1).indices
        for i, row in enumerate(top.tolist()):
            out[words[s + i]] = [words[j] for j in row]
    return out


def augment_texts(texts: list[str], copies: int, p: float = 0.15, seed: int = 0,
                  neighbours: dict[str, list[str]] | None = None) -> list[str]:
    """``copies`` new versions of each sentence, each word replaced with probability ``p`` by one of
    its ``neighbours`` (or, without them, by a corpus word drawn by frequency)."""
    if copies <= 0:
        return []
    rng = random.Random(seed)
    corpus = _corpus_words(texts)
    if not corpus:
        return []

    def swap(w: str) -> str:
        if rng.random() >= p:
            return w
        if neighbours is None:
            return rng.choice(corpus)
        near = neighbours.get(w)
        return rng.choice(near) if near else w

    return [" ".join(swap(w) for w in t.split()) for t in texts for _ in range(copies)]
