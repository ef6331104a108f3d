"""The recipe steps: each reads the current model folder and writes its output folder ``out``.

Training defaults come from the data size, not from SST-2: about ``TARGET_STEPS`` optimizer steps
(at batch 32) whatever the data size, 1 to 20 epochs, a dev evaluation twice an epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from liteformer.data.text import encode_labels, read_classification
from liteformer.errors import LiteformerError

TARGET_STEPS = 4000


@dataclass
class Context:
    teacher: str  # the model the student learns from (a folder)
    current: str  # the model folder the next step starts from
    data: dict  # train, dev, test, text_column, label_column
    progress: bool = False
    threads: int = 2
    teacher_store: str | None = None  # folder for the teacher's outputs, shared by the distill steps


def auto_epochs(n_train: int, batch_size: int = 32) -> float:
    return float(min(20, max(1, round(TARGET_STEPS * batch_size / max(1, n_train)))))


def _train(ctx: Context):
    return read_classification(ctx.data["train"], ctx.data.get("text_column"), ctx.data.get("label_column", "label"))


def _train_config(opts: dict, n_train: int, lr: float):
    from liteformer.train.loop import TrainConfig
    bs = opts.get("batch_size", 32)
    epochs = opts.get("epochs") or auto_epochs(n_train, bs)
    per_epoch = math.ceil(n_train / bs)
    return TrainConfig(epochs=epochs, max_steps=opts.get("max_steps"), lr=opts.get("lr", lr), batch_size=bs,
                       eval_every=opts.get("eval_every") or max(1, per_epoch // 2))


def finetune(ctx: Context, opts: dict, out: Path) -> dict:
    from liteformer.train.finetune import finetune as run
    from liteformer.train.finetune import prepare
    prep = prepare(ctx.data["train"], base=opts.get("base", "minilm-l6"), dev=ctx.data.get("dev"),
                   text_column=ctx.data.get("text_column"), label_column=ctx.data.get("label_column", "label"),
                   label_names=opts.get("label_names"))
    cfg = _train_config(opts, len(prep.train.texts), 5e-5)
    result = run(prep, out, cfg, progress=ctx.progress, resume=True)
    return {"steps": result.steps, "dev_accuracy": result.best.accuracy if result.best else None}


def student(ctx: Context, opts: dict, out: Path) -> dict:
    from liteformer.compress.distill import student_from_teacher
    from liteformer.models.checkpoint import load_model, save_model
    from liteformer.train.distill import TEACHER_CHANNELS, StudentSpec, build_student
    lm = load_model(ctx.current)
    notes = {}
    if "layers" in opts:
        model, tok = student_from_teacher(lm.model, [int(i) for i in opts["layers"]]), lm.tokenizer
    else:
        spec = StudentSpec(config=opts["config"], vocab_size=opts.get("vocab_size"),
                           init_embeddings=opts.get("init_embeddings", False),
                           init_from_teacher=opts.get("init_from_teacher", False))
        model, tok, notes = build_student(spec, lm.model, lm.tokenizer, _train(ctx).texts)
    kept = notes.pop(TEACHER_CHANNELS, None)  # the distill step reads them back from the folder
    save_model(model, tok, out, extra={TEACHER_CHANNELS: kept} if kept else None)
    return {"layers": model.config.num_layers, "hidden": model.config.hidden_size, **notes}


def prune(ctx: Context, opts: dict, out: Path) -> dict:
    from liteformer.compress.magnitude import MagnitudeConfig
    from liteformer.compress.prune import StructuredConfig, TaskData, VocabConfig, prune_
    from liteformer.data.tokenizer import default_max_length
    from liteformer.models.checkpoint import load_model, save_model
    lm = load_model(ctx.current)
    method = opts.get("method", "structured")
    ds = _train(ctx)
    labels = encode_labels(ds, lm.label2id) if method == "structured" else None
    data = TaskData(lm.tokenizer, ds.texts, labels, default_max_length(lm.model.config.max_positions),
                    importance_examples=opts.get("importance_n", 2000), progress=ctx.progress)
    if method == "magnitude":
        config = MagnitudeConfig(opts["sparsity"])
    elif method == "vocab":
        config = VocabConfig()
    else:
        by = "flops" if "target_flops" in opts else "params"
        config = StructuredConfig(opts[f"target_{by}"], by, opts.get("length") or data.mean_length(),
                                  opts.get("drop_layers", 0))
    result = prune_(lm.model, config, data)
    save_model(lm.model, result.tokenizer or lm.tokenizer, out, extra={"prune": method},
               sparse_storage=method == "magnitude")
    return {k: v for k, v in result.report.items() if k not in ("per_weight",)}


def factorize(ctx: Context, opts: dict, out: Path) -> dict:
    from liteformer.compress.lowrank import LowRankConfig, factorize_
    from liteformer.models.checkpoint import load_model, save_model
    lm = load_model(ctx.current)
    cfg = LowRankConfig(opts.get("energy"), opts.get("ratio"), opts.get("rank"),
                        tuple(opts.get("targets", ("attn", "ffn"))), opts.get("embedding_rank"))
    report = factorize_(lm.model, cfg)
    save_model(lm.model, lm.tokenizer, out)
    return {"params_before": report.params_before, "params_after": report.params_after}


def distill(ctx: Context, opts: dict, out: Path) -> dict:
    from liteformer.compress.distill import DistillConfig
    from liteformer.train.distill import StudentSpec
    from liteformer.train.distill import distill as run
    n = len(_train(ctx).texts)
    tcfg = _train_config(opts, n, 1e-4)
    dcfg = DistillConfig(alpha=opts.get("alpha", 0.5), temperature=opts.get("temperature", 2.0),
                         hidden_weight=opts.get("hidden_weight", 0.0),
                         attention_weight=opts.get("attention_weight", 0.0), augment=opts.get("augment", 0),
                         cache_gb=opts.get("cache_gb", 4.0))
    result = run(ctx.teacher, StudentSpec(checkpoint=ctx.current), ctx.data["train"], out, dcfg, tcfg,
                 ctx.data.get("dev"), ctx.data.get("text_column"), ctx.data.get("label_column", "label"),
                 progress=ctx.progress, resume=True, teacher_store=ctx.teacher_store)
    return {"steps": result.steps, "epochs": None if tcfg.max_steps else tcfg.epochs,
            "dev_accuracy": result.best.accuracy if result.best else None}


def export(ctx: Context, opts: dict, out: Path) -> dict:
    """One bundle per runtime under ``out/<runtime>``; quantized ones carry the method."""
    from liteformer.export.api import export_model
    from liteformer.export.calibration import calibration_ids
    from liteformer.export.options import ExportOptions
    from liteformer.models.checkpoint import load_model
    lm = load_model(ctx.current)
    q = opts.get("quantize", "none")
    q = None if q == "none" else q
    from liteformer.data.tokenizer import default_max_length
    max_length = opts.get("max_length") or default_max_length(lm.model.config.max_positions)
    drop = opts.get("max_accuracy_drop") if q else None
    # the dev split checks each export; with an accuracy budget its labels also drive the search
    verify = read_classification(ctx.data.get("dev") or ctx.data["train"], ctx.data.get("text_column"),
                                 ctx.data.get("label_column", "label") if drop is not None else None)
    calibration = (calibration_ids(ctx.data["train"], lm, 128, max_length, ctx.data.get("text_column"))
                   if q and q.endswith("static") else None)
    out.mkdir(parents=True, exist_ok=True)
    done = {}
    for rt in opts.get("to", ["onnx"]):
        buckets = tuple(opts["buckets"]) if "buckets" in opts else None
        eo = ExportOptions(max_length=max_length, buckets=buckets, quantize=q, calibration=calibration,
                           fuse=opts.get("fuse", True))
        try:
            extra = None
            if drop is not None and rt != "litert":  # accuracy-aware: the fewest groups kept in float
                eo, extra = _mixed(ctx, lm, rt, eo, drop, verify)
            meta = export_model(lm, rt, out / rt, eo, verify.texts[:200 if q else 32], threads=ctx.threads,
                                extra=extra)
        except LiteformerError as e:  # e.g. int8 fails verification: that bundle drops out, the grid goes on
            done[rt] = {"error": str(e), "quantize": q}
            continue
        done[rt] = {"verify": meta.get("verify"), "quantize": q, "keep_float": list(eo.keep_float)}
    return {"bundles": done}


def _mixed(ctx: Context, lm, runtime: str, eo, max_drop: float, dev):
    """Export options with the keep-float groups that hold the accuracy (on up to 1,000 dev sentences)."""
    from dataclasses import replace

    from liteformer.compress.mixed import accuracy_aware
    from liteformer.data.text import TextDataset
    d = TextDataset(dev.texts[:1000], dev.labels[:1000], dev.path)
    mixed = accuracy_aware(lm, runtime, eo, d, max_drop, ctx.threads, progress=ctx.progress)
    return replace(eo, keep_float=tuple(mixed.keep_float)), {"mixed_precision": mixed.to_dict()}


STEP_FUNCTIONS = {"finetune": finetune, "student": student, "prune": prune, "factorize": factorize,
                  "distill": distill, "export": export}


def run_step(name: str, ctx: Context, opts: dict, out: Path) -> dict:
    try:
        fn = STEP_FUNCTIONS[name]
    except KeyError:
        raise LiteformerError(f"unknown step {name!r}") from None
    return fn(ctx, opts, out)
