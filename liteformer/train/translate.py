"""Training a translation model from scratch: a joint subword vocabulary learned on the training
pairs, an encoder-decoder from a JSON config, token-based batches, label-smoothed cross-entropy
averaged over the batch's target tokens, and the best checkpoint by dev sacreBLEU (greedy, on up to
``dev_sentences`` pairs). The shared loop (``train/loop.py``) brings AdamW, the schedule (use
``schedule="inverse-sqrt"``), gradient clipping, exact resume, DDP under torchrun and bf16 on CUDA.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from liteformer.data.batching import TokenBatches
from liteformer.data.parallel import ParallelDataset, read_parallel
from liteformer.data.subword import SubwordTokenizer, load_subword, train_subword
from liteformer.errors import LiteformerError
from liteformer.fileio import read_json_object, write_text
from liteformer.models.checkpoint import save_model
from liteformer.models.generation import GenerationConfig
from liteformer.models.seq2seq import TransformerForSeq2SeqLM
from liteformer.models.transformer import TransformerConfig
from liteformer.tasks.translation import (
    BleuReport,
    evaluate,
    label_smoothed_loss,
    sequence_loss,
    teacher_forcing,
    token_kd,
    translate,
)
from liteformer.train.config import TrainConfig, TranslationConfig
from liteformer.train.dist import barrier, init_from_env
from liteformer.train.loop import Objective, TrainResult, publish, train_loop

# an encoder-decoder's config beyond the user's JSON: no token types, no pooler, pre-LN; learned positions
# (on 3,000 Multi30k pairs, 600 steps: dev sacreBLEU 13.1 learned, 9.4 sinusoidal scaled by √E, 1.4 unscaled)
SEQ2SEQ_DEFAULTS = {"type_vocab_size": 0, "pooler": "none", "num_labels": 1, "positions": "learned",
                    "norm_first": True, "activation": "relu"}


# per task: (the history's column, how it is printed, the dev report's field); lower is better for perplexity
DEV_METRICS = {"summarization": ("dev_rougeL", "ROUGE-L", "rougeL"), "dialogue": ("dev_perplexity", "perplexity",
                                                                                  "perplexity")}
DEV_BLEU = ("dev_bleu", "sacreBLEU", "bleu")


def dev_metric(task: str) -> tuple[str, str, str]:
    """(column, printed name, report field) of an encoder-decoder task's dev metric."""
    return DEV_METRICS.get(task, DEV_BLEU)


def best_dev(task: str, result) -> dict:
    """``{column: the best dev value}`` of a finished training (None without a dev split)."""
    column, _, field = dev_metric(task)
    return {column: getattr(result.best, field) if result.best else None}


@dataclass
class Prepared:
    model: TransformerForSeq2SeqLM
    tokenizer: SubwordTokenizer
    train: ParallelDataset
    dev: ParallelDataset | None


def read_pairs(spec, task: str = "translation") -> ParallelDataset:
    """A split of an encoder-decoder task: sentence pairs (``denoise:FILE[,copies=N]``: denoising
    pre-training pairs of a text file's lines), dialogue → summary pairs (every reference), or context →
    next turn pairs."""
    if isinstance(spec, str) and spec.startswith("denoise:") and not Path(spec).exists():
        from liteformer.data.denoise import read_denoising
        return read_denoising(spec)
    if task == "summarization":
        from liteformer.data.dialogsum import read_summaries
        return read_summaries(spec)
    if task == "dialogue":
        from liteformer.data.dialogsum import read_turns
        return read_turns(spec)
    return read_parallel(spec)


def prepare(train: str | ParallelDataset, model_config: str, vocab_size: int | None = 8000,
            tokenizer: str | None = None, dev: str | ParallelDataset | None = None, seed: int = 0,
            subword: str = "bpe", task: str = "translation") -> Prepared:
    """Read the pairs, learn (or load) the joint vocabulary, build the model from ``model_config``
    (a JSON file of TransformerConfig fields; ``num_decoder_layers`` > 0) for ``task`` (translation or
    summarization: the task is saved with the model)."""
    torch.manual_seed(seed)
    train_ds = read_pairs(train, task)
    dev_ds = read_pairs(dev, task) if dev else None
    if tokenizer:
        tok = load_subword(tokenizer)
    else:
        tok = train_subword(train_ds.sources + train_ds.targets, vocab_size or 8000, subword)
    fields = read_json_object(model_config, "a JSON object of TransformerConfig fields")
    fields = {**SEQ2SEQ_DEFAULTS, **fields, "vocab_size": tok.vocab_size, "pad_token_id": tok.pad_id,
              "task": "" if task == "translation" else task}
    if not fields.get("num_decoder_layers"):
        raise LiteformerError(f"{model_config}: a translation model needs num_decoder_layers > 0")
    try:
        cfg = TransformerConfig.from_dict(fields)
    except (ValueError, TypeError) as e:
        raise LiteformerError(f"{model_config}: {e}") from None
    return Prepared(TransformerForSeq2SeqLM(cfg), tok, train_ds, dev_ds)


