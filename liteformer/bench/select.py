"""Pick the best benchmarked candidate under a device budget, or say what nothing meets."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from liteformer.bench.result import LOWER_IS_BETTER, BenchResult, CandidateResult
from liteformer.errors import LiteformerError

# budgets with an upper bound besides > 0: key -> (bound, what the number is)
UPPER_BOUNDS = {"min_accuracy": (1, "a fraction"), "min_pct_accuracy": (100, "a percentage"),
                "min_pct_quality": (100, "a percentage")}


@dataclass(frozen=True)
class Budget:
    max_latency_ms: float | None = None  # p50 at real length, batch 1
    max_size_mb: float | None = None  # MB = 10^6 bytes, everything the artifact needs
    max_memory_mb: float | None = None  # peak RSS of the process that runs it (MiB)
    min_accuracy: float | None = None
    # relative to the report's baseline (the teacher), measured in the same bench run: machine-independent
    min_x_faster: float | None = None  # baseline p50 / candidate p50
    min_x_smaller: float | None = None  # baseline size / candidate size
    min_pct_accuracy: float | None = None  # 100 * candidate accuracy / baseline accuracy
    # any task: its quality metric (accuracy as a fraction, sacreBLEU 0-100) and its share of the baseline's
    min_quality: float | None = None
    min_pct_quality: float | None = None
    max_error: float | None = None  # an error-rate metric (speech: WER in %) at most this

    def validate(self) -> None:
        for k, v in asdict(self).items():
            if v is not None and not math.isfinite(v):
                raise LiteformerError(f"--{k.replace('_', '-')} must be a finite number, got {v}")
            if v is not None and v <= 0:
                raise LiteformerError(f"--{k.replace('_', '-')} must be > 0, got {v}")
        for k, (top, what) in UPPER_BOUNDS.items():
            v = getattr(self, k)
            if v is not None and v > top:
                raise LiteformerError(f"--{k.replace('_', '-')} is {what} in (0, {top}], got {v}")

    def checks(self) -> list[tuple[str, str, float, int]]:
        """(flag, candidate key, limit, sign): value * sign <= limit * sign."""
        out = []
        if self.max_latency_ms is not None:
            out.append(("--max-latency-ms", "latency_p50_ms", self.max_latency_ms, 1))
        if self.max_size_mb is not None:
            out.append(("--max-size-mb", "size_mb", self.max_size_mb, 1))
        if self.max_memory_mb is not None:
            out.append(("--max-memory-mb", "peak_rss_mb", self.max_memory_mb, 1))
        if self.min_accuracy is not None:
            out.append(("--min-accuracy", "accuracy", self.min_accuracy, -1))
        if self.min_quality is not None:
            out.append(("--min-quality", "quality", self.min_quality, -1))
        if self.max_error is not None:
            out.append(("--max-error", "quality", self.max_error, 1))
        for flag, key, limit in (("--min-x-faster", "x_faster", self.min_x_faster),
                                 ("--min-x-smaller", "x_smaller", self.min_x_smaller),
                                 ("--min-pct-accuracy", "pct_accuracy", self.min_pct_accuracy),
                                 ("--min-pct-quality", "pct_quality", self.min_pct_quality)):
            if limit is not None:
                out.append((flag, key, limit, -1))
        return out

    @property
    def relative(self) -> bool:
        return any(v is not None for v in (self.min_x_faster, self.min_x_smaller, self.min_pct_accuracy,
                                           self.min_pct_quality))


# Named device profiles: thread count and sequence length for bench, budgets for select.
PROFILES = {
    "phone-low": {"threads": 2, "fixed_length": 64, "budget": Budget(max_latency_ms=10, max_size_mb=10,
                                                                     max_memory_mb=200)},
    "phone-mid": {"threads": 4, "fixed_length": 128, "budget": Budget(max_latency_ms=20, max_size_mb=25,
                                                                      max_memory_mb=400)},
    "phone-high": {"threads": 4, "fixed_length": 128, "budget": Budget(max_latency_ms=40, max_size_mb=100,
                                                                       max_memory_mb=800)},
}


def profile(name: str) -> dict:
    if name not in PROFILES:
        raise LiteformerError(f"unknown profile {name!r} (profiles: {', '.join(PROFILES)})")
    return PROFILES[name]


@dataclass
class Selection:
    chosen: CandidateResult | None
    feasible: list[CandidateResult]
    reason: str  # why nothing fits, when chosen is None
    closest: list[tuple[CandidateResult, float]]  # (candidate, worst relative violation), best first


def _value(c: CandidateResult, key: str) -> float:
    return getattr(c, key)


def _violation(c: CandidateResult, checks) -> float:
    """Largest relative amount by which the candidate misses a limit (0 if it meets all)."""
    worst = 0.0
    for _, key, limit, sign in checks:
        v = _value(c, key)
        miss = (v - limit) / limit if sign > 0 else (limit - v) / limit
        worst = max(worst, miss)
    return worst


def select(result: BenchResult, budget: Budget) -> Selection:
    budget.validate()
    ok = result.ok()
    if not ok:
        raise LiteformerError("the report has no successful candidate to choose from")
    checks = budget.checks()
    if budget.relative and any(c.x_faster is None for c in ok):
        raise LiteformerError(f"relative budgets (× faster, × smaller, % accuracy) need the baseline "
                              f"{result.baseline!r} measured in the same report, and it is missing or failed")
    lower_better = result.metric in LOWER_IS_BETTER
    if lower_better and (budget.min_quality is not None or budget.min_pct_quality is not None):
        raise LiteformerError(f"this report's quality is an error rate ({result.metric}): budget it with "
                              "--max-error")
    if not lower_better and budget.max_error is not None:
        raise LiteformerError(f"--max-error is for error-rate metrics; this report's is {result.metric} "
                              "(use --min-quality / --min-pct-quality)")
    for flag, key, _, _ in checks:
        if any(getattr(c, key) is None for c in ok):
            raise LiteformerError(f"{flag}: this report's candidates have no {key.replace('_', ' ')} (their metric "
                                  f"is {result.metric}; use --min-quality / --min-pct-quality)")
    feasible = [c for c in ok if _violation(c, checks) <= 0]
    if feasible:  # best quality (the lowest error rate); ties go to the faster, then the smaller
        sign = -1 if lower_better else 1
        best = max(feasible, key=lambda c: (sign * c.quality, -c.latency_p50_ms, -c.size_bytes))
        return Selection(best, feasible, "", [])
    alone = [flag for flag, key, limit, sign in checks
             if not any(_value(c, key) * sign <= limit * sign for c in ok)]
    if alone:
        reason = f"no candidate meets {', '.join(alone)}"
    else:
        reason = "each limit is met by some candidate, but none meets " + " and ".join(f for f, *_ in checks)
    closest = sorted(((c, _violation(c, checks)) for c in ok), key=lambda cv: cv[1])[:3]
    return Selection(None, [], reason, closest)


def miss_text(v: float) -> str:
    """A relative miss as a percentage that never reads 0 % for a miss: 0.4 % -> "0.4%", 0.004 % -> "<0.1%"."""
    pct = 100 * v
    if pct >= 10:
        return f"{pct:.0f}%"
    return f"{pct:.1f}%" if pct >= 0.1 else "<0.1%"


def describe_candidate(c: CandidateResult) -> str:
    quality = f"accuracy {c.quality:.4f}" if c.metric == "accuracy" else f"{c.metric} {c.quality:.2f}" + (
        " %" if c.metric in LOWER_IS_BETTER else "")
    return (f"{c.name} ({c.runtime}): {quality}, p50 {c.latency_p50_ms:.2f} ms, "
            f"size {c.size_mb:.1f} MB, peak memory {c.peak_rss_mb:.0f} MiB")
