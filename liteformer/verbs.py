"""One function per verb that both a CLI command and a recipe step call, so that a command and a
step with the same options build the same objects and do the same work:

    export_options(loaded, ...)            ExportOptions from plain values (buckets, calibration, method)
    export_bundle(loaded, runtime, ...)    one verified bundle, mixed precision searched when budgeted
    prune_config(method, ...)              the pruning method's config from plain values
    train_config(options, n_train, ...)    TrainConfig with defaults from the data size where not given
"""

from __future__ import annotations

import math
from pathlib import Path

from liteformer.errors import LiteformerError

TARGET_STEPS = 4000  # automatic training length: about this many optimizer steps at batch 32


def export_options(loaded, *, max_length: int | None = None, buckets=None, quantize: str | None = None,
                   keep_float=(), calibration_data: str | None = None, calibration_n: int = 128,
                   text_column: str | None = None, label_column: str | None = "label", fuse: bool = True):
    """ExportOptions for ``loaded``: ``max_length`` defaults to 128 or the model's positions;
    ``calibration_data`` (a training file) gives ``calibration_n`` calibration inputs for static methods."""
    from liteformer.compress.quantize import quantize_config
    from liteformer.data.tokenizer import default_max_length
    from liteformer.export.options import ExportOptions
    if keep_float and not quantize:
        raise LiteformerError("--keep-float needs --quantize")
    max_length = max_length or default_max_length(loaded.model.config.max_positions)
    calibration = None
    if calibration_data:
        from liteformer.export.calibration import calibration_ids
        calibration = calibration_ids(calibration_data, loaded, calibration_n, max_length, text_column,
                                      label_column or "label")
    q = quantize_config(quantize, tuple(keep_float)) if quantize else None
    opts = ExportOptions(max_length=max_length, buckets=tuple(buckets) if buckets else None, quantize=q,
                         calibration=calibration, fuse=fuse)
    opts.validate(loaded.model.config.max_positions)
    return opts


def export_bundle(loaded, runtime: str, out: str | Path, opts, verify_texts: list[str] | None, threads: int = 2,
                  max_accuracy_drop: float | None = None, tune_data=None, progress: bool = False) -> dict:
    """Export ``loaded`` to a verified ``runtime`` bundle at ``out``; with ``max_accuracy_drop``, first
    search the fewest weight groups to keep in float on ``tune_data`` (a labelled split) and record the
    search in the sidecar (``mixed_precision``). Returns the sidecar."""
    from liteformer.export.exporter import export_model
    extra = None
    if max_accuracy_drop is not None:
        if tune_data is None:
            raise LiteformerError("--max-accuracy-drop needs --eval-data (the split the budget is measured on)")
        from liteformer.tune.mixed import tune_keep_float
        opts, mixed = tune_keep_float(loaded, runtime, opts, tune_data, max_accuracy_drop, threads, progress)
        extra = {"mixed_precision": mixed.to_dict()}
    return export_model(loaded, runtime, out, opts, verify_texts, threads, extra=extra)


def prune_config(method: str, data=None, *, sparsity: float | None = None, scope: str = "global",
                 target_flops: float | None = None, target_params: float | None = None,
                 target_latency: float | None = None, length: int | None = None, drop_layers: int = 0,
                 threads: int = 2):
    """The config of pruning ``method`` (magnitude, structured, vocab) from plain values; a structured
    target's length defaults to the data's mean length."""
    from liteformer.compress.prune import LatencyTarget, MagnitudeConfig, StructuredConfig, VocabConfig
    if method == "magnitude":
        if sparsity is None:
            raise LiteformerError("--method magnitude needs --sparsity")
        return MagnitudeConfig(sparsity, scope)
    if method == "vocab":
        return VocabConfig()
    if method != "structured":
        raise LiteformerError(f"unknown pruning method {method!r} (methods: magnitude, structured, vocab)")
    targets = {"flops": target_flops, "params": target_params, "latency": target_latency}
    given = {k: v for k, v in targets.items() if v is not None}
    if len(given) != 1:
        raise LiteformerError("--method structured needs exactly one of --target-flops, --target-params, "
                              "--target-latency")
    (by, target), = given.items()
    if not 0 < target <= 1:
        raise LiteformerError(f"--target-{by} must be in (0, 1], got {target}")
    length = length or data.mean_length()
    if by == "latency":
        return LatencyTarget(target, length, threads, drop_layers)
    return StructuredConfig(target, by, length, drop_layers)


def auto_epochs(n_train: int, batch_size: int = 32) -> float:
    return float(min(20, max(1, round(TARGET_STEPS * batch_size / max(1, n_train)))))


def train_config(options: dict, n_train: int | None = None, lr: float = 5e-5):
    """TrainConfig from options (TrainConfig's field names; None = default). With ``n_train``, what
    is not given follows the data size, not SST-2: ``epochs`` for about ``TARGET_STEPS`` steps (1 to
    20) and a dev evaluation twice an epoch."""
    from dataclasses import fields

    from liteformer.train.loop import TrainConfig
    known = {f.name for f in fields(TrainConfig)}
    given = {k: v for k, v in options.items() if k in known and v is not None}
    given.setdefault("lr", lr)
    if n_train is not None:
        bs = given.get("batch_size", 32)
        given["epochs"] = given.get("epochs") or auto_epochs(n_train, bs)
        given.setdefault("eval_every", max(1, math.ceil(n_train / bs) // 2))
    cfg = TrainConfig(**given)
    cfg.validate()
    return cfg
