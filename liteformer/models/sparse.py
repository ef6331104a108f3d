"""Compressed storage of pruned weights inside model.safetensors.

A 2-D tensor with at least ``MIN_SPARSITY`` zeros is stored as two tensors: ``<name>::mask``, a
bitmap of the non-zeros (uint8, 8 entries a byte, row-major) and ``<name>::values``, the non-zeros
in that order (float32). At sparsity s that is (1 - s)·4 + 1/8 bytes per entry instead of 4:
1.9× smaller at 50 %, 3.8× at 80 %. Loading rebuilds the dense tensor; runtimes still get dense
weights (their kernels gain nothing from zeros), so this saves disk and download, not time.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

MIN_SPARSITY = 0.1  # below this the bitmap costs more than the zeros it saves
MASK, VALUES = "::mask", "::values"


def prunable(model: nn.Module, include_embeddings: bool = False) -> dict[str, torch.Tensor]:
    """name -> weight of every Linear (and optionally the word embedding): what pruning zeroes."""
    out = {f"{n}.weight": m.weight for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    if include_embeddings:
        out.update({f"{n}.weight": m.weight for n, m in model.named_modules()
                    if isinstance(m, nn.Embedding) and n.endswith("word")})
    return out


def sparsity_of(weights: dict[str, torch.Tensor]) -> float:
    total = sum(w.numel() for w in weights.values())
    return sum(int((w == 0).sum()) for w in weights.values()) / max(1, total)


def pack(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Sparse-encode the sparse enough float 2-D tensors of a state dict."""
    out = {}
    for name, t in sd.items():
        if t.ndim == 2 and t.is_floating_point() and t.numel() and (t == 0).float().mean() >= MIN_SPARSITY:
            nz = (t != 0).flatten()
            out[name + MASK] = torch.from_numpy(np.packbits(nz.numpy()))
            out[name + VALUES] = t.flatten()[nz].float().contiguous()
            out[name + "::shape"] = torch.tensor(list(t.shape), dtype=torch.int64)
        else:
            out[name] = t
    return out


def unpack(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of ``pack`` (a dense state dict passes through unchanged)."""
    if not any(k.endswith(MASK) for k in sd):
        return sd
    out = {k: v for k, v in sd.items() if "::" not in k}
    for key in sd:
        if not key.endswith(MASK):
            continue
        name = key[: -len(MASK)]
        shape = [int(x) for x in sd[name + "::shape"]]
        n = int(np.prod(shape))
        nz = torch.from_numpy(np.unpackbits(sd[key].numpy())[:n].astype(bool))
        dense = torch.zeros(n, dtype=torch.float32)
        dense[nz] = sd[name + VALUES]
        out[name] = dense.view(shape)
    return out