def from_base(base: str, train, dev=None, task: str = "translation") -> Prepared:
    """Start from a trained encoder-decoder (its weights and vocabulary; e.g. denoising pre-training),
    now for ``task``."""
    from liteformer.models.checkpoint import load_model
    loaded = load_model(base)
    if not loaded.is_generator:
        raise LiteformerError(f"{base}: not an encoder-decoder (no decoder layers); --base of --task {task} needs one")
    loaded.model.config.task = "" if task == "translation" else task
    return Prepared(loaded.model, loaded.tokenizer, read_pairs(train, task), read_pairs(dev, task) if dev else None)


def train_translation(prep: Prepared, out: str | Path, cfg: TrainConfig, tcfg: TranslationConfig | None = None,
                      progress: bool = True, resume: bool = False, teacher: TransformerForSeq2SeqLM | None = None,
                      alpha: float = 0.5, temperature: float = 1.0, record: dict | None = None) -> TrainResult:
    """Train ``prep.model`` on its pairs; keep the best by dev sacreBLEU (the last without a dev split).
    With ``teacher`` (same vocabulary): word-level distillation, per target token
    α·(label-smoothed CE) + (1−α)·T²·KL(teacher ‖ student)."""
    tcfg = tcfg or TranslationConfig()
    tcfg.validate()
    cfg.validate()
    info = init_from_env()
    max_length = cfg.max_length or prep.model.config.max_positions
    task = prep.model.config.task or "translation"
    src = prep.tokenizer.encode(prep.train.sources, max_length, keep="end" if task == "dialogue" else "start")
    tgt = prep.tokenizer.encode(prep.train.targets, max_length)
    if (src.truncated or tgt.truncated) and info.main:
        print(f"warning: {src.truncated} sources and {tgt.truncated} targets were longer than {max_length} tokens "
              "and were truncated", file=sys.stderr)
    lengths = [max(len(a), len(b)) for a, b in zip(src.ids, tgt.ids, strict=True)]
    try:
        batches = TokenBatches(lengths, tcfg.max_tokens, cfg.seed, min_rows=info.world)
    except ValueError as e:
        raise LiteformerError(str(e)) from None
    pad, bos = prep.tokenizer.pad_id, prep.tokenizer.bos_id

    if teacher is not None:
        teacher.to(info.device).eval()

    def loss(net, idx):
        rows = idx.tolist()
        batch = [t.to(info.device) for t in teacher_forcing([src.ids[i] for i in rows], [tgt.ids[i] for i in rows],
                                                             pad, bos)]
        if teacher is None:
            return sequence_loss(net, *batch, pad_id=pad, epsilon=tcfg.label_smoothing).sum()
        real = batch[4] != pad  # (B, T): logits only for the real target tokens
        logits = net(*batch[:4], logits_at=real)  # (N, V)
        with torch.no_grad():
            t_logits = teacher(*batch[:4], logits_at=real)
        gold = batch[4][real]  # (N,)
        hard = label_smoothed_loss(logits, gold, pad, tcfg.label_smoothing)
        return alpha * hard + (1 - alpha) * token_kd(logits, t_logits, gold, pad, temperature)

    def weight(global_idx):  # the global batch's target tokens (</s> included)
        return float(sum(len(tgt.ids[i]) for i in global_idx.tolist()))

    dev = None
    if prep.dev is not None:
        dev = copy.copy(prep.dev)  # the first dev_sentences (a summary split keeps its reference lists)
        for name in ("sources", "targets", "references"):
            if hasattr(dev, name):
                setattr(dev, name, getattr(dev, name)[: tcfg.dev_sentences])
    L = min(128, prep.model.config.max_positions)
    if task == "summarization":  # best by dev ROUGE-L (greedy, summary lengths)
        from liteformer.tasks import summarization as summ
        gen, evaluate_dev, pick, rebuild = (summ.generation_config(L, beam=1), summ.evaluate, lambda r: r.rougeL,
                                            lambda d: summ.RougeReport(**d))
    elif task == "dialogue":  # best by the dev references' perplexity (lower is better)
        from liteformer.tasks import dialogue as dlg
        gen, evaluate_dev, rebuild = dlg.generation_config(L), dlg.evaluate, lambda d: dlg.DialogueReport(**d)

        def pick(r):
            return -(r.perplexity if r.perplexity is not None else float("inf"))
    else:
        gen, evaluate_dev, pick, rebuild = GenerationConfig(beam=1, max_target=L), evaluate, lambda r: r.bleu, (
            lambda d: BleuReport(**d))
    objective = Objective(
        loss, weight, (lambda m: evaluate_dev(m, prep.tokenizer, dev, gen, max_length=max_length)) if dev else None,
        pick, lambda m, folder: save_model(m, prep.tokenizer, folder), rebuild,
        metric=dev_metric(task)[0],
        value=(lambda r: r.perplexity) if task == "dialogue" else None)
    result = train_loop(prep.model, batches, objective, cfg, out, progress, info, resume=resume)
    publish(out, {"task": task, "config": cfg.__dict__, "translation": tcfg.__dict__, **(record or {}),
                  **result.to_dict(),
                  "train": prep.train.path, "pairs": len(prep.train), "batches_per_epoch": batches.per_epoch,
                  "truncated": {"sources": src.truncated, "targets": tgt.truncated}}, info)
    return result


