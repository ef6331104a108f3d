"""Structured pruning of an encoder-decoder: decoder self-attention, cross-attention and decoder FFN
units removed exactly, scored on sentence pairs, to a share of the translation cost; the cost model
against PyTorch's own FLOP count of greedy decoding."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from liteformer.compress.prune import StructuredConfig, TaskData, prune_
from liteformer.compress.prune.importance import seq2seq_importance
from liteformer.compress.prune.structured import keep_heads, keep_neurons
from liteformer.errors import LiteformerError
from liteformer.models.checkpoint import load_model, save_model
from liteformer.models.cost import macs_per_sentence
from liteformer.models.seq2seq import TransformerForSeq2SeqLM
from liteformer.models.transformer import TransformerConfig


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = TransformerConfig.tiny(**{"vocab_size": 60, "num_decoder_layers": 2, "type_vocab_size": 0,
                                    "pooler": "none", "num_labels": 1, "norm_first": True, **kw})
    return TransformerForSeq2SeqLM(cfg).eval()


def _pairs(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        s, t = (int(x) for x in torch.randint(3, 9, (2,), generator=g))
        out.append((torch.randint(4, 60, (s,), generator=g).tolist() + [2],
                    torch.randint(4, 60, (t,), generator=g).tolist() + [2]))
    return out


def _logits(model, pairs):
    from liteformer.data.batching import pad_batch
    src, sm = pad_batch([p[0] for p in pairs], 0)
    dec, dm = pad_batch([[1, *p[1][:-1]] for p in pairs], 0)
    with torch.no_grad():
        return model(src, sm, dec, dm)


def test_removing_dead_decoder_units_keeps_logits():
    model = _model()
    d = model.config.head_dim
    with torch.no_grad():
        model.decoder.layers[0].attn.out.weight[:, :d] = 0  # self-attention head 0 of decoder layer 0
        model.decoder.layers[1].cross.out.weight[:, 2 * d : 3 * d] = 0  # cross head 2 of decoder layer 1
        model.decoder.layers[1].ffn.down.weight[:, 5:15] = 0  # decoder neurons 5..14 of layer 1
    pairs = _pairs(6)
    ref = _logits(model, pairs)
    keep_heads(model, 0, [1, 2, 3], "decoder_heads")
    keep_heads(model, 1, [0, 1, 3], "cross_heads")
    keep_neurons(model, 1, [*range(5), *range(15, 64)], "decoder_neurons")
    c = model.config
    assert c.decoder_num_heads == [3, 4] and c.decoder_cross_heads == [4, 3] and c.decoder_ffn_dim == [64, 54]
    assert torch.allclose(_logits(model, pairs), ref, atol=1e-5)
    with pytest.raises(LiteformerError, match="every head of layer 0 of the decoder's cross"):
        keep_heads(model, 0, [], "cross_heads")


def test_seq2seq_importance_scores_every_kind():
    model = _model()
    with torch.no_grad():
        model.decoder.layers[1].cross.out.weight[:, :8] = 0  # cross head 0 of layer 1 is dead
    imp = seq2seq_importance(model, _pairs(), 0, 1, batch_size=8, progress=False)
    assert [len(h) for h in imp.heads] == [4, 4] and [len(h) for h in imp.decoder_heads] == [4, 4]
    assert [len(h) for h in imp.cross_heads] == [4, 4] and [len(f) for f in imp.decoder_neurons] == [64, 64]
    assert imp.cross_heads[1][0] == 0 and (imp.cross_heads[1][1:] > 0).all() and imp.examples == 24
    assert (imp.decoder_heads[0] > 0).all() and imp.layers is None and "cross_heads" in imp.to_dict()


def test_cost_model_matches_pytorch_flop_count_of_greedy_decoding():
    """2 × macs_per_sentence = the matmul FLOPs PyTorch counts for encode + T cached decoder steps,
    up to the cache's unwritten positions (attention runs over all L slots, masked)."""
    model = _model(num_heads=[4, 2], ffn_dim=[64, 48], decoder_num_heads=[2, 4], decoder_cross_heads=[4, 1])
    S, T = 7, 5
    # the math backend: attention as matmuls PyTorch counts (its fused CPU kernel is not counted)
    with FlopCounterMode(display=False) as fc, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        state = model.encode(torch.randint(4, 60, (1, S)), torch.ones(1, S, dtype=torch.long), max_target=T)
        token = torch.tensor([[1]])
        for t in range(T):
            logits, state = model.decode_step(token, torch.tensor([t]), state)
            token = logits.argmax(-1, keepdim=True)
    cfg, d = model.config, model.config.head_dim
    # the cached step attends over all T slots (masked) where the cost model counts t + 1 of them
    cache_extra = sum(2 * n * d * (T * T - T * (T + 1) // 2) for n in cfg.decoder_num_heads)
    assert fc.get_total_flops() == 2 * macs_per_sentence(cfg, S, T) + 2 * cache_extra


@pytest.mark.parametrize("by", ["flops", "params"])
def test_structured_prune_of_an_encoder_decoder(tmp_path, by, tokenizer_nmt):
    tok = tokenizer_nmt
    model = _model(seed=1, ffn_dim=96, vocab_size=tok.vocab_size)
    texts = ["a man rides a bike .", "two dogs play in the snow .", "a woman is reading a book ."] * 8
    targets = ["ein mann fährt fahrrad .", "zwei hunde spielen im schnee .", "eine frau liest ein buch ."] * 8
    data = TaskData(tok, texts, None, 32, progress=False, targets=targets)
    cfg = model.config
    before = 2 * macs_per_sentence(cfg, 12, 12)
    report = prune_(model, StructuredConfig(0.6, by=by, length=12, min_neurons=8), data).report
    assert 0.5 <= report["kept"] <= 0.6 and "cross_heads_after" in report
    if by == "flops":
        assert 2 * macs_per_sentence(model.config, 12, 12) <= 0.6 * before
    shrunk = sum(model.config.decoder_num_heads) + sum(model.config.decoder_cross_heads) < 16
    assert shrunk or sum(model.config.decoder_ffn_dim) < 2 * 96  # the decoder was pruned too
    save_model(model, tok, tmp_path / "m")
    back = load_model(tmp_path / "m").model
    pairs = [(a, b) for a, b in zip(tok.encode(texts[:3], 32).ids, tok.encode(targets[:3], 32).ids, strict=True)]
    assert torch.equal(_logits(back, pairs), _logits(model, pairs))
    with pytest.raises(LiteformerError, match="encoder-only"):
        prune_(model, StructuredConfig(0.5, drop_layers=1), data)


@pytest.fixture(scope="module")
def tokenizer_nmt():
    from liteformer.data.parallel import read_parallel
    from liteformer.data.subword import train_subword
    pairs = read_parallel("multi30k:val")
    return train_subword(pairs.sources + pairs.targets, 200)
