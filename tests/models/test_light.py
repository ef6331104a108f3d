"""Light blocks (models/light.py): shapes, padding-exact convolutions, the causal convolution cache,
the config's one-line errors, MACs and the own format."""

import pytest
import torch

from liteformer.models.cost import macs_per_example, macs_per_sentence
from liteformer.models.light import DepthwiseConv, InvertedFeedForward, LocalBranch, NoNorm
from liteformer.models.seq2seq import TransformerForSeq2SeqLM
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification

LIGHT = {
    "lsra": dict(conv_dim=16),
    "lsra-per-layer": dict(conv_dim=[16, 0], conv_kernel=[3, 5], norm_first=True),
    "conv-module": dict(conv_module=True),
    "inverted-ffn": dict(ffn_type="inverted", conv_kernel=3),
    "mobilebert": dict(bottleneck_dim=16, ffn_stack=3, norm="nonorm", num_heads=2, activation="relu"),
    "mobilebert-pre-ln": dict(bottleneck_dim=16, norm_first=True, num_heads=2, conv_dim=8),
}


def _classifier(**kw) -> TransformerForSequenceClassification:
    torch.manual_seed(0)
    return TransformerForSequenceClassification(TransformerConfig.tiny(**kw)).eval()


@pytest.mark.parametrize("name", LIGHT)
def test_light_encoder_is_exact_under_padding(name):
    """Every real position's hidden state is that of the unpadded sequence: padded frames are zeroed
    before each convolution (static-length buckets stay exact)."""
    model = _classifier(**LIGHT[name])
    assert model.config.light
    ids = torch.randint(1, 100, (2, 5), generator=torch.Generator().manual_seed(1))
    short = model.encoder(ids, torch.ones_like(ids)).last_hidden  # (2, 5, 32)
    pad = torch.cat([ids, torch.randint(1, 100, (2, 6))], 1)
    mask = torch.cat([torch.ones_like(ids), torch.zeros(2, 6, dtype=ids.dtype)], 1)
    long = model.encoder(pad, mask).last_hidden[:, :5]
    assert short.shape == (2, 5, 32)
    torch.testing.assert_close(short, long, atol=1e-5, rtol=1e-4)
    assert model(pad, mask).shape == (2, 2)


def test_without_zeroing_padding_would_leak():
    model = _classifier(conv_dim=16)
    model.encoder.convolves = False  # no keep mask: the padding's garbage reaches real tokens
    ids = torch.randint(1, 100, (1, 5))
    pad = torch.cat([ids, torch.randint(1, 100, (1, 6))], 1)
    mask = torch.cat([torch.ones_like(ids), torch.zeros(1, 6, dtype=ids.dtype)], 1)
    a = model.encoder(ids, torch.ones_like(ids)).last_hidden
    b = model.encoder(pad, mask).last_hidden[:, :5]
    assert (a - b).abs().max() > 1e-4


def test_block_shapes_and_modules():
    model = _classifier(conv_dim=[16, 8], conv_kernel=[3, 7], conv_module=[True, False])
    b0, b1 = model.encoder.layers
    assert b0.attn.q.in_features == 16 and b0.local.glu.in_features == 16 and b0.local.conv.kernel == 3
    assert b1.attn.q.in_features == 24 and b1.local.conv.conv.groups == 8 and b1.conv is None
    assert b0.conv.conv.conv.groups == 32  # the conv module: depthwise over all 32 channels
    mb = _classifier(bottleneck_dim=16, ffn_stack=4, norm="nonorm", num_heads=2)
    blk = mb.encoder.layers[0]
    assert blk.bottleneck_in.out_features == 16 and blk.ffn.up.in_features == 16 and len(blk.more_ffns) == 3
    assert isinstance(blk.attn_norm, NoNorm) and isinstance(mb.encoder.embeddings.norm, NoNorm)
    assert isinstance(_classifier(ffn_type="inverted").encoder.layers[0].ffn, InvertedFeedForward)


def test_depthwise_conv_matches_a_per_channel_reference():
    torch.manual_seed(0)
    conv = DepthwiseConv(3, 5, causal=False)
    x = torch.randn(2, 9, 3)
    w, b = conv.conv.weight, conv.conv.bias
    ref = torch.stack([torch.nn.functional.conv1d(x[:, :, c][:, None], w[c:c + 1], b[c:c + 1], padding=2)[:, 0]
                       for c in range(3)], -1)
    torch.testing.assert_close(conv(x), ref)


