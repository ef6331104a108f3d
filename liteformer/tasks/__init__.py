"""Tasks: what a task brings to liteformer, so that training, export verification, ``eval``, ``run``
and the bench drive any task the same way, and the compressors never need to know which one it is.

A task is one module holding one object with this interface (``Task`` below):

- ``read(path, text_column, label_column)`` — a split of its data (the readers live in ``data/``);
- ``new_head(model, labels)`` — the model head for its outputs;
- ``loss(model, ids, mask, idx, labels)`` — the per-example training loss (the loop in ``train/``
  averages it over the global batch, under DDP too);
- ``evaluate(model, tokenizer, data, ...)`` — its metric for a PyTorch model (a report with
  ``format()`` and ``to_dict()``);
- ``encode(runner, data, max_length)`` — a labelled split turned into a runner's inputs and
  references (its tokenizer, its label map), refusing data the artifact cannot take;
- ``predict(runner, example, length=None)`` — **the runtime loop**: one example through an exported
  artifact (a ``runtimes.Runner``), as the phone app runs it, to a prediction (``length``: padded
  to a fixed size, for the bench's fixed-length timing);
- ``report(predictions, references, runner)`` — the metric from predictions, the same report as
  ``evaluate`` (so a bundle and its source compare line by line);
- ``verify(runner, model, tokenizer, texts, max_length, quantized)`` — the check an export must pass
  before it is put in place (raises ``LiteformerError``; returns what it measured);
- ``metric`` — the name of the quality column the bench reports and budgets refer to.

Text classification (``classification.py``) is the first task: logits out, accuracy and confusion
matrix, argmax per example, fp32 max |Δlogit| ≤ 1e-4 and ≥ 99 % label agreement when quantized.

How the next tasks plug in, without touching ``compress/`` or ``bench/``:

- **Sequence to sequence** — translation (``translation.py``, registered): ``read`` gives
  source/target pairs; the output projection is the tied embedding; training goes through
  ``train/translate.py`` (token batches, label-smoothed cross-entropy); ``evaluate`` generates
  (greedy or beam) and scores sacreBLEU / chrF. The exported artifact has two entry points
  (``encode`` and ``decode`` with a fixed-size cache, ``models/seq2seq_graphs.py``): its runner
  (``runtimes.runner.GenerationRunner``) exposes them as methods, and ``predict`` is the decoding
  loop — encode once, call ``decode`` until EOS or the length limit, detokenize — returning the
  output with its first-token time, so the bench times whole sentences, first tokens and tokens/s
  through the same worker (``fixed_timing = False``: no padded-length timing). ``verify`` compares
  greedy tokens and first-step logits (fp32) or BLEU (quantized). Summarization
  (``summarization.py``, registered: DialogSum data with every reference, ROUGE, summary lengths)
  reuses it with its own data, generation defaults and metric, as does dialogue (``dialogue.py``:
  next-turn pairs, contexts cut from the left, perplexity, BLEU-2, ROUGE-L, distinct-n).
- **Speech recognition** (``speech.py``, registered): ``read`` gives clips with transcripts (16 kHz
  audio); the model computes its log-mel features itself, so a bundle takes raw audio (padded to a
  length it takes, masked); training goes through ``train/speech.py`` (CTC, synthesized digit
  strings, augmentation); ``predict`` is one graph call and greedy CTC decoding; ``report`` gives
  WER/CER (jiwer) and the bench a real-time factor (``duration``). ``verify``: identical transcripts
  and logits within 1e-4 (fp32), WER/CER within 0.3 points (quantized).

A new task = one module here + one line in ``TASKS``; the bundle's sidecar names its task, so
``run``, ``eval`` and ``bench`` find it.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from liteformer.errors import LiteformerError

# task name -> module holding ``TASK``
TASKS = {"text-classification": "liteformer.tasks.classification", "translation": "liteformer.tasks.translation",
         "speech-recognition": "liteformer.tasks.speech", "summarization": "liteformer.tasks.summarization",
         "dialogue": "liteformer.tasks.dialogue"}
DEFAULT = "text-classification"
# each task's bundled dev split: what export checks (and the aarch64 check) run on unless told otherwise
DEV_DATA = {"text-classification": "sst2:dev", "translation": "multi30k:val", "summarization": "dialogsum:dev",
            "dialogue": "dialogsum:dev", "speech-recognition": "fsdd:dev"}


class Task(Protocol):
    name: str
    metric: str

    def read(self, path: str, text_column: str | None = None, label_column: str | None = "label") -> Any: ...
    def new_head(self, model: Any, labels: dict[int, str]) -> None: ...
    def loss(self, model: Any, ids: Any, mask: Any, idx: Any, labels: Any) -> Any: ...
    def evaluate(self, model: Any, tokenizer: Any, data: Any, batch_size: int = 64,
                 max_length: int | None = None, progress: bool = True) -> Any: ...
    def encode(self, runner: Any, data: Any, max_length: int | None = None, longest: int = 0,
               what: str = "model") -> tuple[list, Any]: ...
    def predict(self, runner: Any, example: Any, length: int | None = None) -> Any: ...
    def report(self, predictions: list, references: list, runner: Any, truncated: int = 0) -> Any: ...
    def verify(self, runner: Any, model: Any, tokenizer: Any, texts: list[str], max_length: int,
               quantized: bool = False) -> dict: ...


def get(name: str | None = None) -> Task:
    """The task called ``name`` (default: text classification)."""
    name = name or DEFAULT
    if name not in TASKS:
        raise LiteformerError(f"unknown task {name!r} (tasks: {', '.join(TASKS)})")
    return importlib.import_module(TASKS[name]).TASK
