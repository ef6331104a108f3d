"""One function per verb that both a CLI command and a recipe step call, so that a command and a
step with the same options build the same objects and do the same work:

    export_options(loaded, ...)            ExportOptions from plain values (buckets, calibration, method)
    export_bundle(loaded, runtime, ...)    one verified bundle, mixed precision searched when budgeted
    prune_config(PruneOptions(...), data)  the pruning method's config; prune_data: the data it scores on
    train_config(options, n_train, ...)    TrainConfig with defaults from the data size where not given
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from liteformer.errors import LiteformerError
from liteformer.options import HALF_OPEN, NON_NEGATIVE, POSITIVE, SHARE, OptionError, check_fields, from_values, opt
from liteformer.runtimes.table import EXPORT_TARGETS, QUANTIZATION_METHODS

PRUNE_METHODS = ("structured", "vocab", "magnitude")
TARGET_STEPS = 4000  # automatic training length: about this many optimizer steps at batch 32


def export_options(loaded, *, max_length: int | None = None, buckets=None, quantize: str | None = None,
                   keep_float=(), calibration_data=None, calibration_n: int = 128,
                   text_column: str | None = None, label_column: str | None = "label", fuse: bool = True,
                   max_target: int | None = None, max_seconds: float | None = None, audio_buckets=None):
    """ExportOptions for ``loaded``: ``max_length`` defaults to 128 or the model's positions;
    ``calibration_data`` (a training file, or a split read) gives ``calibration_n`` calibration inputs
    for static methods."""
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
                         calibration=calibration, fuse=fuse, max_target=max_target, max_seconds=max_seconds,
                         audio_buckets=tuple(audio_buckets) if audio_buckets else None)
    opts.validate(loaded.model.config.max_positions)
    if loaded.is_speech:
        opts.audio_lengths(loaded.model.audio, loaded.model.config.max_positions)
        if q is not None and q.static:
            raise LiteformerError(f"{q.method}: static quantization of a speech model is not supported "
                                  "(use int8-dynamic)")
        if calibration_data or buckets or max_target:
            raise LiteformerError("--calibration-data, --buckets and --max-target are not for speech models "
                                  "(--max-seconds, --audio-buckets)")
    if loaded.is_generator:
        opts.target_length(loaded.model.config.max_positions)
        if q is not None and q.static:
            raise LiteformerError(f"{q.method}: static quantization of a generation model is not supported "
                                  "(use int8-dynamic)")
    return opts


def export_bundle(loaded, runtime: str, out: str | Path, opts, verify_texts, threads: int = 2,
                  max_accuracy_drop: float | None = None, tune_data=None, progress: bool = False) -> dict:
    """Export ``loaded`` to a verified ``runtime`` bundle at ``out``; with ``max_accuracy_drop``, first
    search the fewest weight groups to keep in float on ``tune_data`` (a labelled split) and record the
    search in the sidecar (``mixed_precision``). Returns the sidecar."""
    from liteformer.export.exporter import export_model
    extra = None
    if max_accuracy_drop is not None:
        if tune_data is None:
            raise LiteformerError("--max-accuracy-drop needs --eval-data (the split the budget is measured on)")
        if loaded.is_generator:
            raise LiteformerError("--max-accuracy-drop: the mixed-precision search is for classifiers; a "
                                  "generation model's int8 export is checked by BLEU (within 0.5) instead")
        from liteformer.tune.mixed import tune_keep_float
        opts, mixed = tune_keep_float(loaded, runtime, opts, tune_data, max_accuracy_drop, threads, progress)
        extra = {"mixed_precision": mixed.to_dict()}
    return export_model(loaded, runtime, out, opts, verify_texts, threads, extra=extra)


@dataclass
class PruneOptions:
    """What ``liteformer prune`` and a recipe's ``prune`` step take; ``prune_config`` turns it into the
    method's config."""

    method: str = opt("structured", "pruning method", choices=PRUNE_METHODS)
    sparsity: float | None = opt(None, "magnitude: share of Linear weights set to zero", check=HALF_OPEN)
    scope: str = opt("global", "magnitude: one threshold for all Linears (global) or the same sparsity in each "
                     "(layer)", choices=("global", "layer"))
    target_flops: float | None = opt(None, "structured: kept share of FLOPs, e.g. 0.5", check=SHARE)
    target_params: float | None = opt(None, "structured: kept share of encoder parameters", check=SHARE)
    target_latency: float | None = opt(None, "structured: kept share of the PyTorch batch-1 latency measured in "
                                       "this process (--threads)", check=SHARE)
    drop_layers: int = opt(0, "structured: whole layers to remove first", check=NON_NEGATIVE)
    importance: str = opt("fisher", "structured: unit scores", choices=("fisher", "taylor"))
    importance_n: int = opt(2000, "structured: sentences scored", check=POSITIVE)
    length: int | None = opt(None, "structured: tokens per example for FLOPs and latency (default: the data's "
                             "mean length)", check=POSITIVE)

    def validate(self) -> None:
        check_fields(self)
        if self.method == "magnitude" and self.sparsity is None:
            raise OptionError("magnitude pruning needs sparsity", "sparsity", ("sparsity",))
        if self.method == "structured" and len(self.targets()) != 1:
            raise OptionError("structured pruning needs exactly one of target_flops, target_params, target_latency",
                              None, ("target_flops", "target_params", "target_latency"))

    def targets(self) -> dict[str, float]:
        return {k: v for k, v in (("flops", self.target_flops), ("params", self.target_params),
                                  ("latency", self.target_latency)) if v is not None}


