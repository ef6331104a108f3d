"""liteformer's own decoders: the causal stack, the encoder-decoder for translation and summarization
(with an incremental decoder and its key/value cache) and a decoder-only language model.

Shapes as in ``transformer.py``: B batch, S source length, T target length, H hidden, n heads of the
layer, d head_dim, V vocabulary; L = ``max_target`` (the cache's fixed length).

Incremental decoding (``encode`` once, then ``decode_step`` per output token):
- the cross-attention keys/values of every decoder layer are computed once per sentence by
  ``encode`` — (B, n, S, d) each;
- the self-attention cache is a fixed-size (B, n, L, d) tensor per layer, written at the step's
  position by ``torch.where`` over a one-hot mask of that position (a select, which every phone
  runtime has; a scatter does not lower everywhere) and read through a mask of the positions written
  so far — no growing tensors, no data-dependent slicing, no branches, so the same step exports with
  static shapes (``models/seq2seq_graphs.py``);
- a step gives exactly the logits of the full (teacher-forced) decoder at that position.
Source, target and output embeddings are one tied matrix (a joint vocabulary).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from liteformer.models.light import LightSpec, make_norm
from liteformer.models.transformer import (
    Block,
    Embeddings,
    Encoder,
    TransformerConfig,
    apply_low_rank,
    init_weights,
    padding_mask,
)


def causal_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) of 1/0 → (B, 1, T, T) bool: query t may attend to real keys at positions ≤ t."""
    T = attention_mask.shape[1]
    tri = torch.ones(T, T, dtype=torch.bool, device=attention_mask.device).tril()  # (T, T)
    return padding_mask(attention_mask) & tri


@dataclass
class DecoderState:
    """What one sentence batch carries between decoding steps."""

    self_k: list[torch.Tensor]  # per layer (B, n, L, d): keys of the target positions written so far
    self_v: list[torch.Tensor]  # per layer (B, n, L, d)
    cross_k: list[torch.Tensor]  # per layer (B, n, S, d): the source's keys, computed once
    cross_v: list[torch.Tensor]  # per layer (B, n, S, d)
    source_mask: torch.Tensor  # (B, 1, 1, S) bool: real source tokens
    conv: list[torch.Tensor | None] | None = None  # per layer (B, c, k-1): an LSRA branch's last inputs

    def select(self, index: torch.Tensor) -> DecoderState:
        """The rows ``index`` (beam search: reorder and repeat hypotheses)."""
        pick = lambda xs: [None if x is None else x.index_select(0, index) for x in xs]  # noqa: E731
        return DecoderState(pick(self.self_k), pick(self.self_v), pick(self.cross_k), pick(self.cross_v),
                            self.source_mask.index_select(0, index), None if self.conv is None else pick(self.conv))


class TransformerDecoder(nn.Module):
    """Causal stack; with ``cross=True`` each block also attends to an encoder's output."""

    def __init__(self, cfg: TransformerConfig, heads: list[int], ffns: list[int], cross: bool,
                 cross_heads: list[int] | None = None) -> None:
        super().__init__()
        self.embeddings = Embeddings(cfg)
        cross_heads = cross_heads or heads
        conv = cfg.decoder_conv_dim if cross else [0] * len(heads)  # LSRA: encoder-decoders' decoders only
        kernels = cfg.decoder_conv_kernel if cross else [7] * len(heads)
        self.layers = nn.ModuleList(Block(cfg, n, f, cross=cross, cross_heads=x, light=LightSpec(c, k, causal=True))
                                    for n, f, x, c, k in zip(heads, ffns, cross_heads, conv, kernels, strict=True))
        self.final_norm = make_norm(cfg.norm, cfg.hidden_size, cfg.norm_eps) if cfg.norm_first else None

    def forward(self, input_ids, attention_mask=None, memory=None, memory_attention_mask=None):
        """All target positions at once (training, teacher forcing) → (B, T, H)."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        mask = causal_mask(attention_mask)  # (B, 1, T, T)
        mem_mask = None
        if memory is not None:
            if memory_attention_mask is None:
                memory_attention_mask = torch.ones(memory.shape[:2], dtype=torch.long, device=memory.device)
            mem_mask = padding_mask(memory_attention_mask)  # (B, 1, 1, S)
        x = self.embeddings(input_ids)
        for layer in self.layers:
            x, _ = layer(x, mask, memory, mem_mask)
        return self.final_norm(x) if self.final_norm is not None else x  # (B, T, H)

    def step(self, token: torch.Tensor, position: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor,
                                                                                                DecoderState]:
        """One target position for every row: ``token`` (B, 1) at ``position`` (1,) → (B, 1, H) and the
        state with this position's keys/values written into the cache."""
        x = self.embeddings(token, positions=position)  # (B, 1, H)
        L = state.self_k[0].shape[2]
        slots = torch.arange(L, device=token.device)  # (L,)
        seen = (slots <= position)[None, None, None, :]  # (1, 1, 1, L)
        here = (slots == position)[None, None, :, None]  # (1, 1, L, 1): the slot this step writes
        new_k, new_v, new_conv = [], [], []
        conv = state.conv or [None] * len(self.layers)
        for i, block in enumerate(self.layers):
            x, k, v, c = block.step(x, seen, here, state.self_k[i], state.self_v[i], state.cross_k[i],
                                    state.cross_v[i], state.source_mask, conv[i])
            new_k.append(k)
            new_v.append(v)
            new_conv.append(c)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x, DecoderState(new_k, new_v, state.cross_k, state.cross_v, state.source_mask,
                               new_conv if state.conv is not None else None)


