"""The teacher's outputs for every training example, computed in one pass before training.

Logits always (a few bytes per example). The inner tensors that hidden-state and attention losses
need — the mapped layers' hidden states (T × H each) and head-averaged attention maps (T × T) — are
cached too when they fit in ``max_bytes`` (stored as fp16, one flat tensor per layer with per-example
offsets), so a distillation step runs only the student, as a plain training step does. When they do
not fit, the loss runs the teacher alongside the student instead (same result, slower).

With a ``store`` folder the outputs are written there once, as files named by a hash of the teacher's
weights, the token ids and the layers asked for, and memory-mapped: another run on the same teacher
and data (the next distillation in a recipe, a resumed run) reads them instead of running the
teacher, and the ranks of a DDP run share one copy in the page cache instead of one each in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from liteformer.data.batching import length_sorted_batches, pad_batch
from liteformer.errors import LiteformerError

FORMAT = 1  # bump when the files' layout changes


@dataclass
class InnerCache:
    lengths: torch.Tensor  # (N,) tokens per example
    h_offsets: torch.Tensor  # (N,) start row of each example in the hidden tables
    a_offsets: torch.Tensor  # (N,) start of each example's flattened T×T map in the attention tables
    hidden: dict[int, torch.Tensor]  # teacher hidden-state index (0 = embeddings) -> (ΣT, H) fp16
    attention: dict[int, torch.Tensor]  # teacher layer -> (ΣT²,) fp16

    def hidden_batch(self, j: int, idx: torch.Tensor, T: int) -> torch.Tensor:
        """(B, T, H) float: each example's rows, zero-padded to the batch length T."""
        table = self.hidden[j]
        out = torch.zeros(len(idx), T, table.shape[1])
        for b, i in enumerate(idx.tolist()):
            n, o = int(self.lengths[i]), int(self.h_offsets[i])
            out[b, :n] = table[o:o + n].float()
        return out

    def attention_batch(self, j: int, idx: torch.Tensor, T: int) -> torch.Tensor:
        """(B, T, T) float head-averaged attention, zero-padded (padded rows carry no loss)."""
        table = self.attention[j]
        out = torch.zeros(len(idx), T, T)
        for b, i in enumerate(idx.tolist()):
            n, o = int(self.lengths[i]), int(self.a_offsets[i])
            out[b, :n, :n] = table[o:o + n * n].view(n, n).float()
        return out


def inner_bytes(lengths: list[int], hidden_size: int, n_hidden: int, n_attention: int) -> int:
    tokens = sum(lengths)
    return 2 * (tokens * hidden_size * n_hidden + sum(t * t for t in lengths) * n_attention)


def teacher_outputs(teacher: nn.Module, ids: list[list[int]], pad_id: int, hidden: list[int] = (),
                    attention: list[int] = (), max_bytes: int = 0, batch_size: int = 128,
                    progress: bool = True, store: str | Path | None = None) -> tuple[torch.Tensor, InnerCache | None]:
    """(logits (N, labels), the inner cache or None when nothing inner is asked or it would not fit)."""
    lengths = [len(x) for x in ids]
    keep = bool(hidden or attention) and inner_bytes(lengths, teacher.config.hidden_size, len(hidden),
                                                     len(attention)) <= max_bytes
    hidden, attention = (list(hidden), list(attention)) if keep else ([], [])
    if store is None:
        return _compute(teacher, ids, pad_id, hidden, attention, batch_size, progress,
                        lambda name, shape, dtype: torch.empty(shape, dtype=dtype))
    folder = Path(store) / _key(teacher, ids, pad_id, hidden, attention)
    if not (folder / "meta.json").exists():
        _write(folder, teacher, ids, pad_id, hidden, attention, batch_size, progress)
    return _load(folder)


def _key(teacher: nn.Module, ids: list[list[int]], pad_id: int, hidden: list[int], attention: list[int]) -> str:
    h = hashlib.sha256(json.dumps([FORMAT, pad_id, hidden, attention]).encode())
    for name, t in teacher.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    h.update(np.asarray([len(x) for x in ids], dtype=np.int64).tobytes())
    h.update(np.asarray([t for x in ids for t in x], dtype=np.int64).tobytes())
    return h.hexdigest()[:24]


