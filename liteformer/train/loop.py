"""The training loop shared by finetune (and later distill): AdamW, linear warm-up/decay, gradient
clipping, dev evaluation with best-checkpoint keeping, progress bar, DDP under torchrun.

Data order is a pure function of (seed, epoch): every rank draws the same permutation and takes its
own slice of each global batch, so N processes compute the same update as one process (each rank's
loss is scaled to be its share of the global-batch mean).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from liteformer.data.batching import pad_batch
from liteformer.data.tokenizer import TextTokenizer
from liteformer.errors import LiteformerError
from liteformer.evaluate import EvalReport, evaluate
from liteformer.models.checkpoint import save_model
from liteformer.models.transformer import TransformerForSequenceClassification
from liteformer.train.dist import DistInfo, barrier, init_from_env


@dataclass
class TrainConfig:
    epochs: float = 3.0
    max_steps: int | None = None  # overrides epochs when set
    lr: float = 5e-5
    batch_size: int = 32  # global batch (split across DDP ranks)
    weight_decay: float = 0.01
    warmup: float = 0.06  # fraction of steps
    max_length: int | None = None  # None: min(128, the model's positions)
    grad_clip: float = 1.0
    seed: int = 0
    eval_every: int | None = None  # steps between dev evaluations; None: once an epoch

    def validate(self) -> None:
        checks = [
            (self.epochs > 0, f"epochs must be > 0, got {self.epochs}"),
            (self.max_steps is None or self.max_steps > 0, f"max_steps must be > 0, got {self.max_steps}"),
            (0 < self.lr < 1, f"lr must be in (0, 1), got {self.lr}"),
            (self.batch_size > 0, f"batch_size must be > 0, got {self.batch_size}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0 <= self.warmup < 1, f"warmup must be in [0, 1), got {self.warmup}"),
            (self.max_length is None or self.max_length >= 2, f"max_length must be >= 2, got {self.max_length}"),
            (self.grad_clip >= 0, f"grad_clip must be >= 0, got {self.grad_clip}"),
            (self.eval_every is None or self.eval_every > 0, f"eval_every must be > 0, got {self.eval_every}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise LiteformerError(msg)


@dataclass
class TrainResult:
    steps: int
    seconds: float
    best: EvalReport | None
    history: list[dict] = field(default_factory=list)  # one row per evaluation

    def to_dict(self) -> dict:
        return {"steps": self.steps, "seconds": round(self.seconds, 2),
                "best": self.best.to_dict() if self.best else None, "history": self.history}


# loss_fn(model, input_ids, attention_mask, batch_indices, labels) -> per-example loss (b,)
LossFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(model, ids, mask, idx, labels) -> torch.Tensor:
    return F.cross_entropy(model(ids, mask), labels, reduction="none")


def linear_schedule(opt: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return torch.optim.lr_scheduler.LambdaLR(opt, f)


def train_classifier(model: TransformerForSequenceClassification, tokenizer: TextTokenizer,
                     train_ids: list[list[int]], train_labels: list[int], dev, cfg: TrainConfig,
                     out_dir: str | Path | None, loss_fn: LossFn = cross_entropy,
                     progress: bool = True, info: DistInfo | None = None) -> TrainResult:
    """Train on pre-tokenized ids; evaluate on ``dev`` (a TextDataset or None); keep the best."""
    cfg.validate()
    if not train_ids:
        raise LiteformerError("the training set is empty")
    info = info or init_from_env()
    if cfg.batch_size < info.world:
        raise LiteformerError(f"batch_size {cfg.batch_size} is smaller than the {info.world} processes")
    torch.manual_seed(cfg.seed)
    model.to(info.device).train()
    net = DistributedDataParallel(model) if info.world > 1 else model
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    n = len(train_ids)
    per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * per_epoch))
    sched = linear_schedule(opt, int(cfg.warmup * total), total)
    eval_every = cfg.eval_every or per_epoch
    labels_t = torch.tensor(train_labels)
    amp = info.device.type == "cuda"
    best, history, step, t0, seen = None, [], 0, time.time(), 0
    bar = tqdm(total=total, desc="train", unit="step", disable=not (progress and info.main), file=sys.stderr)
    while step < total:
        epoch = step // per_epoch
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed + epoch))
        for b in range(step % per_epoch, per_epoch):
            if step >= total:
                break
            global_idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            idx = global_idx[info.rank :: info.world]
            ids, mask = pad_batch([train_ids[i] for i in idx.tolist()], tokenizer.pad_id)
            ids, mask = ids.to(info.device), mask.to(info.device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                per_ex = loss_fn(net, ids, mask, idx, labels_t[idx].to(info.device))
            # this rank's share of the global-batch mean; DDP averages over ranks, hence * world
            loss = per_ex.float().sum() * info.world / len(global_idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            step += 1
            seen += len(global_idx)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item() / info.world:.4f}", ex_s=f"{seen / (time.time() - t0):.0f}")
            if step % eval_every == 0 or step == total:
                best = _evaluate_and_keep(model, tokenizer, dev, cfg, out_dir, info, step, best, history)
                model.train()
    bar.close()
    barrier(info)
    return TrainResult(step, time.time() - t0, best, history)


def _evaluate_and_keep(model, tokenizer, dev, cfg, out_dir, info, step, best, history):
    if not info.main:
        return best
    model.eval()
    if dev is None:  # no dev split: keep the last weights
        if out_dir:
            save_model(model, tokenizer, out_dir)
        return best
    report = evaluate(model, tokenizer, dev, max_length=cfg.max_length, progress=False)
    history.append({"step": step, "dev_accuracy": report.accuracy})
    if best is None or report.accuracy > best.accuracy:
        best = report
        if out_dir:
            save_model(model, tokenizer, out_dir)
    return best