class TransformerForSeq2SeqLM(nn.Module):
    """Encoder-decoder (translation, summarization): ``num_decoder_layers`` cross-attending blocks;
    one embedding matrix for source, target and output (a joint vocabulary)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        if not cfg.num_decoder_layers:
            raise ValueError("an encoder-decoder needs num_decoder_layers > 0")
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.decoder = TransformerDecoder(cfg, cfg.decoder_num_heads, cfg.decoder_ffn_dim, cross=True,
                                          cross_heads=cfg.decoder_cross_heads)
        self.decoder.embeddings.word = self.encoder.embeddings.word  # shared vocabulary table
        apply_low_rank(self, cfg.low_rank)
        self.apply(init_weights)
        word = self.encoder.embeddings.word
        if cfg.positions == "sinusoidal" and isinstance(word, nn.Embedding):  # scaled by √E in Embeddings
            nn.init.normal_(word.weight, std=word.embedding_dim ** -0.5)
            with torch.no_grad():
                word.weight[cfg.pad_token_id].zero_()

    def forward(self, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask=None, logits_at=None):
        """Teacher forcing: logits (B, T, V) for every target position, or (N, V) for the N positions
        where ``logits_at`` (B, T) is true (training: the real target tokens, so that the output
        projection and the softmax skip the padding)."""
        memory = self.encoder(input_ids, attention_mask).last_hidden  # (B, S, H)
        x = self.decoder(decoder_input_ids, decoder_attention_mask, memory, attention_mask)  # (B, T, H)
        if logits_at is not None:
            x = x[logits_at]  # (N, H)
        return tied_logits(x, self.decoder.embeddings, self.config.output_vocab_size)  # (B, T, V) or (N, V)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_target: int) -> DecoderState:
        """The source (B, S) → the decoding state: each layer's cross-attention K/V and an empty
        self-attention cache of ``max_target`` positions."""
        memory = self.encoder(input_ids, attention_mask).last_hidden  # (B, S, H)
        B = input_ids.shape[0]
        cross = [block.cross.kv(memory) for block in self.decoder.layers]  # per layer ((B, n, S, d), (B, n, S, d))
        empty = [memory.new_zeros(B, block.attn.n_heads, max_target, block.attn.head_dim)
                 for block in self.decoder.layers]  # per layer (B, n, L, d)
        conv = [None if b.local is None else memory.new_zeros(B, b.local.glu.out_features // 2, b.local.conv.kernel - 1)
                for b in self.decoder.layers]  # per LSRA layer (B, c, k-1): no past inputs yet
        return DecoderState(empty, [e.clone() for e in empty], [k for k, _ in cross], [v for _, v in cross],
                            padding_mask(attention_mask), conv if any(c is not None for c in conv) else None)

    def decode_step(self, token: torch.Tensor, position: torch.Tensor,
                    state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """``token`` (B, 1) at ``position`` (1,) → next-token logits (B, V) and the updated state."""
        x, state = self.decoder.step(token, position, state)
        return tied_logits(x, self.decoder.embeddings, self.config.output_vocab_size)[:, 0], state


class TransformerForCausalLM(nn.Module):
    """Decoder-only language model (GPT-style); the LM head is tied to the word embedding."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.config = cfg
        self.decoder = TransformerDecoder(cfg, cfg.num_heads, cfg.ffn_dim, cross=False)
        apply_low_rank(self, cfg.low_rank)
        self.apply(init_weights)

    def forward(self, input_ids, attention_mask=None) -> torch.Tensor:
        x = self.decoder(input_ids, attention_mask)
        return tied_logits(x, self.decoder.embeddings)  # (B, T, V)


def tied_logits(x: torch.Tensor, emb: Embeddings, outputs: int = 0) -> torch.Tensor:
    """(…, H) → (…, V) through the word embedding's transpose; (…, N) over the first ``outputs`` = N
    rows when the output layer is pruned (0: every row)."""
    if emb.project is not None:  # factorized: H -> E by the projection's transpose
        x = (x - emb.project.bias) @ emb.project.weight
    table = emb.word.weight if not outputs else emb.word.weight[:outputs]  # (V, E) or (N, E): a view
    return x @ table.T  # (…, V) or (…, N)


def output_targets(target: torch.Tensor, width: int, unk_id: int = 3) -> torch.Tensor:
    """``target`` ids with those a pruned output layer of ``width`` rows cannot produce (a reference
    piece its training targets never used) as ``<unk>``, so that a loss over ``width`` logits takes them."""
    return target.masked_fill(target >= width, unk_id)
