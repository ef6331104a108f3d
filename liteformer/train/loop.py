"""The training loop that finetune, distill and recovery after pruning share: AdamW, linear
warm-up/decay, gradient clipping, dev evaluation with best-checkpoint keeping, progress bar, exact
resume, DDP under torchrun. The loss is the caller's (the task's cross-entropy by default, the
distillation loss for distill).

Data order is a pure function of (seed, epoch): every rank draws the same permutation and takes its
own slice of each global batch, so N processes compute the same update as one process (each rank's
loss is scaled to be its share of the global-batch mean).
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from liteformer.data.batching import pad_batch
from liteformer.data.tokenizer import TextTokenizer
from liteformer.errors import LiteformerError
from liteformer.fileio import atomic_path, clean_stale, replace_dir, write_json
from liteformer.models.checkpoint import save_model
from liteformer.models.transformer import TransformerForSequenceClassification
from liteformer.tasks.classification import EvalReport, cross_entropy, evaluate
from liteformer.train.config import TrainConfig
from liteformer.train.dist import DistInfo, barrier, init_from_env


@dataclass
class TrainResult:
    steps: int
    seconds: float
    best: EvalReport | None
    history: list[dict] = field(default_factory=list)  # one row per evaluation
    sparsity: float | None = None  # of the Linear weights, with gradual magnitude pruning
    averaged: dict | None = None  # checkpoint averaging: how many, its dev score, whether it was kept
    stopped: str | None = None  # why training ended before its last step (early stopping, the time cap)
    paused: bool = False  # stopped at ``until`` with steps left: resumable, not published

    def to_dict(self) -> dict:
        return {"steps": self.steps, "seconds": round(self.seconds, 2), "sparsity": self.sparsity,
                "best": self.best.to_dict() if self.best else None, "history": self.history,
                **({"averaged": self.averaged} if self.averaged else {}),
                **({"stopped": self.stopped} if self.stopped else {})}


@dataclass
class EarlyStop:
    """Early stopping on the dev score (patience, min-delta) and a wall-time cap, carried across resumes."""

    patience: int = 0
    min_delta: float = 0.0
    max_seconds: float | None = None
    best: float | None = None  # the best score that counted (a gain of at least min_delta)
    stale: int = 0  # evaluations since then
    seconds: float = 0.0  # training time of earlier runs (resume)
    reason: str | None = None  # set once training should stop

    def after_eval(self, score: float | None, step: int, elapsed: float) -> str | None:
        """Record an evaluation's score (None: no dev split); the reason to stop now, or None."""
        if self.patience and score is not None:
            if self.best is None or score >= self.best + self.min_delta:
                self.best, self.stale = score, 0
            else:
                self.stale += 1
                if self.stale >= self.patience:
                    self.reason = (f"early stop at step {step}: no dev gain of {self.min_delta:g} or more in "
                                   f"{self.patience} evaluations")
        if self.reason is None and self.max_seconds is not None and self.seconds + elapsed >= self.max_seconds:
            self.reason = f"time cap at step {step}: {(self.seconds + elapsed) / 60:.1f} minutes of training"
        return self.reason

    def state(self, elapsed: float) -> dict:
        return {"best": self.best, "stale": self.stale, "seconds": self.seconds + elapsed, "reason": self.reason}


