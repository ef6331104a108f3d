"""Accuracy-aware mixed precision (sits above export and the runtimes: it exports trial bundles and
measures them): quantize everything, and if the accuracy drop in the runtime
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

from tqdm.auto import tqdm

from liteformer import runtimes, tasks
from liteformer.compress.quantize.groups import all_groups
from liteformer.data.text import TextDataset
from liteformer.errors import LiteformerError
from liteformer.export.exporter import export_model
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


def tune_keep_float(loaded: LoadedModel, runtime: str, opts: ExportOptions, data: TextDataset, max_drop: float,
                    threads: int = 2, progress: bool = True) -> tuple[ExportOptions, MixedResult]:
    """The export options whose quantization keeps in float the fewest weight groups that hold the
    accuracy in ``runtime`` within ``max_drop`` of the float model on ``data``; and the search's record.
    The one entry point of the search: ``liteformer quantize --max-accuracy-drop`` and a recipe's
    ``export: {max_accuracy_drop: ...}`` both call it. ``data`` is encoded once for all trials."""
    if opts.quantize is None:
        raise LiteformerError("an accuracy budget needs a quantization method to search under")
    task = tasks.get("text-classification")  # the search is for classifiers (export refuses generators)
    work = Path(tempfile.mkdtemp(prefix="liteformer-mixed-"))
    cache: dict[tuple[str, ...], float] = {}
    float_report = task.evaluate(loaded.model, loaded.tokenizer, data, max_length=opts.max_length, progress=False)
    encoded = None  # (references, inputs): the bundles share the source's tokenizer and labels

    def measure(keep: tuple[str, ...]) -> float:
        nonlocal encoded
        key = tuple(sorted(keep))
        if key not in cache:
            out = work / f"trial{len(cache)}"
            export_model(loaded, runtime, out, replace(opts, quantize=replace(opts.quantize, keep_float=key)),
                         None, threads)
            runner = runtimes.load(runtime, out, None, threads, trusted=True)
            encoded = encoded or task.encode(runner, data, opts.max_length, what="bundle")
            y, enc = encoded
            cache[key] = task.report([task.predict(runner, ids) for ids in enc.ids], y, runner).accuracy
            del runner
            shutil.rmtree(out, ignore_errors=True)
        return cache[key]

    try:
        result = search_keep_float(all_groups(loaded.model.config), measure, float_report.accuracy, max_drop, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return replace(opts, quantize=replace(opts.quantize, keep_float=tuple(result.keep_float))), result
