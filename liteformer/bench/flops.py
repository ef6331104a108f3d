"""Multiply-accumulates of the own Transformer per example, from its config (per-layer widths)."""

from __future__ import annotations

from liteformer.models.transformer import TransformerConfig


def macs_per_example(cfg: TransformerConfig, length: int) -> int:
    """MACs of one sequence-classification forward pass at ``length`` tokens (FLOPs ≈ 2 × MACs).

    Counts the matrix products (projections, QKᵀ, AV, FFN, pooler, classifier); lookups,
    softmax, LayerNorm and activations are O(T·H) and left out.
    """
    T, H = length, cfg.hidden_size
    macs = 0
    if cfg.embedding_dim and cfg.embedding_dim != H:
        macs += T * cfg.embedding_dim * H
    for n, f in zip(cfg.num_heads, cfg.ffn_dim, strict=True):
        inner = n * cfg.head_dim
        macs += 3 * T * H * inner  # Q, K, V projections
        macs += 2 * T * T * inner  # QKᵀ and attention · V
        macs += T * inner * H  # output projection
        macs += 2 * T * H * f  # FFN up and down
    if cfg.pooler != "none":
        macs += H * H
    macs += H * cfg.num_labels
    return macs
