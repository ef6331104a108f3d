"""Summarization: a dialogue (or any text) in, its summary out, on the encoder-decoder stack of
translation (``tasks/translation.py``: the same model, training, generation, export graphs and runtime
loop); this module brings the data (``data/dialogsum.py``: every reference summary kept), the
generation defaults of summaries and the metric.

Metric (``pip install 'liteformer[summarization]'``): ROUGE-1/2/L F-measure with stemming against the
first reference — how DialogSum's baselines are reported — and averaged over all references
(``tasks/gen_metrics.py``); the bench's quality column is ROUGE-L against the first reference.

Generation: beam 4, length penalty 1.0, outputs of 5 to 100 tokens (``min_length`` blocks ``</s>``
before 5; ``max_len_a`` 0, ``max_len_b`` 100: a summary's length does not follow the dialogue's).
Inputs longer than ``max_length`` tokens (default the model's positions; DialogSum's dialogues run up
to ~500) are truncated at the end with a warning, as in translation.

Export verification: fp32 as translation (token-identical greedy outputs, first-step logits within
1e-4); quantized: ROUGE-L within 0.5 points of the PyTorch model on the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from liteformer.data.dialogsum import SummaryDataset, read_summaries
from liteformer.errors import LiteformerError
from liteformer.models.generation import GenerationConfig
from liteformer.tasks import translation as seq2seq
from liteformer.tasks.gen_metrics import rouge

NAME = "summarization"
MAX_ROUGE_DROP = 0.5  # export check: a quantized artifact's ROUGE-L may trail its source's by this much
DEFAULTS = {"beam": 4, "length_penalty": 1.0, "max_len_a": 0.0, "max_len_b": 100, "min_length": 5}


@dataclass
class RougeReport:
    rouge1: float
    rouge2: float
    rougeL: float  # noqa: N815  (the metric's own name)
    rouge1_avg: float  # averaged over every reference
    rouge2_avg: float
    rougeL_avg: float  # noqa: N815
    summaries: int
    hypotheses: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        keys = ("rouge1", "rouge2", "rougeL", "rouge1_avg", "rouge2_avg", "rougeL_avg")
        return {**{k: round(getattr(self, k), 2) for k in keys}, "summaries": self.summaries}

    def format(self) -> str:
        return (f"ROUGE-1/2/L {self.rouge1:.2f} / {self.rouge2:.2f} / {self.rougeL:.2f} (first reference), "
                f"{self.rouge1_avg:.2f} / {self.rouge2_avg:.2f} / {self.rougeL_avg:.2f} (averaged over the "
                f"references) on {self.summaries} summaries")


def score(hypotheses: list[str], references: list[list[str]]) -> RougeReport:
    r = rouge(hypotheses, references)
    return RougeReport(**r, summaries=len(hypotheses), hypotheses=list(hypotheses))


def generation_config(max_target: int, **overrides) -> GenerationConfig:
    """Summaries' generation settings with a cache of ``max_target`` slots (the limit fits inside it)."""
    d = {**DEFAULTS, **overrides}
    d["max_len_b"] = min(d["max_len_b"], max_target - 1)
    d["min_length"] = min(d["min_length"], d["max_len_b"] - 1)
    return GenerationConfig(max_target=max_target, **d)


def summarize(model, tokenizer, texts: list[str], cfg: GenerationConfig | None = None, batch_size: int = 16,
              max_length: int | None = None, progress: bool = False) -> list[str]:
    """Detokenized summaries of ``texts`` (beam search with the summaries' defaults unless ``cfg``)."""
    cfg = cfg or generation_config(min(128, model.config.max_positions))
    return seq2seq.translate(model, tokenizer, texts, cfg, batch_size, max_length, progress)


def evaluate(model, tokenizer, data: str | SummaryDataset, cfg: GenerationConfig | None = None,
             batch_size: int = 16, max_length: int | None = None, progress: bool = False) -> RougeReport:
    """Summarize the split's inputs and score them against every reference."""
    data = read_summaries(data)
    return score(summarize(model, tokenizer, data.sources, cfg, batch_size, max_length, progress), data.references)


def encode_summaries(runner, data: str | SummaryDataset, max_length: int | None = None, longest: int = 0,
                     what: str = "model"):
    """(reference lists, encoded inputs) of a split for ``runner`` (inputs cut to its length, warned)."""
    data = read_summaries(data)
    _, enc = seq2seq.encode_pairs(runner, data, max_length, longest, what)
    return data.references, enc


def report_outputs(outputs: list, references: list[list[str]], runner, truncated: int = 0) -> RougeReport:
    hyps = [runner.tokenizer.decode(o.ids if isinstance(o, seq2seq.Output) else o) for o in outputs]
    return score(hyps, references)


def evaluate_bundle(path, data: str | SummaryDataset, max_length: int | None = None, threads: int = 2,
                    progress: bool = True) -> RougeReport:
    """The ROUGE report of an exported bundle, run in its own runtime one input at a time (greedy, the
    summaries' lengths), as the phone runs it."""
    return seq2seq.evaluate_bundle(path, data, max_length, threads, progress, encode=encode_summaries,
                                   config=runtime_config, report=report_outputs, desc="summarize")


def runtime_config(runner) -> GenerationConfig:
    """Greedy with the summaries' length settings within the bundle's cache (what the phone runs)."""
    return generation_config(int(runner.max_target), beam=1)


def verify(runner, model, tokenizer, texts, max_length: int, quantized: bool = False) -> dict:
    """``translation.verify`` with ROUGE-L (first reference) as the quantized check."""
    if isinstance(texts, str):
        texts = read_summaries(texts)

    def rouge_l(hyps: list[str], data) -> float:
        refs = data.references if isinstance(data, SummaryDataset) else [[t] for t in data.targets]
        return rouge(hyps, refs)["rougeL"]
    return seq2seq.verify(runner, model, tokenizer, texts, max_length, quantized,
                          quality=("rougeL", rouge_l, MAX_ROUGE_DROP), cfg=runtime_config(runner))


class Summarization:
    """The Task interface of ``liteformer.tasks`` for summarization."""

    name = NAME
    metric = "rougeL"
    fixed_timing = False  # the bench times whole summaries

    def read(self, path: str, text_column: str | None = None, label_column: str | None = None) -> SummaryDataset:
        return read_summaries(path)

    def new_head(self, model, labels) -> None:
        raise LiteformerError("summarization has no label head (the output projection is the tied embedding)")

    loss = None  # training goes through train/translate.py (token batches, label smoothing)
    encode = staticmethod(encode_summaries)
    verify = staticmethod(verify)
    report = staticmethod(report_outputs)

    def evaluate(self, model, tokenizer, data, batch_size: int = 16, max_length: int | None = None,
                 progress: bool = True) -> RougeReport:
        return evaluate(model, tokenizer, data, None, batch_size, max_length, progress)

    def predict(self, runner, example: list[int], length: int | None = None) -> seq2seq.Output:
        """The runtime loop: one input's pieces through the bundle (greedy, batch 1, summary lengths)."""
        return seq2seq.run_sentence(runner, example, runtime_config(runner))


TASK = Summarization()