def teacher_targets(teacher, tokenizer, sources: list[str], cache: str | Path, cfg: GenerationConfig | None = None,
                    progress: bool = False, batch_size: int | None = None, chunk: int = 2048) -> list[str]:
    """Sequence-level distillation's targets (Kim & Rush 2016): the teacher's beam outputs for the
    training sources, generated once and kept in ``cache`` (one a line; reused while it has one line
    per source). On a machine with a GPU the teacher generates there (batches of 256 sentences; 32 on
    the CPU). Generation goes ``chunk`` sources at a time into CACHE.partial, so a stopped run (Ctrl-C,
    a training slice's end) continues where it was: beam search over 29,000 sources is ~1 h on 2 cores."""
    cache = Path(cache)
    cached = _cached_lines(cache, len(sources))
    if cached is not None:
        return cached
    info = init_from_env()  # under torchrun the first process generates, the others wait and read
    if info.main:
        cfg = cfg or kd_generation(teacher)
        was = next(teacher.parameters()).device
        teacher.to(info.device)
        bs = batch_size or (256 if info.device.type == "cuda" else 32)
        keep = "end" if teacher.config.task == "dialogue" else "start"
        try:
            outputs = _chunked(cache, sources, _fingerprint(teacher, sources, cfg), chunk, progress,
                               lambda texts: translate(teacher, tokenizer, texts, cfg, batch_size=bs, keep=keep))
        finally:
            teacher.to(was)
        write_text(cache, "".join(o + "\n" for o in outputs))
        Path(f"{cache}.partial").unlink(missing_ok=True)
    barrier(info)
    lines = _cached_lines(cache, len(sources))
    if lines is None:
        raise LiteformerError(f"{cache}: the teacher's outputs were not written")
    return lines


def _fingerprint(teacher, sources: list[str], cfg: GenerationConfig) -> str:
    """What the partial outputs were generated from: the sources, the search, the teacher's weights (a sample)."""
    import hashlib
    h = hashlib.sha256(repr(cfg).encode())
    for s in sources:
        h.update(s.encode("utf-8") + b"\n")
    for name, t in teacher.state_dict().items():
        h.update(name.encode() + t.detach().flatten()[:64].float().cpu().numpy().tobytes())
    return h.hexdigest()[:32]


def _chunked(cache: Path, sources: list[str], key: str, chunk: int, progress: bool, run) -> list[str]:
    """``run`` over ``sources`` ``chunk`` at a time, each chunk's lines appended to CACHE.partial (its first
    line names ``key``); the complete lines of an earlier partial file with the same key are kept."""
    from tqdm import tqdm
    partial = Path(f"{cache}.partial")
    head = f"# liteformer teacher outputs {key}\n"
    done: list[str] = []
    if partial.is_file():
        text = partial.read_text(encoding="utf-8")
        if text.startswith(head):
            done = text[len(head):].split("\n")[:-1][:len(sources)]  # a line cut by a kill has no newline: dropped
    partial.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "w", encoding="utf-8") as f:  # rewritten without any cut line, then appended to
        f.write(head + "".join(d + "\n" for d in done))
        f.flush()
        bar = tqdm(total=len(sources), initial=len(done), desc="teacher outputs", unit="sentence",
                   disable=not progress, file=sys.stderr)
        for start in range(len(done), len(sources), chunk):
            outs = [o.replace("\n", " ") if o.strip() else "." for o in run(sources[start:start + chunk])]
            f.write("".join(o + "\n" for o in outs))  # an empty output still needs a target line
            f.flush()
            done += outs
            bar.update(len(outs))
        bar.close()
    return done


def kd_generation(teacher) -> GenerationConfig:
    """The teacher's search for sequence-level KD: beam 5 (translation), or its task's own settings
    with beam 4 (summaries: 5-100 tokens; dialogue turns: up to 40)."""
    L = min(128, teacher.config.max_positions)
    if teacher.config.task in ("summarization", "dialogue"):
        import importlib
        return importlib.import_module(f"liteformer.tasks.{teacher.config.task}").generation_config(L, beam=4)
    return GenerationConfig(beam=5, max_target=L)


def _cached_lines(cache: Path, n: int) -> list[str] | None:
    if cache.is_file():
        lines = cache.read_text(encoding="utf-8").split("\n")[:-1]
        if len(lines) == n:
            return lines
    return None
