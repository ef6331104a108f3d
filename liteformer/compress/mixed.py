"""Accuracy-aware mixed precision: quantize everything, and if the accuracy drop in the runtime
exceeds the budget, keep in float the fewest weight groups needed, most sensitive first.

Sensitivity of a group = accuracy gained when only that group stays in float (measured in the
target runtime on the eval split). Groups are then returned to float in that order until the drop
is within budget (Intel Neural Compressor calls this accuracy-aware tuning)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from liteformer.bench.runtimes import run_each
from liteformer.compress.groups import all_groups
from liteformer.data.text import TextDataset, encode_labels
from liteformer.errors import LiteformerError
from liteformer.evaluate import predict
from liteformer.export.options import ExportOptions
from liteformer.models.checkpoint import LoadedModel


@dataclass
class MixedResult:
    float_accuracy: float
    all_quantized_accuracy: float
    final_accuracy: float
    keep_float: list[str]
    sensitivity: dict[str, float] = field(default_factory=dict)  # group -> accuracy gain when float
    trials: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def runtime_accuracy(runner, data: TextDataset, max_length: int) -> float:
    y = encode_labels(data, {v: k for k, v in runner.id2label.items()})
    enc = runner.tokenizer.encode(data.texts, max_length)
    return sum(int(got.argmax() == t) for got, t in zip(run_each(runner, enc.ids), y, strict=True)) / len(y)


def float_accuracy(lm: LoadedModel, data: TextDataset, max_length: int) -> float:
    y = encode_labels(data, lm.label2id)
    logits, _ = predict(lm.model, lm.tokenizer, data.texts, max_length=max_length, progress=False)
    return float((logits.argmax(-1).numpy() == np.asarray(y)).mean())


def search_keep_float(groups: list[str], measure, base: float, max_drop: float,
                      progress: bool = False) -> MixedResult:
    """The search itself. ``measure(keep_float) -> accuracy`` in the target runtime; ``base`` is the
    float model's accuracy."""
    if not 0 <= max_drop < 1:
        raise LiteformerError(f"--max-accuracy-drop must be in [0, 1), got {max_drop}")
    bar = tqdm(total=len(groups) + 1, desc="sensitivity", unit="trial", disable=not progress, file=sys.stderr)
    allq = measure(())
    bar.update(1)
    result = MixedResult(base, allq, allq, [])
    if base - allq <= max_drop:
        bar.close()
        return result
    for g in groups:  # one group back in float at a time
        result.sensitivity[g] = measure((g,)) - allq
        bar.update(1)
    bar.close()
    keep: list[str] = []
    for g in sorted(groups, key=lambda g: -result.sensitivity[g])[:-1]:  # all float = no quantization
        if result.sensitivity[g] <= 0 and keep:
            break  # the remaining groups do not help
        keep.append(g)
        acc = measure(tuple(keep))
        result.trials.append({"keep_float": list(keep), "accuracy": acc})
        if base - acc <= max_drop:
            result.keep_float, result.final_accuracy = keep, acc
            return result
    best = max(result.trials, key=lambda t: t["accuracy"], default={"accuracy": allq, "keep_float": []})
    raise LiteformerError(
        f"no mixed-precision configuration meets --max-accuracy-drop {max_drop:g}: float accuracy "
        f"{base:.4f}, best reached {best['accuracy']:.4f} with {best['keep_float'] or 'nothing'} in float")


def accuracy_aware(lm: LoadedModel, runtime: str, opts: ExportOptions, data: TextDataset,
                   max_drop: float, threads: int = 2, progress: bool = True) -> MixedResult:
    """Find the smallest ``keep_float`` whose accuracy in ``runtime`` is within ``max_drop`` of float."""
    from liteformer.bench import runtimes
    from liteformer.export.api import export_model

    work = Path(tempfile.mkdtemp(prefix="liteformer-mixed-"))
    cache: dict[tuple[str, ...], float] = {}

    def measure(keep: tuple[str, ...]) -> float:
        key = tuple(sorted(keep))
        if key not in cache:
            out = work / f"trial{len(cache)}"
            export_model(lm, runtime, out, replace(opts, keep_float=key), None, threads)
            cache[key] = runtime_accuracy(runtimes.load(runtime, out, None, threads), data, opts.max_length)
            shutil.rmtree(out, ignore_errors=True)
        return cache[key]

    try:
        base = float_accuracy(lm, data, opts.max_length)
        return search_keep_float(all_groups(lm.model.config), measure, base, max_drop, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
