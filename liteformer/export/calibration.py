"""Calibration inputs for static quantization, checked to belong to the model's task and tokenizer."""

from __future__ import annotations

import random

from liteformer.data.text import TextDataset, columns_of, read_classification
from liteformer.errors import LiteformerError
from liteformer.models.checkpoint import LoadedModel

MAX_UNKNOWN = 0.05  # share of [UNK] tokens above which the text is not this tokenizer's language


def calibration_ids(source: str | TextDataset, loaded: LoadedModel, n: int, max_length: int,
                    text_column: str | None = None, label_column: str = "label", seed: int = 0) -> list[list[int]]:
    """``n`` random texts of a training file (or of a split already read), tokenized with the model's
    tokenizer."""
    if isinstance(source, TextDataset):
        data, path, has_labels = source, source.path, any(source.labels)
    else:
        path = source
        has_labels = label_column in columns_of(path)
        data = read_classification(path, text_column, label_column if has_labels else None)
    if has_labels:  # labels present: they must be this model's
        names, ids = set(loaded.label2id), {str(i) for i in loaded.label2id.values()}
        foreign = sorted({x for x in data.labels if x not in names and x not in ids})
        if foreign:
            raise LiteformerError(f"{path}: calibration labels {foreign[:5]} are not the model's labels "
                                  f"{sorted(names)}: data of another task?")
    texts = random.Random(seed).sample(data.texts, min(n, len(data.texts)))
    enc = loaded.tokenizer.encode(texts, max_length)
    tokens = sum(len(x) - 2 for x in enc.ids)
    unknown = sum(x.count(loaded.tokenizer.unk_id) for x in enc.ids)
    if tokens == 0:
        raise LiteformerError(f"{path}: calibration texts are empty")
    if unknown / tokens > MAX_UNKNOWN:
        raise LiteformerError(f"{path}: {unknown / tokens:.0%} of calibration tokens are [UNK] for this "
                              "model's tokenizer: text of another language or tokenizer?")
    return enc.ids

