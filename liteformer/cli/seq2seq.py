"""The encoder-decoder side of ``finetune`` and ``distill`` (translation, summarization, dialogue): a
teacher from scratch or from a pre-trained base, students on the teacher's vocabulary."""

from __future__ import annotations

import argparse
import os
import sys

from liteformer.errors import LiteformerError
from liteformer.options import from_values


def finetune_seq2seq(a: argparse.Namespace, cfg) -> int:
    from liteformer.train.config import TranslationConfig
    from liteformer.train.translate import prepare, train_translation
    if bool(a.base) == bool(a.model_config):
        raise LiteformerError(f"--task {a.task} needs --model-config (a JSON with num_decoder_layers > 0: from "
                              "scratch) or --base (an encoder-decoder, e.g. one pre-trained on denoise:TEXTS)")
    tcfg = from_values(TranslationConfig, vars(a))
    tcfg.validate()
    if a.base:
        from liteformer.train.translate import from_base
        prep = from_base(a.base, a.train, a.dev, task=a.task)
    else:
        prep = prepare(a.train, a.model_config, a.vocab_size, a.tokenizer, a.dev, seed=a.seed, subword=a.subword,
                       task=a.task)
    result = train_translation(prep, a.out, cfg, tcfg, progress=sys.stderr.isatty(), resume=a.resume)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained {result.steps} steps in {result.seconds:.0f} s{_best(a.task, result)}; model in {a.out}")
    return 0


def _best(task: str, result) -> str:
    """``, best dev METRIC X`` of an encoder-decoder's training (empty without a dev split)."""
    from liteformer.train.translate import dev_metric
    if result.best is None:
        return ""
    _, name, field = dev_metric(task)
    return f", best dev {name} {getattr(result.best, field):.2f}"


def distill_seq2seq(a: argparse.Namespace, train_config) -> int:
    """``distill --task translation|summarization|dialogue``; ``train_config(a)``: the TrainConfig of the flags."""
    import torch

    from liteformer.models.checkpoint import load_model
    from liteformer.train.config import TranslationConfig
    from liteformer.train.translate import Prepared, read_pairs
    from liteformer.verbs_translation import Seq2SeqDistill, cut_student, distill_translation
    if a.threads:
        torch.set_num_threads(a.threads)
    unsupported = [f for f, v in (("--student-init-embeddings", a.student_init_embeddings),
                                  ("--student-tokenizer", a.student_tokenizer),
                                  ("--student-vocab-size", a.student_vocab_size)) if v]
    if unsupported:
        raise LiteformerError(f"{unsupported[0]}: not for translation students (they share the teacher's joint "
                              "vocabulary; --student-init-from-teacher cuts every weight from the teacher's)")
    if a.student_init_from_teacher and not a.student_config:
        raise LiteformerError("--student-init-from-teacher goes with --student-config")
    if sum(map(bool, (a.student_config, a.keep_layers, a.student))) != 1 or a.student_layers:
        raise LiteformerError("--task translation needs one student: --student-config (a JSON with "
                              "num_decoder_layers > 0), --keep-layers ENC:DEC (teacher layers to keep, e.g. "
                              "0,1,2,3:0) or --student FOLDER (a translation model, e.g. a pruned teacher)")
    cfg = train_config(a)
    tcfg = from_values(TranslationConfig, vars(a))
    tcfg.validate()
    sd = Seq2SeqDistill(a.kd, a.alpha, a.temperature)
    teacher = load_model(a.teacher)
    if not teacher.model.config.num_decoder_layers:
        raise LiteformerError(f"{a.teacher}: not a translation model (no decoder)")
    if teacher.task != (a.task or "translation"):
        raise LiteformerError(f"{a.teacher}: a {teacher.task} model; --task {a.task} needs a {a.task} teacher")
    train = read_pairs(a.train, teacher.task)
    dev = read_pairs(a.dev, teacher.task) if a.dev else None
    notes = {}
    if a.student_config:
        prep, notes = cut_student(teacher, train, a.student_config, a.student_init_from_teacher,
                                  progress=sys.stderr.isatty(), seed=a.seed)
        prep.dev = dev
    elif a.student:
        student = load_model(a.student)
        if not student.is_generator:
            raise LiteformerError(f"{a.student}: not a translation model (no decoder)")
        if student.tokenizer.tok.get_vocab() != teacher.tokenizer.tok.get_vocab():
            raise LiteformerError(f"{a.student}: its vocabulary differs from the teacher's ({a.teacher}); word-level "
                                  "distillation needs one vocabulary")
        prep = Prepared(student.model, teacher.tokenizer, train, dev)
    else:
        from liteformer.compress.distill.student import seq2seq_student_from_teacher
        enc, dec = _layer_split(a.keep_layers)
        prep = Prepared(seq2seq_student_from_teacher(teacher.model, enc, dec), teacher.tokenizer, train, dev)
    result = distill_translation(teacher, prep, a.out, cfg, tcfg, sd, a.kd_targets, progress=sys.stderr.isatty(),
                                 resume=a.resume, notes=notes)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"distilled ({a.kd}-level) {result.steps} steps in {result.seconds:.0f} s{_best(a.task, result)}; "
              f"student in {a.out}")
    return 0


def _layer_split(text: str) -> tuple[list[int], list[int]]:
    """``--keep-layers ENC:DEC`` of a translation student."""
    enc, sep, dec = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return [int(x) for x in enc.split(",") if x.strip()], [int(x) for x in dec.split(",") if x.strip()]
    except ValueError:
        raise LiteformerError(f"--keep-layers {text!r}: expected ENC:DEC teacher layers, e.g. 0,1,2,3:0") from None
