"""Quantization-aware training: fake-quantize Linear layers while fine-tuning or distilling.

During training each ``nn.Linear`` sees int8-rounded weights (symmetric, per output channel) and
int8-rounded inputs (asymmetric, per token, computed on the fly) — the arithmetic of every
runtime's int8-dynamic kernels — with straight-through gradients, so the float weights learn to
survive rounding. ``qat_convert_`` removes the fake quantization again: the saved model is a plain
float checkpoint whose ``export --quantize int8-dynamic`` then loses less than post-training
quantization of a model trained without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from liteformer.compress.quantize.groups import group_of


@dataclass(frozen=True)
class QATConfig:
    weight_bits: int = 8
    activation_bits: int = 8
    keep_float: tuple[str, ...] = ()  # weight groups trained without fake quantization


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (x.round() - x).detach()  # forward: round; backward: identity


def fake_quant_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric per-output-channel fake quantization of a (out, in) weight."""
    qmax = 2 ** (bits - 1) - 1
    scale = w.detach().abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / qmax
    return _round_ste(w / scale).clamp(-qmax - 1, qmax) * scale


def fake_quant_activation(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Asymmetric per-token fake quantization, ranges taken on the fly (dynamic quantization)."""
    qmax = 2**bits - 1
    lo = x.detach().amin(dim=-1, keepdim=True).clamp(max=0)
    hi = x.detach().amax(dim=-1, keepdim=True).clamp(min=0)
    scale = (hi - lo).clamp(min=1e-8) / qmax
    zero = (-lo / scale).round()
    q = (_round_ste(x / scale) + zero).clamp(0, qmax)
    return (q - zero) * scale


class FakeQuantLinear(nn.Linear):
    """An nn.Linear that computes with fake-quantized weights and inputs (same parameters)."""

    weight_bits: int = 8
    activation_bits: int = 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = fake_quant_weight(self.weight, self.weight_bits)
        return nn.functional.linear(fake_quant_activation(x, self.activation_bits), w, self.bias)


def qat_prepare_(model: nn.Module, config: QATConfig = QATConfig()) -> nn.Module:
    """Switch every Linear outside ``keep_float`` to fake quantization, in place (parameters kept)."""
    for name, m in model.named_modules():
        if type(m) is nn.Linear and group_of(name) not in config.keep_float:
            m.__class__ = FakeQuantLinear
            m.weight_bits, m.activation_bits = config.weight_bits, config.activation_bits
    return model


def qat_convert_(model: nn.Module) -> nn.Module:
    """Back to plain float Linear layers (the learned weights stay), ready to save and export."""
    for m in model.modules():
        if isinstance(m, FakeQuantLinear):
            m.__class__ = nn.Linear
    return model
