"""The speech-recognition side of ``finetune``, ``distill`` and ``eval`` (``--task speech-recognition``,
or a speech model given to ``eval``). Their flags live in cli/__init__.py with the others."""

from __future__ import annotations

import argparse
import os
import sys

from liteformer.errors import LiteformerError
from liteformer.options import add_flags, from_values

SPEECH_FLAGS = ("strings", "augment_audio", "dev_strings", "feature_clips")


def speech_flags(p: argparse.ArgumentParser, distill: bool = False) -> None:
    from liteformer.train.config import SpeechConfig
    g = p.add_argument_group("speech recognition (--task speech-recognition: --train/--dev are clips: a folder "
                             "of {digit}_{speaker}_{index}.wav with :split options, a .tsv of path and text, or "
                             "fsdd:train)")
    add_flags(g, SpeechConfig, SPEECH_FLAGS + (("pseudo_labels",) if distill else ()))


def _done(what: str, result, out: str) -> None:
    if int(os.environ.get("RANK", "0")) == 0:
        best = f", best dev WER {result.best.wer:.2f} %" if result.best else ""
        print(f"{what} {result.steps} steps in {result.seconds:.0f} s{best}; model in {out}")


def finetune_speech(a: argparse.Namespace, cfg) -> int:
    from liteformer.train.config import SpeechConfig
    from liteformer.train.speech import prepare, train_speech
    if a.base or not a.model_config:
        raise LiteformerError("--task speech-recognition trains from scratch: give --model-config (a JSON of "
                              "TransformerConfig fields with an 'audio' section), not --base")
    if a.tokenizer or a.vocab_size:
        raise LiteformerError("--tokenizer/--vocab-size: a speech model's vocabulary is its alphabet")
    scfg = from_values(SpeechConfig, vars(a))
    scfg.validate()
    prep = prepare(a.train, a.model_config, a.dev, seed=a.seed)
    result = train_speech(prep, a.out, cfg, scfg, progress=sys.stderr.isatty(), resume=a.resume)
    _done("trained", result, a.out)
    return 0


def distill_speech(a: argparse.Namespace, cfg) -> int:
    """A speech student (``--student-config`` JSON, or ``--student`` folder) on a speech teacher's frame
    posteriors (``--alpha``, ``--temperature``) and, with ``--pseudo-labels``, its transcripts."""
    from liteformer.models.checkpoint import load_model
    from liteformer.train.config import SpeechConfig
    from liteformer.train.speech import Prepared, prepare, train_speech
    if a.student_layers or a.student_tokenizer or a.student_vocab_size or a.student_init_embeddings \
            or a.student_init_from_teacher:
        raise LiteformerError("--task speech-recognition takes --student-config (a JSON of TransformerConfig fields "
                              "with an 'audio' section) or --student FOLDER")
    if bool(a.student_config) == bool(a.student):
        raise LiteformerError("--task speech-recognition needs one student: --student-config or --student")
    teacher = load_model(a.teacher)
    if not teacher.is_speech:
        raise LiteformerError(f"{a.teacher}: not a speech recognizer")
    scfg = from_values(SpeechConfig, vars(a), alpha=a.alpha, temperature=a.temperature)
    scfg.validate()
    if a.student:
        student = load_model(a.student)
        if not student.is_speech or student.tokenizer.alphabet != teacher.tokenizer.alphabet:
            raise LiteformerError(f"{a.student}: not a speech recognizer with the teacher's alphabet")
        prep = prepare(a.train, student.model.config.to_dict(), a.dev, seed=a.seed,
                       alphabet=teacher.tokenizer.alphabet)
        prep = Prepared(student.model, prep.tokenizer, prep.train, prep.dev)
    else:
        prep = prepare(a.train, a.student_config, a.dev, seed=a.seed, alphabet=teacher.tokenizer.alphabet)
    if prep.model.audio.hop != teacher.model.audio.hop:
        raise LiteformerError("student and teacher need the same frame rate (audio.hop) for frame-level distillation")
    result = train_speech(prep, a.out, cfg, scfg, progress=sys.stderr.isatty(), resume=a.resume,
                          teacher=teacher.model, record={"teacher": str(teacher.path)})
    _done("distilled", result, a.out)
    return 0


def eval_speech(a: argparse.Namespace, loaded) -> int:
    from liteformer.fileio import write_json, write_text
    from liteformer.tasks.speech import evaluate
    report = evaluate(loaded.model, loaded.tokenizer, a.data, batch_size=min(a.batch_size, 32),
                      progress=sys.stderr.isatty())
    print(f"model {loaded.path}  data {a.data}  greedy CTC")
    print(report.format())
    if getattr(a, "hypotheses", None):
        write_text(a.hypotheses, "".join(h + "\n" for h in report.hypotheses))
    if a.out:
        write_json(a.out, {"model": str(loaded.path), "data": a.data, **report.to_dict()})
    return 0


def eval_speech_bundle(a: argparse.Namespace, model) -> int:
    from liteformer.fileio import write_json, write_text
    from liteformer.tasks.speech import evaluate_bundle
    report = evaluate_bundle(model, a.data, a.threads or 2, progress=sys.stderr.isatty())
    print(f"bundle {model}  data {a.data}  greedy CTC, one clip at a time")
    print(report.format())
    if getattr(a, "hypotheses", None):
        write_text(a.hypotheses, "".join(h + "\n" for h in report.hypotheses))
    if a.out:
        write_json(a.out, {"model": str(model), "data": a.data, **report.to_dict()})
    return 0