def prune_config(o: PruneOptions, data=None, threads: int = 2):
    """The config of the pruning method ``o`` names; a structured target's length defaults to the
    data's mean length."""
    from liteformer.compress.prune import (
        LatencyTarget,
        MagnitudeConfig,
        OutputVocabConfig,
        StructuredConfig,
        VocabConfig,
    )
    o.validate()
    if o.method == "magnitude":
        return MagnitudeConfig(o.sparsity, o.scope)
    if o.method == "vocab":  # an encoder-decoder's data has targets: its output layer is pruned
        return OutputVocabConfig() if data is not None and data.targets is not None else VocabConfig()
    (by, target), = o.targets().items()
    length = o.length or data.mean_length()
    if by == "latency":
        return LatencyTarget(target, length, threads, o.drop_layers)
    return StructuredConfig(target, by, length, o.drop_layers)


def prune_data(loaded, ds, o: PruneOptions, progress: bool = False, max_length: int | None = None):
    """The TaskData pruning ``o`` scores units on: ``ds`` (a split read) tokenized for ``loaded``,
    labelled for structured pruning; for a translation model ``ds`` is sentence pairs (a
    ``ParallelDataset``), the sources scored with their targets."""
    from liteformer.compress.prune import TaskData
    from liteformer.data.tokenizer import default_max_length
    max_length = max_length or default_max_length(loaded.model.config.max_positions)
    if loaded.is_generator:
        if not len(ds):
            raise LiteformerError(f"{ds.path}: no sentence pairs")
        return TaskData(loaded.tokenizer, ds.sources, None, max_length, targets=ds.targets,
                        importance_examples=o.importance_n, importance=o.importance, progress=progress)
    from liteformer.data.text import encode_labels
    loaded.require_classifier(f"{o.method} pruning")
    if not ds.texts:
        raise LiteformerError(f"{ds.path}: no examples")
    labels = encode_labels(ds, loaded.label2id) if o.method == "structured" else None
    return TaskData(loaded.tokenizer, ds.texts, labels, max_length,
                    importance_examples=o.importance_n, importance=o.importance, progress=progress)