# loss_fn(model, input_ids, attention_mask, batch_indices, labels) -> per-example loss (b,)
LossFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def inverse_sqrt_schedule(opt: torch.optim.Optimizer, warmup: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the peak, then decay ∝ 1/√step (Vaswani et al.): the peak at ``warmup``."""
    w = max(1, warmup)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min((step + 1) / w, math.sqrt(w / (step + 1))))


def linear_schedule(opt: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return torch.optim.lr_scheduler.LambdaLR(opt, f)


@dataclass
class ExampleBatches:
    """Global batches of ``batch_size`` examples: a fresh permutation of ``n`` per epoch."""

    n: int
    batch_size: int
    seed: int

    @property
    def per_epoch(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def epoch(self, e: int) -> list[torch.Tensor]:
        perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + e))
        return [perm[b * self.batch_size : (b + 1) * self.batch_size] for b in range(self.per_epoch)]


@dataclass
class Objective:
    """What the loop needs from a task.

    ``loss(net, rows)``: the summed loss of this rank's rows of a global batch (a tensor of example
    indices); ``weight(global_rows)``: what the global batch's loss is averaged over (examples for a
    classifier, target tokens for a generator); ``evaluate(model)``: a report on the dev split (None:
    no dev split, the last weights are kept); ``score(report)``: higher is better, the best is kept;
    ``save(model, folder)``; ``restore(dict)``: a report back from a checkpoint; ``metric``: the
    history's column name; ``value(report)``: what the history records (default: the score; an error
    rate, whose score is its negative, records itself)."""

    loss: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]
    weight: Callable[[torch.Tensor], float]
    evaluate: Callable[[torch.nn.Module], object] | None
    score: Callable[[object], float]
    save: Callable[[torch.nn.Module, Path], None]
    restore: Callable[[dict], object]
    metric: str = "dev_accuracy"
    value: Callable[[object], float] | None = None


def train_classifier(model: TransformerForSequenceClassification, tokenizer: TextTokenizer,
                     train_ids: list[list[int]], train_labels: list[int], dev, cfg: TrainConfig,
                     out_dir: str | Path | None, loss_fn: LossFn = cross_entropy,
                     progress: bool = True, info: DistInfo | None = None,
                     extra: torch.nn.Module | None = None, resume: bool = False,
                     until: int | None = None) -> TrainResult:
    """Train a classifier on pre-tokenized ids; evaluate on ``dev`` (a TextDataset or None) by accuracy.
    ``loss_fn`` gives per-example losses (the task's cross-entropy, or distillation's)."""
    if not train_ids:
        raise LiteformerError("the training set is empty")
    info = info or init_from_env()
    labels_t = torch.tensor(train_labels)

    def loss(net, idx):
        ids, mask = pad_batch([train_ids[i] for i in idx.tolist()], tokenizer.pad_id)
        return loss_fn(net, ids.to(info.device), mask.to(info.device), idx, labels_t[idx].to(info.device)).sum()

    def evaluate_dev(m):
        return evaluate(m, tokenizer, dev, max_length=cfg.max_length, progress=False)

    objective = Objective(loss, len, evaluate_dev if dev is not None else None, lambda r: r.accuracy,
                          lambda m, folder: save_model(m, tokenizer, folder, sparse_storage=cfg.prune_sparsity > 0),
                          lambda d: EvalReport(**d))
    return train_loop(model, ExampleBatches(len(train_ids), cfg.batch_size, cfg.seed), objective, cfg, out_dir,
                      progress, info, extra, resume, until)


def train_loop(model: torch.nn.Module, batches, objective: Objective, cfg: TrainConfig,
               out_dir: str | Path | None, progress: bool = True, info: DistInfo | None = None,
               extra: torch.nn.Module | None = None, resume: bool = False, until: int | None = None) -> TrainResult:
    """Train ``model`` on ``batches`` (``per_epoch`` and ``epoch(e)``: the global batches of epoch
    ``e`` as index tensors, a pure function of the seed and ``e``) for ``objective``; keep the best.

    ``extra``: trainable modules of the loss (e.g. distillation projections), optimized and
    checkpointed with the model. Checkpoints (``<out_dir>.ckpt/last.pt``, atomic) hold model,
    optimizer, scheduler, RNG and step; ``resume=True`` continues from one to the same final weights
    as an uninterrupted run. The best weights so far are kept in ``<out_dir>.ckpt/best``; the caller
    ``publish``es them to ``out_dir`` when the run is complete.

    ``until``: pause at this step (evaluated and checkpointed there; ``paused`` in the result) when it
    comes before the last: a later call with ``resume=True`` continues the same run (a search's
    successive halving trains its promising candidates further this way)."""
    cfg.validate()
    info = info or init_from_env()
    if cfg.batch_size < info.world:
        raise LiteformerError(f"batch_size {cfg.batch_size} is smaller than the {info.world} processes")
    torch.manual_seed(cfg.seed)
    model.to(info.device).train()
    net = DistributedDataParallel(model) if info.world > 1 else model
    params = list(model.named_parameters()) + (list(extra.named_parameters()) if extra is not None else [])
    if extra is not None:
        extra.to(info.device).train()
    decay = [p for n, p in params if p.ndim >= 2]
    no_decay = [p for n, p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    per_epoch = batches.per_epoch
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * per_epoch))
    if cfg.schedule == "inverse-sqrt":
        sched = inverse_sqrt_schedule(opt, int(cfg.warmup * total))
    else:
        sched = linear_schedule(opt, int(cfg.warmup * total), total)
    eval_every = cfg.eval_every or per_epoch
    amp = cfg.precision == "bf16" or (cfg.precision == "auto" and info.device.type == "cuda")
    best, history, step, t0, seen = None, [], 0, time.time(), 0
    early = EarlyStop(cfg.patience, cfg.min_delta, cfg.max_minutes * 60 if cfg.max_minutes else None)
    ckpt = Path(f"{out_dir}.ckpt") / "last.pt" if out_dir else None
    if ckpt is not None and info.main:
        clean_stale(ckpt.parent, "last.pt")  # a write killed mid-way
        clean_stale(ckpt.parent, "best")
    ckpt_every = cfg.checkpoint_every or eval_every
    keeper = None
    if cfg.average_last and out_dir and objective.evaluate is not None:
        from liteformer.train.average import AverageKeeper
        keeper = AverageKeeper(Path(f"{out_dir}.ckpt") / "average", cfg.average_last)
    if resume and ckpt is not None and ckpt.exists():
        step, seen, best, history, early_state = _load_checkpoint(ckpt, cfg, model, extra, opt, sched,
                                                                  objective.restore)
        for k, v in (early_state or {}).items():
            setattr(early, k, v)
    pruner = None
    if cfg.prune_sparsity:
        from liteformer.compress.prune.magnitude import GradualPruner
        pruner = GradualPruner(model, cfg.prune_sparsity, total)
    bar = tqdm(total=total, initial=step, desc="train", unit="step", disable=not (progress and info.main),
               file=sys.stderr)
    limit = min(total, until) if until else total
    while step < limit and early.reason is None:
        epoch_batches = batches.epoch(step // per_epoch)
        for b in range(step % per_epoch, per_epoch):
            if step >= limit or early.reason is not None:
                break
            global_idx = epoch_batches[b]
            idx = global_idx[info.rank :: info.world]
            with torch.autocast(info.device.type, dtype=torch.bfloat16, enabled=amp):
                summed = objective.loss(net, idx)
            # this rank's share of the global-batch mean; DDP averages over ranks, hence * world
            loss = summed.float() * info.world / objective.weight(global_idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if extra is not None and info.world > 1:  # the loss's own parameters live outside DDP
                for p in extra.parameters():
                    if p.grad is not None:
                        torch.distributed.all_reduce(p.grad)
                        p.grad /= info.world
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_([p for _, p in params], cfg.grad_clip)
            opt.step()
            sched.step()
            step += 1
            if pruner is not None:
                pruner.after_step(step)
            seen += len(global_idx)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item() / info.world:.4f}", ex_s=f"{seen / (time.time() - t0):.0f}")
            if step % eval_every == 0 or step in (total, limit):
                # while gradual pruning is still raising the sparsity, a checkpoint is not a result
                final = pruner is None or pruner.reached(step)
                best, score = _evaluate_and_keep(model, objective, staged(out_dir), info, step, best, history, final)
                if keeper is not None and final and info.main:
                    keeper.add(model, step)
                if (early.patience or early.max_seconds) and final:
                    _early_stop(early, score, step, time.time() - t0, info)
                model.train()
            stop = early.reason is not None
            if ckpt is not None and info.main and (step % ckpt_every == 0 or step in (total, limit) or stop):
                _save_checkpoint(ckpt, cfg, model, extra, opt, sched, step, seen, best, history,
                                 early.state(time.time() - t0))
    bar.close()
    if step < total and early.reason is None:  # paused at ``until``: the run goes on later
        barrier(info)
        return TrainResult(step, time.time() - t0, best, history, paused=True)
    averaged = None
    if keeper is not None and info.main:
        best, averaged = _keep_average(model, keeper, objective, staged(out_dir), best)
    barrier(info)
    sparsity = None
    if pruner is not None:
        from liteformer.models.sparse import prunable, sparsity_of
        sparsity = round(sparsity_of(prunable(model)), 4)
    if early.reason and info.main:  # the record keeps it too (training.json "stopped")
        print(f"note: {early.reason}", file=sys.stderr)
    return TrainResult(step, time.time() - t0, best, history, sparsity, averaged, early.reason)


def _early_stop(early: EarlyStop, score: float | None, step: int, elapsed: float, info: DistInfo) -> None:
    """The first process decides (it alone evaluates); every process learns whether to stop."""
    if info.main:
        early.after_eval(score, step, elapsed)
    if info.world > 1:
        flag = torch.tensor([1.0 if early.reason else 0.0], device=info.device)
        torch.distributed.broadcast(flag, 0)
        if flag.item() and early.reason is None:
            early.reason = "stopped by the first process"


def _keep_average(model, keeper, objective: Objective, staging, best):
    """Evaluate the average of the kept checkpoints; it replaces the best if it scores at least as well."""
    avg = keeper.average(model)
    if avg is None:
        return best, None
    avg.eval()
    report = objective.evaluate(avg)
    score = objective.score(report)
    kept = best is None or score >= objective.score(best)
    if kept:
        objective.save(avg, staging)
        best = report
    return best, {"checkpoints": len(keeper.files()), "score": score, "kept": kept}


def staged(out_dir: str | Path | None) -> Path | None:
    """Where a run keeps its best weights until it is complete (``OUT.ckpt/best``): the final name
    ``OUT`` appears only when ``publish`` puts the finished model there."""
    return Path(f"{out_dir}.ckpt") / "best" if out_dir else None


def publish(out_dir: str | Path, record: dict, info: DistInfo | None = None) -> None:
    """A finished run: write ``record`` as training.json into the kept model, move it to ``out_dir``
    (replacing what is there) and remove the run's checkpoint folder."""
    info = info or init_from_env()
    if info.main:
        src = staged(out_dir)
        if not (src / "config.json").is_file():
            raise LiteformerError(f"{out_dir}: the run kept no model (no evaluation happened)")
        write_json(src / "training.json", record)
        replace_dir(src, out_dir)
        shutil.rmtree(src.parent, ignore_errors=True)
    barrier(info)


