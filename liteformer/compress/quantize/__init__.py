"""Quantization: ``quantize_(model, Int8DynamicConfig())`` quantizes a PyTorch model in place, and
the same config objects tell ``export`` which method to realize in a runtime's own file.

    int8_dynamic.py    Int8DynamicConfig   int8 weights per channel, activations quantized on the fly
    int8_embedding.py  Int8EmbeddingConfig int8 vocabulary rows with per-row scales
    static.py          Int8StaticConfig, Int4DynamicConfig  (realized by the runtimes' quantizers only)
    qat.py             fake quantization while training (QATConfig)
    groups.py          named weight groups (embeddings, layerN.attn, layerN.ffn, head) kept in float

``keep_float`` names weight groups that stay in float (mixed precision; ``liteformer.tune`` chooses
them by accuracy in the target runtime)."""

from __future__ import annotations

from torch import nn

from liteformer.compress.api import apply, methods
from liteformer.compress.quantize.int8_dynamic import Int8DynamicConfig
from liteformer.compress.quantize.int8_embedding import Int8EmbeddingConfig
from liteformer.compress.quantize.static import Int4DynamicConfig, Int8StaticConfig, QuantizeConfig
from liteformer.errors import LiteformerError


def quantize_(model: nn.Module, config: QuantizeConfig) -> nn.Module:
    """Quantize ``model`` in place (its submodules are swapped); returns it for chaining."""
    return apply("quantize", model, config)


def quantize_config(method: str, keep_float: tuple[str, ...] = ()) -> QuantizeConfig:
    """The config of a quantization method named as on the command line (``int8-dynamic``)."""
    known = {k: t for k, t in methods("quantize").items() if hasattr(t, "keep_float")}
    if method not in known:
        raise LiteformerError(f"unknown quantization method {method!r} (methods: {', '.join(known)})")
    return known[method](keep_float=tuple(keep_float))


__all__ = ["Int4DynamicConfig", "Int8DynamicConfig", "Int8EmbeddingConfig", "Int8StaticConfig", "QuantizeConfig",
           "quantize_", "quantize_config"]
