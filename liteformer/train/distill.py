"""``distill``: build a student, cache the teacher's outputs, train with the distillation loss.
The pieces (loss, students, teacher cache, teacher-cut init, augmentation) live in
``liteformer.compress.distill``; this is the training run that puts them together (the
student's data is tokenized once for the teacher and once for the student when their vocabularies
differ)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from liteformer.compress.distill import (
    TEACHER_CHANNELS,
    DistillConfig,
    DistillLoss,
    StudentSpec,
    augment_texts,
    build_student,
    embedding_neighbours,
    teacher_outputs,
)
from liteformer.data.text import TextDataset, encode_labels, read_classification, read_texts
from liteformer.data.tokenizer import default_max_length
from liteformer.errors import LiteformerError
from liteformer.models.checkpoint import load_model
from liteformer.train.dist import barrier, init_from_env
from liteformer.train.loop import TrainConfig, TrainResult, publish, train_classifier


def distill(teacher_path: str, spec: StudentSpec, train: str | TextDataset, out: str | Path, dcfg: DistillConfig,
            tcfg: TrainConfig, dev: str | TextDataset | None = None, text_column: str | None = None,
            label_column: str = "label", progress: bool = True, resume: bool = False,
            teacher_store: str | Path | None = None, unlabelled: str | Path | None = None,
            until: int | None = None) -> TrainResult:
    """Train ``spec``'s student on ``train`` from the teacher's outputs. ``unlabelled`` (a .txt file,
    one text a line, or a data file's text column) widens the transfer set: those texts are trained
    on the teacher's soft targets (and inner states) only. The teacher's outputs are
    computed once; ``teacher_store`` keeps them as files reused by later runs (by default they stay
    in memory, or go to ``OUT.ckpt/teacher`` when a resumed run or the DDP ranks need to share them).
    ``until``: pause at that step (see ``train_loop``): nothing is published, the best weights so far are in
    ``OUT.ckpt/best``, and a later call with ``resume=True`` continues."""
    tcfg.validate()
    spec.validate()
    torch.manual_seed(tcfg.seed)  # a new student, the loss's projections: the same whatever ran before
    train_ds = read_classification(train, text_column, label_column)
    dev_ds = read_classification(dev, text_column, label_column) if dev else None
    extra = read_texts(unlabelled, text_column) if unlabelled else []
    teacher_lm = load_model(teacher_path)
    teacher_lm.require_classifier("distill (text classification)")
    teacher, ttok = teacher_lm.model, teacher_lm.tokenizer
    y = encode_labels(train_ds, teacher_lm.label2id)
    if dev_ds is not None:
        encode_labels(dev_ds, teacher_lm.label2id)
    student, stok, notes = build_student(spec, teacher, ttok, train_ds.texts, seed=tcfg.seed)
    layer_map = dcfg.validate(student.config.num_layers, teacher.config.num_layers)
    same_tok = stok.tok.get_vocab() == ttok.tok.get_vocab()
    max_pos = min(student.config.max_positions, teacher.config.max_positions)
    tcfg.max_length = tcfg.max_length or default_max_length(max_pos)
    if tcfg.max_length > max_pos:
        raise LiteformerError(f"max_length {tcfg.max_length} exceeds the models' {max_pos} positions")

    info = init_from_env()
    texts = train_ds.texts + _augmented(train_ds.texts, dcfg.augment, teacher, ttok, tcfg.seed) + extra
    labels = y + [-1] * (len(texts) - len(y))  # augmented and unlabelled texts: soft targets only
    s_ids = stok.encode(texts, tcfg.max_length).ids
    t_ids = s_ids if same_tok else ttok.encode(texts, tcfg.max_length).ids
    inner = bool(dcfg.hidden_weight or dcfg.attention_weight)
    if inner and not same_tok and not _same_pieces(stok, s_ids, ttok, t_ids):
        raise LiteformerError("hidden-state and attention losses need token positions that match the "
                              "teacher's: the student's vocabulary splits some training sentences differently "
                              "(use logit distillation, or a vocabulary pruned from the teacher's)")
    teacher.to(info.device)
    hidden = [0] + [j + 1 for j in layer_map] if dcfg.hidden_weight else []
    attention = layer_map if dcfg.attention_weight else []
    store = teacher_store or (f"{out}.ckpt/teacher" if resume or info.world > 1 else None)
    if store is not None and not info.main:
        barrier(info)  # rank 0 writes the outputs, the others then map them
    t0 = time.perf_counter()
    cached, inner_cache = teacher_outputs(teacher, t_ids, ttok.pad_id, hidden, attention,
                                          int(dcfg.cache_gb * 2**30), progress=progress and info.main, store=store)
    if store is not None and info.main:
        barrier(info)
    teacher_seconds = time.perf_counter() - t0  # the teacher's one pass (or reading it back)
    if inner and inner_cache is None and info.main:
        print(f"note: the teacher's hidden states/attentions need more than --cache-gb {dcfg.cache_gb:g}: "
              "the teacher runs alongside the student instead", file=sys.stderr)
    loss = DistillLoss(dcfg, layer_map, teacher, student.config, cached,
                       teacher_ids=None if same_tok or not inner else t_ids, teacher_pad=ttok.pad_id,
                       inner_cache=inner_cache,
                       channels=notes.pop(TEACHER_CHANNELS, None))
    torch.manual_seed(tcfg.seed)
    if tcfg.qat:
        from liteformer.compress.quantize.qat import qat_prepare_
        qat_prepare_(student)
    try:
        result = train_classifier(student, stok, s_ids, labels, dev_ds, tcfg, out, loss_fn=loss,
                                  progress=progress, info=info, extra=loss, resume=resume, until=until)
    finally:
        if tcfg.qat:
            from liteformer.compress.quantize.qat import qat_convert_
            qat_convert_(student)
    if result.paused:
        return result
    publish(out, {
        "distill": {**dcfg.__dict__, "layer_map": layer_map}, "student": spec.__dict__,
        "config": tcfg.__dict__, **result.to_dict(), "teacher": str(teacher_lm.path),
        "train": train_ds.path, "augmented": len(texts) - len(y) - len(extra),
        "unlabelled": {"path": str(unlabelled), "texts": len(extra)} if unlabelled else None,
        "teacher_seconds": round(teacher_seconds, 2), **notes}, info)
    if info.main:
        if dev_ds is None:
            print("note: no --dev split: the last weights were kept", file=sys.stderr)
    return result


def _same_pieces(stok, s_ids: list[list[int]], ttok, t_ids: list[list[int]]) -> bool:
    """True when both tokenizers cut every example into the same pieces (e.g. a pruned vocabulary)."""
    s_vocab = {i: t for t, i in stok.tok.get_vocab().items()}
    t_vocab = {i: t for t, i in ttok.tok.get_vocab().items()}
    return all(len(a) == len(b) and [s_vocab[i] for i in a] == [t_vocab[i] for i in b]
               for a, b in zip(s_ids, t_ids, strict=True))


def _augmented(texts: list[str], copies: int, teacher: torch.nn.Module, tok, seed: int) -> list[str]:
    """TinyBERT's recipe: each word swapped with probability 0.4 for one of its 15 nearest
    neighbours, here by the teacher's input embeddings (see compress/augment.py)."""
    if copies <= 0:
        return []
    try:
        table = teacher.get_submodule("encoder.embeddings.word")
    except AttributeError:  # a model without liteformer's layout: words drawn by frequency instead
        return augment_texts(texts, copies, seed=seed)
    return augment_texts(texts, copies, p=0.4, seed=seed, neighbours=embedding_neighbours(texts, tok, table))
