"""How much the task loss depends on each attention head, FFN neuron and layer, on task data.

Heads and neurons: put a gate g = 1 on a unit's output z; ∂L/∂g = Σ z·∂L/∂z (sum over the unit's
positions and channels) per example. ``method="fisher"`` (default; Kwon et al. 2022) scores
½·mean((∂L/∂g)²), the second-order estimate of the loss increase when the gate goes to 0 — an
estimate of the same quantity for every unit, so heads and neurons compete on one scale;
``method="taylor"`` scores mean(|∂L/∂g|) (Michel et al. 2019; Molchanov et al. 2019). Layers: the
measured loss increase when the layer is skipped (its residual passes straight through).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from liteformer.data.batching import pad_batch
from liteformer.errors import LiteformerError


@dataclass
class Importance:
    heads: list[torch.Tensor]  # per layer, (n_l,): estimated loss increase if the head goes
    neurons: list[torch.Tensor]  # per layer, (F_l,)
    layers: torch.Tensor | None  # (L,) measured loss increase if the layer goes (None: not measured)
    loss: float  # mean task loss of the unpruned model on these examples
    examples: int

    def to_dict(self) -> dict:
        return {"loss": round(self.loss, 5), "examples": self.examples,
                "heads": [[round(float(x), 6) for x in h] for h in self.heads],
                "layers": None if self.layers is None else [round(float(x), 5) for x in self.layers]}


def _batches(ids: list[list[int]], labels: list[int], pad_id: int, batch_size: int):
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths: little padding
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        x, m = pad_batch([ids[i] for i in idx], pad_id)
        yield x, m, torch.tensor([labels[i] for i in idx])


METHODS = ("fisher", "taylor")


def _gate_hook(store: torch.Tensor, group: int, method: str):
    """A forward pre-hook on a Linear whose input (B, T, units*group) is the gated output."""
    def pre(module, args):
        z = args[0]
        if not z.requires_grad:
            return

        def grad_hook(g):
            B, T, C = z.shape
            contrib = (z.detach() * g).view(B, T, C // group, group).sum(dim=(1, 3))  # (B, units)
            store.add_(0.5 * contrib.pow(2).sum(0) if method == "fisher" else contrib.abs().sum(0))
        z.register_hook(grad_hook)
    return pre


def unit_importance(model: nn.Module, ids: list[list[int]], labels: list[int], pad_id: int,
                    batch_size: int = 32, layers: bool = True, progress: bool = True,
                    method: str = "fisher") -> Importance:
    """Scores for every head and FFN neuron (and layer) of a sequence classifier on labelled ids."""
    if method not in METHODS:
        raise LiteformerError(f"importance method must be one of {METHODS}, got {method!r}")
    if not ids:
        raise LiteformerError("the importance pass needs examples: the data is empty")
    cfg = model.config
    blocks = list(model.encoder.layers)
    heads = [torch.zeros(n) for n in cfg.num_heads]
    neurons = [torch.zeros(f) for f in cfg.ffn_dim]
    handles = []
    for b, h, f in zip(blocks, heads, neurons, strict=True):
        handles.append(b.attn.out.register_forward_pre_hook(_gate_hook(h, cfg.head_dim, method)))
        handles.append(b.ffn.down.register_forward_pre_hook(_gate_hook(f, 1, method)))
    was_training = model.training
    model.eval()  # no dropout: the scores describe the model as it will run
    total_loss, n = 0.0, 0
    try:
        batches = list(_batches(ids, labels, pad_id, batch_size))
        for x, m, y in tqdm(batches, desc="importance", unit="batch", disable=not progress):
            loss = F.cross_entropy(model(x, m), y, reduction="sum")
            model.zero_grad(set_to_none=True)
            loss.backward()
            total_loss += loss.item()
            n += len(y)
    finally:
        for hd in handles:
            hd.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    base = total_loss / n
    layer_scores = layer_importance(model, batches, base) if layers else None
    return Importance([h / n for h in heads], [f / n for f in neurons], layer_scores, base, n)


@torch.no_grad()
def layer_importance(model: nn.Module, batches, base_loss: float) -> torch.Tensor:
    """Loss increase when each encoder layer is skipped, measured."""
    scores = []
    for i in range(len(model.encoder.layers)):
        probe = copy.deepcopy(model).eval()
        del probe.encoder.layers[i]
        loss = sum(float(F.cross_entropy(probe(x, m), y, reduction="sum")) for x, m, y in batches)
        scores.append(loss / sum(len(y) for *_, y in batches) - base_loss)
    return torch.tensor(scores)
