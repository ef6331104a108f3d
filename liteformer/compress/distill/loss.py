"""Knowledge distillation: a small student learns from a teacher's soft targets (and, optionally,
its hidden states and attention distributions, TinyBERT/MiniLM-style).

    L = α · CE(y, ŷ) + (1 − α) · T² · KL(p_T ‖ q_T)
        + w_h · Σ_l MSE(W_l · h_student[l], h_teacher[map[l]]) + w_a · Σ_l KL(A_teacher[map[l]] ‖ A_student[l])

p_T = softmax(teacher logits / T), q_T = softmax(student logits / T). The KL gradient scales as 1/T²,
so the T² factor keeps the soft-target term's weight independent of the temperature chosen (Hinton et
al., 2015). The teacher's outputs are computed once and cached by example index (logits always; the
inner tensors the chosen losses need when they fit the cache budget, see teacher_cache), so a
distillation epoch costs about a plain student epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from liteformer.compress.distill.teacher_cache import InnerCache
from liteformer.data.batching import pad_batch
from liteformer.errors import LiteformerError
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification
from liteformer.options import NON_NEGATIVE, POSITIVE, UNIT, check_fields, opt


@dataclass
class DistillConfig:
    alpha: float = opt(0.5, "weight of the hard-label cross-entropy; 1 - alpha on the soft targets", check=UNIT)
    temperature: float = opt(2.0, "softmax temperature T", check=POSITIVE)
    hidden_weight: float = opt(0.0, "hidden-state MSE weight (a learned projection when widths differ)",
                               check=NON_NEGATIVE)
    attention_weight: float = opt(0.0, "attention KL weight (head-averaged when head counts differ)",
                                  check=NON_NEGATIVE)
    layer_map: list[int] | None = opt(None, "teacher layer per student layer, e.g. 1,3,5 (default uniform)",
                                      check=NON_NEGATIVE)
    augment: int = opt(0, "augmented copies per sentence, TinyBERT-style: 40% of the words swapped for their "
                       "nearest neighbours in the teacher's embeddings (0: off)", check=NON_NEGATIVE)
    cache_gb: float = opt(4.0, "memory for the teacher's cached hidden states/attentions (beyond it, or with 0, "
                          "the teacher runs alongside the student)", check=NON_NEGATIVE)

    def validate(self, student_layers: int, teacher_layers: int) -> list[int]:
        check_fields(self)
        layer_map = self.layer_map or uniform_layer_map(student_layers, teacher_layers)
        if len(layer_map) != student_layers:
            raise LiteformerError(f"layer map has {len(layer_map)} entries for {student_layers} student layers")
        bad = [t for t in layer_map if not 0 <= t < teacher_layers]
        if bad:
            raise LiteformerError(f"layer map points to teacher layers {bad}; the teacher has layers "
                                  f"0..{teacher_layers - 1}")
        return layer_map


def uniform_layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """Student layer i ← teacher layer ⌈(i+1)·t/s⌉ − 1 (last maps to last), e.g. 3 of 6 → 1, 3, 5."""
    return [-(-(i + 1) * teacher_layers // student_layers) - 1 for i in range(student_layers)]


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            alpha: float, temperature: float) -> torch.Tensor:
    """Per-example α·CE(y, ŷ) + (1−α)·T²·KL(p‖q); labels < 0 (augmented text) have no CE term."""
    T = temperature
    log_q = F.log_softmax(student_logits.float() / T, dim=-1)
    p = F.softmax(teacher_logits.float() / T, dim=-1)
    kl = (p * (p.clamp_min(1e-12).log() - log_q)).sum(-1)  # KL(p ‖ q), teacher p, student q
    ce = F.cross_entropy(student_logits.float(), labels.clamp_min(0), reduction="none") * (labels >= 0)
    return alpha * ce + (1 - alpha) * T * T * kl


class DistillLoss(nn.Module):
    """The loss function the training loop calls; its projections are trained with the student."""

    def __init__(self, cfg: DistillConfig, layer_map: list[int], teacher: TransformerForSequenceClassification,
                 student_cfg: TransformerConfig, cached_logits: torch.Tensor,
                 teacher_ids: list[list[int]] | None = None, teacher_pad: int = 0,
                 inner_cache: InnerCache | None = None, channels: list[int] | None = None) -> None:
        super().__init__()
        self.inner_cache = inner_cache  # the teacher's hidden states/attentions by example, or None
        self.cfg, self.layer_map, self.teacher = cfg, layer_map, [teacher]  # list: not a submodule
        self.cached = cached_logits  # (N, num_labels) teacher logits by training-example index
        # the teacher's own ids when its vocabulary differs but every example has the same pieces
        # (a vocabulary-pruned student): positions align, so inner-layer losses still apply
        self.teacher_ids, self.teacher_pad = teacher_ids, teacher_pad
        hs, ht = student_cfg.hidden_size, teacher.config.hidden_size
        n = student_cfg.num_layers + 1  # embeddings output + each layer
        self.proj = nn.ModuleList(nn.Linear(hs, ht, bias=False) for _ in range(n)) if (
            cfg.hidden_weight and hs != ht) else None
        if self.proj is not None and channels is not None:  # a student cut from the teacher's channels:
            with torch.no_grad():  # each projection starts by putting them back where they came from
                for p in self.proj:
                    p.weight.zero_()[channels, torch.arange(hs)] = 1.0  # (H_t, H_s)

    @property
    def inner(self) -> bool:
        return bool(self.cfg.hidden_weight or self.cfg.attention_weight)

    def forward(self, net, ids, mask, idx, labels):
        c = self.cfg
        if not self.inner:
            logits = net(ids, mask)
            return kd_loss(logits, self.cached[idx].to(logits.device), labels, c.alpha, c.temperature)
        logits, s = net(ids, mask, output_hidden_states=True, output_attentions=bool(c.attention_weight))
        loss = kd_loss(logits, self.cached[idx].to(logits.device), labels, c.alpha, c.temperature)
        t_hidden, t_attention = self._teacher_inner(ids, mask, idx)
        real = mask.float()  # (B, T)
        ntok = real.sum(-1).clamp_min(1)
        if c.hidden_weight:  # embeddings ↔ embeddings, student layer i ↔ teacher layer map[i]
            pairs = [(0, 0)] + [(i + 1, j + 1) for i, j in enumerate(self.layer_map)]
            mse = 0
            for k, (i, j) in enumerate(pairs):
                h = s.hidden_states[i]
                h = self.proj[k](h) if self.proj is not None else h
                err = ((h - t_hidden(j)) ** 2).mean(-1)  # (B, T)
                mse = mse + (err * real).sum(-1) / ntok
            loss = loss + c.hidden_weight * mse / len(pairs)
        if c.attention_weight:
            kl = 0
            for i, j in enumerate(self.layer_map):
                a_s = s.attentions[i].mean(1)  # (B, T, T), head-averaged
                a_t = t_attention(j)
                row = (a_t * (a_t.clamp_min(1e-12).log() - a_s.clamp_min(1e-12).log())).sum(-1)  # (B, T)
                kl = kl + (row * real).sum(-1) / ntok
            loss = loss + c.attention_weight * kl / len(self.layer_map)
        return loss

    def _teacher_inner(self, ids, mask, idx):
        """Getters for teacher hidden state j (B, T, H) and head-averaged attention j (B, T, T)."""
        if self.inner_cache is not None:
            cache, T, cpu_idx = self.inner_cache, ids.shape[1], idx.cpu()
            return (lambda j: cache.hidden_batch(j, cpu_idx, T).to(ids.device),
                    lambda j: cache.attention_batch(j, cpu_idx, T).to(ids.device))
        t_in = ids
        if self.teacher_ids is not None:
            t_in = pad_batch([self.teacher_ids[i] for i in idx.tolist()], self.teacher_pad)[0].to(ids.device)
        with torch.no_grad():
            t = self.teacher[0].encoder(t_in, mask, output_hidden_states=bool(self.cfg.hidden_weight),
                                        output_attentions=bool(self.cfg.attention_weight))
        return (lambda j: t.hidden_states[j]), (lambda j: t.attentions[j].mean(1))
