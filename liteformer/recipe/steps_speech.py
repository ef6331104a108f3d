"""The recipe steps of a speech recognizer (``task: speech-recognition``), through the same
functions as ``liteformer finetune/distill --task speech-recognition`` and ``export``:

- ``finetune``: a CTC model from scratch (``model_config``: TransformerConfig fields with ``audio``);
- ``student``: a smaller CTC model from ``config`` (the teacher's alphabet; weights fresh);
- ``distill``: the student on the teacher's frame posteriors + CTC (``alpha``, ``temperature``,
  ``pseudo_labels``);
- ``export``: one verified bundle per runtime (fp32: identical transcripts; int8: WER within 0.3).
"""

from __future__ import annotations

from pathlib import Path

from liteformer.errors import LiteformerError
from liteformer.options import from_values
from liteformer.verbs import ExportStep, export_bundle, export_options, train_config


def _config(opts: dict):
    from liteformer.train.config import SpeechConfig
    scfg = from_values(SpeechConfig, opts)
    scfg.validate()
    return scfg


def _defaults(opts: dict) -> dict:
    return {"max_steps": 2000, "batch_size": 32, "warmup": 0.08, **opts}


def finetune(ctx, opts: dict, out: Path) -> dict:
    from liteformer.train.speech import prepare, train_speech
    cfg = train_config(_defaults(opts), None, 1e-3)
    prep = prepare(ctx.split("train"), opts["model_config"], ctx.split("dev") if ctx.data.get("dev") else None,
                   seed=opts.get("seed", 0))
    result = train_speech(prep, out, cfg, _config(opts), progress=ctx.progress, resume=True)
    return {"steps": result.steps, "dev_wer": result.best.wer if result.best else None}


def student(ctx, opts: dict, out: Path) -> dict:
    from liteformer.models.checkpoint import load_model, save_model
    from liteformer.train.speech import build_model, set_feature_stats
    teacher = load_model(ctx.current)
    if not opts.get("config"):
        raise LiteformerError("step student of a speech recipe needs config (a JSON of TransformerConfig fields "
                              "with an 'audio' section)")
    model = build_model(opts["config"], teacher.tokenizer)
    if model.audio.hop != teacher.model.audio.hop:
        raise LiteformerError("the student's audio.hop differs from the teacher's: frame-level distillation needs "
                              "one frame rate")
    set_feature_stats(model, ctx.split("train").audio)
    save_model(model, teacher.tokenizer, out)
    return {"layers": model.config.num_layers, "hidden": model.config.hidden_size}


def distill(ctx, opts: dict, out: Path) -> dict:
    from liteformer.models.checkpoint import load_model
    from liteformer.train.speech import Prepared, train_speech
    teacher, student = load_model(ctx.teacher), load_model(ctx.current)
    if not (teacher.is_speech and student.is_speech) or teacher.tokenizer.alphabet != student.tokenizer.alphabet:
        raise LiteformerError("speech distillation needs a speech teacher and student with one alphabet")
    cfg = train_config(_defaults(opts), None, 2e-3)
    prep = Prepared(student.model, teacher.tokenizer, ctx.split("train"),
                    ctx.split("dev") if ctx.data.get("dev") else None)
    result = train_speech(prep, out, cfg, _config(opts), progress=ctx.progress, resume=True, teacher=teacher.model,
                          record={"teacher": str(teacher.path)})
    return {"steps": result.steps, "dev_wer": result.best.wer if result.best else None}


def export(ctx, opts: dict, out: Path) -> dict:
    """One verified bundle per runtime, checked on up to 200 dev clips."""
    from liteformer.data.speech import SpeechDataset
    from liteformer.models.checkpoint import load_model
    loaded = load_model(ctx.current)
    o = from_values(ExportStep, opts)
    q = None if o.quantize == "none" else o.quantize
    d = ctx.split("dev" if ctx.data.get("dev") else "train")
    verify = SpeechDataset(d.audio[:200], d.texts[:200], d.speakers[:200], d.names[:200], d.path)
    eo = export_options(loaded, quantize=q, max_seconds=o.max_seconds, audio_buckets=o.audio_buckets)
    out.mkdir(parents=True, exist_ok=True)
    done = {}
    for rt in o.to:
        try:
            meta = export_bundle(loaded, rt, out / rt, eo, verify, ctx.threads)
        except LiteformerError as e:  # e.g. int8 fails verification: that bundle drops out, the others go on
            done[rt] = {"error": str(e), "quantize": q}
            continue
        done[rt] = {"verify": meta.get("verify"), "quantize": q, "keep_float": ["features"]}
    return {"bundles": done}


STEPS = {"finetune": finetune, "student": student, "distill": distill, "export": export}
