"""Metrics of generated text beyond BLEU: ROUGE for summaries, and for dialogue responses BLEU-2,
ROUGE-L, distinct-n and perplexity (``pip install 'liteformer[summarization]'`` for ROUGE and BLEU).

- **ROUGE-1/2/L** (the ``rouge-score`` package, Porter stemming on, F-measure × 100): against the first
  reference (how DialogSum's baselines are reported) and averaged over all references (each example's
  mean over its references, then the mean over examples), both reported.
- **BLEU-2**: sacreBLEU's corpus BLEU with n-grams up to 2 (13a tokenization, cased).
- **distinct-1/2** (Li et al. 2016): distinct n-grams / all n-grams over every generated response
  (lowercased whitespace tokens) — how little the responses repeat themselves.
- **perplexity**: exp(mean negative log-likelihood per reference token) under teacher forcing.
"""

from __future__ import annotations

import math

from liteformer.errors import LiteformerError

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def _scorer():
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        raise LiteformerError("ROUGE needs rouge-score: pip install 'liteformer[summarization]'") from None
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge(hypotheses: list[str], references: list[list[str]]) -> dict[str, float]:
    """``{rouge1, rouge2, rougeL}`` against the first reference and ``{…}_avg`` over all references
    (F-measure × 100), for one hypothesis and its references (≥ 1) per example."""
    if len(hypotheses) != len(references):
        raise LiteformerError(f"{len(hypotheses)} hypotheses for {len(references)} reference lists")
    if any(not refs for refs in references):
        raise LiteformerError("every hypothesis needs at least one reference")
    if not hypotheses:
        return {k: 0.0 for t in ROUGE_TYPES for k in (t, f"{t}_avg")}
    scorer = _scorer()
    first = {t: 0.0 for t in ROUGE_TYPES}
    avg = {t: 0.0 for t in ROUGE_TYPES}
    for hyp, refs in zip(hypotheses, references, strict=True):
        scores = [scorer.score(ref, hyp) for ref in refs]
        for t in ROUGE_TYPES:
            first[t] += scores[0][t].fmeasure
            avg[t] += sum(s[t].fmeasure for s in scores) / len(scores)
    n = len(hypotheses)
    return {**{t: 100 * v / n for t, v in first.items()}, **{f"{t}_avg": 100 * v / n for t, v in avg.items()}}


def bleu2(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU with unigrams and bigrams (sacreBLEU, 13a, cased), × 100."""
    try:
        from sacrebleu.metrics import BLEU
    except ImportError:
        raise LiteformerError("BLEU needs sacrebleu: pip install 'liteformer[summarization]'") from None
    if len(hypotheses) != len(references):
        raise LiteformerError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    return BLEU(max_ngram_order=2, effective_order=True).corpus_score(hypotheses, [references]).score


def distinct(hypotheses: list[str], n: int) -> float:
    """Distinct n-grams / all n-grams over ``hypotheses`` (lowercased whitespace tokens); 0 when none."""
    total, seen = 0, set()
    for h in hypotheses:
        words = h.lower().split()
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def perplexity(nll_sum: float, tokens: int) -> float:
    """exp(summed negative log-likelihood / tokens); inf for no tokens."""
    return math.exp(nll_sum / tokens) if tokens else math.inf
