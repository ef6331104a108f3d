"""The two exported entry points of an encoder-decoder (``TransformerForSeq2SeqLM``), with static
shapes a phone runtime can run:

    encode(input_ids (B, S), attention_mask (B, S)) -> cross_k, cross_v        each (B, Nx, S, d)
    decode(token (B, 1), position (1,), attention_mask (B, S),
           self_k, self_v (B, N, L, d), cross_k, cross_v (B, Nx, S, d))
        -> logits (B, V), self_k_out, self_v_out (B, N, L, d)

The per-layer caches are stacked on the head axis (layers may have different head counts, the head
size d is shared): decoder layer i owns heads ``offsets[i]:offsets[i+1]`` of the stacked tensor, so a
graph has 2 cache inputs and 2 cross inputs whatever its depth. ``N`` = self-attention heads over
all decoder layers, ``Nx`` = cross-attention heads, ``L`` = the cache's fixed length (the longest
output, ``max_target``). A step writes its keys/values at slot ``position`` and attends to slots
``<= position``; the app feeds ``self_k_out``/``self_v_out`` back as the next step's cache. No
dynamic slicing, no branches: the same graph runs every step.

A decoder with long-short range attention (models/light.py) has one more cache, of its causal
convolution branches' last inputs: ``conv`` (B, C, K) in, ``conv_out`` out, where C = the branches'
channels over all decoder layers and K = the longest kernel − 1; layer i owns channels
``conv_offsets[i]:conv_offsets[i+1]`` and, of a kernel k, the last k−1 frames (the sidecar's
``generation.layout.conv_layers`` lists each layer's [channels, kernel]).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from liteformer.models.seq2seq import DecoderState, TransformerForSeq2SeqLM, tied_logits
from liteformer.models.transformer import padding_mask

ENCODE_INPUTS = ("input_ids", "attention_mask")
ENCODE_OUTPUTS = ("cross_k", "cross_v")
DECODE_INPUTS = ("token", "position", "attention_mask", "self_k", "self_v", "cross_k", "cross_v")
DECODE_OUTPUTS = ("logits", "self_k_out", "self_v_out")
CONV_INPUT, CONV_OUTPUT = "conv", "conv_out"  # only in the decode graph of an LSRA decoder


def conv_layers(model: TransformerForSeq2SeqLM) -> list[list[int]] | None:
    """Each decoder layer's [convolution channels, kernel] ([0, 0] for a plain layer), or None when no
    layer has a convolution branch."""
    out = [[b.local.glu.in_features, b.local.conv.kernel] if b.local is not None else [0, 0]
           for b in model.decoder.layers]
    return out if any(c for c, _ in out) else None


def decode_names(model: TransformerForSeq2SeqLM) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The decode graph's input and output names."""
    if conv_layers(model) is None:
        return DECODE_INPUTS, DECODE_OUTPUTS
    return (*DECODE_INPUTS, CONV_INPUT), (*DECODE_OUTPUTS, CONV_OUTPUT)


def head_offsets(heads: list[int]) -> list[int]:
    """[0, h0, h0+h1, ...]: where each layer's heads start in the stacked cache."""
    out = [0]
    for h in heads:
        out.append(out[-1] + h)
    return out


def layout(model: TransformerForSeq2SeqLM, max_target: int) -> dict:
    """What the graphs' cache tensors hold (the sidecar's ``generation.layout``)."""
    layers = model.decoder.layers
    self_heads = [b.attn.n_heads for b in layers]
    cross_heads = [b.cross.n_heads for b in layers]
    out = {"max_target": max_target, "head_dim": model.config.head_dim, "self_heads": self_heads,
           "cross_heads": cross_heads, "self_cache": [sum(self_heads), max_target, model.config.head_dim],
           "cross_cache": [sum(cross_heads), "source", model.config.head_dim],
           "vocab_size": model.config.vocab_size,
           "logits": model.config.output_vocab_size or model.config.vocab_size}  # ids 0..logits-1 are outputs
    conv = conv_layers(model)
    if conv is not None:
        out["conv_layers"] = conv
        out["conv_cache"] = [sum(c for c, _ in conv), max(k for _, k in conv) - 1]
    return out


class EncodeGraph(nn.Module):
    """The source → every decoder layer's cross-attention keys/values, stacked."""

    def __init__(self, model: TransformerForSeq2SeqLM) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        memory = self.model.encoder(input_ids, attention_mask).last_hidden  # (B, S, H)
        kv = [block.cross.kv(memory) for block in self.model.decoder.layers]  # per layer 2 × (B, n, S, d)
        return torch.cat([k for k, _ in kv], 1), torch.cat([v for _, v in kv], 1)  # (B, Nx, S, d) each


