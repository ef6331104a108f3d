"""Text classification, the first task (see ``liteformer.tasks``): TSV/CSV/JSONL splits, a linear
head over the pooled vector, cross-entropy, accuracy and the confusion matrix, and the runtime loop
(one sentence, batch 1, argmax) that ``eval``, ``run``, export verification and the bench share."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from liteformer.data.batching import length_sorted_batches, pad_batch
from liteformer.data.text import TextDataset, encode_labels, read_classification
from liteformer.data.tokenizer import TextTokenizer, default_max_length
from liteformer.errors import LiteformerError
from liteformer.models.transformer import TransformerForSequenceClassification

FP32_TOLERANCE = 1e-4  # export check: max |logit difference| for a float artifact
MIN_AGREEMENT = 0.99  # export check: share of equal predicted labels for a quantized artifact


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
    from liteformer import runtimes
    path = Path(path)
    runner = runtimes.load(runtimes.detect(path), path, None, threads)
    y, enc = encode_labelled(runner, data, max_length, what="bundle")
    logits = tqdm(run_each(runner, enc.ids), total=len(enc.ids), desc="eval", unit="ex", disable=not progress,
                  file=sys.stderr, leave=False)
    return report_from_predictions([int(x.argmax()) for x in logits], y, labels_of(runner), enc.truncated)


def labels_of(runner) -> list[str]:
    return [runner.id2label[i] for i in range(len(runner.id2label))]


def encode_labelled(runner, data: TextDataset, max_length: int | None = None, longest: int = 0,
                    what: str = "model"):
    """(label ids, encoded texts) of a labelled split for ``runner``: its own label map and tokenizer,
    ``max_length`` defaulting to 128 or its positions if fewer. Labels it does not know, or a length
    (``max_length`` or ``longest``) past its positions, give one error line."""
    try:
        y = encode_labels(data, {v: k for k, v in runner.id2label.items()})
    except LiteformerError as e:
        raise LiteformerError(f"data does not match the {what}'s labels: {e}") from None
    positions = (runner.describe().get("config") or {}).get("max_positions", 10**9)
    max_length = max_length or default_max_length(positions)
    if max(max_length, longest) > positions:
        raise LiteformerError(f"length {max(max_length, longest)} exceeds the {what}'s {positions} positions")
    return y, runner.tokenizer.encode(data.texts, max_length)


def run_one(runner, ids: list[int], length: int | None = None) -> np.ndarray:
    """The runtime loop of a classifier: one sequence (batch 1, padded to ``length`` if given) through
    the artifact; its logits as a float64 vector."""
    n = length or len(ids)
    x = np.zeros((1, n), dtype=np.int64)
    m = np.zeros((1, n), dtype=np.int64)
    x[0, : len(ids)], m[0, : len(ids)] = ids, 1
    return np.asarray(runner(x, m), dtype=np.float64).reshape(-1)


def run_each(runner, ids: list[list[int]]) -> Iterator[np.ndarray]:
    """Each sequence alone (batch 1, no padding), as a phone app runs the model; yields its logits."""
    for seq in ids:
        yield run_one(runner, seq)


def replace_head(model: TransformerForSequenceClassification, id2label: dict[int, str]) -> None:
    """A new, freshly initialised classifier for these labels."""
    cfg = model.config
    cfg.num_labels, cfg.id2label = len(id2label), dict(id2label)
    model.classifier = nn.Linear(cfg.hidden_size, cfg.num_labels)
    nn.init.normal_(model.classifier.weight, std=0.02)
    nn.init.zeros_(model.classifier.bias)


def cross_entropy(model, ids, mask, idx, labels) -> torch.Tensor:
    """Per-example training loss (the train loop's default)."""
    return F.cross_entropy(model(ids, mask), labels, reduction="none")


def verify(runner, model: torch.nn.Module, tokenizer: TextTokenizer, texts: list[str], max_length: int,
           quantized: bool = False) -> dict:
    """An exported classifier against its source on real inputs, through the runtime loop: fp32 within
    ``FP32_TOLERANCE`` on every logit, and (fp32 or quantized) the same label on ≥ ``MIN_AGREEMENT``.
    Raise LiteformerError naming the diverging output; return the measured agreement."""
    if not texts:
        raise LiteformerError("verify: no inputs")
    enc = tokenizer.encode(texts, max_length)
    worst, worst_i, agree = 0.0, 0, 0
    model.eval()
    for i, (ids, got) in enumerate(zip(enc.ids, run_each(runner, enc.ids), strict=True)):
        x = torch.tensor([ids])
        with torch.inference_mode():
            ref = model(x, torch.ones_like(x)).double().numpy().reshape(-1)
        d = float(np.abs(got - ref).max())
        if d > worst:
            worst, worst_i = d, i
        agree += int(got.argmax() == ref.argmax())
    n = len(enc.ids)
    result = {"inputs": n, "max_abs_diff": worst, "label_agreement": agree / n, "quantized": quantized}
    where = f"input {worst_i} ({texts[worst_i][:40]!r})"
    if not quantized and worst > FP32_TOLERANCE:
        raise LiteformerError(f"verify failed: output 'logits' differs from the source by {worst:.2e} "
                              f"(> {FP32_TOLERANCE:g}) at {where}")
    if agree / n < MIN_AGREEMENT:
        raise LiteformerError(f"verify failed: predicted labels agree on {agree}/{n} inputs "
                              f"(< {MIN_AGREEMENT:.0%}); largest logit difference {worst:.2e} at {where}")
    return result


class TextClassification:
    """The Task interface of ``liteformer.tasks`` for text classification."""

    name = "text-classification"
    metric = "accuracy"

    def read(self, path: str, text_column: str | None = None, label_column: str | None = "label") -> TextDataset:
        return read_classification(path, text_column, label_column)

    new_head = staticmethod(replace_head)
    loss = staticmethod(cross_entropy)
    evaluate = staticmethod(evaluate)
    encode = staticmethod(encode_labelled)
    verify = staticmethod(verify)

    def predict(self, runner, example: list[int], length: int | None = None) -> int:
        """The runtime loop: one sentence's ids through the artifact (padded to ``length`` when the
        bench times a fixed length) to its label id."""
        return int(run_one(runner, example, length).argmax())

    def report(self, predictions: list[int], references: list[int], runner, truncated: int = 0) -> EvalReport:
        return report_from_predictions(predictions, references, labels_of(runner), truncated)


TASK = TextClassification()
