"""What the data-driven pruning methods share: the task's training data (``TaskData``), the result
(``PruneResult``) and the unit-importance scorer built from the data."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from liteformer.compress.prune.importance import seq2seq_importance, unit_importance
from liteformer.data.tokenizer import TextTokenizer
from liteformer.errors import LiteformerError


@dataclass
class TaskData:
    tokenizer: TextTokenizer
    texts: list[str]
    labels: list[int] | None = None  # label ids (importance scores need them)
    max_length: int = 128
    importance_examples: int = 2000  # sentences for each importance pass
    importance: str = "fisher"  # or "taylor" (see compress/prune/importance.py)
    progress: bool = True
    targets: list[str] | None = None  # an encoder-decoder's target texts, aligned with ``texts`` (its sources)

    def mean_length(self, limit: int = 5000) -> int:
        """Mean tokens per example (of the first ``limit`` texts, truncated at ``max_length``): the
        length at which FLOPs and latency targets are measured by default."""
        ids = self.tokenizer.encode(self.texts[:limit], self.max_length).ids
        return max(2, round(sum(map(len, ids)) / max(1, len(ids))))


@dataclass
class PruneResult:
    report: dict
    tokenizer: TextTokenizer | None = None  # a new tokenizer (vocabulary pruning)


def need(data: TaskData | None, what: str, labels: bool = False) -> TaskData:
    if data is None or not data.texts:
        raise LiteformerError(f"{what} needs task data: the data is empty")
    if labels and not (data.labels or data.targets):
        raise LiteformerError(f"{what} needs labelled data (importance scores come from the task loss)")
    return data


def scorer(data: TaskData, max_positions: int):
    """``score(model, with_layers) -> Importance`` on a fixed, seeded sample of the data."""
    sample = list(range(len(data.texts)))
    if len(sample) > data.importance_examples:
        sample = torch.randperm(len(sample), generator=torch.Generator().manual_seed(0))[: data.importance_examples]
        sample = sorted(sample.tolist())
    ids = data.tokenizer.encode([data.texts[i] for i in sample], min(data.max_length, max_positions)).ids
    if data.targets is not None:  # an encoder-decoder: the teacher-forced loss of the target sentences
        tgt = data.tokenizer.encode([data.targets[i] for i in sample], min(data.max_length, max_positions)).ids
        pairs = list(zip(ids, tgt, strict=True))

        def score(m, layers):
            return seq2seq_importance(m, pairs, data.tokenizer.pad_id, data.tokenizer.bos_id,
                                      progress=data.progress, method=data.importance)
        return score
    labels = [data.labels[i] for i in sample]
    return lambda m, layers: unit_importance(m, ids, labels, data.tokenizer.pad_id, layers=layers,
                                             progress=data.progress, method=data.importance)
