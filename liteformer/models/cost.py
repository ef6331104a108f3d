"""Cost accounting of the own Transformer from its config (per-layer widths, low-rank factors):
multiply-accumulates per example (a classifier), per translated sentence (an encoder-decoder
decoding greedily with its cache) or per transcribed clip (a CTC speech model). The bench reports it
(and the roofline from it); structured pruning prunes to a share of it. Parameters: ``transformer.count_parameters``."""

from __future__ import annotations

from liteformer.models.transformer import TransformerConfig


def macs_per_example(cfg: TransformerConfig, length: int) -> int:
    """MACs of one sequence-classification forward pass at ``length`` tokens (FLOPs ≈ 2 × MACs).

    Counts the matrix products (projections, QKᵀ, AV, FFN, pooler, classifier); lookups,
    softmax, LayerNorm and activations are O(T·H) and left out. A low-rank Linear costs r(in+out)
    per token instead of in·out; a low-rank word embedding adds its r -> H projection.
    """
    H = cfg.hidden_size
    macs = _encoder_macs(cfg, length)
    if cfg.pooler != "none":
        macs += _linear(cfg, "pooler", H, H, tokens=1)
    return macs + _linear(cfg, "classifier", H, cfg.num_labels, tokens=1)


def macs_per_sentence(cfg: TransformerConfig, source: int, target: int) -> int:
    """MACs of translating one sentence of ``source`` tokens into ``target`` tokens with an
    encoder-decoder decoding greedily with its cache: the encoder once; per output token each decoder
    layer's self-attention over the positions so far, its cross-attention over the source (whose
    keys/values are computed once) and FFN; the tied output projection (V × H) per token."""
    S, T, H, d = source, target, cfg.hidden_size, cfg.head_dim
    macs = _encoder_macs(cfg, S) + _embedding_macs(cfg, T, "decoder")
    for i, (n, f, c) in enumerate(zip(cfg.decoder_num_heads, cfg.decoder_ffn_dim, cfg.decoder_cross_heads,
                                      strict=True)):
        p, spec = f"decoder.layers.{i}.", cfg.light_spec(i, decoder=True)
        a = H - spec.conv_dim  # the attention's channels (the rest: the causal convolution branch)
        macs += sum(_linear(cfg, p + f"attn.{x}", a, n * d, T) for x in "qkv")
        macs += _linear(cfg, p + "attn.out", n * d, a, T)
        macs += T * (T + 1) * n * d  # QKᵀ and attention · V over 1..T cached positions
        macs += _linear(cfg, p + "cross.q", H, c * d, T) + _linear(cfg, p + "cross.out", c * d, H, T)
        macs += sum(_linear(cfg, p + f"cross.{x}", H, c * d, S) for x in "kv")  # once per sentence
        macs += 2 * T * S * c * d
        macs += _light_macs(cfg, p, spec, f, T)
    e = cfg.embedding_dim or H
    V = cfg.output_vocab_size or cfg.vocab_size  # a pruned output layer: its first N rows
    return macs + T * (V * e + (H * e if e != H else 0))  # tied output projection


def macs_per_clip(cfg: TransformerConfig, samples: int) -> int:
    """MACs of transcribing one clip of ``samples`` samples with a CTC model (models/speech.py): the
    DFT as a convolution and the mel product per 10 ms frame, the two stride-2 convolutions, the
    projection, the encoder over the 40 ms frames and the CTC head."""
    from liteformer.models.speech import AudioConfig
    a = AudioConfig.from_dict(cfg.audio)
    F, H = a.frames(samples), cfg.hidden_size
    F2, T = (F + 1) // 2, a.encoder_frames(samples)
    C, K2 = a.channels or H, 2 * (a.n_fft // 2 + 1)
    macs = F * K2 * (a.n_fft + a.n_mels) + F2 * C * a.n_mels * 3 + T * C * C * 3
    macs += _linear(cfg, "project", C, H, T) + _encoder_macs(cfg, T) - _embedding_macs(cfg, T, "encoder")
    return macs + _linear(cfg, "ctc", H, cfg.vocab_size, T)


def _linear(cfg: TransformerConfig, name: str, n_in: int, n_out: int, tokens: int) -> int:
    r = cfg.low_rank.get(name)
    return tokens * (r * (n_in + n_out) if r else n_in * n_out)


def _embedding_macs(cfg: TransformerConfig, T: int, stack: str) -> int:
    H, macs = cfg.hidden_size, 0
    e = cfg.embedding_dim or H
    if e != H:
        macs += _linear(cfg, f"{stack}.embeddings.project", e, H, T)
    if "encoder.embeddings.word" in cfg.low_rank:  # the one word table (shared by a decoder)
        macs += T * cfg.low_rank["encoder.embeddings.word"] * e
    return macs


def _encoder_macs(cfg: TransformerConfig, T: int) -> int:
    macs = _embedding_macs(cfg, T, "encoder")
    for i, (n, f) in enumerate(zip(cfg.num_heads, cfg.ffn_dim, strict=True)):
        p, spec = f"encoder.layers.{i}.", cfg.light_spec(i)
        W = spec.bottleneck or cfg.hidden_size  # the layer's inner width
        inner, a = n * cfg.head_dim, W - spec.conv_dim  # attention heads' width, attention's channels
        macs += sum(_linear(cfg, p + f"attn.{x}", a, inner, T) for x in "qkv")  # Q, K, V projections
        macs += 2 * T * T * inner  # QKᵀ and attention · V
        macs += _linear(cfg, p + "attn.out", inner, a, T)  # output projection
        macs += _light_macs(cfg, p, spec, f, T)
    return macs


def _light_macs(cfg: TransformerConfig, p: str, spec, f: int, T: int) -> int:
    """A layer's convolution branch, convolution module, feed-forward(s) and bottleneck projections."""
    H = cfg.hidden_size
    W, c, k = spec.bottleneck or H, spec.conv_dim, spec.kernel
    macs = 0
    if c:  # LSRA branch: GLU projection, depthwise taps, pointwise out
        macs += _linear(cfg, p + "local.glu", c, 2 * c, T) + T * c * k + _linear(cfg, p + "local.out", c, c, T)
    if spec.conv_module:
        macs += _linear(cfg, p + "conv.glu", W, 2 * W, T) + T * W * k + _linear(cfg, p + "conv.out", W, W, T)
    for j in range(spec.ffn_stack):
        q = p + ("ffn." if j == 0 else f"more_ffns.{j - 1}.")
        macs += _linear(cfg, q + "up", W, f, T) + _linear(cfg, q + "down", f, W, T)  # FFN up and down
        macs += T * f * k if spec.ffn_type == "inverted" else 0  # the inverted FFN's depthwise taps
    if spec.bottleneck:
        macs += _linear(cfg, p + "bottleneck_in", H, W, T) + _linear(cfg, p + "bottleneck_out", W, H, T)
    return macs
