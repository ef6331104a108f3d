"""How much the task loss depends on each attention head, FFN neuron and layer, on task data.

Every attention (encoder self-attention; decoder self- and cross-attention) and FFN of the model is
scored: a classifier on labelled texts (``unit_importance``, cross-entropy of the labels), an
encoder-decoder on sentence pairs (``seq2seq_importance``, teacher-forced token cross-entropy of the
targets).

Heads and neurons: put a gate g = 1 on a unit's output z; ∂L/∂g = Σ z·∂L/∂z (sum over the unit's
positions and channels) per example. ``method="fisher"`` (default; Kwon et al. 2022) scores
½·mean((∂L/∂g)²), the second-order estimate of the loss increase when the gate goes to 0 — an
estimate of the same quantity for every unit, so heads and neurons compete on one scale;
``method="taylor"`` scores mean(|∂L/∂g|) (Michel et al. 2019; Molchanov et al. 2019). Layers: the
measured loss increase when the layer is skipped (its residual passes straight through).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from liteformer.data.batching import pad_batch, teacher_forcing
from liteformer.errors import LiteformerError
from liteformer.models.seq2seq import output_targets


@dataclass
class Importance:
    heads: list[torch.Tensor]  # per layer, (n_l,): estimated loss increase if the head goes
    neurons: list[torch.Tensor]  # per layer, (F_l,)
    layers: torch.Tensor | None  # (L,) measured loss increase if the layer goes (None: not measured)
    loss: float  # mean task loss of the unpruned model on these examples
    examples: int
    decoder_heads: list[torch.Tensor] = field(default_factory=list)  # per decoder layer: self-attention heads
    cross_heads: list[torch.Tensor] = field(default_factory=list)  # per decoder layer: cross-attention heads
    decoder_neurons: list[torch.Tensor] = field(default_factory=list)  # per decoder layer

    def to_dict(self) -> dict:
        rnd = lambda hs: [[round(float(x), 6) for x in h] for h in hs]  # noqa: E731
        d = {"loss": round(self.loss, 5), "examples": self.examples, "heads": rnd(self.heads),
             "layers": None if self.layers is None else [round(float(x), 5) for x in self.layers]}
        if self.decoder_heads:
            d.update(decoder_heads=rnd(self.decoder_heads), cross_heads=rnd(self.cross_heads))
        return d


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


def gated_importance(model: nn.Module, batches: list, loss_fn: Callable[[nn.Module, object], tuple[torch.Tensor, int]],
                     progress: bool = True, method: str = "fisher") -> Importance:
    """Scores for every head and FFN neuron of ``model`` (its encoder's layers and, if it has one, its
    decoder's self-attention, cross-attention and FFN): ``loss_fn(model, batch)`` gives a batch's
    summed per-example losses and its number of examples. Layers are not scored (None)."""
    if method not in METHODS:
        raise LiteformerError(f"importance method must be one of {METHODS}, got {method!r}")
    if not batches:
        raise LiteformerError("the importance pass needs examples: the data is empty")
    d = model.config.head_dim
    stores: dict[str, list[torch.Tensor]] = {}
    handles = []

    def gate(key: str, units: int, module: nn.Module, group: int) -> None:
        store = torch.zeros(units)
        stores.setdefault(key, []).append(store)
        handles.append(module.register_forward_pre_hook(_gate_hook(store, group, method)))

    stacks = [("", model.encoder)] if hasattr(model, "encoder") else []
    if hasattr(model, "decoder"):
        stacks.append(("decoder_", model.decoder))
    for prefix, stack in stacks:
        for block in stack.layers:
            gate(prefix + "heads", block.attn.n_heads, block.attn.out, d)
            if block.cross is not None:
                gate("cross_heads", block.cross.n_heads, block.cross.out, d)
            gate(prefix + "neurons", block.ffn.width, block.ffn.down, 1)
    was_training = model.training
    model.eval()  # no dropout: the scores describe the model as it will run
    total_loss, n = 0.0, 0
    try:
        for batch in tqdm(batches, desc="importance", unit="batch", disable=not progress):
            loss, examples = loss_fn(model, batch)
            model.zero_grad(set_to_none=True)
            loss.backward()
            total_loss += loss.item()
            n += examples
    finally:
        for hd in handles:
            hd.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    per = {k: [x / n for x in v] for k, v in stores.items()}
    return Importance(per.get("heads", []), per.get("neurons", []), None, total_loss / n, n,
                      per.get("decoder_heads", []), per.get("cross_heads", []), per.get("decoder_neurons", []))


def _classifier_loss(model: nn.Module, batch) -> tuple[torch.Tensor, int]:
    x, m, y = batch
    return F.cross_entropy(model(x, m), y, reduction="sum"), len(y)


def unit_importance(model: nn.Module, ids: list[list[int]], labels: list[int], pad_id: int,
                    batch_size: int = 32, layers: bool = True, progress: bool = True,
                    method: str = "fisher") -> Importance:
    """Scores for every head and FFN neuron (and layer) of a sequence classifier on labelled ids."""
    if not ids:
        raise LiteformerError("the importance pass needs examples: the data is empty")
    batches = list(_batches(ids, labels, pad_id, batch_size))
    imp = gated_importance(model, batches, _classifier_loss, progress, method)
    if layers:
        imp.layers = layer_importance(model, batches, imp.loss)
    return imp


def seq2seq_importance(model: nn.Module, pairs: Iterable[tuple[list[int], list[int]]], pad_id: int, bos_id: int,
                       batch_size: int = 32, progress: bool = True, method: str = "fisher") -> Importance:
    """Scores for every head and FFN neuron of an encoder-decoder on (source ids, target ids ending
    in ``</s>``) pairs: the teacher-forced token cross-entropy of the targets, summed per sentence."""
    pairs = list(pairs)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    batches = []
    for s in range(0, len(order), batch_size):
        rows = [pairs[i] for i in order[s : s + batch_size]]
        batches.append(teacher_forcing([r[0] for r in rows], [r[1] for r in rows], pad_id, bos_id))

    def loss(m: nn.Module, batch) -> tuple[torch.Tensor, int]:
        tgt = batch[4]
        real = tgt != pad_id  # (B, T): the softmax over the vocabulary only where there is a target token
        logits = m(*batch[:4], logits_at=real).float()  # (N, V)
        return F.cross_entropy(logits, output_targets(tgt[real], logits.shape[-1]), reduction="sum"), tgt.shape[0]

    return gated_importance(model, batches, loss, progress, method)


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
