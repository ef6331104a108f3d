"""Dialogue: next-turn response generation on the encoder-decoder stack of translation. The source is
the conversation so far (speaker tags kept, ``#Person1#: …`` a turn) ending in the next speaker's tag;
the target is that speaker's turn (``data/dialogsum.py`` builds the pairs, split by dialogue).

A context longer than ``max_length`` tokens keeps its **most recent** pieces (truncated from the left,
with a warning naming how many were cut) — in training, evaluation, export checks and the runtime loop.

Metrics (``tasks/gen_metrics.py``): perplexity of the reference turns under teacher forcing (PyTorch
models), BLEU-2 and ROUGE-L of the generated turns against the reference turn, distinct-1/2 of the
generated turns; the bench's quality column is ROUGE-L, and it reports first-token latency and decoder
tokens per second. Generation: greedy, turns of 1 to 40 tokens.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from liteformer.data.batching import teacher_forcing
from liteformer.data.dialogsum import TurnDataset, read_turns
from liteformer.errors import LiteformerError
from liteformer.models.generation import GenerationConfig, generate, model_calls
from liteformer.models.seq2seq import output_targets
from liteformer.tasks import translation as seq2seq
from liteformer.tasks.gen_metrics import bleu2, distinct, perplexity, rouge

NAME = "dialogue"
MAX_ROUGE_DROP = 0.5  # export check: a quantized artifact's ROUGE-L may trail its source's by this much
DEFAULTS = {"beam": 1, "length_penalty": 1.0, "max_len_a": 0.0, "max_len_b": 40, "min_length": 1}


@dataclass
class DialogueReport:
    bleu2: float
    rougeL: float  # noqa: N815  (the metric's own name; first and only reference)
    distinct1: float
    distinct2: float
    perplexity: float | None  # None for a bundle (teacher forcing runs on a PyTorch model)
    turns: int
    truncated: int = 0
    hypotheses: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        ppl = None if self.perplexity is None else round(self.perplexity, 3)
        return {"bleu2": round(self.bleu2, 2), "rougeL": round(self.rougeL, 2), "distinct1": round(self.distinct1, 4),
                "distinct2": round(self.distinct2, 4), "perplexity": ppl, "turns": self.turns,
                "truncated": self.truncated}

    def format(self) -> str:
        ppl = "" if self.perplexity is None else f"perplexity {self.perplexity:.2f}  "
        return (f"{ppl}BLEU-2 {self.bleu2:.2f}  ROUGE-L {self.rougeL:.2f}  distinct-1/2 {self.distinct1:.3f} / "
                f"{self.distinct2:.3f}  on {self.turns} turns")


def score(hypotheses: list[str], references: list[str], ppl: float | None = None, truncated: int = 0) -> DialogueReport:
    return DialogueReport(bleu2(hypotheses, references), rouge(hypotheses, [[r] for r in references])["rougeL"],
                          distinct(hypotheses, 1), distinct(hypotheses, 2), ppl, len(hypotheses), truncated,
                          list(hypotheses))


def generation_config(max_target: int, **overrides) -> GenerationConfig:
    d = {**DEFAULTS, **overrides}
    d["max_len_b"] = min(d["max_len_b"], max_target - 1)
    d["min_length"] = min(d["min_length"], d["max_len_b"] - 1)
    return GenerationConfig(max_target=max_target, **d)


def encode_contexts(tokenizer, contexts: list[str], max_length: int):
    """Piece ids of the contexts, each cut from the left to ``max_length`` (warned)."""
    enc = tokenizer.encode(contexts, max_length, keep="end")
    if enc.truncated:
        print(f"warning: {enc.truncated} of {len(contexts)} contexts were longer than {max_length} tokens and lost "
              "their oldest turns", file=sys.stderr)
    return enc


@torch.no_grad()
def respond(model, tokenizer, contexts: list[str], cfg: GenerationConfig | None = None, batch_size: int = 32,
            max_length: int | None = None) -> list[str]:
    """The next turn for each context (order kept)."""
    from liteformer.data.batching import pad_batch
    cfg = cfg or generation_config(min(128, model.config.max_positions))
    enc = encode_contexts(tokenizer, contexts, max_length or model.config.max_positions)
    model.eval()
    order = sorted(range(len(contexts)), key=lambda i: len(enc.ids[i]))
    out = [""] * len(contexts)
    calls = model_calls(model, cfg.max_target)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        src, mask = pad_batch([enc.ids[i] for i in rows], tokenizer.pad_id)
        for i, ids in zip(rows, generate(*calls, src, mask, cfg, tokenizer.bos_id, tokenizer.eos_id), strict=True):
            out[i] = tokenizer.decode(ids)
    return out


@torch.no_grad()
def reference_perplexity(model, tokenizer, data: TurnDataset, max_length: int, batch_size: int = 32) -> float:
    """exp(mean NLL per reference token, ``</s>`` included) under teacher forcing."""
    src = encode_contexts(tokenizer, data.sources, max_length).ids
    tgt = tokenizer.encode(data.targets, max_length).ids
    model.eval()
    nll, tokens = 0.0, 0
    for start in range(0, len(src), batch_size):
        s, sm, di, dm, t = teacher_forcing(src[start:start + batch_size], tgt[start:start + batch_size],
                                           tokenizer.pad_id, tokenizer.bos_id)
        logits = model(s, sm, di, dm)  # (B, T, V)
        t_out = output_targets(t.flatten(), logits.shape[-1])  # a pruned output layer: unknown pieces as <unk>
        nll += float(F.cross_entropy(logits.flatten(0, 1).float(), t_out, ignore_index=tokenizer.pad_id,
                                     reduction="sum"))
        tokens += int((t != tokenizer.pad_id).sum())
    return perplexity(nll, tokens)


def evaluate(model, tokenizer, data: str | TurnDataset, cfg: GenerationConfig | None = None, batch_size: int = 32,
             max_length: int | None = None, progress: bool = False) -> DialogueReport:
    """Generated turns scored against the references, and the references' perplexity."""
    data = read_turns(data)
    max_length = max_length or model.config.max_positions
    hyps = respond(model, tokenizer, data.sources, cfg, batch_size, max_length)
    ppl = reference_perplexity(model, tokenizer, data, max_length, batch_size)
    truncated = tokenizer.encode(data.sources, max_length, keep="end").truncated
    return score(hyps, data.targets, ppl if math.isfinite(ppl) else None, truncated)


