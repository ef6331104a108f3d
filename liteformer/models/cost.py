"""Cost accounting of the own Transformer from its config (per-layer widths, low-rank factors):
multiply-accumulates per example. The bench reports it (and the roofline from it); structured
pruning prunes to a share of it. Parameters: ``transformer.count_parameters``."""

from __future__ import annotations

from liteformer.models.transformer import TransformerConfig


def macs_per_example(cfg: TransformerConfig, length: int) -> int:
    """MACs of one sequence-classification forward pass at ``length`` tokens (FLOPs ≈ 2 × MACs).

    Counts the matrix products (projections, QKᵀ, AV, FFN, pooler, classifier); lookups,
    softmax, LayerNorm and activations are O(T·H) and left out. A low-rank Linear costs r(in+out)
    per token instead of in·out; a low-rank word embedding adds its r -> H projection.
    """
    T, H = length, cfg.hidden_size

    def linear(name: str, n_in: int, n_out: int, tokens: int = T) -> int:
        r = cfg.low_rank.get(name)
        return tokens * (r * (n_in + n_out) if r else n_in * n_out)

    macs = 0
    e = cfg.embedding_dim or H
    if e != H:
        macs += linear("encoder.embeddings.project", e, H)
    if "encoder.embeddings.word" in cfg.low_rank:
        macs += T * cfg.low_rank["encoder.embeddings.word"] * e
    for i, (n, f) in enumerate(zip(cfg.num_heads, cfg.ffn_dim, strict=True)):
        inner, p = n * cfg.head_dim, f"encoder.layers.{i}."
        macs += sum(linear(p + f"attn.{x}", H, inner) for x in "qkv")  # Q, K, V projections
        macs += 2 * T * T * inner  # QKᵀ and attention · V
        macs += linear(p + "attn.out", inner, H)  # output projection
        macs += linear(p + "ffn.up", H, f) + linear(p + "ffn.down", f, H)  # FFN up and down
    if cfg.pooler != "none":
        macs += linear("pooler", H, H, tokens=1)
    macs += linear("classifier", H, cfg.num_labels, tokens=1)
    return macs
