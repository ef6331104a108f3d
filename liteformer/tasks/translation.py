"""Translation: sentence pairs in, an encoder-decoder with a joint subword vocabulary, label-smoothed
token cross-entropy, generation (greedy or beam) and BLEU.

Metrics (the ``sacrebleu`` package, ``pip install 'liteformer[translation]'``):
- **sacreBLEU** on detokenized, cased output against the raw references (tokenizer 13a; the
  signature is printed with the score, so it can be compared with other papers' sacreBLEU);
- **chrF** (character n-gram F-score, sacrebleu defaults);
- **BLEU on tokenized, lowercased text** (13a tokenization, lowercase), which is how the published
  Multi30k numbers are reported (Moses-tokenized, lowercased multi-bleu); it reads higher than
  sacreBLEU on the same output.

The runtime loop (``run_sentence``): an exported bundle's ``encode`` graph once, then its
``decode`` graph step by step with the fixed-size cache (``runtimes.generation``), greedy, batch 1 —
what a phone app runs. Export verification (``verify``): fp32 bundles give the PyTorch model's greedy
tokens on ≥ 99 % of the sentences and logits within 1e-4 on the first steps; quantized bundles keep
BLEU within 0.5 of the PyTorch model on the same sentences (references needed).

Sources longer than the bundle's ``max_length`` (its largest source bucket) are truncated with a
warning and counted (``truncated`` in the report), as the PyTorch path does.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from liteformer.data.batching import pad_batch, teacher_forcing  # noqa: F401 (part of this task's API)
from liteformer.data.parallel import ParallelDataset, read_parallel
from liteformer.errors import LiteformerError
from liteformer.models.generation import GenerationConfig, generate, model_calls
from liteformer.models.seq2seq import output_targets

NAME = "translation"
LABEL_SMOOTHING = 0.1
FP32_TOLERANCE = 1e-4  # export check: max |logit difference| on the first steps of a float artifact
FIRST_STEPS = 4  # export check: decoder steps whose logits are compared
MIN_IDENTICAL = 0.99  # export check: share of sentences with token-identical greedy output (fp32)
MAX_BLEU_DROP = 0.5  # export check: a quantized artifact's sacreBLEU may trail its source's by this much


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
    flat = output_targets(target.flatten(), logits.shape[-1])
    per_token = F.cross_entropy(logits.flatten(0, -2).float(), flat, ignore_index=pad_id,
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
    logits = model(src, src_mask, dec_in, dec_mask, logits_at=real).float()  # (N, V)
    per_token = F.cross_entropy(logits, output_targets(tgt[real], logits.shape[-1]), label_smoothing=epsilon,
                                reduction="none")  # (N,)
    return torch.zeros(real.shape, dtype=per_token.dtype, device=per_token.device).masked_scatter(
        real, per_token).sum(-1)


def warn_truncated(cut: int, total: int, max_length: int) -> None:
    if cut:
        print(f"warning: {cut} of {total} sources were longer than {max_length} tokens and were truncated",
              file=sys.stderr)


@torch.no_grad()
def translate(model, tokenizer, texts: list[str], cfg: GenerationConfig | None = None, batch_size: int = 32,
              max_length: int | None = None, progress: bool = False, keep: str = "start") -> list[str]:
    """Detokenized outputs of ``model`` for ``texts`` (batched by length; order kept; ``keep="end"``: a
    long text keeps its last pieces, as a dialogue context does)."""
    cfg = cfg or GenerationConfig(max_target=min(128, model.config.max_positions))
    if cfg.max_target > model.config.max_positions:
        raise LiteformerError(f"max_target {cfg.max_target} exceeds the model's {model.config.max_positions} "
                              "positions")
    max_length = max_length or model.config.max_positions
    enc = tokenizer.encode(texts, max_length, keep=keep)
    warn_truncated(enc.truncated, len(texts), max_length)
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


# ---------------------------------------------------------------------------------------------------
# the runtime loop: a bundle's encode/decode graphs driven by models.generation


@dataclass
class Output:
    """One sentence through the runtime loop."""

    ids: list[int]  # generated pieces (``</s>`` included when produced)
    first_token_ms: float  # from the call to the first output token (encode + one step)


def runtime_config(runner, beam: int = 1) -> GenerationConfig:
    """The bundle's generation settings (its sidecar's length limit, its cache size)."""
    gen = getattr(runner, "generation", {}) or {}
    return GenerationConfig(beam=beam, max_len_a=float(gen.get("max_len_a", 1.5)),
                            max_len_b=int(gen.get("max_len_b", 10)), max_target=int(runner.max_target))


def run_sentence(runner, ids: list[int], cfg: GenerationConfig | None = None) -> Output:
    """One source (piece ids) through ``runner``'s graphs at batch 1: encode, decode to ``</s>`` or the
    length limit. Times the first token."""
    from liteformer.runtimes.generation import runner_calls
    cfg = cfg or runtime_config(runner)
    encode, step = runner_calls(runner)
    t0 = time.perf_counter()
    first: list[float] = []

    def timed_step(token, position, state):
        out = step(token, position, state)
        if not first:
            first.append((time.perf_counter() - t0) * 1000)
        return out

    x = torch.tensor([ids], dtype=torch.long)
    out = generate(encode, timed_step, x, torch.ones_like(x), cfg, runner.tokenizer.bos_id, runner.tokenizer.eos_id)
    return Output(out[0], first[0] if first else 0.0)


def encode_pairs(runner, data: str | ParallelDataset, max_length: int | None = None, longest: int = 0,
                 what: str = "model"):
    """(reference translations, encoded sources) of a parallel split for ``runner``: sources cut to
    ``max_length`` (default: the bundle's) with a warning naming how many were cut."""
    data = read_parallel(data)
    limit = int(getattr(runner, "meta", {}).get("max_length") or runner.describe()["config"]["max_positions"])
    max_length = max_length or limit
    if max(max_length, longest) > limit:
        raise LiteformerError(f"length {max(max_length, longest)} exceeds the {what}'s {limit} source tokens")
    enc = runner.tokenizer.encode(data.sources, max_length)
    warn_truncated(enc.truncated, len(data), max_length)
    return data.targets, enc


def report_outputs(outputs: list, references: list[str], runner, truncated: int = 0) -> BleuReport:
    """The BLEU report of runtime outputs (``Output`` or id lists) against the references."""
    hyps = [runner.tokenizer.decode(o.ids if isinstance(o, Output) else o) for o in outputs]
    return score(hyps, references)


def evaluate_bundle(path, data: str | ParallelDataset, max_length: int | None = None, threads: int = 2,
                    progress: bool = True, encode=None, config=None, report=None, desc: str = "translate"):
    """The report of an exported generation bundle, run in its own runtime one input at a time (greedy),
    as the phone runs it. A task built on this stack passes its ``encode(runner, data, max_length,
    what=)``, ``config(runner)`` (its generation settings) and ``report`` (default: translation's)."""
    from pathlib import Path

    from liteformer import runtimes
    path = Path(path)
    runner = runtimes.load(runtimes.detect(path), path, None, threads)
    refs, enc = (encode or encode_pairs)(runner, data, max_length, what="bundle")
    cfg = config(runner) if config else None
    outs = [run_sentence(runner, ids, cfg) for ids in tqdm(enc.ids, desc=desc, unit="input",
                                                            disable=not progress, file=sys.stderr, leave=False)]
    return (report or report_outputs)(outs, refs, runner, enc.truncated)


def _first_steps(runner, model, ids: list[int], reference: list[int], L: int) -> float:
    """Max |Δlogit| over the first ``FIRST_STEPS`` decoder steps, both fed the same tokens."""
    from liteformer.runtimes.generation import runner_calls
    encode, step = runner_calls(runner)
    x = torch.tensor([ids])
    sa, sm = encode(x, torch.ones_like(x)), model.encode(x, torch.ones_like(x), L)
    tokens = [runner.tokenizer.bos_id, *reference][:FIRST_STEPS]
    worst = 0.0
    for t, tok in enumerate(tokens):
        tk, pos = torch.tensor([[tok]]), torch.tensor([t])
        la, sa = step(tk, pos, sa)
        lm, sm = model.decode_step(tk, pos, sm)
        worst = max(worst, float((la.double() - lm.double()).abs().max()))
    return worst


@torch.no_grad()
def verify(runner, model, tokenizer, texts, max_length: int, quantized: bool = False, quality=None,
           cfg: GenerationConfig | None = None, keep: str = "start") -> dict:
    """An exported generation bundle against its PyTorch source on real sentences (``texts``: source
    strings, or a ``ParallelDataset`` whose targets serve as references), through the runtime loop.
    ``quality``: (name, hypotheses × dataset → score, allowed drop) of a quantized bundle (default
    sacreBLEU within 0.5); ``cfg``: the generation settings (default the bundle's); ``keep``: which end of
    a long source stays (``"end"``: a dialogue context's most recent turns). Raises
    LiteformerError naming the first diverging sentence; returns what it measured."""
    refs, data = None, texts
    if isinstance(texts, ParallelDataset):
        texts, refs = texts.sources, texts.targets
    name, measure, max_drop = quality or ("bleu", lambda hyps, d: score(hyps, d.targets).bleu, MAX_BLEU_DROP)
    if not texts:
        raise LiteformerError("verify: no inputs")
    if quantized and refs is None:
        what = "reference translations" if name == "bleu" else "references"
        raise LiteformerError(f"verify: a quantized generation export is checked by {name}, which needs {what} "
                              "(paired verification data)")
    model.eval()
    cfg = cfg or runtime_config(runner)
    enc = tokenizer.encode(texts, max_length, keep=keep)
    calls = model_calls(model, cfg.max_target)
    same, worst, first_bad = 0, 0.0, None
    got, want = [], []
    for i, ids in enumerate(enc.ids):
        x = torch.tensor([ids])
        ref = generate(*calls, x, torch.ones_like(x), cfg, tokenizer.bos_id, tokenizer.eos_id)[0]
        out = run_sentence(runner, ids, cfg).ids
        got.append(out)
        want.append(ref)
        if out == ref:
            same += 1
        elif first_bad is None:
            first_bad = i
        if not quantized:
            worst = max(worst, _first_steps(runner, model, ids, ref, cfg.max_target))
    n = len(enc.ids)
    result = {"inputs": n, "identical_outputs": same / n, "max_abs_diff_first_steps": worst, "quantized": quantized}
    where = f"sentence {first_bad} ({texts[first_bad][:40]!r})" if first_bad is not None else ""
    if refs is not None:
        art = measure([tokenizer.decode(o) for o in got], data)
        src = measure([tokenizer.decode(o) for o in want], data)
        result.update({name: round(art, 2), f"{name}_source": round(src, 2)})
        if quantized and art < src - max_drop:
            label = "sacreBLEU" if name == "bleu" else name
            raise LiteformerError(f"verify failed: {label} {art:.2f} vs the source's {src:.2f} on {n} "
                                  f"inputs (a drop over {max_drop})")
    if not quantized and worst > FP32_TOLERANCE:
        raise LiteformerError(f"verify failed: decoder logits differ from the source by {worst:.2e} "
                              f"(> {FP32_TOLERANCE:g}) on the first {FIRST_STEPS} steps")
    if not quantized and same / n < MIN_IDENTICAL:
        raise LiteformerError(f"verify failed: greedy outputs identical on {same}/{n} sentences "
                              f"(< {MIN_IDENTICAL:.0%}); first difference at {where}")
    return result


class Translation:
    """The Task interface of ``liteformer.tasks`` for translation."""

    name = NAME
    metric = "bleu"
    fixed_timing = False  # the bench times whole sentences (encode + decode), not a padded length

    def read(self, path: str, text_column: str | None = None, label_column: str | None = None) -> ParallelDataset:
        return read_parallel(path, text_column or "source", label_column if label_column not in (None, "label")
                             else "target")

    def new_head(self, model, labels) -> None:
        raise LiteformerError("translation has no label head (the output projection is the tied embedding)")

    loss = None  # training goes through train/translate.py (token batches, label smoothing)
    encode = staticmethod(encode_pairs)
    verify = staticmethod(verify)
    report = staticmethod(report_outputs)

    def evaluate(self, model, tokenizer, data, batch_size: int = 32, max_length: int | None = None,
                 progress: bool = True) -> BleuReport:
        return evaluate(model, tokenizer, data, None, batch_size, max_length, progress)

    def predict(self, runner, example: list[int], length: int | None = None) -> Output:
        """The runtime loop: one source's pieces through the bundle (greedy, batch 1)."""
        return run_sentence(runner, example)


TASK = Translation()
