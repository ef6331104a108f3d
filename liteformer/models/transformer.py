"""liteformer's own Transformer: the building blocks, the encoder and the classifier (the decoder,
the encoder-decoder with its key/value cache and the causal LM are in ``seq2seq.py``).

Shapes in comments: B = batch, T = sequence length (S for the encoder side in cross-attention),
H = hidden size, E = embedding size, n = heads of this layer, d = head_dim, F = FFN width of this
layer, V = vocabulary.

Design choices that later steps rely on:
- Every layer has its own head count and FFN width (``TransformerConfig.num_heads`` /
  ``ffn_dim`` may be lists), because structured pruning produces exactly such models.
- Attention is ``F.scaled_dot_product_attention`` with a *boolean* mask built only from the
  ``attention_mask`` input and ``tril`` (no data-dependent branches, no int/float mixing, no index
  arithmetic), so ``torch.export`` with a dynamic sequence length works and the exported graph
  converts to LiteRT, ExecuTorch and ONNX.
- The BERT layout (post-LN, learned absolute positions, token types, tanh pooler) is the default,
  so BERT-family checkpoints import with logits parity (see ``liteformer.models.hf``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from liteformer.models.config import (  # noqa: F401  (re-exported: the config's home was here)
    ACTIVATIONS,
    DECODER_LAYER_FIELDS,
    ENCODER_LAYER_FIELDS,
    GENERATION_TASKS,
    POOLERS,
    POSITIONS,
    TransformerConfig,
    layers_subset,
)
from liteformer.models.light import (
    ConvModule,
    InvertedFeedForward,
    LightSpec,
    LocalBranch,
    keep_frames,
    make_norm,
)

# ----------------------------------------------------------------------------------------------
# building blocks


class LowRankLinear(nn.Module):
    """W ≈ B·A with A (r x in) and B (out x r): x (…, in) -> (…, r) -> (…, out); r(in+out) weights."""

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True) -> None:
        super().__init__()
        self.a = nn.Linear(in_features, rank, bias=False)
        self.b = nn.Linear(rank, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


class LowRankEmbedding(nn.Module):
    """A V x r table then r -> H (ALBERT's factorized embedding, applied to a trained table)."""

    def __init__(self, num_embeddings: int, dim: int, rank: int, padding_idx: int | None = None) -> None:
        super().__init__()
        self.table = nn.Embedding(num_embeddings, rank, padding_idx=padding_idx)
        self.project = nn.Linear(rank, dim, bias=False)

    @property
    def weight(self) -> torch.Tensor:  # (V, H), for tied LM heads
        return self.project(self.table.weight)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.project(self.table(ids))  # (B, T) -> (B, T, r) -> (B, T, H)


def apply_low_rank(model: nn.Module, ranks: dict[str, int]) -> None:
    """Swap the named Linear / Embedding modules for their low-rank forms (fresh weights)."""
    for name, r in ranks.items():
        parent_name, _, child = name.rpartition(".")
        try:
            parent = model.get_submodule(parent_name)
            old = getattr(parent, child)
        except AttributeError:
            raise ValueError(f"low_rank names {name!r}, which is not a module of this model") from None
        if isinstance(old, nn.Linear):
            full = min(old.in_features, old.out_features)
            new = LowRankLinear(old.in_features, old.out_features, r, bias=old.bias is not None)
        elif isinstance(old, nn.Embedding):
            full = min(old.num_embeddings, old.embedding_dim)
            new = LowRankEmbedding(old.num_embeddings, old.embedding_dim, r, old.padding_idx)
        else:
            raise ValueError(f"low_rank names {name!r}, a {type(old).__name__} (Linear or Embedding only)")
        if r >= full:
            raise ValueError(f"low_rank rank {r} for {name!r} is not below its full rank {full}")
        setattr(parent, child, new)


class Embeddings(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        e = cfg.embedding_dim or cfg.hidden_size
        self.word = nn.Embedding(cfg.vocab_size, e, padding_idx=cfg.pad_token_id)
        if cfg.positions == "learned":
            self.position = nn.Embedding(cfg.max_positions, e)
        else:  # fixed sinusoids (not a parameter, not saved): sin on even channels, cos on odd
            self.position = None
            self.register_buffer("sinusoids", sinusoids(cfg.max_positions, e), persistent=False)
        # with fixed sinusoids (unit scale) the word vectors are scaled by √E, as in Vaswani et al., so
        # that the word, not its position, dominates the sum (init N(0, 1/E): see seq2seq.py)
        self.scale = math.sqrt(e) if cfg.positions == "sinusoidal" else 1.0
        self.token_type = nn.Embedding(cfg.type_vocab_size, e) if cfg.type_vocab_size else None
        self.norm = make_norm(cfg.norm, e, cfg.norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)
        # factorized embedding: V x E table, then E -> H projection (ALBERT)
        self.project = nn.Linear(e, cfg.hidden_size) if e != cfg.hidden_size else None

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        """``positions`` (T,): where these tokens stand (default 0..T-1; one decoding step passes its own)."""
        T = input_ids.shape[1]
        if positions is None:
            positions = torch.arange(T, device=input_ids.device)  # (T,)
        pos = self.position(positions) if self.position is not None else self.sinusoids[positions]  # (T, E)
        x = self.word(input_ids) * self.scale + pos[None]  # (B, T, E)
        if self.token_type is not None:
            # no segment ids: every token is segment 0, one (E,) row broadcast (an exported graph then
            # holds that row, not a (1, T, E) constant per static length)
            x = x + (self.token_type.weight[0] if token_type_ids is None else self.token_type(token_type_ids))
        x = self.dropout(self.norm(x))
        return self.project(x) if self.project is not None else x  # (B, T, H)


def sinusoids(n: int, dim: int) -> torch.Tensor:
    """(n, dim) fixed position encodings: sin(p / 10000^(2i/dim)) at 2i, cos at 2i+1."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]  # (n, 1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))  # (dim/2,)
    out = torch.zeros(n, dim)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return out


class Attention(nn.Module):
    """Multi-head attention softmax(QKᵀ/√d)V with n heads of size d (n may differ per layer)."""

    def __init__(self, hidden: int, n_heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        self.n_heads, self.head_dim, self.dropout = n_heads, head_dim, dropout
        # export-only switch: the explicit math with BERT's additive mask, the pattern ONNX Runtime
        # fuses into one Attention op (see liteformer.export.onnx_fuse); same result as SDPA
        self.additive_mask = False
        inner = n_heads * head_dim
        self.q = nn.Linear(hidden, inner)
        self.k = nn.Linear(hidden, inner)
        self.v = nn.Linear(hidden, inner)
        self.out = nn.Linear(inner, hidden)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, n, T, d)

    def forward(
        self,
        x: torch.Tensor,  # (B, T, H) queries
        mask: torch.Tensor | None,  # (B, 1, 1|T, S) bool, True = may attend
        memory: torch.Tensor | None = None,  # (B, S, H) keys/values for cross-attention
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        k, v = self.kv(x if memory is None else memory)
        return self.attend(x, k, v, mask, need_weights)

    def kv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of ``x`` (B, S, H): each (B, n, S, d). A decoder caches them."""
        return self._split(self.k(x)), self._split(self.v(x))

    def attend(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
               need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Queries of ``x`` (B, T, H) against given keys/values (B, n, S, d) → (B, T, H), probs."""
        q = self._split(self.q(x))  # (B, n, T, d)
        if need_weights or self.additive_mask:  # explicit: distillation needs the distribution
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, n, T, S)
            if mask is not None and self.additive_mask:
                scores = scores + (1.0 - mask.to(scores.dtype)) * -10000.0  # exp(-1e4) underflows to 0
            elif mask is not None:
                scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            probs = scores.softmax(-1)
            y = F.dropout(probs, self.dropout, self.training) @ v
        else:
            probs = None
            p = self.dropout if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, n, T, d)
        B, _, T, _ = y.shape
        y = y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim)  # (B, T, n*d)
        return self.out(y), probs


class FeedForward(nn.Module):
    def __init__(self, hidden: int, ffn: int, activation: str) -> None:
        super().__init__()
        self.up = nn.Linear(hidden, ffn)
        self.act = ACTIVATIONS[activation]()
        self.down = nn.Linear(ffn, hidden)

    @property
    def width(self) -> int:
        """F: the hidden neurons (also of a low-rank factorized ``up``)."""
        up = self.up.b if isinstance(self.up, LowRankLinear) else self.up
        return up.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)))  # (B, T, H) -> (B, T, F) -> (B, T, H)


class Block(nn.Module):
    """Self-attention (+ cross-attention in a decoder) + FFN, each with a residual and a norm; with
    light switches (``LightSpec``, models/light.py): a convolution branch beside the attention (LSRA),
    a convolution module after it, an inverted-residual FFN, stacked FFNs, a bottleneck around it all."""

    def __init__(self, cfg: TransformerConfig, n_heads: int, ffn: int, cross: bool = False,
                 cross_heads: int | None = None, light: LightSpec | None = None) -> None:
        super().__init__()
        spec = light or LightSpec()
        H, eps = cfg.hidden_size, cfg.norm_eps
        W = spec.bottleneck or H  # the width the sublayers work at
        self.norm_first = cfg.norm_first
        self.split = W - spec.conv_dim  # channels [0, split) to attention, [split, W) to the conv branch
        self.attn = Attention(self.split, n_heads, cfg.head_dim, cfg.attention_dropout)
        self.local = LocalBranch(spec.conv_dim, spec.kernel, spec.causal) if spec.conv_dim else None
        self.attn_norm = make_norm(cfg.norm, W, eps)
        self.cross = Attention(H, cross_heads or n_heads, cfg.head_dim, cfg.attention_dropout) if cross else None
        self.cross_norm = make_norm(cfg.norm, H, eps) if cross else None
        self.conv = ConvModule(W, spec.kernel, eps) if spec.conv_module else None
        self.conv_norm = make_norm(cfg.norm, W, eps) if spec.conv_module else None
        act = ACTIVATIONS[cfg.activation]
        make_ffn = ((lambda: InvertedFeedForward(W, ffn, spec.kernel, act())) if spec.ffn_type == "inverted"
                    else (lambda: FeedForward(W, ffn, cfg.activation)))
        self.ffn = make_ffn()
        self.ffn_norm = make_norm(cfg.norm, W, eps)
        self.more_ffns = nn.ModuleList(make_ffn() for _ in range(spec.ffn_stack - 1))  # MobileBERT's stack
        self.more_ffn_norms = nn.ModuleList(make_norm(cfg.norm, W, eps) for _ in range(spec.ffn_stack - 1))
        self.bottleneck_in = nn.Linear(H, W) if spec.bottleneck else None
        self.bottleneck_out = nn.Linear(W, H) if spec.bottleneck else None
        self.bottleneck_norm = make_norm(cfg.norm, H, eps) if spec.bottleneck else None
        self.dropout = nn.Dropout(cfg.dropout)

    def _residual(self, x, norm, fn):  # post-LN: norm(x + f(x)); pre-LN: x + f(norm(x))
        if self.norm_first:
            y, probs = fn(norm(x))
            return x + self.dropout(y), probs
        y, probs = fn(x)
        return norm(x + self.dropout(y)), probs

    def _mix(self, h, mask, need_weights, keep):
        """The token mixer of (B, T, W): attention, or LSRA = [attention on the first ``split``
        channels, the convolution branch on the rest] concatenated."""
        if self.local is None:
            return self.attn(h, mask, None, need_weights)
        y, probs = self.attn(h[..., :self.split], mask, None, need_weights)  # (B, T, split)
        return torch.cat([y, self.local(h[..., self.split:], keep)], -1), probs  # (B, T, W)

    def _ffns(self, x, keep):
        """The convolution module and the feed-forward(s), each with its residual."""
        if self.conv is not None:
            x, _ = self._residual(x, self.conv_norm, lambda h: (self.conv(h, keep), None))
        for ffn, norm in zip([self.ffn, *self.more_ffns], [self.ffn_norm, *self.more_ffn_norms], strict=True):
            run = (lambda h, f=ffn: (f(h, keep), None)) if isinstance(ffn, InvertedFeedForward) else (
                lambda h, f=ffn: (f(h), None))
            x, _ = self._residual(x, norm, run)
        return x

    def forward(self, x, mask, memory=None, memory_mask=None, need_weights=False, keep=None):
        """x (B, T, H); ``keep`` (B, T, 1) zeroes padded frames before convolutions (None: no padding)."""
        outer = x
        if self.bottleneck_in is not None:  # MobileBERT: H -> W inside, a residual around the layer
            x = self.bottleneck_in(self.bottleneck_norm(x) if self.norm_first else x)  # (B, T, W)
        x, probs = self._residual(x, self.attn_norm, lambda h: self._mix(h, mask, need_weights, keep))
        if self.cross is not None:
            x, _ = self._residual(x, self.cross_norm, lambda h: self.cross(h, memory_mask, memory))
        x = self._ffns(x, keep)
        if self.bottleneck_out is not None:
            y = self.dropout(self.bottleneck_out(x))  # (B, T, H)
            x = outer + y if self.norm_first else self.bottleneck_norm(outer + y)
        return x, probs  # (B, T, H), (B, n, T, T) or None

    def step(self, x, seen, here, k_cache, v_cache, cross_k, cross_v, source_mask, conv_cache=None):
        """One decoder position x (B, 1, H) with the caches: the self-attention keys/values (B, n, L, d)
        are written at the slot ``here`` (1, 1, L, 1) and read at ``seen`` (1, 1, 1, L); the convolution
        branch's last k−1 inputs (B, c, k−1). Returns x and the three updated caches."""
        def mix(h):
            nonlocal k_cache, v_cache, conv_cache
            a = h if self.local is None else h[..., :self.split]
            k, v = self.attn.kv(a)  # (B, n, 1, d)
            k_cache = torch.where(here, k, k_cache)  # (B, n, L, d), written at the step's slot
            v_cache = torch.where(here, v, v_cache)
            y, _ = self.attn.attend(a, k_cache, v_cache, seen)
            if self.local is not None:
                z, conv_cache = self.local.step(h[..., self.split:], conv_cache)  # (B, 1, c), (B, c, k-1)
                y = torch.cat([y, z], -1)
            return y, None
        x, _ = self._residual(x, self.attn_norm, mix)
        x, _ = self._residual(x, self.cross_norm, lambda h: self.cross.attend(h, cross_k, cross_v, source_mask))
        return self._ffns(x, None), k_cache, v_cache, conv_cache


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, S) of 1/0 → (B, 1, 1, S) bool: every query may attend to every real key."""
    return attention_mask.bool()[:, None, None, :]


# ----------------------------------------------------------------------------------------------
# stacks and heads


@dataclass
class EncoderOutput:
    last_hidden: torch.Tensor  # (B, T, H)
    hidden_states: list[torch.Tensor] | None = None  # embeddings + each layer, (B, T, H)
    attentions: list[torch.Tensor] | None = None  # each layer, (B, n, T, T)


class Encoder(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList(Block(cfg, n, f, light=cfg.light_spec(i))
                                    for i, (n, f) in enumerate(zip(cfg.num_heads, cfg.ffn_dim, strict=True)))
        self.final_norm = make_norm(cfg.norm, cfg.hidden_size, cfg.norm_eps) if cfg.norm_first else None
        self.convolves = any(layer.local is not None or layer.conv is not None or
                             isinstance(layer.ffn, InvertedFeedForward) for layer in self.layers)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None,
                output_hidden_states=False, output_attentions=False) -> EncoderOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        mask = padding_mask(attention_mask)  # (B, 1, 1, T)
        x = self.embeddings(input_ids, token_type_ids)  # (B, T, H)
        keep = keep_frames(attention_mask, x.dtype) if self.convolves else None  # (B, T, 1)
        hidden, attns = [x], []
        for layer in self.layers:
            x, probs = layer(x, mask, need_weights=output_attentions, keep=keep)
            hidden.append(x)
            attns.append(probs)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return EncoderOutput(x, hidden if output_hidden_states else None,
                             attns if output_attentions else None)


class TransformerForSequenceClassification(nn.Module):
    """Encoder + pooler over the first token ([CLS]) + linear classifier → logits (B, num_labels)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        H = cfg.hidden_size
        self.pooler = nn.Linear(H, H) if cfg.pooler != "none" else None
        self.pooler_act = nn.Tanh() if cfg.pooler == "tanh" else nn.ReLU()
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(H, cfg.num_labels)
        apply_low_rank(self, cfg.low_rank)
        self.apply(init_weights)
        unit_scale_without_norm_(self.encoder.embeddings, cfg)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False):
        """Logits (B, num_labels); with output_* flags, (logits, EncoderOutput) for distillation."""
        out = self.encoder(input_ids, attention_mask, token_type_ids, output_hidden_states, output_attentions)
        logits = self.classify(out.last_hidden)
        return (logits, out) if (output_hidden_states or output_attentions) else logits

    def classify(self, last_hidden: torch.Tensor) -> torch.Tensor:
        x = last_hidden[:, 0]  # (B, H) the [CLS] position
        if self.pooler is not None:
            x = self.pooler_act(self.pooler(x))
        return self.classifier(self.dropout(x))  # (B, num_labels)


def init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def unit_scale_without_norm_(emb: Embeddings, cfg: TransformerConfig) -> None:
    """With NoNorm nothing rescales the embeddings: start the residual stream at unit scale, as a
    LayerNorm would leave it (N(0, 0.02) tables give activations of ~0.03, which a hidden-state loss
    against a LayerNorm teacher cannot pull up in a short distillation)."""
    if cfg.norm == "nonorm" and isinstance(emb.word, nn.Embedding):
        with torch.no_grad():
            for table in (emb.word, emb.position, emb.token_type):
                if isinstance(table, nn.Embedding):
                    nn.init.normal_(table.weight, std=1.0 / math.sqrt(3))  # the three summed: variance 1
            if emb.word.padding_idx is not None:
                emb.word.weight[emb.word.padding_idx].zero_()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
