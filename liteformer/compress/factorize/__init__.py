"""Factorization: ``factorize_(model, LowRankConfig(ratio=0.7))`` — one file per method
(``lowrank.py``: truncated SVD of Linears and the word embedding)."""

from __future__ import annotations

from torch import nn

from liteformer.compress.api import apply
from liteformer.compress.factorize.lowrank import FactorizeReport, LowRankConfig


def factorize_(model: nn.Module, config: LowRankConfig) -> FactorizeReport:
    """Factorize ``model`` in place; returns the chosen ranks and parameter counts."""
    return apply("factorize", model, config)


__all__ = ["FactorizeReport", "LowRankConfig", "factorize_"]
