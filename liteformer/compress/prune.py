"""Pruning verbs: ``prune_(model, config, data)`` with one config per method, torchao-style.

    prune_(model, MagnitudeConfig(sparsity=0.5))                       # unstructured
    prune_(model, StructuredConfig(target=0.5, by="flops"), data)       # heads, neurons, layers
    prune_(model, StructuredConfig(target=0.6, by="latency"), data)     # measured torch latency
    result = prune_(model, VocabConfig(), data)                         # result.tokenizer is new

A method is a config + a handler registered in ``PRUNERS``. ``data`` is the task's training
text (and labels for importance scores). Factorization lives in ``lowrank.factorize_``.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from liteformer.compress.importance import taylor_importance
from liteformer.compress.magnitude import MagnitudeConfig, magnitude_prune_
from liteformer.compress.structured import StructuredConfig, structured_prune_
from liteformer.compress.vocab import prune_vocabulary_
from liteformer.data.tokenizer import TextTokenizer
from liteformer.errors import LiteformerError


@dataclass(frozen=True)
class VocabConfig:
    """Keep the ids the training texts use plus every single-character piece."""


@dataclass(frozen=True)
class LatencyTarget:
    """Structured pruning to ``target`` × the measured PyTorch latency (batch 1, ``threads``)."""

    target: float
    length: int = 32
    threads: int = 2
    drop_layers: int = 0


@dataclass
class TaskData:
    tokenizer: TextTokenizer
    texts: list[str]
    labels: list[int] | None = None  # label ids (importance scores need them)
    max_length: int = 128
    importance_examples: int = 2000  # sentences for each importance pass
    importance: str = "fisher"  # or "taylor" (see compress/importance.py)
    progress: bool = True

    def mean_length(self, limit: int = 5000) -> int:
        """Mean tokens per example (of the first ``limit`` texts, truncated at ``max_length``): the
        length at which FLOPs and latency targets are measured by default."""
        ids = self.tokenizer.encode(self.texts[:limit], self.max_length).ids
        return max(2, round(sum(map(len, ids)) / max(1, len(ids))))


@dataclass
class PruneResult:
    report: dict
    tokenizer: TextTokenizer | None = None  # a new tokenizer (vocabulary pruning)
    extra: dict = field(default_factory=dict)


PRUNERS: dict[type, Callable[[nn.Module, object, TaskData | None], PruneResult]] = {}


def register(config_type: type):
    def deco(fn):
        PRUNERS[config_type] = fn
        return fn
    return deco


def prune_(model: nn.Module, config, data: TaskData | None = None) -> PruneResult:
    """Prune ``model`` in place; returns what was done (and a new tokenizer for vocabulary pruning)."""
    try:
        handler = PRUNERS[type(config)]
    except KeyError:
        raise TypeError(f"no pruner registered for {type(config).__name__}") from None
    return handler(model, config, data)


def _need(data: TaskData | None, what: str, labels: bool = False) -> TaskData:
    if data is None or not data.texts:
        raise LiteformerError(f"{what} needs task data: the data is empty")
    if labels and not data.labels:
        raise LiteformerError(f"{what} needs labelled data (importance scores come from the task loss)")
    return data


@register(MagnitudeConfig)
def _magnitude(model, config: MagnitudeConfig, data=None) -> PruneResult:
    report = magnitude_prune_(model, config)
    report["note"] = ("unstructured zeros: dense runtimes (LiteRT, ExecuTorch, ONNX Runtime) run no faster; "
                      "the saved file is smaller (compressed storage)")
    return PruneResult(report)


@register(VocabConfig)
def _vocab(model, config: VocabConfig, data=None) -> PruneResult:
    data = _need(data, "vocabulary pruning")
    tok, report = prune_vocabulary_(model, data.tokenizer, data.texts)
    return PruneResult(report.to_dict(), tok)


def _scorer(data: TaskData, max_positions: int):
    sample = list(range(len(data.texts)))
    if len(sample) > data.importance_examples:  # a fixed, seeded sample
        sample = torch.randperm(len(sample), generator=torch.Generator().manual_seed(0))[: data.importance_examples]
        sample = sorted(sample.tolist())
    ids = data.tokenizer.encode([data.texts[i] for i in sample], min(data.max_length, max_positions)).ids
    labels = [data.labels[i] for i in sample]
    return lambda m, layers: taylor_importance(m, ids, labels, data.tokenizer.pad_id, layers=layers,
                                               progress=data.progress, method=data.importance)


@register(StructuredConfig)
def _structured(model, config: StructuredConfig, data=None) -> PruneResult:
    data = _need(data, "structured pruning", labels=True)
    return PruneResult(structured_prune_(model, config, _scorer(data, model.config.max_positions)))


def torch_latency_ms(model: nn.Module, length: int, threads: int = 2, runs: int = 30) -> float:
    """Median batch-1 latency of ``model`` in this process (a guide for pruning, not a benchmark)."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    x = torch.randint(1000, 2000, (1, length))
    m = torch.ones_like(x)
    times = []
    try:
        with torch.inference_mode():
            model.eval()
            for i in range(runs + 5):
                t = time.perf_counter()
                model(x, m)
                if i >= 5:
                    times.append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(old)
    return 1000 * statistics.median(times)


@register(LatencyTarget)
def _latency(model, config: LatencyTarget, data=None) -> PruneResult:
    """Bisection on the FLOPs share until the measured latency ratio meets the target."""
    if not 0 < config.target <= 1:
        raise LiteformerError(f"target must be in (0, 1], got {config.target}")
    data = _need(data, "structured pruning", labels=True)
    score = _scorer(data, model.config.max_positions)
    base = torch_latency_ms(model, config.length, config.threads)
    lo, hi, best = config.target * 0.5, 1.0, None
    trials = []
    for i in range(5):
        flops = config.target if i == 0 else (lo + hi) / 2  # latency falls about as fast as FLOPs
        probe = copy.deepcopy(model)
        sc = StructuredConfig(flops, "flops", config.length, config.drop_layers)
        try:
            report = structured_prune_(probe, sc, score)
        except LiteformerError:
            lo = flops
            continue
        ratio = torch_latency_ms(probe, config.length, config.threads) / base
        trials.append({"flops_target": round(flops, 4), "latency_ratio": round(ratio, 4)})
        if ratio <= config.target:
            best, lo = (probe, report, ratio), flops  # fits: try keeping more
        else:
            hi = flops
    if best is None:
        raise LiteformerError(f"no pruning reached {config.target:.0%} of the latency "
                              f"(closest: {min(t['latency_ratio'] for t in trials):.0%})" if trials else
                              f"no pruning reached {config.target:.0%} of the latency")
    probe, report, ratio = best
    _adopt(model, probe)
    report.update(latency_ratio=round(ratio, 4), latency_base_ms=round(base, 3), trials=trials)
    return PruneResult(report)


def _adopt(model: nn.Module, pruned: nn.Module) -> None:
    """Make ``model`` the pruned one (same object, new submodules and config)."""
    model.config = pruned.config
    for name, child in pruned.named_children():
        setattr(model, name, child)


__all__ = ["LatencyTarget", "MagnitudeConfig", "PruneResult", "StructuredConfig", "TaskData", "VocabConfig",
           "prune_"]