def _write(folder: Path, teacher, ids, pad_id, hidden, attention, batch_size, progress) -> None:
    """Compute into memory-mapped files in a temporary folder, then rename it into place."""
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        maps: list[np.memmap] = []

        def alloc(name: str, shape: tuple, dtype: torch.dtype) -> torch.Tensor:
            m = np.memmap(tmp / f"{name}.bin", dtype=_NP[dtype], mode="w+", shape=shape)
            maps.append(m)
            return torch.from_numpy(m)

        logits, cache = _compute(teacher, ids, pad_id, hidden, attention, batch_size, progress, alloc)
        for m in maps:
            m.flush()
        meta = {"format": FORMAT, "n": len(ids), "labels": logits.shape[1], "hidden": hidden,
                "attention": attention, "hidden_size": teacher.config.hidden_size}
        (tmp / "meta.json").write_text(json.dumps(meta))
        del logits, cache
        maps.clear()  # unmapped: the files are complete
        try:
            os.replace(tmp, folder)
        except OSError:  # another process (a DDP rank) finished the same outputs first
            if not (folder / "meta.json").exists():
                raise
    except OSError as e:
        raise LiteformerError(f"{folder.parent}: cannot store the teacher's outputs ({e.strerror or e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load(folder: Path) -> tuple[torch.Tensor, InnerCache | None]:
    meta = json.loads((folder / "meta.json").read_text())
    n = meta["n"]

    def read(name: str, dtype: torch.dtype, shape: tuple) -> torch.Tensor:  # copy-on-write map: shared pages
        return torch.from_numpy(np.memmap(folder / f"{name}.bin", dtype=_NP[dtype], mode="c", shape=shape))

    logits = read("logits", torch.float32, (n, meta["labels"])).clone()
    if not (meta["hidden"] or meta["attention"]):
        return logits, None
    lens = read("lengths", torch.int64, (n,)).clone()
    h_off, a_off = torch.cumsum(lens, 0) - lens, torch.cumsum(lens * lens, 0) - lens * lens
    tokens, squares = int(lens.sum()), int((lens * lens).sum())
    return logits, InnerCache(lens, h_off, a_off,
                              {j: read(f"hidden-{j}", torch.float16, (tokens, meta["hidden_size"]))
                               for j in meta["hidden"]},
                              {j: read(f"attention-{j}", torch.float16, (squares,)) for j in meta["attention"]})


_NP = {torch.float32: np.float32, torch.float16: np.float16, torch.int64: np.int64}


@torch.inference_mode()
def _compute(teacher: nn.Module, ids: list[list[int]], pad_id: int, hidden: list[int], attention: list[int],
             batch_size: int, progress: bool, alloc: Callable) -> tuple[torch.Tensor, InnerCache | None]:
    teacher.eval()
    device = next(teacher.parameters()).device
    lengths = [len(x) for x in ids]
    H = teacher.config.hidden_size
    logits = alloc("logits", (len(ids), teacher.config.num_labels), torch.float32)
    cache = None
    if hidden or attention:
        lens = alloc("lengths", (len(ids),), torch.int64)
        lens.copy_(torch.tensor(lengths))
        h_off = torch.cumsum(lens, 0) - lens
        a_off = torch.cumsum(lens * lens, 0) - lens * lens
        tokens, squares = int(lens.sum()), int((lens * lens).sum())
        cache = InnerCache(lens, h_off, a_off,
                           {j: alloc(f"hidden-{j}", (tokens, H), torch.float16) for j in hidden},
                           {j: alloc(f"attention-{j}", (squares,), torch.float16) for j in attention})
    for idx in tqdm(length_sorted_batches(lengths, batch_size), desc="teacher", unit="batch",
                    disable=not progress, file=sys.stderr):
        x, m = pad_batch([ids[i] for i in idx], pad_id)
        if cache is None:
            logits[idx] = teacher(x.to(device), m.to(device)).float().cpu()
            continue
        out, enc = teacher(x.to(device), m.to(device), output_hidden_states=bool(hidden),
                           output_attentions=bool(attention))
        logits[idx] = out.float().cpu()
        for b, i in enumerate(idx):
            n, ho, ao = lengths[i], int(cache.h_offsets[i]), int(cache.a_offsets[i])
            for j in hidden:
                cache.hidden[j][ho:ho + n] = enc.hidden_states[j][b, :n].cpu().half()
            for j in attention:
                cache.attention[j][ao:ao + n * n] = enc.attentions[j][b, :, :n, :n].mean(0).cpu().half().reshape(-1)
    return logits, cache