def _save_checkpoint(path: Path, cfg, model, extra, opt, sched, step, seen, best, history,
                     early: dict | None = None) -> None:
    state = {"config": asdict(cfg), "step": step, "seen": seen, "history": history, "early": early,
             "best": asdict(best) if best else None, "model": model.state_dict(),
             "extra": extra.state_dict() if extra is not None else None, "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "rng": torch.get_rng_state()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_checkpoint(path: Path, cfg, model, extra, opt, sched, restore):
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise LiteformerError(f"{path}: unreadable checkpoint ({str(e).splitlines()[0]})") from None
    if not isinstance(state, dict) or not isinstance(state.get("config"), dict):
        raise LiteformerError(f"{path}: not a liteformer training checkpoint")
    now = asdict(cfg)
    saved = {**{k: v for k, v in asdict(type(cfg)()).items() if k not in state["config"]}, **state["config"]}
    if saved != now:  # (settings added since the checkpoint was written count as their defaults)
        changed = sorted(k for k in saved if saved[k] != now.get(k))
        raise LiteformerError(f"{path}: checkpoint was written with other settings ({', '.join(changed)}); "
                              "start a new output folder or use the same settings")
    try:
        model.load_state_dict(state["model"])
        if extra is not None:
            extra.load_state_dict(state["extra"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        best = restore(state["best"]) if state["best"] else None
        return state["step"], state["seen"], best, state["history"], state.get("early")
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise LiteformerError(f"{path}: checkpoint does not fit this model ({first}); start a new output "
                              "folder or remove it") from None


def _evaluate_and_keep(model, objective: Objective, staging, info, step, best, history, eligible=True):
    """Evaluate on dev, record the history row and keep the best weights; returns (best report, this
    evaluation's score or None: another process, or no dev split)."""
    if not info.main:
        return best, None
    model.eval()
    if objective.evaluate is None:  # no dev split: keep the last weights
        if staging:
            objective.save(model, staging)
        return best, None
    report = objective.evaluate(model)
    score = objective.score(report)
    history.append({"step": step, objective.metric: objective.value(report) if objective.value else score})
    if eligible and (best is None or score > objective.score(best)):
        best = report
        if staging:
            objective.save(model, staging)
    return best, score
