"""The encoder-decoder with its key/value cache, the decoder stacks, and generation."""

import pytest
import torch

from liteformer.models.seq2seq import TransformerForCausalLM, TransformerForSeq2SeqLM
from liteformer.models.transformer import TransformerConfig
from tests.models.test_transformer import _batch


def test_causal_lm_is_causal():
    torch.manual_seed(0)
    model = TransformerForCausalLM(TransformerConfig.tiny(norm_first=True)).eval()
    ids, _ = _batch(B=1)
    a = model(ids)
    ids2 = ids.clone()
    ids2[0, 5] = 7  # changing a later token leaves earlier positions untouched
    b = model(ids2)
    torch.testing.assert_close(a[0, :5], b[0, :5])
    assert not torch.allclose(a[0, 5:], b[0, 5:])
    assert a.shape == (1, 7, 100)


def test_seq2seq_shapes_and_heterogeneous_decoder():
    cfg = TransformerConfig.tiny(num_decoder_layers=2, decoder_num_heads=[4, 2], decoder_ffn_dim=[32, 16], head_dim=8)
    model = TransformerForSeq2SeqLM(cfg).eval()
    src, smask = _batch(T=9)
    tgt, tmask = _batch(T=5)
    assert model(src, smask, tgt, tmask).shape == (2, 5, 100)
    assert model.decoder.embeddings.word is model.encoder.embeddings.word


def test_torch_export_decoder_dynamic_length():
    torch.manual_seed(0)
    model = TransformerForCausalLM(TransformerConfig.tiny()).eval()
    ids, mask = _batch(T=8)
    seq = torch.export.Dim("seq", min=2, max=64)
    ep = torch.export.export(model, (ids, mask), dynamic_shapes=({1: seq}, {1: seq}), strict=False)
    ids, mask = _batch(T=13)
    torch.testing.assert_close(ep.module()(ids, mask), model(ids, mask))


def _nmt(**kw):
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(num_decoder_layers=2, type_vocab_size=0, pooler="none", **kw)
    return TransformerForSeq2SeqLM(cfg).eval()


@pytest.mark.parametrize("kw", [dict(), dict(norm_first=True, positions="sinusoidal"),
                                dict(decoder_num_heads=[4, 2], decoder_ffn_dim=[32, 16], head_dim=8)])
def test_cached_steps_give_the_full_decoders_logits(kw):
    """decode_step at position t == the teacher-forced decoder's logits at t, for every t and row."""
    model = _nmt(**kw)
    src, smask = _batch(T=9)
    tgt = torch.randint(5, 100, (2, 6), generator=torch.Generator().manual_seed(1))
    full = model(src, smask, tgt)  # (B, T, V)
    state = model.encode(src, smask, max_target=12)
    for t in range(tgt.shape[1]):
        logits, state = model.decode_step(tgt[:, t:t + 1], torch.tensor([t]), state)
        torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-4)


def test_state_select_reorders_rows():
    model = _nmt()
    src, smask = _batch(T=9)
    state = model.encode(src, smask, max_target=4)
    again = state.select(torch.tensor([1, 1, 0]))
    assert again.cross_k[0].shape[0] == 3 and torch.equal(again.cross_k[0][2], state.cross_k[0][0])
    assert torch.equal(again.source_mask[0], state.source_mask[1])


def test_sinusoidal_positions_are_fixed():
    model = _nmt(positions="sinusoidal")
    emb = model.encoder.embeddings
    assert emb.position is None and emb.sinusoids.shape == (64, 32)
    assert "encoder.embeddings.sinusoids" not in model.state_dict()  # derived, not saved
    with pytest.raises(ValueError, match="positions"):
        TransformerConfig.tiny(positions="rotary")
