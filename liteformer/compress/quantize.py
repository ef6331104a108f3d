"""PyTorch-side quantization verbs: ``quantize_(model, Int8DynamicConfig())`` quantizes in place.

A method is a frozen config + a handler registered in ``QUANTIZERS``; ``keep_float`` names weight
groups (see ``liteformer.compress.groups``) that stay in float (mixed precision)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from liteformer.compress.groups import group_of


@dataclass(frozen=True)
class Int8DynamicConfig:
    """int8 weights (per channel), activations quantized on the fly: every nn.Linear."""

    keep_float: tuple[str, ...] = ()


QUANTIZERS: dict[type, Callable[[nn.Module, object], nn.Module]] = {}


def register(config_type: type):
    def deco(fn):
        QUANTIZERS[config_type] = fn
        return fn
    return deco


def quantize_(model: nn.Module, config) -> nn.Module:
    """Quantize ``model`` in place (its submodules are swapped); returns it for chaining."""
    try:
        handler = QUANTIZERS[type(config)]
    except KeyError:
        raise TypeError(f"no quantizer registered for {type(config).__name__}") from None
    return handler(model, config)


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
