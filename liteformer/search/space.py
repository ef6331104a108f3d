"""What the budget search explores, and how long it trains: student shapes cut from the teacher at
several compute levels, augmentation, quantization, and the rungs of distillation length.

A shape at compute level f (a fraction of the teacher's encoder multiply-adds per token) scales depth
and width together — f^(1/3) of the layers and f^(1/3) of the width, so MACs ∝ layers × width² ≈ f —
rounded to whole layers and whole teacher heads, with the teacher's FFN ratio; every weight is then
cut from the teacher's (its most important channels, heads and neurons; ``init_from_teacher``). The
headline SST-2 student (4 of 6 layers, width 256 of 384) is the f = 0.3 shape of MiniLM-L6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from liteformer.errors import LiteformerError
from liteformer.options import NON_NEGATIVE, POSITIVE, SHARE, Range, check_fields, opt


@dataclass
class SearchOptions:
    max_minutes: float = opt(120.0, "wall time of the whole search, summed over resumed runs; when it runs out the "
                             "best trials so far are benched and the report says what would run next",
                             check=POSITIVE)
    levels: list[float] = opt([0.5, 0.3, 0.18, 0.1, 0.05], "student compute levels: fractions of the teacher's "
                              "encoder multiply-adds per token (each gives one shape cut from the teacher)",
                              check=SHARE)
    augment: list[int] = opt([0, 2], "augmented copies tried per shape (TinyBERT word swaps, labelled by the "
                             "teacher)", check=NON_NEGATIVE)
    quantize: list[str] = opt(["int8-dynamic", "none"], "quantizations tried for each shape's bundles")
    eta: int = opt(3, "successive halving: the best 1/eta of each rung trains on", check=Range(2))
    min_steps: int | None = opt(None, "distillation steps of the first rung (default: the cap / eta^2, at least "
                                "100)", check=POSITIVE)
    max_steps: int | None = opt(None, "the cap on a trial's distillation steps (default: 4 passes over the training "
                                "set or 64,000 examples, whichever is more, at most 20 passes over the augmented "
                                "set)", check=POSITIVE)
    patience: int = opt(3, "a trial stops after this many dev evaluations without a gain of --min-delta",
                        check=NON_NEGATIVE)
    min_delta: float = opt(0.002, "the smallest dev gain that counts for early stopping", check=NON_NEGATIVE)
    runtimes: list[str] = opt(["onnx", "litert"], "runtimes of the final bundles (the first also probes each "
                              "shape's size and speed before any training)")
    finalists: int = opt(2, "when no trial meets the budget on dev: the best this many are benched on test",
                         check=POSITIVE)
    hidden_weight: float = opt(1.0, "distillation: hidden-state loss weight", check=NON_NEGATIVE)
    attention_weight: float = opt(1.0, "distillation: attention-map loss weight", check=NON_NEGATIVE)
    cache_gb: float = opt(12.0, "room for the teacher's hidden states (on disk, memory-mapped)", check=POSITIVE)
    lr: float = opt(1e-4, "distillation peak learning rate", check=Range(0, 1, lo_open=True, hi_open=True))
    batch_size: int = opt(32, "distillation batch size", check=POSITIVE)
    bench_reps: int = opt(3, "fresh-process repetitions of the final bench on test", check=POSITIVE)

    def validate(self) -> None:
        check_fields(self)
        if not self.levels or not self.augment or not self.quantize or not self.runtimes:
            raise LiteformerError("levels, augment, quantize and runtimes each need at least one value")
        bad = [q for q in self.quantize if q not in ("int8-dynamic", "int8-static", "none")]
        if bad:
            raise LiteformerError(f"quantize {bad[0]!r}: expected int8-dynamic, int8-static or none")
        bad = [r for r in self.runtimes if r not in ("onnx", "litert", "executorch")]
        if bad:
            raise LiteformerError(f"runtime {bad[0]!r}: expected onnx, litert or executorch")


@dataclass(frozen=True)
class Shape:
    layers: int
    hidden: int
    heads: int
    head_dim: int
    ffn: int
    fraction: float  # of the teacher's encoder MACs per token (as built, after rounding)

    @property
    def name(self) -> str:
        return f"L{self.layers}-H{self.hidden}"

    def config(self, teacher_cfg) -> dict:
        """TransformerConfig fields of a student cut from the teacher (its activation, norm placement,
        positions; positions up to 128 or the teacher's)."""
        return {"num_layers": self.layers, "hidden_size": self.hidden, "num_heads": self.heads,
                "head_dim": self.head_dim, "ffn_dim": self.ffn, "max_positions": min(128, teacher_cfg.max_positions),
                "activation": teacher_cfg.activation, "norm_first": teacher_cfg.norm_first,
                "positions": teacher_cfg.positions, "dropout": 0.1, "attention_dropout": 0.1}


def _uniform(v, what: str) -> int:
    values = set(v) if isinstance(v, list | tuple) else {v}
    if len(values) != 1:
        raise LiteformerError(f"the teacher's layers differ in {what} ({sorted(values)}): the search cuts students "
                              "from teachers with one shape per layer")
    return int(values.pop())


def shapes_for(teacher_cfg, levels: list[float]) -> list[Shape]:
    """One shape per compute level (duplicates after rounding dropped), cheapest first."""
    if getattr(teacher_cfg, "num_decoder_layers", 0):
        raise LiteformerError("the budget search builds text-classification students (an encoder teacher); this "
                              "teacher has a decoder")
    L, H = teacher_cfg.num_layers, teacher_cfg.hidden_size
    heads = _uniform(teacher_cfg.num_heads, "heads")
    ffn = _uniform(teacher_cfg.ffn_dim, "FFN width")
    d = getattr(teacher_cfg, "head_dim", None) or H // heads
    out: dict[tuple[int, int], Shape] = {}
    for f in levels:
        s = f ** (1 / 3)
        layers = min(L, max(1, round(L * s)))
        width = H * math.sqrt(f * L / layers)  # the width that gives f with the rounded depth
        n_heads = min(heads, max(1, round(width / d)))
        hidden = n_heads * d
        inner = max(d, round(ffn * hidden / H / d) * d)
        frac = layers * (hidden * hidden * 4 + 2 * hidden * inner) / (L * (H * H * 4 + 2 * H * ffn))
        out.setdefault((layers, hidden), Shape(layers, hidden, n_heads, d, inner, round(frac, 4)))
    return sorted(out.values(), key=lambda s: s.fraction)


def default_steps(n_train: int, augment: int, batch_size: int, eta: int, max_steps: int | None,
                  min_steps: int | None) -> tuple[int, int]:
    """(first rung, cap) in distillation steps for a training set of ``n_train`` texts (see SearchOptions)."""
    per_epoch = math.ceil(n_train * (1 + augment) / batch_size)
    cap = max_steps or min(20 * per_epoch, math.ceil(max(4 * n_train, 64_000) / batch_size))
    first = min_steps or max(100, cap // (eta * eta))
    return min(first, cap), cap
