"""Unstructured magnitude pruning: ``magnitude_prune_(model, MagnitudeConfig(sparsity=0.5))``.

Zeroes the smallest-|w| entries of the encoder's and head's Linear weights, over all of them at
once (``scope="global"``: layers that matter less lose more) or the same share in each
(``scope="layer"``). Gradual pruning (Zhu & Gupta's cubic schedule) runs inside training:
``GradualPruner`` raises the sparsity step by step and keeps pruned weights at zero after every
optimizer step; its state is the zeros themselves, so a resumed run continues exactly.

Dense runtimes (LiteRT, ExecuTorch/XNNPACK, ONNX Runtime's CPU kernels) gain no speed from
zeros: the gain is a smaller file (see ``liteformer.models.sparse``) and a start for
structured pruning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from liteformer.compress.api import CompressConfig, register
from liteformer.compress.prune.data import PruneResult
from liteformer.errors import LiteformerError
from liteformer.models.sparse import prunable, sparsity_of

SCOPES = ("global", "layer")


@dataclass(frozen=True)
class MagnitudeConfig(CompressConfig):
    verb = "prune"
    method = "magnitude"
    sparsity: float = 0.0  # share of the pruned weights set to zero, in [0, 1)
    scope: str = "global"
    include_embeddings: bool = False  # the word table is a lookup: zeros save no work

    def validate(self, model_config=None) -> None:
        super().validate()
        if not 0 <= self.sparsity < 1:
            raise LiteformerError(f"sparsity must be in [0, 1), got {self.sparsity}")
        if self.scope not in SCOPES:
            raise LiteformerError(f"scope must be one of {SCOPES}, got {self.scope!r}")


@torch.no_grad()
def magnitude_prune_(model: nn.Module, cfg: MagnitudeConfig) -> dict:
    """Prune in place; returns the achieved sparsity overall and per weight."""
    cfg.validate()
    weights = prunable(model, cfg.include_embeddings)
    if cfg.sparsity > 0:
        if cfg.scope == "global":
            flat = torch.cat([w.abs().flatten() for w in weights.values()])
            k = int(cfg.sparsity * flat.numel())
            threshold = flat.kthvalue(k).values if k else flat.new_tensor(-1.0)
            for w in weights.values():
                w.masked_fill_(w.abs() <= threshold, 0.0)
        else:
            for w in weights.values():
                k = int(cfg.sparsity * w.numel())
                if k:
                    w.masked_fill_(w.abs() <= w.abs().flatten().kthvalue(k).values, 0.0)
    return {"sparsity": round(sparsity_of(weights), 4), "scope": cfg.scope,
            "per_weight": {n: round(float((w == 0).float().mean()), 4) for n, w in weights.items()}}


@register(MagnitudeConfig)
def _magnitude(model, config: MagnitudeConfig, data=None) -> PruneResult:
    report = magnitude_prune_(model, config)
    report["note"] = ("unstructured zeros: dense runtimes (LiteRT, ExecuTorch, ONNX Runtime) run no faster; "
                      "the saved file is smaller (compressed storage)")
    return PruneResult(report)


def cubic_sparsity(step: int, total: int, final: float, start: float = 0.0, end: float = 0.7) -> float:
    """Zhu & Gupta: s(t) = s_f (1 - (1 - p)^3), p the progress between ``start`` and ``end`` (shares
    of the run); full sparsity is reached at ``end`` and the rest of the run recovers."""
    t0, t1 = start * total, max(end * total, start * total + 1)
    p = min(1.0, max(0.0, (step - t0) / (t1 - t0)))
    return final * (1 - (1 - p) ** 3)


class GradualPruner:
    """Called after each optimizer step: every ``every`` steps re-prune to the scheduled sparsity,
    and in between put back to zero what was pruned (the optimizer moves zeros). The mask is the
    zeros of the weights it is built with (after a resume: the checkpoint's) and of each re-pruning."""

    def __init__(self, model: nn.Module, final: float, total: int, scope: str = "global", every: int = 10) -> None:
        MagnitudeConfig(final, scope).validate()
        self.model, self.final, self.total, self.scope, self.every = model, final, total, scope, max(1, every)
        self.masks = self._zeros()
        self.done = False  # final sparsity applied; from then on only the masks are kept

    def _zeros(self) -> dict[str, torch.Tensor]:
        return {n: w == 0 for n, w in prunable(self.model).items()}

    def reached(self, step: int) -> bool:
        """True once the schedule has reached the final sparsity."""
        return cubic_sparsity(step, self.total, self.final) >= self.final - 1e-9

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        for n, w in prunable(self.model).items():
            w.masked_fill_(self.masks[n], 0.0)
        if not self.done and (step % self.every == 0 or self.reached(step)):
            target = cubic_sparsity(step, self.total, self.final)
            magnitude_prune_(self.model, MagnitudeConfig(target, self.scope))
            self.masks = self._zeros()
            self.done = self.reached(step)
