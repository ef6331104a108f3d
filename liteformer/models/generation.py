"""Generation for encoder-decoders: greedy and beam search, batched, over the incremental decoder.

The search is written against two calls, so the same loop drives the PyTorch model and (later) an
exported artifact in a phone runtime:

    state = encode(source_ids (B, S), source_mask (B, S))          # once per sentence batch
    logits (B, V), state = step(tokens (B, 1), position (1,), state)  # once per output token
    state.select(rows)                                              # reorder/repeat rows (beams)

Every output starts from ``<s>`` and ends at ``</s>`` or at the length limit
``min(max_target, ceil(max_len_a * source_length + max_len_b))`` per sentence, and not before
``min_length`` tokens (``</s>`` is blocked until then).
Beam search keeps ``beam`` hypotheses per sentence; a finished hypothesis is scored
``log p / length ** length_penalty`` (GNMT-style; 1.0 = average log-probability per token), and a
sentence stops once its best finished score beats every live hypothesis's best possible score.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from liteformer.errors import LiteformerError
from liteformer.options import NON_NEGATIVE, POSITIVE, Range, check_fields, opt


@dataclass(frozen=True)
class GenerationConfig:
    beam: int = opt(1, "beam size (1 = greedy)", check=POSITIVE)
    length_penalty: float = opt(1.0, "beam: a finished hypothesis scores log p / length ** this (0 = raw log p)")
    max_len_a: float = opt(1.5, "output length limit a * source length + b (tokens): a", check=NON_NEGATIVE)
    max_len_b: int = opt(10, "output length limit: b", check=POSITIVE)
    max_target: int = opt(128, "the decoder cache's size: no output is longer (tokens)", check=Range(2))
    min_length: int = opt(0, "no </s> before this many output tokens (summaries: a floor on their length)",
                          check=NON_NEGATIVE)

    def validate(self) -> None:
        check_fields(self)
        if not isinstance(self.beam, int) or self.beam < 1:
            raise LiteformerError(f"beam must be an integer >= 1, got {self.beam!r}")
        if self.max_target < 2:
            raise LiteformerError(f"max_target must be >= 2, got {self.max_target}")
        if not math.isfinite(self.length_penalty) or not math.isfinite(self.max_len_a):
            raise LiteformerError("length_penalty and max_len_a must be finite numbers")
        if self.max_len_a < 0 or self.max_len_b < 1:
            raise LiteformerError(f"the length limit a*S+b must allow a token: a={self.max_len_a}, b={self.max_len_b}")
        if not isinstance(self.min_length, int) or not 0 <= self.min_length < self.max_target - 1:
            raise LiteformerError(f"min_length must be an integer in [0, max_target - 1), got {self.min_length!r}")


def _limits(source_mask: torch.Tensor, cfg: GenerationConfig) -> torch.Tensor:
    src_len = source_mask.sum(1).float()  # (B,)
    lim = torch.ceil(cfg.max_len_a * src_len + cfg.max_len_b).long()
    return lim.clamp(1, cfg.max_target - 1)  # tokens after <s>, </s> included


@torch.no_grad()
def generate(encode: Callable[..., Any], step: Callable[..., tuple[torch.Tensor, Any]], source_ids: torch.Tensor,
             source_mask: torch.Tensor, cfg: GenerationConfig, bos_id: int = 1, eos_id: int = 2) -> list[list[int]]:
    """Output token ids per sentence (without ``<s>``, with ``</s>`` when one was produced)."""
    cfg.validate()
    if cfg.beam == 1:
        return _greedy(encode, step, source_ids, source_mask, cfg, bos_id, eos_id)
    return _beam(encode, step, source_ids, source_mask, cfg, bos_id, eos_id)


def _greedy(encode, step, source_ids, source_mask, cfg, bos_id, eos_id) -> list[list[int]]:
    B, dev = source_ids.shape[0], source_ids.device
    limits = _limits(source_mask, cfg).tolist()  # (B,) tokens after <s>
    state = encode(source_ids, source_mask)
    token = torch.full((B, 1), bos_id, dtype=torch.long, device=dev)
    out: list[list[int]] = [[] for _ in range(B)]
    done = [False] * B
    for t in range(max(limits)):
        logits, state = step(token, torch.tensor([t], device=dev), state)  # (B, V)
        if t < cfg.min_length:  # every live row has t tokens so far
            logits = logits.index_fill(-1, torch.tensor([eos_id], device=dev), -math.inf)
        nxt = logits.argmax(-1)  # (B,)
        for b, tok in enumerate(nxt.tolist()):  # one transfer per step, also from a GPU
            if not done[b]:
                out[b].append(tok)
                done[b] = tok == eos_id or len(out[b]) >= limits[b]
        if all(done):
            break
        token = nxt[:, None]
    return out


def _beam(encode, step, source_ids, source_mask, cfg, bos_id, eos_id) -> list[list[int]]:
    B, K, dev = source_ids.shape[0], cfg.beam, source_ids.device
    limits = _limits(source_mask, cfg).tolist()  # (B,)
    state = encode(source_ids, source_mask).select(torch.arange(B, device=dev).repeat_interleave(K))  # rows b*K+k
    token = torch.full((B * K, 1), bos_id, dtype=torch.long, device=dev)
    scores = torch.zeros(B, K)  # on the CPU: the bookkeeping below is per hypothesis
    scores[:, 1:] = -math.inf  # all beams start identical: expand only the first
    hyps = [[[] for _ in range(K)] for _ in range(B)]
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(B)]
    active = [True] * B
    for t in range(max(limits)):
        logits, state = step(token, torch.tensor([t], device=dev), state)  # (B*K, V)
        logp = logits.float().log_softmax(-1).view(B, K, -1)  # (B, K, V)
        if t < cfg.min_length:  # no hypothesis may end yet
            logp = logp.index_fill(-1, torch.tensor([eos_id], device=dev), -math.inf)
        V = logp.shape[-1]
        cand = (scores.to(dev)[:, :, None] + logp).view(B, K * V)  # (B, K*V)
        top, idx = cand.topk(2 * K, dim=-1)  # (B, 2K): room for K live ones after </s> picks
        top, idx = top.tolist(), idx.tolist()
        new_scores = torch.full((B, K), -math.inf)
        new_rows = (torch.arange(B) * K)[:, None].repeat(1, K)  # unused rows point into their own sentence
        new_tokens = torch.full((B, K), eos_id, dtype=torch.long)
        new_hyps = [[[] for _ in range(K)] for _ in range(B)]
        for b in range(B):
            if not active[b]:
                continue
            k = 0
            for s, i in zip(top[b], idx[b], strict=True):
                if s == -math.inf:
                    break
                src_beam, tok = divmod(i, V)
                seq = hyps[b][src_beam] + [tok]
                if tok == eos_id or len(seq) >= limits[b]:
                    finished[b].append((s / len(seq) ** cfg.length_penalty, seq))
                    continue
                new_scores[b, k], new_rows[b, k], new_tokens[b, k] = s, b * K + src_beam, tok
                new_hyps[b][k] = seq
                k += 1
                if k == K:
                    break
            best_live = new_scores[b].max().item()
            best_done = max((f[0] for f in finished[b]), default=-math.inf)
            # a live hypothesis can only lose log-probability; its best normalized score is bounded
            # by its score over the longest length it may reach (for length_penalty >= 0)
            bound = best_live / (limits[b] ** cfg.length_penalty) if best_live < 0 else best_live
            if k == 0 or (len(finished[b]) >= K and best_done >= bound):
                active[b] = False
        if not any(active):
            break
        scores, hyps = new_scores, new_hyps
        state = state.select(new_rows.view(-1).to(dev))
        token = new_tokens.view(-1, 1).to(dev)
    out = []
    for b in range(B):
        if finished[b]:
            out.append(max(finished[b], key=lambda f: f[0])[1])
        else:  # nothing finished within the limit: the best live hypothesis
            out.append(hyps[b][int(scores[b].argmax())])
    return out


def model_calls(model, max_target: int) -> tuple[Callable, Callable]:
    """``encode``/``step`` of a PyTorch ``TransformerForSeq2SeqLM``."""
    return (lambda ids, mask: model.encode(ids, mask, max_target)), model.decode_step