def encode_turns(runner, data: str | TurnDataset, max_length: int | None = None, longest: int = 0,
                 what: str = "model"):
    """(reference turns, contexts encoded for ``runner``, cut from the left to its length)."""
    data = read_turns(data)
    limit = int(getattr(runner, "meta", {}).get("max_length") or runner.describe()["config"]["max_positions"])
    max_length = max_length or limit
    if max(max_length, longest) > limit:
        raise LiteformerError(f"length {max(max_length, longest)} exceeds the {what}'s {limit} source tokens")
    return data.targets, encode_contexts(runner.tokenizer, data.sources, max_length)


def evaluate_bundle(path, data: str | TurnDataset, max_length: int | None = None, threads: int = 2,
                    progress: bool = True) -> DialogueReport:
    """Generated turns of an exported bundle in its own runtime (greedy, batch 1), scored (no perplexity)."""
    return seq2seq.evaluate_bundle(path, data, max_length, threads, progress, encode=encode_turns,
                                   config=runtime_config, report=report_outputs, desc="respond")


def runtime_config(runner) -> GenerationConfig:
    return generation_config(int(runner.max_target))


def report_outputs(outputs: list, references: list[str], runner, truncated: int = 0) -> DialogueReport:
    hyps = [runner.tokenizer.decode(o.ids if isinstance(o, seq2seq.Output) else o) for o in outputs]
    return score(hyps, references, None, truncated)


def verify(runner, model, tokenizer, texts, max_length: int, quantized: bool = False) -> dict:
    """``translation.verify`` on contexts (cut from the left) with ROUGE-L as the quantized check."""
    if isinstance(texts, str):
        texts = read_turns(texts)

    def rouge_l(hyps: list[str], d) -> float:
        return rouge(hyps, [[t] for t in d.targets])["rougeL"]
    return seq2seq.verify(runner, model, tokenizer, texts, max_length, quantized,
                          quality=("rougeL", rouge_l, MAX_ROUGE_DROP), cfg=runtime_config(runner), keep="end")


class Dialogue:
    """The Task interface of ``liteformer.tasks`` for next-turn response generation."""

    name = NAME
    metric = "rougeL"
    fixed_timing = False

    def read(self, path: str, text_column: str | None = None, label_column: str | None = None) -> TurnDataset:
        return read_turns(path)

    def new_head(self, model, labels) -> None:
        raise LiteformerError("dialogue has no label head (the output projection is the tied embedding)")

    loss = None  # training goes through train/translate.py (token batches, label smoothing)
    encode = staticmethod(encode_turns)
    verify = staticmethod(verify)
    report = staticmethod(report_outputs)

    def evaluate(self, model, tokenizer, data, batch_size: int = 32, max_length: int | None = None,
                 progress: bool = True) -> DialogueReport:
        return evaluate(model, tokenizer, data, None, batch_size, max_length, progress)

    def predict(self, runner, example: list[int], length: int | None = None) -> seq2seq.Output:
        return seq2seq.run_sentence(runner, example, runtime_config(runner))


TASK = Dialogue()
