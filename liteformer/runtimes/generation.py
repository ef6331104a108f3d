"""The decoding loop over an exported generation bundle: ``models.generation.generate`` (greedy or
beam search) driven through a ``GenerationRunner``'s ``encode``/``decode`` on NumPy arrays, exactly
as a phone app runs it (tokenize → encode once → decode step by step, feeding the updated cache
back, to ``</s>`` or the length limit → detokenize)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class GraphState:
    """What the app carries between steps: the self-attention cache (B, N, L, d) ×2, the source's
    cross-attention keys/values (B, Nx, S, d) ×2 and the source mask (B, S)."""

    self_k: np.ndarray
    self_v: np.ndarray
    cross_k: np.ndarray
    cross_v: np.ndarray
    mask: np.ndarray
    conv: np.ndarray | None = None  # (B, C, K): an LSRA decoder's convolution cache

    def select(self, index: torch.Tensor) -> GraphState:
        """The rows ``index`` (beam search: reorder and repeat hypotheses)."""
        i = np.asarray(index.cpu() if isinstance(index, torch.Tensor) else index)
        return GraphState(self.self_k[i], self.self_v[i], self.cross_k[i], self.cross_v[i], self.mask[i],
                          None if self.conv is None else self.conv[i])


def runner_calls(runner) -> tuple[Callable, Callable]:
    """``encode``/``step`` for ``models.generation.generate`` over ``runner``'s two graphs."""
    N, L, d = runner.layout["self_cache"]
    conv_cache = runner.layout.get("conv_cache")  # [C, K] of an LSRA decoder

    def encode(ids: torch.Tensor, mask: torch.Tensor) -> GraphState:
        x, m = runner.pad_source(ids.numpy(), mask.numpy())
        cross_k, cross_v = runner.encode(x, m)
        empty = np.zeros((x.shape[0], N, L, d), dtype=np.float32)
        conv = np.zeros((x.shape[0], *conv_cache), dtype=np.float32) if conv_cache else None
        return GraphState(empty, empty.copy(), cross_k, cross_v, m, conv)

    def step(token: torch.Tensor, position: torch.Tensor, s: GraphState) -> tuple[torch.Tensor, GraphState]:
        logits, self_k, self_v, *conv = runner.decode(token.numpy(), position.numpy(), s.mask, s.self_k, s.self_v,
                                                      s.cross_k, s.cross_v, s.conv)
        return torch.from_numpy(np.asarray(logits)), GraphState(self_k, self_v, s.cross_k, s.cross_v, s.mask,
                                                                conv[0] if conv else None)

    return encode, step
