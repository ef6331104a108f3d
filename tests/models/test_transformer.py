import pytest
import torch

from liteformer.models.transformer import (
    TransformerConfig,
    TransformerForSequenceClassification,
    count_parameters,
)


def _batch(B=2, T=7, V=100):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    if B > 1:
        mask[1, 4:] = 0
        ids[1, 4:] = 0
    return ids, mask


def test_classifier_shapes_and_per_layer_widths():
    cfg = TransformerConfig.tiny(num_layers=3, num_heads=[4, 2, 1], ffn_dim=[64, 16, 8], head_dim=8)
    model = TransformerForSequenceClassification(cfg).eval()
    ids, mask = _batch()
    assert model(ids, mask).shape == (2, 2)
    assert [blk.attn.n_heads for blk in model.encoder.layers] == [4, 2, 1]
    assert [blk.ffn.up.out_features for blk in model.encoder.layers] == [64, 16, 8]
    assert model.encoder.layers[2].attn.q.weight.shape == (8, 32)
    assert not cfg.uniform
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())


def test_padding_does_not_change_logits():
    torch.manual_seed(0)
    model = TransformerForSequenceClassification(TransformerConfig.tiny()).eval()
    ids, mask = _batch()
    full = model(ids, mask)[1]
    short = model(ids[1:, :4], mask[1:, :4])[0]
    torch.testing.assert_close(full, short, atol=1e-5, rtol=1e-5)


def test_need_weights_path_matches_sdpa_and_returns_distributions():
    torch.manual_seed(0)
    model = TransformerForSequenceClassification(TransformerConfig.tiny()).eval()
    ids, mask = _batch()
    fast = model.encoder(ids, mask).last_hidden
    out = model.encoder(ids, mask, output_hidden_states=True, output_attentions=True)
    torch.testing.assert_close(fast, out.last_hidden, atol=1e-5, rtol=1e-5)
    assert len(out.hidden_states) == 3 and len(out.attentions) == 2
    att = out.attentions[0]
    assert att.shape == (2, 4, 7, 7)
    torch.testing.assert_close(att.sum(-1), torch.ones(2, 4, 7))
    assert att[1, :, :, 4:].abs().max() == 0  # padding keys get no attention


def test_factorized_embedding():
    cfg = TransformerConfig.tiny(embedding_dim=8)
    model = TransformerForSequenceClassification(cfg)
    assert model.encoder.embeddings.word.weight.shape == (100, 8)
    assert model(*_batch()).shape == (2, 2)


@pytest.mark.parametrize("bad", [dict(num_heads=[4, 4, 4]), dict(ffn_dim=0), dict(num_heads=3),
                                 dict(activation="swish"), dict(pooler="max"), dict(pad_token_id=100)])
def test_config_rejects_impossible_values(bad):
    with pytest.raises(ValueError):
        TransformerConfig.tiny(**bad)


def test_config_dict_round_trip():
    cfg = TransformerConfig.tiny(num_heads=[4, 2], head_dim=8, id2label={0: "neg", 1: "pos"})
    again = TransformerConfig.from_dict(cfg.to_dict())
    assert again == cfg
    with pytest.raises(ValueError, match="unknown config keys"):
        TransformerConfig.from_dict({**cfg.to_dict(), "n_embd": 3})


def test_torch_export_dynamic_sequence_length():
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(num_heads=[4, 2], ffn_dim=[64, 16], head_dim=8)
    model = TransformerForSequenceClassification(cfg).eval()
    ids, mask = _batch(T=8)
    seq = torch.export.Dim("seq", min=2, max=cfg.max_positions)
    ep = torch.export.export(model, (ids, mask), dynamic_shapes=({1: seq}, {1: seq}), strict=False)
    for T in (3, 8, 20):
        ids, mask = _batch(T=T)
        torch.testing.assert_close(ep.module()(ids, mask), model(ids, mask))
