"""The recipe steps: each reads the current model folder and writes its output folder ``out``,
through the same functions (``liteformer.verbs``) as the CLI command of the same name.

Training defaults come from the data size, not from SST-2: about ``TARGET_STEPS`` optimizer steps
(at batch 32) whatever the data size, 1 to 20 epochs, a dev evaluation twice an epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from liteformer.data.text import read_classification
from liteformer.errors import LiteformerError
from liteformer.models.config import GENERATION_TASKS
from liteformer.options import from_values
from liteformer.verbs import (
    TARGET_STEPS,
    ExportStep,
    PruneOptions,
    auto_epochs,
    export_bundle,
    export_options,
    prune_config,
    prune_data,
    train_config,
)

__all__ = ["TARGET_STEPS", "Context", "auto_epochs", "run_step"]
GENERATION = tuple(t for t in GENERATION_TASKS if t)  # encoder-decoder tasks


@dataclass
class Context:
    teacher: str  # the model the student learns from (a folder)
    current: str  # the model folder the next step starts from
    data: dict  # train, dev, test, text_column, label_column
    progress: bool = False
    threads: int = 2
    teacher_store: str | None = None  # folder for the teacher's outputs, shared by the distill steps
    splits: dict = field(default_factory=dict)  # data files read so far (shared by a run's steps and variants)
    task: str = "text-classification"

    @property
    def generation(self) -> bool:
        """An encoder-decoder task: translation, summarization or dialogue."""
        return self.task in GENERATION

    def split(self, name: str):
        """The split ``name`` (train, dev) of the task's data (labelled texts, sentence pairs, or clips with
        transcripts), read once per recipe run."""
        if name not in self.splits:
            if self.task == "speech-recognition":
                from liteformer.data.speech import read_speech
                self.splits[name] = read_speech(self.data[name])
            elif self.generation:  # sentence pairs, dialogue -> summaries, or context -> next turn
                from liteformer.train.translate import read_pairs
                self.splits[name] = read_pairs(self.data[name], self.task)
            else:
                self.splits[name] = read_classification(self.data[name], self.data.get("text_column"),
                                                        self.data.get("label_column", "label"))
        return self.splits[name]


def _train(ctx: Context):
    return ctx.split("train")


def finetune_seq2seq(ctx: Context, opts: dict, out: Path) -> dict:
    """An encoder-decoder teacher: from scratch (a joint subword vocabulary and the model of
    ``model_config``) or from ``base`` (a trained encoder-decoder folder, e.g. denoising pre-training)."""
    from liteformer.train.config import TranslationConfig
    from liteformer.train.translate import best_dev, from_base, prepare, train_translation
    tcfg = from_values(TranslationConfig, opts)
    tcfg.validate()
    cfg = train_config({"max_steps": 4000, "schedule": "inverse-sqrt", "warmup": 0.05, **opts}, None, 1e-3)
    dev = ctx.split("dev") if ctx.data.get("dev") else None
    if opts.get("base"):
        prep = from_base(opts["base"], ctx.split("train"), dev, task=ctx.task)
    else:
        prep = prepare(ctx.split("train"), opts["model_config"], opts.get("vocab_size") or 8000, dev=dev,
                       seed=opts.get("seed", 0), task=ctx.task)
    result = train_translation(prep, out, cfg, tcfg, progress=ctx.progress, resume=True)
    return {"steps": result.steps, **best_dev(ctx.task, result)}


def finetune(ctx: Context, opts: dict, out: Path) -> dict:
    if ctx.generation:
        return finetune_seq2seq(ctx, opts, out)
    from liteformer.train.finetune import finetune as run
    from liteformer.train.finetune import prepare
    prep = prepare(ctx.split("train"), base=opts.get("base", "minilm-l6"),
                   dev=ctx.split("dev") if ctx.data.get("dev") else None,
                   text_column=ctx.data.get("text_column"), label_column=ctx.data.get("label_column", "label"),
                   label_names=opts.get("label_names"), seed=opts.get("seed", 0))
    cfg = train_config(opts, len(prep.train.texts), 5e-5)
    result = run(prep, out, cfg, progress=ctx.progress, resume=True)
    return {"steps": result.steps, "dev_accuracy": result.best.accuracy if result.best else None}


def student(ctx: Context, opts: dict, out: Path) -> dict:
    from liteformer.compress.distill import TEACHER_CHANNELS, StudentSpec, build_student, student_from_teacher
    from liteformer.models.checkpoint import load_model, save_model
    loaded = load_model(ctx.current)
    notes = {}
    spec = from_values(StudentSpec, opts)
    if ctx.generation:  # a config on the teacher's joint vocabulary, optionally cut from the teacher
        from liteformer.verbs_translation import cut_student
        prep, notes = cut_student(loaded, ctx.split("train"), spec.config, spec.init_from_teacher, ctx.progress)
        save_model(prep.model, prep.tokenizer, out)
        return {"layers": prep.model.config.num_layers, "decoder_layers": prep.model.config.num_decoder_layers,
                "hidden": prep.model.config.hidden_size, **notes}
    if spec.layers is not None:
        model, tok = student_from_teacher(loaded.model, [int(i) for i in spec.layers]), loaded.tokenizer
    else:
        model, tok, notes = build_student(spec, loaded.model, loaded.tokenizer, _train(ctx).texts)
    kept = notes.pop(TEACHER_CHANNELS, None)  # the distill step reads them back from the folder
    save_model(model, tok, out, extra={TEACHER_CHANNELS: kept} if kept else None)
    return {"layers": model.config.num_layers, "hidden": model.config.hidden_size, **notes}


def prune(ctx: Context, opts: dict, out: Path) -> dict:
    from liteformer.compress.prune import prune_
    from liteformer.models.checkpoint import load_model, save_model
    loaded = load_model(ctx.current)
    o = from_values(PruneOptions, opts)
    data = prune_data(loaded, _train(ctx), o, progress=ctx.progress)
    result = prune_(loaded.model, prune_config(o, data, ctx.threads), data)
    save_model(loaded.model, result.tokenizer or loaded.tokenizer, out, extra={"prune": o.method},
               sparse_storage=o.method == "magnitude")
    return {k: v for k, v in result.report.items() if k not in ("per_weight",)}


def factorize(ctx: Context, opts: dict, out: Path) -> dict:
    from liteformer.compress.factorize import LowRankConfig, factorize_
    from liteformer.models.checkpoint import load_model, save_model
    loaded = load_model(ctx.current)
    report = factorize_(loaded.model, from_values(LowRankConfig, opts))
    save_model(loaded.model, loaded.tokenizer, out)
    return {"params_before": report.params_before, "params_after": report.params_after}


def distill_seq2seq(ctx: Context, opts: dict, out: Path) -> dict:
    """Distill the current model (a student on the teacher's vocabulary) from the recipe's teacher."""
    from liteformer.models.checkpoint import load_model
    from liteformer.train.config import TranslationConfig
    from liteformer.train.translate import Prepared, best_dev
    from liteformer.verbs_translation import Seq2SeqDistill, distill_translation
    teacher, student = load_model(ctx.teacher), load_model(ctx.current)
    if student.tokenizer.tok.get_vocab() != teacher.tokenizer.tok.get_vocab():
        raise LiteformerError("the student's vocabulary differs from the teacher's (word-level KD needs one)")
    tcfg = from_values(TranslationConfig, opts)
    tcfg.validate()
    cfg = train_config({"max_steps": 2000, "schedule": "inverse-sqrt", "warmup": 0.05, **opts}, None, 1e-3)
    prep = Prepared(student.model, teacher.tokenizer, ctx.split("train"),
                    ctx.split("dev") if ctx.data.get("dev") else None)
    result = distill_translation(teacher, prep, out, cfg, tcfg, from_values(Seq2SeqDistill, opts),
                                 kd_targets=str(Path(ctx.teacher_store or out.parent) / "kd-targets.txt"),
                                 progress=ctx.progress, resume=True)
    return {"steps": result.steps, **best_dev(ctx.task, result)}


def distill(ctx: Context, opts: dict, out: Path) -> dict:
    if ctx.generation:
        return distill_seq2seq(ctx, opts, out)
    from liteformer.compress.distill import DistillConfig, StudentSpec
    from liteformer.train.distill import distill as run
    n = len(_train(ctx).texts)
    tcfg = train_config(opts, n, 1e-4)
    dcfg = from_values(DistillConfig, opts)
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
    o = from_values(ExportStep, opts)
    q = None if o.quantize == "none" else o.quantize
    drop = o.max_accuracy_drop if q else None
    if ctx.generation:
        return _export_seq2seq(ctx, loaded, o, q, out)
    # the dev split checks each export; with an accuracy budget its labels also drive the search
    verify = ctx.split("dev" if ctx.data.get("dev") else "train")
    tune = None
    if drop is not None:  # accuracy-aware: searched on up to 1,000 dev sentences
        from liteformer.data.text import TextDataset
        tune = TextDataset(verify.texts[:1000], verify.labels[:1000], verify.path)
    static = bool(q) and q.endswith("static")
    eo = export_options(loaded, max_length=o.max_length, buckets=o.buckets, quantize=q,
                        calibration_data=ctx.split("train") if static else None, fuse=o.fuse)
    out.mkdir(parents=True, exist_ok=True)
    done = {}
    for rt in o.to:
        try:  # mixed precision is not searched for LiteRT (its dynamic-range int8 keeps accuracy without it)
            meta = export_bundle(loaded, rt, out / rt, eo, verify.texts[:200 if q else 32], ctx.threads,
                                 drop if rt != "litert" else None, tune, ctx.progress)
        except LiteformerError as e:  # e.g. int8 fails verification: that bundle drops out, the grid goes on
            done[rt] = {"error": str(e), "quantize": q}
            continue
        done[rt] = {"verify": meta.get("verify"), "quantize": q, "keep_float": meta["export"]["keep_float"]}
    return {"bundles": done}


def _export_seq2seq(ctx: Context, loaded, o: ExportStep, q: str | None, out: Path) -> dict:
    """One verified bundle per runtime: greedy-identical (fp32) or within 0.5 of the task's metric (int8:
    sacreBLEU, ROUGE-L) on 200 dev examples."""
    verify = ctx.split("dev" if ctx.data.get("dev") else "train").head(200)
    eo = export_options(loaded, max_length=o.max_length, buckets=o.buckets, quantize=q, fuse=o.fuse,
                        max_target=o.max_target)
    out.mkdir(parents=True, exist_ok=True)
    done = {}
    for rt in o.to:
        try:
            meta = export_bundle(loaded, rt, out / rt, eo, verify, ctx.threads)
        except LiteformerError as e:
            done[rt] = {"error": str(e), "quantize": q}
            continue
        done[rt] = {"verify": meta.get("verify"), "quantize": q, "keep_float": []}
    return {"bundles": done}


STEP_FUNCTIONS = {"finetune": finetune, "student": student, "prune": prune, "factorize": factorize,
                  "distill": distill, "export": export}


def run_step(name: str, ctx: Context, opts: dict, out: Path) -> dict:
    table = STEP_FUNCTIONS
    if ctx.task == "speech-recognition":
        from liteformer.recipe.steps_speech import STEPS as table
    try:
        fn = table[name]
    except KeyError:
        raise LiteformerError(f"unknown step {name!r}" + (" for a speech recipe" if table is not STEP_FUNCTIONS
                                                           else "")) from None
    return fn(ctx, opts, out)
