"""Structured pruning: physically remove attention heads, FFN neurons and whole layers.

``structured_prune_(model, StructuredConfig(target=0.5, by="flops"), score_fn)`` removes the
units whose Taylor score (see ``importance``) per unit of cost is lowest until the model's cost is
``target`` × the original, in a few rounds with the scores measured again after each, so later
choices see the already-pruned model. Layers are first dropped (``drop_layers``, those whose
removal raises the loss least), then heads and neurons. Every layer keeps at least one head and
``min_neurons`` neurons; the result has per-layer widths (``config.num_heads`` / ``ffn_dim`` lists)
that save, load and export like any model. Recovery is distillation from the unpruned model.

An encoder-decoder (translation) prunes the same way over every attention and FFN it has: encoder
self-attention heads and neurons, decoder self-attention heads, cross-attention heads and decoder
neurons compete on one scale (their Fisher scores on the task's sentence pairs, per unit of cost);
its cost is the greedy translation of a sentence (``models.cost.macs_per_sentence``, source and
target of ``length`` tokens) or its parameters. Dropping whole layers is for encoders only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from liteformer.compress.api import CompressConfig, register
from liteformer.compress.prune.data import PruneResult, need, scorer
from liteformer.compress.prune.importance import Importance
from liteformer.errors import LiteformerError
from liteformer.models.cost import macs_per_example, macs_per_sentence
from liteformer.models.light import light_blocks
from liteformer.models.transformer import ENCODER_LAYER_FIELDS, LowRankLinear, TransformerConfig, count_parameters

BY = ("flops", "params")


@dataclass(frozen=True)
class StructuredConfig(CompressConfig):
    verb = "prune"
    method = "structured"
    target: float = 1.0  # kept share of the cost (FLOPs at ``length`` or the layers' parameters), in (0, 1]
    by: str = "flops"
    length: int = 32  # tokens per example for FLOPs (use the data's mean length)
    drop_layers: int = 0  # whole layers to remove first
    rounds: int = 4  # prune in this many steps, re-scoring in between
    min_neurons: int = 32  # per layer (kept FFN width >= this or its full width if smaller)

    def validate(self, cfg: TransformerConfig | None = None) -> None:
        super().validate()
        if not 0 < self.target <= 1:
            raise LiteformerError(f"target must be in (0, 1], got {self.target}")
        if self.by not in BY:
            raise LiteformerError(f"pruning target 'by' must be one of {BY}, got {self.by!r}")
        if cfg is not None and light_blocks(cfg):
            raise LiteformerError(f"structured pruning scores and cuts plain attention and FFN layers; this model "
                                  f"has {', '.join(light_blocks(cfg))}: distill a smaller light student instead "
                                  "(factorize and quantize handle light models)")
        if cfg is not None and cfg.num_decoder_layers and self.drop_layers:
            raise LiteformerError("dropping layers is for encoder-only models; an encoder-decoder student keeps "
                                  "teacher layers with --keep-layers ENC:DEC (liteformer distill --task translation)")
        if cfg is not None and not 0 <= self.drop_layers < cfg.num_layers:
            raise LiteformerError(f"cannot drop {self.drop_layers} of {cfg.num_layers} layers "
                                  "(at least one layer must stay)")
        if self.rounds < 1 or self.length < 1 or self.min_neurons < 1:
            raise LiteformerError("rounds, length and min_neurons must be >= 1")


def cost(cfg: TransformerConfig, by: str, length: int) -> int:
    if by == "flops":
        if cfg.num_decoder_layers:
            return 2 * macs_per_sentence(cfg, length, length)
        return 2 * macs_per_example(cfg, length)
    unit = _unit_costs(cfg, "params", length)
    total = sum(n * unit["heads"] + f * unit["neurons"] + cfg.hidden_size
                for n, f in zip(cfg.num_heads, cfg.ffn_dim, strict=True))
    if cfg.num_decoder_layers:
        total += sum(n * unit["decoder_heads"] + c * unit["cross_heads"] + f * unit["decoder_neurons"]
                     + cfg.hidden_size for n, c, f in zip(cfg.decoder_num_heads, cfg.decoder_cross_heads,
                                                          cfg.decoder_ffn_dim, strict=True))
    return total


def _unit_costs(cfg: TransformerConfig, by: str, T: int) -> dict[str, float]:
    """Cost of one unit of each kind (FLOPs per example/sentence, or parameters); an encoder-decoder's
    source and target both have ``T`` tokens."""
    H, d = cfg.hidden_size, cfg.head_dim
    if by == "params":
        return {"heads": 4 * H * d + 3 * d, "neurons": 2 * H + 1, "decoder_heads": 4 * H * d + 3 * d,
                "cross_heads": 4 * H * d + 3 * d, "decoder_neurons": 2 * H + 1}
    return {"heads": 2 * (4 * T * H * d + 2 * T * T * d), "neurons": 2 * (2 * T * H),
            "decoder_heads": 2 * (4 * T * H * d + T * (T + 1) * d),  # greedy, with the cache
            "cross_heads": 2 * (2 * T * H * d + 2 * T * H * d + 2 * T * T * d),  # q/out per token, k/v once
            "decoder_neurons": 2 * (2 * T * H)}


# which module and config field each kind of unit lives in: (stack, module in the block, config field)
KINDS = {"heads": ("encoder", "attn", "num_heads"), "neurons": ("encoder", "ffn", "ffn_dim"),
         "decoder_heads": ("decoder", "attn", "decoder_num_heads"),
         "cross_heads": ("decoder", "cross", "decoder_cross_heads"),
         "decoder_neurons": ("decoder", "ffn", "decoder_ffn_dim")}


# ---------------------------------------------------------------------------------------------
# physical removal


def _keep_rows(lin: nn.Module, idx: torch.Tensor) -> None:
    """Keep output features ``idx`` of a Linear (or of a LowRankLinear's second factor)."""
    lin = lin.b if isinstance(lin, LowRankLinear) else lin
    lin.weight = nn.Parameter(lin.weight.data[idx].clone())
    if lin.bias is not None:
        lin.bias = nn.Parameter(lin.bias.data[idx].clone())
    lin.out_features = len(idx)


def _keep_cols(lin: nn.Module, idx: torch.Tensor) -> None:
    """Keep input features ``idx`` of a Linear (or of a LowRankLinear's first factor)."""
    lin = lin.a if isinstance(lin, LowRankLinear) else lin
    lin.weight = nn.Parameter(lin.weight.data[:, idx].clone())
    lin.in_features = len(idx)


@torch.no_grad()
def keep_heads(model: nn.Module, layer: int, heads: list[int], kind: str = "heads") -> None:
    """Keep ``heads`` of layer ``layer``'s attention of ``kind`` (heads, decoder_heads, cross_heads)."""
    stack, module, field = KINDS[kind]
    if not heads:
        where = "" if kind == "heads" else f" of the {stack}'s {module}"
        raise LiteformerError(f"pruning would remove every head of layer {layer}{where}")
    attn = getattr(getattr(model, stack).layers[layer], module)
    d = attn.head_dim
    idx = torch.cat([torch.arange(h * d, (h + 1) * d) for h in sorted(heads)])
    for lin in (attn.q, attn.k, attn.v):
        _keep_rows(lin, idx)
    _keep_cols(attn.out, idx)
    attn.n_heads = len(heads)
    getattr(model.config, field)[layer] = len(heads)


@torch.no_grad()
def keep_neurons(model: nn.Module, layer: int, neurons: list[int], kind: str = "neurons") -> None:
    """Keep FFN ``neurons`` of layer ``layer`` (of the encoder, or the decoder with ``decoder_neurons``)."""
    stack, _, field = KINDS[kind]
    if not neurons:
        where = "" if kind == "neurons" else f" of the {stack}"
        raise LiteformerError(f"pruning would remove every FFN neuron of layer {layer}{where}")
    ffn = getattr(model, stack).layers[layer].ffn
    idx = torch.tensor(sorted(neurons))
    _keep_rows(ffn.up, idx)
    _keep_cols(ffn.down, idx)
    getattr(model.config, field)[layer] = len(neurons)


def keep_layers(model: nn.Module, layers: list[int]) -> None:
    cfg = model.config
    if not layers:
        raise LiteformerError("pruning would remove every layer")
    layers = sorted(layers)
    model.encoder.layers = nn.ModuleList(model.encoder.layers[i] for i in layers)
    for f in ENCODER_LAYER_FIELDS:
        setattr(cfg, f, [getattr(cfg, f)[i] for i in layers])
    cfg.num_layers = len(layers)
    renamed = {}  # low-rank module names follow their layer's new index
    for name, r in cfg.low_rank.items():
        parts = name.split(".")
        if len(parts) > 2 and parts[1] == "layers":
            if int(parts[2]) not in layers:
                continue
            parts[2] = str(layers.index(int(parts[2])))
        renamed[".".join(parts)] = r
    cfg.low_rank = renamed


# ---------------------------------------------------------------------------------------------
# choosing what to remove


def structured_prune_(model: nn.Module, cfg: StructuredConfig,
                      score_fn: Callable[[nn.Module, bool], Importance]) -> dict:
    """Prune in place to ``cfg.target`` of the cost; ``score_fn(model, with_layers)`` scores the
    current model on task data. Returns a report (what went, cost before/after, per-layer widths)."""
    mc = model.config
    cfg.validate(mc)
    before = cost(mc, cfg.by, cfg.length)
    heads0, ffn0, layers0 = list(mc.num_heads), list(mc.ffn_dim), mc.num_layers
    dropped: list[int] = []
    if cfg.drop_layers:
        imp = score_fn(model, True)
        order = sorted(range(mc.num_layers), key=lambda i: float(imp.layers[i]))
        dropped = sorted(order[: cfg.drop_layers])
        keep_layers(model, [i for i in range(mc.num_layers) if i not in dropped])
    goal = cfg.target * before
    floor = _floor_cost(mc, cfg)
    if goal < floor:
        raise LiteformerError(f"target {cfg.target} is below what one head and {cfg.min_neurons} neurons per "
                              f"layer cost ({floor / before:.3f} of the model): drop layers or raise the target")
    for r in range(cfg.rounds):
        now = cost(mc, cfg.by, cfg.length)
        if now <= goal:
            break
        step_goal = now - (now - goal) / (cfg.rounds - r)  # equal steps of cost to remove
        _prune_round(model, score_fn(model, False), cfg, step_goal)
    after = cost(mc, cfg.by, cfg.length)
    return {"by": cfg.by, "length": cfg.length, "target": cfg.target, "cost_before": before,
            "cost_after": after, "kept": round(after / before, 4), "dropped_layers": dropped,
            "layers_before": layers0, "heads_before": heads0, "ffn_before": ffn0,
            "heads_after": list(mc.num_heads), "ffn_after": list(mc.ffn_dim),
            **({"decoder_heads_after": list(mc.decoder_num_heads), "cross_heads_after": list(mc.decoder_cross_heads),
                "decoder_ffn_after": list(mc.decoder_ffn_dim)} if mc.num_decoder_layers else {}),
            "parameters": count_parameters(model)}


def _floor_cost(mc: TransformerConfig, cfg: StructuredConfig) -> float:
    d = {**mc.to_dict(), "num_heads": [1] * mc.num_layers, "ffn_dim": [min(f, cfg.min_neurons) for f in mc.ffn_dim]}
    if mc.num_decoder_layers:
        d.update(decoder_num_heads=[1] * mc.num_decoder_layers, decoder_cross_heads=[1] * mc.num_decoder_layers,
                 decoder_ffn_dim=[min(f, cfg.min_neurons) for f in mc.decoder_ffn_dim])
    return cost(TransformerConfig.from_dict(d), cfg.by, cfg.length)


def _prune_round(model: nn.Module, imp: Importance, cfg: StructuredConfig, goal: float) -> None:
    mc = model.config
    unit_cost = _unit_costs(mc, cfg.by, cfg.length)
    kinds = [k for k in KINDS if getattr(imp, k)]
    units = []  # (score per cost, kind, layer, index)
    for kind in kinds:
        for i, scores in enumerate(getattr(imp, kind)):
            units += [(float(s) / unit_cost[kind], kind, i, j) for j, s in enumerate(scores)]
    units.sort()
    kept = {k: [set(range(n)) for n in getattr(mc, KINDS[k][2])] for k in kinds}
    floor = {k: [1 if "heads" in k else min(cfg.min_neurons, n) for n in getattr(mc, KINDS[k][2])] for k in kinds}
    now = cost(mc, cfg.by, cfg.length)
    for _, kind, i, j in units:
        if now <= goal:
            break
        if len(kept[kind][i]) > floor[kind][i]:
            kept[kind][i].discard(j)
            now -= unit_cost[kind]
    for kind in kinds:
        for i, units_i in enumerate(kept[kind]):
            if len(units_i) < getattr(mc, KINDS[kind][2])[i]:
                (keep_heads if "heads" in kind else keep_neurons)(model, i, sorted(units_i), kind)


@register(StructuredConfig)
def _structured(model, config: StructuredConfig, data=None) -> PruneResult:
    data = need(data, "structured pruning", labels=True)
    return PruneResult(structured_prune_(model, config, scorer(data, model.config.max_positions)))


def adopt(model: nn.Module, pruned: nn.Module) -> None:
    """Make ``model`` the pruned one (same object, new submodules and config)."""
    model.config = pruned.config
    for name, child in pruned.named_children():
        setattr(model, name, child)
