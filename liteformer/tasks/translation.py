"""Translation: sentence pairs in, an encoder-decoder with a joint subword vocabulary, label-smoothed
token cross-entropy, generation (greedy or beam) and BLEU.

Metrics (the ``sacrebleu`` package, ``pip install 'liteformer[translation]'``):
- **sacreBLEU** on detokenized, cased output against the raw references (tokenizer 13a; the
  signature is printed with the score, so it can be compared with other papers' sacreBLEU);
- **chrF** (character n-gram F-score, sacrebleu defaults);
- **BLEU on tokenized, lowercased text** (13a tokenization, lowercase), which is how the published
  Multi30k numbers are reported (Moses-tokenized, lowercased multi-bleu); it reads higher than
  sacreBLEU on the same output.

The runtime loop (an exported encoder and decoder step driven by ``models.generation``) comes with
the export of generation models; until then this task runs in PyTorch only and is not in ``TASKS``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from liteformer.data.batching import pad_batch, teacher_forcing  # noqa: F401 (part of this task's API)
from liteformer.data.parallel import ParallelDataset, read_parallel
from liteformer.errors import LiteformerError
from liteformer.models.generation import GenerationConfig, generate, model_calls

NAME = "translation"
LABEL_SMOOTHING = 0.1


@dataclass
class BleuReport:
    bleu: float  # sacreBLEU, detokenized and cased
    chrf: float
    bleu_tok_lc: float  # 13a-tokenized, lowercased (how Multi30k results are published)
    signature: str  # sacreBLEU's, for the first number
    sentences: int
    hypotheses: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {"bleu": round(self.bleu, 2), "chrf": round(self.chrf, 2), "bleu_tok_lc": round(self.bleu_tok_lc, 2),
                "signature": self.signature, "sentences": self.sentences}

    def format(self) -> str:
        return (f"sacreBLEU {self.bleu:.2f}  chrF {self.chrf:.2f}  BLEU (tokenized, lowercased) "
                f"{self.bleu_tok_lc:.2f}  on {self.sentences} sentences\n  {self.signature}")


def score(hypotheses: list[str], references: list[str]) -> BleuReport:
    """sacreBLEU, chrF and tokenized-lowercased BLEU of ``hypotheses`` against one reference each."""
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError:
        raise LiteformerError("translation metrics need sacrebleu: pip install 'liteformer[translation]'") from None
    if len(hypotheses) != len(references):
        raise LiteformerError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu = BLEU()
    b = bleu.corpus_score(hypotheses, [references])
    c = CHRF().corpus_score(hypotheses, [references])
    lc = BLEU(lowercase=True).corpus_score(hypotheses, [references])
    return BleuReport(b.score, c.score, lc.score, str(bleu.get_signature()), len(hypotheses), list(hypotheses))


def label_smoothed_loss(logits: torch.Tensor, target: torch.Tensor, pad_id: int,
                        epsilon: float = LABEL_SMOOTHING) -> torch.Tensor:
    """Per-sentence sum of token losses: (1-ε)·NLL + ε·mean over the vocabulary of −log p, padding
    excluded. ``logits`` (B, T, V), ``target`` (B, T) → (B,); or (N, V), (N,) → () for tokens
    already taken out of their sentences."""
    per_token = F.cross_entropy(logits.flatten(0, -2).float(), target.flatten(), ignore_index=pad_id,
                                label_smoothing=epsilon, reduction="none")  # one fused softmax
    return per_token.view(target.shape).sum(-1)


def token_kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor, pad_id: int,
             temperature: float = 1.0) -> torch.Tensor:
    """Word-level distillation per sentence (B,): Σ over real target tokens of T²·KL(p ‖ q) with
    p = softmax(teacher/T), q = softmax(student/T) (Kim & Rush 2016, eq. 3 with temperature).
    Shapes as in ``label_smoothed_loss``: (B, T, V) → (B,), or (N, V) → ()."""
    T = temperature
    log_q = (student_logits.float() / T).log_softmax(-1)  # (B, T, V)
    log_p = (teacher_logits.float() / T).log_softmax(-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)  # (B, T)
    return T * T * (kl * (target != pad_id)).sum(-1)


def sequence_loss(model, src, src_mask, dec_in, dec_mask, tgt, pad_id: int,
                  epsilon: float = LABEL_SMOOTHING) -> torch.Tensor:
    """Per-sentence label-smoothed loss of a teacher-forced batch (B,); logits only at real tokens."""
    real = tgt != pad_id  # (B, T)
    per_token = F.cross_entropy(model(src, src_mask, dec_in, dec_mask, logits_at=real).float(), tgt[real],
                                label_smoothing=epsilon, reduction="none")  # (N,)
    return torch.zeros(real.shape, dtype=per_token.dtype, device=per_token.device).masked_scatter(
        real, per_token).sum(-1)


@torch.no_grad()
def translate(model, tokenizer, texts: list[str], cfg: GenerationConfig | None = None, batch_size: int = 32,
              max_length: int | None = None, progress: bool = False) -> list[str]:
    """Detokenized outputs of ``model`` for ``texts`` (batched by length; order kept)."""
    cfg = cfg or GenerationConfig(max_target=min(128, model.config.max_positions))
    if cfg.max_target > model.config.max_positions:
        raise LiteformerError(f"max_target {cfg.max_target} exceeds the model's {model.config.max_positions} "
                              "positions")
    max_length = max_length or model.config.max_positions
    enc = tokenizer.encode(texts, max_length)
    if enc.truncated:
        print(f"warning: {enc.truncated} of {len(texts)} sources were longer than {max_length} tokens and were "
              "truncated", file=sys.stderr)
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(enc.ids[i]))
    out: list[str] = [""] * len(texts)
    calls = model_calls(model, cfg.max_target)
    device = next(model.parameters()).device  # a model on a GPU generates there
    for start in tqdm(range(0, len(order), batch_size), desc="translate", unit="batch", disable=not progress,
                      file=sys.stderr):
        rows = order[start:start + batch_size]
        src, mask = pad_batch([enc.ids[i] for i in rows], tokenizer.pad_id)
        src, mask = src.to(device), mask.to(device)
        for i, ids in zip(rows, generate(*calls, src, mask, cfg, tokenizer.bos_id, tokenizer.eos_id), strict=True):
            out[i] = tokenizer.decode(ids)
    return out


def evaluate(model, tokenizer, data: str | ParallelDataset, cfg: GenerationConfig | None = None,
             batch_size: int = 32, max_length: int | None = None, progress: bool = False) -> BleuReport:
    """Translate the split's sources and score them against its targets."""
    data = read_parallel(data)
    hyps = translate(model, tokenizer, data.sources, cfg, batch_size, max_length, progress)
    return score(hyps, data.targets)
