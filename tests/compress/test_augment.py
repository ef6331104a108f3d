"""TinyBERT-style augmentation: neighbours from the teacher's input embeddings, swaps at rate p."""

import torch

from liteformer.compress.distill.augment import augment_texts, embedding_neighbours


def test_frequency_swaps_keep_the_length():
    out = augment_texts(["a b c d", "e f"], copies=2, p=0.5, seed=1)
    assert len(out) == 4 and [len(o.split()) for o in out] == [4, 4, 2, 2]
    assert augment_texts(["x"], 0) == [] and augment_texts([""], 2) == []


def test_neighbours_come_from_the_embedding_and_swaps_use_them(tokenizer):
    vocab = tokenizer.tok.get_vocab()
    words = [w for w in ("the", "a", "and", "of", "is", "it", "film") if w in vocab]
    assert len(words) >= 4
    table = torch.nn.Embedding(tokenizer.vocab_size, 8)
    with torch.no_grad():
        table.weight.copy_(torch.randn(tokenizer.vocab_size, 8, generator=torch.Generator().manual_seed(0)))
        table.weight[vocab[words[1]]] = table.weight[vocab[words[0]]] * 2 + 0.01  # same direction
    texts = [" ".join(words), "zzzqxj " + words[0]]  # a word the vocabulary splits keeps no neighbours
    near = embedding_neighbours(texts, tokenizer, table, k=2)
    assert set(near) == set(words) and near[words[0]][0] == words[1] and near[words[1]][0] == words[0]
    assert all(w not in ns and len(ns) == 2 for w, ns in near.items())
    out = augment_texts(texts, copies=3, p=1.0, seed=0, neighbours=near)
    for o, t in zip(out, [texts[0]] * 3 + [texts[1]] * 3, strict=True):
        for new, old in zip(o.split(), t.split(), strict=True):
            assert new in near.get(old, [old])
