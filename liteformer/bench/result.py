"""Bench results, typed: one ``CandidateResult`` per candidate (what was measured, medians over the
repetitions, ratios against the baseline) in a ``BenchResult`` that report, select and the recipe
runner read; written to and read from ``bench.json`` with the same keys as the fields."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from liteformer.errors import LiteformerError

LOWER_IS_BETTER = {"wer"}  # quality metrics that are error rates (speech: word error rate, %)


@dataclass
class CandidateResult:
    name: str
    path: str
    runtime: str
    variant: str | None = None
    ok: bool = True
    error: str | None = None  # why it failed (ok is False)
    # quality on the bench split (first repetition): the task's metric (accuracy, sacreBLEU) as ``quality``
    metric: str = "accuracy"
    quality: float | None = None
    accuracy: float | None = None  # classification
    correct: int | None = None
    total: int | None = None
    scores: dict | None = None  # generation: the metric report (sacreBLEU, chrF, tokenized BLEU, signature)
    # latency at real length, batch 1, ms: medians over repetitions
    latency_mean_ms: float | None = None
    latency_p50_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_p50_spread_ms: list[float] | None = None  # [min, max] of the repetitions' p50
    fixed_ms: float | None = None  # at fixed_length tokens
    fixed_length: int | None = None
    timed_per_rep: int | None = None
    reps: int | None = None
    # size and memory
    size_bytes: int | None = None  # everything the artifact needs on disk
    parameters: int | None = None
    peak_rss_mb: float | None = None  # VmHWM of the runtime process, MiB
    rss_increase_mb: float | None = None  # over the process after imports
    load_s: float | None = None
    mean_tokens: float | None = None  # input tokens per example
    # generation: per sentence at batch 1, encode + greedy decode to the model's own output length
    first_token_ms: float | None = None  # p50 over the timed sentences, median over repetitions
    tokens_per_s: float | None = None  # output tokens / decoding time
    mean_output_tokens: float | None = None
    # speech: processing time / audio duration over the timed clips, median over repetitions
    rtf: float | None = None
    truncated: int | None = None
    # cost and the machine's roofline
    macs_mean_length: int | None = None
    macs_fixed_length: int | None = None
    roofline_ms: float | None = None
    x_roofline: float | None = None
    # against the baseline measured in the same run
    x_smaller: float | None = None
    x_faster: float | None = None
    x_faster_fixed: float | None = None
    pct_accuracy: float | None = None
    pct_quality: float | None = None  # 100 * quality / the baseline's

    def __post_init__(self) -> None:
        # a classifier's quality is its accuracy (also in reports written before the metric was generic)
        if self.quality is None and self.accuracy is not None and self.metric == "accuracy":
            self.quality = self.accuracy
        if self.pct_quality is None and self.pct_accuracy is not None:
            self.pct_quality = self.pct_accuracy

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6

    @property
    def label(self) -> str:
        """The runtime with its variant, e.g. torch+int8-dynamic."""
        return f"{self.runtime}+{self.variant}" if self.variant else self.runtime

    def to_dict(self) -> dict:
        """The measured fields (None ones left out)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None or k == "variant"}

    @classmethod
    def from_dict(cls, d: dict) -> CandidateResult:
        """From a report's JSON; ValueError/TypeError when it lacks what a measured candidate has."""
        c = cls(**d)
        if not isinstance(c.name, str) or not isinstance(c.ok, bool):
            raise ValueError("a candidate needs a name and ok")
        if c.ok:
            keys = MEASURED + (("fixed_ms",) if c.metric == "accuracy" else ())
            bad = [k for k in keys if not isinstance(getattr(c, k), int | float) or isinstance(getattr(c, k), bool)]
            if bad:
                raise ValueError(f"candidate {c.name!r} lacks {bad}")
        return c


MEASURED = ("quality", "latency_p50_ms", "size_bytes", "peak_rss_mb")  # what select and report read


@dataclass
class BenchResult:
    settings: dict
    machine: dict
    candidates: list[CandidateResult] = field(default_factory=list)
    baseline: str | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        self.candidates = [c if isinstance(c, CandidateResult) else CandidateResult.from_dict(c)
                           for c in self.candidates]

    def to_dict(self) -> dict:
        return {"settings": self.settings, "machine": self.machine,
                "candidates": [c.to_dict() for c in self.candidates], "baseline": self.baseline,
                "seconds": self.seconds}

    @classmethod
    def load(cls, path: str | Path) -> BenchResult:
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
            if not isinstance(d, dict) or not isinstance(d.get("candidates"), list):
                raise ValueError("no candidates")
            return cls(**d)
        except FileNotFoundError:
            raise LiteformerError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise LiteformerError(f"{path}: a folder, not a bench.json file") from None
        except (ValueError, TypeError, UnicodeDecodeError) as e:
            raise LiteformerError(f"{path}: not a liteformer bench JSON report ({e})") from None

    @property
    def metric(self) -> str:
        """The quality metric of the report's candidates (accuracy, bleu)."""
        return next((c.metric for c in self.candidates if c.ok), "accuracy")

    def ok(self) -> list[CandidateResult]:
        return [c for c in self.candidates if c.ok]

    def get(self, name: str) -> CandidateResult | None:
        return next((c for c in self.candidates if c.name == name), None)
