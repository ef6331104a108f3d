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

MIN_SPARSITY = 0.1  # below this the bitmap costs more than the zeros it saves
MASK, VALUES = "::mask", "::values"


def pack(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int]:
    """Sparse-encode the sparse enough float 2-D tensors; returns (state dict, tensors packed)."""
    out, packed = {}, 0
    for name, t in sd.items():
        if t.ndim == 2 and t.is_floating_point() and t.numel() and (t == 0).float().mean() >= MIN_SPARSITY:
            nz = (t != 0).flatten()
            out[name + MASK] = torch.from_numpy(np.packbits(nz.numpy()))
            out[name + VALUES] = t.flatten()[nz].float().contiguous()
            out[name + "::shape"] = torch.tensor(list(t.shape), dtype=torch.int64)
            packed += 1
        else:
            out[name] = t
    return out, packed


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
