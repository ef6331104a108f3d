"""Pruning: ``prune_(model, config, data)`` with one config per method, one file per method.

    prune_(model, MagnitudeConfig(sparsity=0.5))                       # magnitude.py: unstructured zeros
    prune_(model, StructuredConfig(target=0.5, by="flops"), data)       # structured.py: heads, neurons, layers
    prune_(model, LatencyTarget(target=0.6), data)                      # latency.py: to a measured latency
    result = prune_(model, VocabConfig(), data)                         # vocab.py: result.tokenizer is new
    result = prune_(seq2seq, OutputVocabConfig(), data)                 # output_vocab.py: an encoder-decoder's
                                                                        # output layer (data.targets)

``data`` (``TaskData``) is the task's training text (and labels for importance scores, importance.py).
Factorization is ``compress.factorize.factorize_``.
"""

from __future__ import annotations

from torch import nn

from liteformer.compress.api import apply
from liteformer.compress.prune.data import PruneResult, TaskData
from liteformer.compress.prune.latency import LatencyTarget
from liteformer.compress.prune.magnitude import MagnitudeConfig
from liteformer.compress.prune.output_vocab import OutputVocabConfig
from liteformer.compress.prune.structured import StructuredConfig
from liteformer.compress.prune.vocab import VocabConfig


def prune_(model: nn.Module, config, data: TaskData | None = None) -> PruneResult:
    """Prune ``model`` in place; returns what was done (and a new tokenizer for vocabulary pruning)."""
    return apply("prune", model, config, data)


__all__ = ["LatencyTarget", "MagnitudeConfig", "OutputVocabConfig", "PruneResult", "StructuredConfig", "TaskData",
           "VocabConfig", "prune_"]
