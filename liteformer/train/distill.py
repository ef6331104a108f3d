"""``distill``: build a student, cache the teacher's outputs, train with the distillation loss.

Students: (a) ``layers`` — keep those teacher layers (DistilBERT-style); (b) ``config`` — a new
model of any size from a JSON config, optionally with a new, smaller WordPiece vocabulary trained on
the task text (the data is then tokenized once for the teacher and once for the student);
(c) ``checkpoint`` — any model folder.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from liteformer.compress.augment import augment_texts, embedding_neighbours
from liteformer.compress.distill import DistillConfig, DistillLoss, student_from_teacher
from liteformer.compress.teacher_cache import teacher_outputs
from liteformer.data.text import encode_labels, read_classification, read_texts
from liteformer.data.tokenizer import default_max_length, load_tokenizer, train_wordpiece
from liteformer.errors import LiteformerError
from liteformer.fileio import write_json
from liteformer.models.checkpoint import load_model, read_config
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification
from liteformer.train.dist import barrier, init_from_env
from liteformer.train.finetune import replace_head, resolve_base
from liteformer.train.loop import TrainConfig, TrainResult, train_classifier

INIT_TEXTS = 512  # training texts the teacher's channels, heads and neurons are scored on
# in a cut student's notes and saved folder (config.json "liteformer_info"): the teacher's residual
# channel each of its channels came from; the hidden-state projections start from that selection
TEACHER_CHANNELS = "teacher_channels"


@dataclass
class StudentSpec:
    layers: list[int] | None = None  # (a) teacher layers to keep
    config: str | None = None  # (b) JSON of TransformerConfig fields
    tokenizer: str | None = None  #     with (b): a tokenizer folder, or
    vocab_size: int | None = None  #     with (b): train a new vocabulary of this size
    checkpoint: str | None = None  # (c) a model folder
    init_embeddings: bool = False  # with (b): embedding tables from the teacher's (PCA-projected)
    init_from_teacher: bool = False  # with (b): every weight a slice of the teacher's (see teacher_init)

    def validate(self) -> None:
        given = [x is not None for x in (self.layers, self.config, self.checkpoint)]
        if sum(given) != 1:
            raise LiteformerError("give exactly one student: --student-layers, --student-config or --student")
        if (self.tokenizer or self.vocab_size) and self.config is None:
            raise LiteformerError("--student-tokenizer/--student-vocab-size go with --student-config")
        if self.init_embeddings and self.config is None:
            raise LiteformerError("--student-init-embeddings goes with --student-config")
        if self.init_from_teacher and (self.config is None or self.init_embeddings):
            raise LiteformerError("--student-init-from-teacher goes with --student-config, without "
                                  "--student-init-embeddings (it copies the embeddings too)")


def build_student(spec: StudentSpec, teacher, teacher_tok, texts: list[str]):
    """(student model, its tokenizer, notes on how it was built)."""
    spec.validate()
    labels = dict(teacher.config.id2label)
    if spec.layers is not None:
        return student_from_teacher(teacher, spec.layers), teacher_tok, {}
    if spec.checkpoint is not None:
        lm = load_model(resolve_base(spec.checkpoint))
        if lm.fresh or lm.model.config.id2label != labels:
            replace_head(lm.model, labels)
        # a student saved right after it was cut from the teacher remembers which channels it kept
        kept = read_config(lm.path).get("liteformer_info", {}).get(TEACHER_CHANNELS)
        return lm.model, lm.tokenizer, {TEACHER_CHANNELS: kept} if kept else {}
    tok = (load_tokenizer(spec.tokenizer) if spec.tokenizer else
           train_wordpiece(texts, spec.vocab_size) if spec.vocab_size else teacher_tok)
    try:
        d = json.loads(Path(spec.config).read_text(encoding="utf-8"))
        cfg = TransformerConfig.from_dict({**d, "vocab_size": tok.vocab_size, "pad_token_id": tok.pad_id,
                                           "num_labels": len(labels), "id2label": labels})
    except FileNotFoundError:
        raise LiteformerError(f"{spec.config}: no such file") from None
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        raise LiteformerError(f"{spec.config}: {e}") from None
    model = TransformerForSequenceClassification(cfg)
    notes = {}
    if spec.init_embeddings:
        from liteformer.compress.teacher_init import init_embeddings_
        notes["init_embeddings"] = init_embeddings_(model, teacher, tok.tok.get_vocab(), teacher_tok.tok.get_vocab())
    if spec.init_from_teacher:
        from liteformer.compress.teacher_init import init_from_teacher_
        sample = random.Random(0).sample(texts, min(INIT_TEXTS, len(texts)))  # what the teacher is scored on
        ids = teacher_tok.encode(sample, default_max_length(teacher.config.max_positions)).ids
        notes["init_from_teacher"] = init_from_teacher_(model, teacher, tok.tok.get_vocab(),
                                                        teacher_tok.tok.get_vocab(), ids, teacher_tok.pad_id)
        notes[TEACHER_CHANNELS] = notes["init_from_teacher"]["hidden_channels"]
    return model, tok, notes


def distill(teacher_path: str, spec: StudentSpec, train: str, out: str | Path, dcfg: DistillConfig,
            tcfg: TrainConfig, dev: str | None = None, text_column: str | None = None,
            label_column: str = "label", progress: bool = True, resume: bool = False,
            teacher_store: str | Path | None = None, unlabelled: str | Path | None = None) -> TrainResult:
    """Train ``spec``'s student on ``train`` from the teacher's outputs. ``unlabelled`` (a .txt file,
    one text a line, or a data file's text column) widens the transfer set: those texts are trained
    on the teacher's soft targets (and inner states) only. The teacher's outputs are
    computed once; ``teacher_store`` keeps them as files reused by later runs (by default they stay
    in memory, or go to ``OUT.ckpt/teacher`` when a resumed run or the DDP ranks need to share them)."""
    tcfg.validate()
    spec.validate()
    train_ds = read_classification(train, text_column, label_column)
    dev_ds = read_classification(dev, text_column, label_column) if dev else None
    extra = read_texts(unlabelled, text_column) if unlabelled else []
    teacher_lm = load_model(resolve_base(teacher_path))
    teacher, ttok = teacher_lm.model, teacher_lm.tokenizer
    y = encode_labels(train_ds, teacher_lm.label2id)
    if dev_ds is not None:
        encode_labels(dev_ds, teacher_lm.label2id)
    student, stok, notes = build_student(spec, teacher, ttok, train_ds.texts)
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
        from liteformer.compress.qat import qat_prepare_
        qat_prepare_(student)
    try:
        result = train_classifier(student, stok, s_ids, labels, dev_ds, tcfg, out, loss_fn=loss,
                                  progress=progress, info=info, extra=loss, resume=resume)
    finally:
        if tcfg.qat:
            from liteformer.compress.qat import qat_convert_
            qat_convert_(student)
    if info.main:
        write_json(Path(out) / "training.json", {
            "distill": {**dcfg.__dict__, "layer_map": layer_map}, "student": spec.__dict__,
            "config": tcfg.__dict__, **result.to_dict(), "teacher": str(teacher_lm.path),
            "train": train_ds.path, "augmented": len(texts) - len(y) - len(extra),
            "unlabelled": {"path": str(unlabelled), "texts": len(extra)} if unlabelled else None,
            "teacher_seconds": round(teacher_seconds, 2), **notes})
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
