"""The recipe steps: each reads the current model folder and writes its output folder ``out``,
through the same functions (``liteformer.verbs``) as the CLI command of the same name.

Training defaults come from the data size, not from SST-2: about ``TARGET_STEPS`` optimizer steps
(at batch 32) whatever the data size, 1 to 20 epochs, a dev evaluation twice an epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from liteformer.data.text import encode_labels, read_classification
from liteformer.errors import LiteformerError
from liteformer.verbs import TARGET_STEPS, auto_epochs, export_bundle, export_options, prune_config, train_config

__all__ = ["TARGET_STEPS", "Context", "auto_epochs", "run_step"]


@dataclass
class Context:
    teacher: str  # the model the student learns from (a folder)
    current: str  # the model folder the next step starts from
    data: dict  # train, dev, test, text_column, label_column
    progress: bool = False
    threads: int = 2
    teacher_store: str | None = None  # folder for the teacher's outputs, shared by the distill steps
    splits: dict = field(default_factory=dict)  # data files read so far (shared by a run's steps and variants)

    def split(self, name: str):
        """The labelled split ``name`` (train, dev), read once per recipe run."""
        if name not in self.splits:
            self.splits[name] = read_classification(self.data[name], self.data.get("text_column"),
                                                    self.data.get("label_column", "label"))
        return self.splits[name]


def _train(ctx: Context):
    return ctx.split("train")


def finetune(ctx: Context, opts: dict, out: Path) -> dict:
    from liteformer.train.finetune import finetune as run
    from liteformer.train.finetune import prepare
    prep = prepare(ctx.split("train"), base=opts.get("base", "minilm-l6"),
                   dev=ctx.split("dev") if ctx.data.get("dev") else None,
                   text_column=ctx.data.get("text_column"), label_column=ctx.data.get("label_column", "label"),
                   label_names=opts.get("label_names"))
    cfg = train_config(opts, len(prep.train.texts), 5e-5)
    result = run(prep, out, cfg, progress=ctx.progress, resume=True)
    return {"steps": result.steps, "dev_accuracy": result.best.accuracy if result.best else None}


def student(ctx: Context, opts: dict, out: Path) -> dict:
    from liteformer.compress.distill import TEACHER_CHANNELS, StudentSpec, build_student, student_from_teacher
    from liteformer.models.checkpoint import load_model, save_model
    loaded = load_model(ctx.current)
    notes = {}
    if "layers" in opts:
        model, tok = student_from_teacher(loaded.model, [int(i) for i in opts["layers"]]), loaded.tokenizer
    else:
        spec = StudentSpec(config=opts["config"], vocab_size=opts.get("vocab_size"),
                           init_embeddings=opts.get("init_embeddings", False),
                           init_from_teacher=opts.get("init_from_teacher", False))
        model, tok, notes = build_student(spec, loaded.model, loaded.tokenizer, _train(ctx).texts)
    kept = notes.pop(TEACHER_CHANNELS, None)  # the distill step reads them back from the folder
    save_model(model, tok, out, extra={TEACHER_CHANNELS: kept} if kept else None)
    return {"layers": model.config.num_layers, "hidden": model.config.hidden_size, **notes}


def prune(ctx: Context, opts: dict, out: Path) -> dict:
    from liteformer.compress.prune import TaskData, prune_
    from liteformer.data.tokenizer import default_max_length
    from liteformer.models.checkpoint import load_model, save_model
    loaded = load_model(ctx.current)
    method = opts.get("method", "structured")
    ds = _train(ctx)
    labels = encode_labels(ds, loaded.label2id) if method == "structured" else None
    data = TaskData(loaded.tokenizer, ds.texts, labels, default_max_length(loaded.model.config.max_positions),
                    importance_examples=opts.get("importance_n", 2000), progress=ctx.progress)
    keys = ("sparsity", "target_flops", "target_params", "length", "drop_layers")
    config = prune_config(method, data, **{k: opts[k] for k in keys if k in opts})
    result = prune_(loaded.model, config, data)
    save_model(loaded.model, result.tokenizer or loaded.tokenizer, out, extra={"prune": method},
               sparse_storage=method == "magnitude")
    return {k: v for k, v in result.report.items() if k not in ("per_weight",)}


def factorize(ctx: Context, opts: dict, out: Path) -> dict:
    from liteformer.compress.factorize import LowRankConfig, factorize_
    from liteformer.models.checkpoint import load_model, save_model
    loaded = load_model(ctx.current)
    cfg = LowRankConfig(opts.get("energy"), opts.get("ratio"), opts.get("rank"),
                        tuple(opts.get("targets", ("attn", "ffn"))), opts.get("embedding_rank"))
    report = factorize_(loaded.model, cfg)
    save_model(loaded.model, loaded.tokenizer, out)
    return {"params_before": report.params_before, "params_after": report.params_after}


def distill(ctx: Context, opts: dict, out: Path) -> dict:
    from liteformer.compress.distill import DistillConfig, StudentSpec
    from liteformer.train.distill import distill as run
    n = len(_train(ctx).texts)
    tcfg = train_config(opts, n, 1e-4)
    dcfg = DistillConfig(alpha=opts.get("alpha", 0.5), temperature=opts.get("temperature", 2.0),
                         hidden_weight=opts.get("hidden_weight", 0.0),
                         attention_weight=opts.get("attention_weight", 0.0), augment=opts.get("augment", 0),
                         cache_gb=opts.get("cache_gb", 4.0))
    dev = ctx.split("dev") if ctx.data.get("dev") else None
    result = run(ctx.teacher, StudentSpec(checkpoint=ctx.current), ctx.split("train"), out, dcfg, tcfg, dev,
                 ctx.data.get("text_column"), ctx.data.get("label_column", "label"),
                 progress=ctx.progress, resume=True, teacher_store=ctx.teacher_store)
    return {"steps": result.steps, "epochs": None if tcfg.max_steps else tcfg.epochs,
            "dev_accuracy": result.best.accuracy if result.best else None}


def export(ctx: Context, opts: dict, out: Path) -> dict:
    """One bundle per runtime under ``out/<runtime>``; quantized ones carry the method."""
    from liteformer.models.checkpoint import load_model
    loaded = load_model(ctx.current)
    q = opts.get("quantize", "none")
    q = None if q == "none" else q
    drop = opts.get("max_accuracy_drop") if q else None
    # the dev split checks each export; with an accuracy budget its labels also drive the search
    verify = ctx.split("dev" if ctx.data.get("dev") else "train")
    tune = None
    if drop is not None:  # accuracy-aware: searched on up to 1,000 dev sentences
        from liteformer.data.text import TextDataset
        tune = TextDataset(verify.texts[:1000], verify.labels[:1000], verify.path)
    static = bool(q) and q.endswith("static")
    eo = export_options(loaded, max_length=opts.get("max_length"), buckets=opts.get("buckets"), quantize=q,
                        calibration_data=ctx.data["train"] if static else None,
                        text_column=ctx.data.get("text_column"), label_column=None, fuse=opts.get("fuse", True))
    out.mkdir(parents=True, exist_ok=True)
    done = {}
    for rt in opts.get("to", ["onnx"]):
        try:  # mixed precision is not searched for LiteRT (its dynamic-range int8 keeps accuracy without it)
            meta = export_bundle(loaded, rt, out / rt, eo, verify.texts[:200 if q else 32], ctx.threads,
                                 drop if rt != "litert" else None, tune, ctx.progress)
        except LiteformerError as e:  # e.g. int8 fails verification: that bundle drops out, the grid goes on
            done[rt] = {"error": str(e), "quantize": q}
            continue
        done[rt] = {"verify": meta.get("verify"), "quantize": q, "keep_float": meta["export"]["keep_float"]}
    return {"bundles": done}


STEP_FUNCTIONS = {"finetune": finetune, "student": student, "prune": prune, "factorize": factorize,
                  "distill": distill, "export": export}


def run_step(name: str, ctx: Context, opts: dict, out: Path) -> dict:
    try:
        fn = STEP_FUNCTIONS[name]
    except KeyError:
        raise LiteformerError(f"unknown step {name!r}") from None
    return fn(ctx, opts, out)
