"""The teacher's outputs for every training example, computed in one pass before training.

Logits always (a few bytes per example). The inner tensors that hidden-state and attention losses
need — the mapped layers' hidden states (T × H each) and head-averaged attention maps (T × T) — are
cached too when they fit in ``max_bytes`` (stored as fp16, one flat tensor per layer with per-example
offsets), so a distillation step runs only the student, as a plain training step does. When they do
not fit, the loss runs the teacher alongside the student instead (same result, slower).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from liteformer.data.batching import length_sorted_batches, pad_batch


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


@torch.inference_mode()
def teacher_outputs(teacher: nn.Module, ids: list[list[int]], pad_id: int, hidden: list[int] = (),
                    attention: list[int] = (), max_bytes: int = 0, batch_size: int = 128,
                    progress: bool = True) -> tuple[torch.Tensor, InnerCache | None]:
    """(logits (N, labels), the inner cache or None when nothing inner is asked or it would not fit)."""
    teacher.eval()
    device = next(teacher.parameters()).device
    lengths = [len(x) for x in ids]
    H = teacher.config.hidden_size
    keep = bool(hidden or attention) and inner_bytes(lengths, H, len(hidden), len(attention)) <= max_bytes
    logits = torch.empty(len(ids), teacher.config.num_labels)
    cache = None
    if keep:
        lens = torch.tensor(lengths)
        h_off = torch.cumsum(lens, 0) - lens
        a_off = torch.cumsum(lens * lens, 0) - lens * lens
        cache = InnerCache(lens, h_off, a_off,
                           {j: torch.empty(int(lens.sum()), H, dtype=torch.float16) for j in hidden},
                           {j: torch.empty(int((lens * lens).sum()), dtype=torch.float16) for j in attention})
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
