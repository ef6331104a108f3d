"""Structured pruning to a measured latency: ``prune_(model, LatencyTarget(0.6), data)`` bisects on
the FLOPs share until the PyTorch batch-1 latency, measured in this process, is ``target`` × the
original's (a guide for pruning, not a benchmark: the bench measures artifacts in their runtimes)."""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from liteformer.compress.api import CompressConfig, register
from liteformer.compress.prune.data import PruneResult, need, scorer
from liteformer.compress.prune.structured import StructuredConfig, adopt, structured_prune_
from liteformer.errors import LiteformerError


@dataclass(frozen=True)
class LatencyTarget(CompressConfig):
    """Structured pruning to ``target`` × the measured PyTorch latency (batch 1, ``threads``)."""

    verb = "prune"
    method = "latency"
    target: float = 1.0
    length: int = 32
    threads: int = 2
    drop_layers: int = 0

    def validate(self, model_config=None) -> None:
        super().validate()
        if not 0 < self.target <= 1:
            raise LiteformerError(f"target must be in (0, 1], got {self.target}")


def torch_latency_ms(model: nn.Module, length: int, threads: int = 2, runs: int = 30) -> float:
    """Median batch-1 latency of ``model`` in this process."""
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
    data = need(data, "structured pruning", labels=True)
    score = scorer(data, model.config.max_positions)
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
    adopt(model, probe)
    report.update(latency_ratio=round(ratio, 4), latency_base_ms=round(base, 3), trials=trials)
    return PruneResult(report)
