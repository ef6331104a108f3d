"""Quantization methods that only the runtimes' own quantizers realize (no PyTorch kernel here):
static int8 (calibrated activations; the calibration inputs come with the export options) and
dynamic int4 weights (LiteRT). ``quantize_`` on a PyTorch model refuses them with that reason."""

from __future__ import annotations

from dataclasses import dataclass

from liteformer.compress.api import CompressConfig, register
from liteformer.errors import LiteformerError


@dataclass(frozen=True)
class QuantizeConfig(CompressConfig):
    """Base of the quantization configs: the weight groups that stay in float."""

    verb = "quantize"
    keep_float: tuple[str, ...] = ()
    static = False  # needs calibration inputs


@dataclass(frozen=True)
class Int8StaticConfig(QuantizeConfig):
    """int8 weights (per channel) and int8 activations with ranges calibrated on real inputs."""

    method = "int8-static"
    static = True


@dataclass(frozen=True)
class Int4DynamicConfig(QuantizeConfig):
    """int4 weights (per channel), activations in float (LiteRT's dynamic int4)."""

    method = "int4-dynamic"


@register(Int8StaticConfig)
@register(Int4DynamicConfig)
def _runtime_only(model, config: QuantizeConfig):
    raise LiteformerError(f"{config.method} is realized by the runtimes' quantizers: export the model with "
                          f"--quantize {config.method}")
