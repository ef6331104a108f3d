"""Named groups of a Transformer's weights (``embeddings``, ``layer3.attn``, ``layer3.ffn``,
``head``): the unit that mixed precision keeps in float, whatever the runtime calls its ops."""

from __future__ import annotations

import re

from liteformer.models.transformer import TransformerConfig

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.(attn|local|conv|ffn|more_ffns|bottleneck_in|bottleneck_out)")
# light blocks (models/light.py) join their layer's groups: token mixers (LSRA's convolution branch, the
# convolution module) with ``attn``, stacked FFNs and bottleneck projections with ``ffn``
_GROUP = {"attn": "attn", "local": "attn", "conv": "attn", "ffn": "ffn", "more_ffns": "ffn", "bottleneck_in": "ffn",
          "bottleneck_out": "ffn"}


def group_of(module_name: str) -> str | None:
    """``encoder.layers.2.attn.q`` → ``layer2.attn``; None for parts that hold no big weight."""
    m = _LAYER.search(module_name)
    if m:
        return f"layer{m.group(1)}.{_GROUP[m.group(2)]}"
    if "embeddings" in module_name:
        return "embeddings"
    if module_name.startswith(("pooler", "classifier", "ctc")):
        return "head"
    if module_name.startswith("features"):  # a speech model's log-mel front end (always kept float)
        return "features"
    return None


def all_groups(cfg: TransformerConfig) -> list[str]:
    layers = [f"layer{i}.{p}" for i in range(cfg.num_layers) for p in ("attn", "ffn")]
    return ["embeddings", *layers, "head"]


def check_groups(names: list[str] | tuple[str, ...], cfg: TransformerConfig) -> None:
    from liteformer.errors import LiteformerError
    known = all_groups(cfg)
    bad = [n for n in names if n not in known]
    if bad:
        raise LiteformerError(f"unknown layer groups {bad} (this model has: {', '.join(known)})")
