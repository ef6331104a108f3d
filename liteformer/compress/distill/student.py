"""Students for distillation: (a) ``layers`` — keep those teacher layers (DistilBERT-style);
(b) ``config`` — a new model of any size from a JSON config, optionally with a new, smaller WordPiece
vocabulary trained on the task text, its embeddings PCA-projected from the teacher's or every weight
cut out of the teacher (``teacher_init``); (c) ``checkpoint`` — any model folder."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from liteformer.data.tokenizer import default_max_length, load_tokenizer, train_wordpiece
from liteformer.errors import LiteformerError
from liteformer.models.checkpoint import load_model, read_config
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification, layers_subset
from liteformer.options import NON_NEGATIVE, POSITIVE, check_fields, opt
from liteformer.tasks.classification import replace_head

INIT_TEXTS = 512  # training texts the teacher's channels, heads and neurons are scored on
# in a cut student's notes and saved folder (config.json "liteformer_info"): the teacher's residual
# channel each of its channels came from; the hidden-state projections start from that selection
TEACHER_CHANNELS = "teacher_channels"


@dataclass
class StudentSpec:
    layers: list[int] | None = opt(None, "keep these teacher layers, e.g. 0,2,4 (DistilBERT-style)",
                                   check=NON_NEGATIVE)  # (a)
    config: str | None = opt(None, "JSON of TransformerConfig fields: a new model of any size")  # (b)
    tokenizer: str | None = opt(None, "with a config: a tokenizer folder")
    vocab_size: int | None = opt(None, "with a config: a new WordPiece vocabulary of this size trained on the task "
                                 "text (data re-tokenized for the student)", check=POSITIVE)
    checkpoint: str | None = opt(None, "any model folder as the student", cli=False)  # (c)
    init_embeddings: bool = opt(False, "with a config: start from the teacher's embedding tables projected to the "
                                "student's width (PCA) instead of random")
    init_from_teacher: bool = opt(False, "with a config: every weight cut from the teacher's (Minitron-style): "
                                  "layers spread over the teacher's, its most important residual channels, heads "
                                  "and FFN neurons on the training texts; the config needs the teacher's head_dim "
                                  "and no dimension above the teacher's")

    def validate(self) -> None:
        check_fields(self)
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


def build_student(spec: StudentSpec, teacher, teacher_tok, texts: list[str], seed: int = 0):
    """(student model, its tokenizer, notes on how it was built); a new model is initialized from ``seed``."""
    import torch
    spec.validate()
    torch.manual_seed(seed)
    labels = dict(teacher.config.id2label)
    if spec.layers is not None:
        return student_from_teacher(teacher, spec.layers), teacher_tok, {}
    if spec.checkpoint is not None:
        loaded = load_model(spec.checkpoint)
        if loaded.fresh or loaded.model.config.id2label != labels:
            replace_head(loaded.model, labels)
        # a student saved right after it was cut from the teacher remembers which channels it kept
        kept = read_config(loaded.path).get("liteformer_info", {}).get(TEACHER_CHANNELS)
        return loaded.model, loaded.tokenizer, {TEACHER_CHANNELS: kept} if kept else {}
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
        from liteformer.compress.distill.teacher_init import init_embeddings_
        notes["init_embeddings"] = init_embeddings_(model, teacher, tok.tok.get_vocab(), teacher_tok.tok.get_vocab())
    if spec.init_from_teacher:
        from liteformer.compress.distill.teacher_init import init_from_teacher_
        sample = random.Random(0).sample(texts, min(INIT_TEXTS, len(texts)))  # what the teacher is scored on
        ids = teacher_tok.encode(sample, default_max_length(teacher.config.max_positions)).ids
        notes["init_from_teacher"] = init_from_teacher_(model, teacher, tok.tok.get_vocab(),
                                                        teacher_tok.tok.get_vocab(), ids, teacher_tok.pad_id)
        notes[TEACHER_CHANNELS] = notes["init_from_teacher"]["hidden_channels"]
    return model, tok, notes


def student_from_teacher(teacher: TransformerForSequenceClassification,
                         layers: list[int]) -> TransformerForSequenceClassification:
    """A student that keeps the given teacher layers (DistilBERT-style), with every weight copied."""
    tc = teacher.config
    bad = [i for i in layers if not 0 <= i < tc.num_layers]
    if bad or not layers:
        raise LiteformerError(f"student layers {layers} must be teacher layers 0..{tc.num_layers - 1}")
    student = TransformerForSequenceClassification(TransformerConfig.from_dict(layers_subset(tc, layers)))
    _copy_layers(teacher, student, {"encoder": layers})
    return student


def seq2seq_student_from_teacher(teacher, encoder_layers: list[int], decoder_layers: list[int]):
    """An encoder-decoder student keeping the given teacher encoder and decoder layers (e.g. all six
    encoder layers and one decoder layer: the decoder runs once per output token), every weight copied."""
    from liteformer.models.seq2seq import TransformerForSeq2SeqLM
    tc = teacher.config
    for name, layers, n in (("encoder", encoder_layers, tc.num_layers), ("decoder", decoder_layers,
                                                                          tc.num_decoder_layers)):
        bad = [i for i in layers if not 0 <= i < n]
        if bad or not layers:
            raise LiteformerError(f"student {name} layers {layers} must be teacher {name} layers 0..{n - 1}")
    student = TransformerForSeq2SeqLM(TransformerConfig.from_dict(layers_subset(tc, encoder_layers, decoder_layers)))
    _copy_layers(teacher, student, {"encoder": encoder_layers, "decoder": decoder_layers})
    return student


def cut_seq2seq_student_(student, teacher, tokenizer, train, seed: int = 0, progress: bool = False) -> dict:
    """Overwrite a config-built translation student with weights cut from the teacher
    (``teacher_init.init_seq2seq_from_teacher_``), scored on ``INIT_TEXTS`` training pairs (a
    ``ParallelDataset``) in the teacher's tokens. Returns what was kept."""
    from liteformer.compress.distill.teacher_init import init_seq2seq_from_teacher_
    rows = sorted(random.Random(seed).sample(range(len(train)), min(INIT_TEXTS, len(train))))
    n = teacher.config.max_positions
    src = tokenizer.encode([train.sources[i] for i in rows], n).ids
    tgt = tokenizer.encode([train.targets[i] for i in rows], n).ids
    return init_seq2seq_from_teacher_(student, teacher, list(zip(src, tgt, strict=True)), tokenizer.pad_id,
                                      tokenizer.bos_id, progress)


def _copy_layers(teacher, student, kept: dict[str, list[int]]) -> None:
    """Every student tensor from the teacher: layer i of a stack from the teacher's ``kept[stack][i]``."""
    sd = teacher.state_dict()
    out = {}
    for k in student.state_dict():
        stack, _, rest = k.partition(".layers.")
        if rest and stack in kept:
            i, _, tail = rest.partition(".")
            out[k] = sd[f"{stack}.layers.{kept[stack][int(i)]}.{tail}"]
        else:
            out[k] = sd[k]
    student.load_state_dict(out)