class DecodeGraph(nn.Module):
    """One decoder step over the stacked caches. ``output``: an explicit (V, E) output Linear in place
    of the tied embedding's transpose (a runtime whose quantizer handles Linear layers, not a
    vocabulary table read twice — ExecuTorch with int8 rows — runs it as one int8 GEMM)."""

    def __init__(self, model: TransformerForSeq2SeqLM, output: nn.Linear | None = None) -> None:
        super().__init__()
        self.model = model
        self.output = output
        layers = model.decoder.layers
        self.self_at = head_offsets([b.attn.n_heads for b in layers])
        self.cross_at = head_offsets([b.cross.n_heads for b in layers])
        self.conv = conv_layers(model)  # per layer [channels, kernel], or None
        if self.conv is not None:
            self.conv_at = head_offsets([c for c, _ in self.conv])
            self.conv_k = max(k for _, k in self.conv) - 1  # K: the stacked cache's frames

    def forward(self, token: torch.Tensor, position: torch.Tensor, attention_mask: torch.Tensor,
                self_k: torch.Tensor, self_v: torch.Tensor, cross_k: torch.Tensor, cross_v: torch.Tensor,
                conv: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        s, c = self.self_at, self.cross_at
        per = lambda x, at: [x[:, at[i]:at[i + 1]] for i in range(len(at) - 1)]  # noqa: E731  static slices
        convs = None
        if self.conv is not None:  # layer i: its channels, the last k-1 of the K frames (B, c, k-1)
            K = self.conv_k
            convs = [conv[:, self.conv_at[i]:self.conv_at[i + 1], K - k + 1:] if ch else None
                     for i, (ch, k) in enumerate(self.conv)]
        state = DecoderState(per(self_k, s), per(self_v, s), per(cross_k, c), per(cross_v, c),
                             padding_mask(attention_mask), convs)  # source mask (B, 1, 1, S)
        x, state = self.model.decoder.step(token, position, state)  # (B, 1, H)
        if self.output is not None:
            logits = self.output(x)[:, 0]  # (B, V)
        else:
            emb, n = self.model.decoder.embeddings, self.model.config.output_vocab_size
            logits = tied_logits(x, emb, n)[:, 0]  # (B, V), or (B, N) over a pruned output layer
        out = logits, torch.cat(state.self_k, 1), torch.cat(state.self_v, 1)  # (B, V), 2 × (B, N, L, d)
        if self.conv is None:
            return out
        pad = [F.pad(x, (self.conv_k - x.shape[2], 0)) for x in state.conv if x is not None]  # each (B, c, K)
        return (*out, torch.cat(pad, 1))  # + (B, C, K)


def sample_inputs(model: TransformerForSeq2SeqLM, max_target: int, rows: int, source: int,
                  id_dtype: torch.dtype) -> tuple[dict, dict]:
    """Example keyword inputs of the encode and decode graphs (values do not matter for tracing)."""
    lay = layout(model, max_target)
    N, _, d = lay["self_cache"]
    Nx = lay["cross_cache"][0]
    ids = torch.ones(rows, source, dtype=id_dtype)
    encode = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    decode = {"token": torch.ones(rows, 1, dtype=id_dtype), "position": torch.zeros(1, dtype=id_dtype),
              "attention_mask": torch.ones_like(ids),
              "self_k": torch.zeros(rows, N, max_target, d), "self_v": torch.zeros(rows, N, max_target, d),
              "cross_k": torch.zeros(rows, Nx, source, d), "cross_v": torch.zeros(rows, Nx, source, d)}
    if "conv_cache" in lay:
        decode[CONV_INPUT] = torch.zeros(rows, *lay["conv_cache"])
    return encode, decode


def untied_output(model: TransformerForSeq2SeqLM) -> nn.Linear | None:
    """A Linear holding the tied output projection's weight (a copy), or None for a factorized table."""
    emb = model.decoder.embeddings
    if emb.project is not None:
        return None
    w = emb.word.weight.detach()  # (V, E)
    if model.config.output_vocab_size:  # a pruned output layer: the first N rows
        w = w[: model.config.output_vocab_size]  # (N, E)
    out = nn.Linear(w.shape[1], w.shape[0], bias=False)
    with torch.no_grad():
        out.weight.copy_(w)
    return out
