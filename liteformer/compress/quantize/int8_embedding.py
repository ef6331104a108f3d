"""int8 embedding tables: ``quantize_(model, Int8EmbeddingConfig())``.

The word table is most of a small encoder's file (MiniLM-L6: 44.7 of 87 MiB) and XNNPACK has no
quantized embedding, so an ExecuTorch int8 export used to keep it in fp32. Here each row is stored
as int8 with its own fp32 scale (symmetric, per row): a lookup gathers int8 rows and scales them,
two plain ops every runtime runs. Rows are looked up, never multiplied, so per-row int8 keeps each
token vector within 1/254 of its largest entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from liteformer.compress.api import CompressConfig, register


class Int8Embedding(nn.Module):
    """A (V, E) table as int8 rows + (V,) fp32 scales; forward(ids) ≈ the float lookup."""

    def __init__(self, weight: torch.Tensor, padding_idx: int | None = None) -> None:
        super().__init__()
        w = weight.detach().float()
        scale = w.abs().amax(1).clamp_min(1e-12) / 127.0  # (V,)
        self.register_buffer("qweight", torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale)
        self.padding_idx = padding_idx

    @property
    def weight(self) -> torch.Tensor:  # (V, E) dequantized, for tied heads and inspection
        return self.qweight.float() * self.scale[:, None]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = F.embedding(ids, self.qweight).float()  # (B, T, E) int8 → float
        return rows * F.embedding(ids, self.scale[:, None])  # (B, T, 1) per-row scale


@dataclass(frozen=True)
class Int8EmbeddingConfig(CompressConfig):
    """nn.Embedding modules whose path has one of ``tables`` as a component become Int8Embedding
    (default: the vocabulary tables, ``...embeddings.word`` or a factorized ``...word.table``;
    position and token-type tables are tiny and stay float)."""

    verb = "quantize"
    method = "int8-embedding"
    tables: tuple[str, ...] = ("word",)


@register(Int8EmbeddingConfig)
def _int8_embedding(model: nn.Module, config: Int8EmbeddingConfig) -> nn.Module:
    targets = [(name, m) for name, m in model.named_modules()
               if isinstance(m, nn.Embedding) and set(name.split(".")) & set(config.tables)]
    for name, m in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, Int8Embedding(m.weight, m.padding_idx))
    return model
