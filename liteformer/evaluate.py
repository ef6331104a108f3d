"""Accuracy and confusion matrix of a classifier on a labelled split (length-sorted batches)."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from liteformer.data.batching import length_sorted_batches, pad_batch
from liteformer.data.text import TextDataset, encode_labels
from liteformer.data.tokenizer import TextTokenizer, default_max_length
from liteformer.models.transformer import TransformerForSequenceClassification


@dataclass
class EvalReport:
    accuracy: float
    correct: int
    total: int
    confusion: list[list[int]]  # confusion[true][predicted]
    labels: list[str]  # id order
    truncated: int  # inputs cut to max_length
    predictions: list[int]

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("predictions")
        return d

    def format(self) -> str:
        w = max(8, *(len(x) for x in self.labels)) + 1
        lines = [f"accuracy {self.accuracy:.4f} ({self.correct}/{self.total})"]
        lines.append("confusion (rows: true, columns: predicted)")
        lines.append(" " * w + "".join(f"{x:>{w}}" for x in self.labels))
        for name, row in zip(self.labels, self.confusion, strict=False):
            lines.append(f"{name:>{w}}" + "".join(f"{c:>{w}}" for c in row))
        return "\n".join(lines)


@torch.inference_mode()
def predict(model: TransformerForSequenceClassification, tokenizer: TextTokenizer, texts: list[str],
            batch_size: int = 64, max_length: int | None = None, progress: bool = True) -> tuple[torch.Tensor, int]:
    """Logits (N, num_labels) in input order, and how many texts were truncated.
    ``max_length`` None: 128, or the model's positions if fewer."""
    max_length = max_length or default_max_length(model.config.max_positions)
    enc = tokenizer.encode(texts, max_length)
    model.eval()
    device = next(model.parameters()).device
    logits = torch.empty(len(texts), model.config.num_labels)
    batches = length_sorted_batches([len(x) for x in enc.ids], batch_size)
    for idx in tqdm(batches, desc="eval", unit="batch", disable=not progress, file=sys.stderr, leave=False):
        ids, mask = pad_batch([enc.ids[i] for i in idx], tokenizer.pad_id)
        logits[idx] = model(ids.to(device), mask.to(device)).float().cpu()
    return logits, enc.truncated


def evaluate(model: TransformerForSequenceClassification, tokenizer: TextTokenizer, data: TextDataset,
             batch_size: int = 64, max_length: int | None = None, progress: bool = True) -> EvalReport:
    id2label = model.config.id2label
    y = encode_labels(data, {v: k for k, v in id2label.items()})
    logits, truncated = predict(model, tokenizer, data.texts, batch_size, max_length, progress)
    pred = logits.argmax(-1).tolist()
    return report_from_predictions(pred, y, [id2label[i] for i in range(len(id2label))], truncated)


def report_from_predictions(pred: list[int], y: list[int], labels: list[str], truncated: int = 0) -> EvalReport:
    n = len(labels)
    confusion = [[0] * n for _ in range(n)]
    for t, p in zip(y, pred, strict=False):
        confusion[t][p] += 1
    correct = sum(int(t == p) for t, p in zip(y, pred, strict=False))
    return EvalReport(correct / len(y), correct, len(y), confusion, labels, truncated, pred)


def evaluate_bundle(path: str | Path, data: TextDataset, max_length: int | None = None, threads: int = 2,
                    progress: bool = True) -> EvalReport:
    """The same report for an exported bundle (or an artifact inside one), run in its own runtime one
    sentence at a time, as the phone runs it."""
    from liteformer.bench import runtimes
    path = Path(path)
    runner = runtimes.load(runtimes.detect(path), path, None, threads)
    y, enc = runtimes.encode_labelled(runner, data, max_length, what="bundle")
    logits = tqdm(runtimes.run_each(runner, enc.ids), total=len(enc.ids), desc="eval", unit="ex", disable=not progress,
                  file=sys.stderr, leave=False)
    pred = [int(x.argmax()) for x in logits]
    return report_from_predictions(pred, y, [runner.id2label[i] for i in range(len(runner.id2label))],
                                   enc.truncated)
