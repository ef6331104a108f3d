"""Padding and length-sorted batching of token-id lists."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pad_batch(ids: Sequence[Sequence[int]], pad_id: int,
              length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Lists of ids → (input_ids, attention_mask), both (B, T) int64, T = longest (or ``length``)."""
    T = length or max(len(x) for x in ids)
    input_ids = torch.full((len(ids), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), T), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.as_tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return input_ids, mask


def teacher_forcing(source: list[list[int]], target: list[list[int]], pad_id: int, bos_id: int):
    """Padded tensors for one batch: source ids/mask (B, S), decoder input ``<s> y`` and the
    target ``y </s>`` (B, T), the decoder mask."""
    src, src_mask = pad_batch(source, pad_id)
    dec_in, dec_mask = pad_batch([[bos_id, *t[:-1]] for t in target], pad_id)
    tgt, _ = pad_batch(target, pad_id)
    return src, src_mask, dec_in, dec_mask, tgt


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (little padding); order is restored by index."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


TAIL_ROWS = 8  # a last batch with fewer examples joins the one before


class TokenBatches:
    """Global batches of up to ``max_tokens`` padded tokens (a batch of b examples whose longest is
    L costs b·L), examples of similar length together; the batch order is shuffled per epoch.
    A pure function of (lengths, max_tokens, seed, epoch), so every DDP rank and a resumed run see
    the same batches. ``lengths``: per example, the longest side (source or target)."""

    def __init__(self, lengths: Sequence[int], max_tokens: int, seed: int = 0, min_rows: int = 1) -> None:
        if max_tokens < max(lengths, default=1):
            raise ValueError(f"max_tokens {max_tokens} is below the longest example ({max(lengths)} tokens)")
        order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
        self.batches: list[list[int]] = []
        cur: list[int] = []
        longest = 0
        for i in order:
            L = max(longest, lengths[i])
            if cur and L * (len(cur) + 1) > max_tokens:
                self.batches.append(cur)
                cur, L = [], lengths[i]
            cur.append(i)
            longest = L
        if cur:
            self.batches.append(cur)
        # a short tail joins the batch before; a fixed rule, so the batches do not depend on the process count
        if len(self.batches) > 1 and len(self.batches[-1]) < TAIL_ROWS:
            tail = self.batches.pop()
            self.batches[-1] = self.batches[-1] + tail
        if min(len(b) for b in self.batches) < min_rows:
            raise ValueError(f"max_tokens {max_tokens} leaves batches of fewer than {min_rows} examples (one per "
                             "process): raise it")
        self.seed = seed

    @property
    def per_epoch(self) -> int:
        return len(self.batches)

    def epoch(self, e: int) -> list[torch.Tensor]:
        perm = torch.randperm(len(self.batches), generator=torch.Generator().manual_seed(self.seed + e))
        return [torch.tensor(self.batches[j]) for j in perm.tolist()]
