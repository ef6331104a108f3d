"""int8 dynamic quantization in PyTorch: int8 weights (per output channel), activations quantized on
the fly, for every ``nn.Linear`` outside ``keep_float``."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from liteformer.compress.api import register
from liteformer.compress.quantize.groups import group_of
from liteformer.compress.quantize.static import QuantizeConfig


@dataclass(frozen=True)
class Int8DynamicConfig(QuantizeConfig):
    """int8 weights (per channel), activations quantized on the fly: every nn.Linear."""

    method = "int8-dynamic"


def _linear_names(model: nn.Module, keep_float: tuple[str, ...]) -> set[str]:
    return {n for n, m in model.named_modules() if isinstance(m, nn.Linear) and group_of(n) not in keep_float}


@register(Int8DynamicConfig)
def _int8_dynamic(model: nn.Module, config: Int8DynamicConfig) -> nn.Module:
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    spec = {n: per_channel_dynamic_qconfig for n in _linear_names(model, config.keep_float)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)
    return model
