"""Fine-tune a base checkpoint (or a model built from a config) into a task model (a teacher)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from liteformer.data.text import TextDataset, encode_labels, label_map_from_data, read_classification
from liteformer.data.tokenizer import TextTokenizer, default_max_length, load_tokenizer, train_wordpiece
from liteformer.errors import LiteformerError
from liteformer.fileio import read_json_object
from liteformer.models.checkpoint import load_model
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification
from liteformer.tasks.classification import replace_head
from liteformer.train.dist import init_from_env
from liteformer.train.loop import TrainConfig, TrainResult, publish, train_classifier


@dataclass
class Prepared:
    model: TransformerForSequenceClassification
    tokenizer: TextTokenizer
    train: TextDataset
    dev: TextDataset | None
    new_head: bool


def prepare(train: str | TextDataset, base: str | None = None, model_config: str | None = None,
            tokenizer: str | None = None, vocab_size: int | None = None, dev: str | TextDataset | None = None,
            text_column: str | None = None, label_column: str = "label",
            label_names: list[str] | None = None, seed: int = 0) -> Prepared:
    """Read the data and build the model to train: from a base folder or from a JSON config.
    ``label_names`` names integer labels 0..n-1 (e.g. negative,positive) in a new head. A new head or
    model is initialized from ``seed``, so the same command or recipe step gives the same model
    whatever ran before it in the process."""
    torch.manual_seed(seed)
    train_ds = read_classification(train, text_column, label_column)
    dev_ds = read_classification(dev, text_column, label_column) if dev else None
    labels = label_map_from_data(train_ds)
    if label_names:
        if len(label_names) != len(labels) or list(labels.values()) != [str(i) for i in labels]:
            raise LiteformerError(f"--label-names gives {len(label_names)} names; {train_ds.path} has "
                                  f"labels {list(labels.values())} (names need integer labels 0..n-1)")
        labels = dict(enumerate(label_names))
    if (base is None) == (model_config is None):
        raise LiteformerError("give exactly one of --base (a checkpoint) or --model-config (a JSON config)")
    if base is not None:
        if tokenizer or vocab_size:
            raise LiteformerError("--tokenizer/--vocab-size go with --model-config; a base keeps its vocabulary")
        loaded = load_model(base)
        loaded.require_classifier("finetune (text classification)")
        model, tok = loaded.model, loaded.tokenizer
        new_head = bool(loaded.fresh)
        if not new_head:
            try:
                encode_labels(train_ds, loaded.label2id)
            except LiteformerError:
                new_head = True
        if new_head:
            replace_head(model, labels)
    else:
        if tokenizer and vocab_size:
            raise LiteformerError("give --tokenizer or --vocab-size, not both")
        if tokenizer:
            tok = load_tokenizer(tokenizer)
        elif vocab_size:
            tok = train_wordpiece(train_ds.texts, vocab_size)
        else:
            raise LiteformerError("--model-config needs --tokenizer DIR or --vocab-size N")
        model = TransformerForSequenceClassification(_read_model_config(model_config, tok, labels))
        new_head = True
    if dev_ds is not None:
        encode_labels(dev_ds, {v: k for k, v in model.config.id2label.items()})
    return Prepared(model, tok, train_ds, dev_ds, new_head)


def _read_model_config(path: str, tok: TextTokenizer, labels: dict[int, str]) -> TransformerConfig:
    d = read_json_object(path, "a JSON object of TransformerConfig fields")
    d = {**d, "vocab_size": tok.vocab_size, "pad_token_id": tok.pad_id, "num_labels": len(labels),
         "id2label": labels}
    try:
        return TransformerConfig.from_dict(d)
    except (ValueError, TypeError) as e:
        raise LiteformerError(f"{path}: {e}") from None


def finetune(prep: Prepared, out: str | Path, cfg: TrainConfig, progress: bool = True,
             resume: bool = False) -> TrainResult:
    """Train ``prep.model`` on its data; the best (by dev accuracy) or last weights go to ``out``."""
    cfg.validate()
    max_pos = prep.model.config.max_positions
    cfg.max_length = cfg.max_length or default_max_length(max_pos)
    if cfg.max_length > max_pos:
        raise LiteformerError(f"max_length {cfg.max_length} exceeds the model's {max_pos} positions")
    info = init_from_env()
    torch.manual_seed(cfg.seed)
    enc = prep.tokenizer.encode(prep.train.texts, cfg.max_length)
    if enc.truncated and info.main:
        print(f"warning: {enc.truncated} of {len(enc.ids)} training examples were longer than "
              f"{cfg.max_length} tokens and were truncated", file=sys.stderr)
    y = encode_labels(prep.train, {v: k for k, v in prep.model.config.id2label.items()})
    if cfg.qat:
        from liteformer.compress.quantize.qat import qat_prepare_
        qat_prepare_(prep.model)
    try:
        result = train_classifier(prep.model, prep.tokenizer, enc.ids, y, prep.dev, cfg, out,
                                  progress=progress, info=info, resume=resume)
    finally:
        if cfg.qat:
            from liteformer.compress.quantize.qat import qat_convert_
            qat_convert_(prep.model)
    publish(out, {"config": cfg.__dict__, **result.to_dict(), "train": prep.train.path,
                  "truncated": enc.truncated}, info)
    return result