def test_causal_branch_step_by_step_equals_full():
    torch.manual_seed(0)
    branch = LocalBranch(4, 5, causal=True)
    x = torch.randn(2, 8, 4)
    full = branch(x)
    cache = torch.zeros(2, 4, 4)
    for t in range(8):
        y, cache = branch.step(x[:, t:t + 1], cache)
        torch.testing.assert_close(y[:, 0], full[:, t], atol=1e-6, rtol=1e-5)
    y2 = branch(x.clone().index_fill_(1, torch.tensor([7]), 3.0))
    torch.testing.assert_close(y2[:, :7], full[:, :7])  # a later frame does not change earlier outputs


@pytest.mark.parametrize("kw", [dict(decoder_conv_dim=16, decoder_conv_kernel=3),
                                dict(decoder_conv_dim=[16, 0], norm_first=True, conv_dim=8)])
def test_lsra_decoder_cached_steps_equal_full_decoding(kw):
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(num_decoder_layers=2, type_vocab_size=0, pooler="none", **kw)
    model = TransformerForSeq2SeqLM(cfg).eval()
    src = torch.randint(5, 100, (2, 9))
    tgt = torch.randint(5, 100, (2, 6), generator=torch.Generator().manual_seed(1))
    full = model(src, torch.ones_like(src), tgt)  # (B, T, V)
    state = model.encode(src, torch.ones_like(src), max_target=12)
    assert state.conv[0].shape == (2, 16, cfg.decoder_conv_kernel[0] - 1)
    for t in range(tgt.shape[1]):
        logits, state = model.decode_step(tgt[:, t:t + 1], torch.tensor([t]), state)
        torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-4)
    again = state.select(torch.tensor([1, 0]))
    assert torch.equal(again.conv[0][0], state.conv[0][1])


@pytest.mark.parametrize(("kw", "msg"), [
    (dict(conv_dim=16, conv_kernel=4), "odd"),
    (dict(conv_dim=16, conv_kernel=1), "odd and >= 3"),
    (dict(conv_dim=32), "0 .. 31"),
    (dict(conv_dim=14), "attention width 18 is not divisible by num_heads 4"),
    (dict(conv_dim=-1), ">= 0"),
    (dict(conv_kernel=99), "longer than max_positions"),
    (dict(decoder_conv_dim=8), "needs a decoder"),
    (dict(bottleneck_dim=32), "bottleneck_dim must be"),
    (dict(bottleneck_dim=16, num_decoder_layers=1), "encoder layers"),
    (dict(norm="batch"), "norm 'batch'"),
    (dict(ffn_type="moe"), "ffn_type"),
    (dict(ffn_stack=0), "ffn_stack"),
    (dict(conv_module="yes"), "true/false"),
])
def test_config_refuses_bad_light_switches(kw, msg):
    with pytest.raises(ValueError, match=msg):
        TransformerConfig.tiny(**kw)


def test_macs_count_the_light_blocks():
    """The MACs of a light layer, counted by hand for T tokens (matrix products and convolutions)."""
    T, H = 10, 32
    plain = macs_per_example(TransformerConfig.tiny(num_layers=1), T)
    lsra = macs_per_example(TransformerConfig.tiny(num_layers=1, conv_dim=16, conv_kernel=3), T)
    a, c, k = 16, 16, 3
    attn_plain = 4 * T * H * H + 2 * T * T * H
    attn_lsra = 4 * T * a * a + 2 * T * T * a + T * (c * 2 * c + c * k + c * c)
    assert plain - lsra == attn_plain - attn_lsra
    conv = macs_per_example(TransformerConfig.tiny(num_layers=1, conv_module=True, conv_kernel=3), T)
    assert conv - plain == T * (H * 2 * H + H * 3 + H * H)
    inv = macs_per_example(TransformerConfig.tiny(num_layers=1, ffn_type="inverted", conv_kernel=3), T)
    assert inv - plain == T * 64 * 3
    mb = macs_per_example(TransformerConfig.tiny(num_layers=1, bottleneck_dim=16, num_heads=2, ffn_stack=2), T)
    b = 16
    mobile = 2 * T * H * b + 4 * T * b * b + 2 * T * T * b + 2 * 2 * T * b * 64
    assert mb - plain == mobile - (attn_plain + 2 * T * H * 64)
    nmt = dict(num_decoder_layers=1, num_layers=1, type_vocab_size=0, pooler="none")
    dec_plain = macs_per_sentence(TransformerConfig.tiny(**nmt), 9, 6)
    dec_lsra = macs_per_sentence(TransformerConfig.tiny(**nmt, decoder_conv_dim=16, decoder_conv_kernel=3,
                                                  decoder_num_heads=2, decoder_cross_heads=4), 9, 6)
    T = 6
    assert dec_plain - dec_lsra == (4 * T * H * H + T * (T + 1) * H) - (4 * T * a * a + T * (T + 1) * a + T * (
        c * 2 * c + c * k + c * c))
