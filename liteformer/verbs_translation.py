"""The verbs for translation models that ``liteformer distill --task translation`` and a translation
recipe's ``student`` and ``distill`` steps both call (``verbs.py`` holds the classification ones)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from liteformer.errors import LiteformerError
from liteformer.options import check_fields, opt

KD_KINDS = ("word", "sequence", "both")


@dataclass
class Seq2SeqDistill:
    """What a translation distillation adds to the shared training settings."""

    kd: str = opt("both", "word: the teacher's token distributions (alpha, temperature); sequence: train on the "
                  "teacher's beam-5 outputs for the training sources (Kim & Rush); both", choices=KD_KINDS)
    alpha: float = opt(0.5, "word-level KD: weight of the cross-entropy on the targets (1 - alpha on the KL)")
    temperature: float = opt(1.0, "word-level KD: softmax temperature")

    def validate(self) -> None:
        check_fields(self)
        if not 0.0 <= self.alpha <= 1.0 or self.temperature <= 0:
            raise LiteformerError(f"alpha must be in [0, 1] and temperature > 0, got {self.alpha}, {self.temperature}")


def cut_student(teacher, train, config: str, init_from_teacher: bool, progress: bool = False, seed: int = 0):
    """A student of ``config`` (a JSON of TransformerConfig fields) on the teacher's vocabulary, its
    weights cut from the teacher's when ``init_from_teacher``; (Prepared, notes)."""
    from liteformer.train.translate import prepare
    prep = prepare(train, config, tokenizer=str(teacher.path), seed=seed, task=teacher.task)
    prep.model.config.output_vocab_size = teacher.model.config.output_vocab_size  # a pruned output layer's width
    notes = {}
    if init_from_teacher:
        from liteformer.compress.distill.student import cut_seq2seq_student_
        notes["init_from_teacher"] = cut_seq2seq_student_(prep.model, teacher.model, teacher.tokenizer, prep.train,
                                                          progress=progress)
    return prep, notes


def distill_translation(teacher, prep, out: str | Path, cfg, tcfg, sd: Seq2SeqDistill, kd_targets: str | None = None,
                        progress: bool = False, resume: bool = False, notes: dict | None = None):
    """Train ``prep.model`` (a student on the teacher's vocabulary) from ``teacher`` (a LoadedModel):
    word-level KD, sequence-level KD (the teacher's beam outputs, generated once into ``kd_targets``,
    default OUT.kd-targets.txt) or both. Returns the training result."""
    from liteformer.data.parallel import ParallelDataset
    from liteformer.train.translate import teacher_targets, train_translation
    sd.validate()
    if not teacher.is_generator:
        raise LiteformerError(f"{teacher.path}: not a translation model (no decoder)")
    widths = [m.config.output_vocab_size or m.config.vocab_size for m in (teacher.model, prep.model)]
    if sd.kd in ("word", "both") and widths[0] != widths[1]:
        raise LiteformerError(f"word-level distillation needs one output layer: the teacher's has {widths[0]} pieces, "
                              f"the student's {widths[1]} (prune the output vocabulary of both, or of the student "
                              "after distillation)")
    train = prep.train
    if sd.kd in ("sequence", "both"):  # after the student is built: a bad student costs no generation
        cache = kd_targets or f"{out}.kd-targets.txt"
        targets = teacher_targets(teacher.model, teacher.tokenizer, train.sources, cache, progress=progress)
        prep.train = ParallelDataset(train.sources, targets, f"{train.path} (teacher's outputs: {cache})")
    return train_translation(prep, out, cfg, tcfg, progress=progress, resume=resume,
                             teacher=teacher.model if sd.kd in ("word", "both") else None, alpha=sd.alpha,
                             temperature=sd.temperature,
                             record={"distill": {"teacher": str(teacher.path), "kd": sd.kd, "alpha": sd.alpha,
                                                 "temperature": sd.temperature, **(notes or {})}})