@dataclass
class ExportStep:
    """What a recipe's ``export`` step takes (the CLI's ``export``/``quantize`` flags say the same)."""

    to: list[str] = opt(["onnx"], "runtimes", choices=EXPORT_TARGETS)
    quantize: str = opt("none", "quantization method", choices=("none", *QUANTIZATION_METHODS))
    max_length: int | None = opt(None, "longest input in tokens (default: 128 or the model's positions if fewer)",
                                 check=POSITIVE)
    buckets: list[int] | None = opt(None, "LiteRT static lengths, e.g. 16,32,64,128 (default: those up to the "
                                    "maximum length, plus it)", check=POSITIVE)
    fuse: bool = opt(True, "onnx: ONNX Runtime's transformer fusions (--no-fuse skips them: fused Attention/"
                     "SkipLayerNorm/BiasGelu are ORT contrib ops other ONNX runtimes lack)")
    max_target: int | None = opt(None, "generation models: the decoder cache's fixed length = the longest output "
                                 "in tokens (default: 128 or the model's positions if fewer)", check=POSITIVE)
    max_seconds: float | None = opt(None, "speech models: the longest clip in seconds (default: 8, or the model's "
                                    "positions if fewer)", check=POSITIVE)
    audio_buckets: list[float] | None = opt(None, "speech models: LiteRT audio lengths in seconds, e.g. 1,2,4 "
                                            "(default: 1,2,4 below the maximum, plus it)", check=POSITIVE)
    max_accuracy_drop: float | None = opt(None, "accuracy budget as a fraction, e.g. 0.003 = 0.3 points (turns "
                                          "on the sensitivity scan)", check=HALF_OPEN)

    def validate(self) -> None:
        check_fields(self)


def step_configs(name: str) -> list[type]:
    """The config classes a recipe step of ``name`` builds from its options (its option types and
    checks come from their fields)."""
    from liteformer.compress.distill import DistillConfig, StudentSpec
    from liteformer.compress.factorize import LowRankConfig
    from liteformer.train.config import SpeechConfig, TrainConfig, TranslationConfig
    from liteformer.verbs_translation import Seq2SeqDistill
    return {"finetune": [FinetuneStep, TrainConfig, TranslationConfig, SpeechConfig], "student": [StudentSpec],
            "prune": [PruneOptions], "factorize": [LowRankConfig],
            "distill": [TrainConfig, DistillConfig, TranslationConfig, Seq2SeqDistill, SpeechConfig],
            "export": [ExportStep]}[name]


def check_step(name: str, opts: dict) -> None:
    """Every value check of a recipe step's options, by the configs the step builds; an OptionError
    names the option at fault."""
    for cls in step_configs(name):
        obj = from_values(cls, opts)
        check_fields(obj)
        if cls.__name__ in ("PruneOptions", "LowRankConfig", "ExportStep"):
            obj.validate()
    if name == "student" and sum(k in opts for k in ("layers", "config")) != 1:
        raise OptionError("student needs exactly one of layers (teacher layers to keep) or config", None)


@dataclass
class FinetuneStep:
    base: str = opt("minilm-l6", "base model folder or alias (summarization, dialogue, translation: a trained "
                    "encoder-decoder folder to continue from, e.g. a denoising pre-training)")
    label_names: list[str] | None = opt(None, "names for integer labels 0..n-1 of a new head")
    model_config: str | None = opt(None, "translation: JSON of TransformerConfig fields (num_decoder_layers > 0), "
                                   "trained from scratch")
    vocab_size: int | None = opt(None, "translation: size of the joint subword vocabulary learned on the pairs "
                                 "(default 8000)", check=POSITIVE)


def auto_epochs(n_train: int, batch_size: int = 32) -> float:
    return float(min(20, max(1, round(TARGET_STEPS * batch_size / max(1, n_train)))))


def train_config(options: dict, n_train: int | None = None, lr: float = 5e-5):
    """TrainConfig from options (TrainConfig's field names; None = default). With ``n_train``, what
    is not given follows the data size, not SST-2: ``epochs`` for about ``TARGET_STEPS`` steps (1 to
    20) and a dev evaluation twice an epoch."""
    from dataclasses import fields

    from liteformer.train.config import TrainConfig
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
