"""Light building blocks of the own Transformer — the design's third route to a small model (after
compression and distillation): switches of ``TransformerConfig``, per layer where it makes sense.

- **Long-short range attention** (LSRA, Lite Transformer, Wu et al. 2020): a layer's channels are
  split; the first ``H - c`` go through multi-head attention (global context), the last ``c`` through
  a GLU and a depthwise 1-D convolution (local context), and the two are concatenated. In a decoder
  the convolution is causal and keeps its last k−1 frames as an explicit cache tensor, so a step
  decodes like attention with its key/value cache.
- **Conformer convolution module** after the attention: pointwise H → 2H, GLU, depthwise conv,
  LayerNorm, SiLU, pointwise H → H.
- **Inverted-residual feed-forward** (MobileNetV2): pointwise expand H → F, activation, depthwise conv
  over time on the F channels, activation, linear projection F → H.
- **MobileBERT bottlenecks**: the layer works at a narrow inner width b, with linear projections
  H → b in and b → H out (and its own residual and norm around the layer), optionally several stacked
  feed-forwards; ``NoNorm`` (x ⊙ γ + β) in place of LayerNorm.

Convolutions are standard ``nn.Conv1d(groups=channels)`` (no custom kernels: every runtime has a
depthwise convolution; LiteRT runs a 1-D one as 2-D). Padded frames are zeroed before every
convolution, so a padded sequence gives the unpadded one's outputs (static-length buckets are exact).
Shapes: B batch, T time, C channels of the convolution, k kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("layer", "nonorm")
FFN_TYPES = ("dense", "inverted")


@dataclass(frozen=True)
class LightSpec:
    """One layer's light switches (``TransformerConfig.light_spec``)."""

    conv_dim: int = 0  # LSRA: channels of the convolution branch (0: attention only)
    kernel: int = 7  # the depthwise convolutions' kernel (LSRA, conv module, inverted FFN)
    conv_module: bool = False  # a Conformer convolution module after the attention
    ffn_type: str = "dense"  # "dense" or "inverted"
    bottleneck: int | None = None  # MobileBERT: the inner width (None: the hidden size)
    ffn_stack: int = 1  # stacked feed-forwards per layer
    causal: bool = False  # a decoder layer: convolutions see only the past

    @property
    def plain(self) -> bool:
        return (not self.conv_dim and not self.conv_module and self.ffn_type == "dense" and self.bottleneck is None
                and self.ffn_stack == 1)


class NoNorm(nn.Module):
    """MobileBERT's NoNorm: x ⊙ γ + β — an element-wise affine, no mean or variance (faster on phones)."""

    def __init__(self, dim: int, eps: float | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight + self.bias


def make_norm(kind: str, dim: int, eps: float) -> nn.Module:
    """LayerNorm (``"layer"``) or NoNorm (``"nonorm"``) over the last axis of width ``dim``."""
    return NoNorm(dim) if kind == "nonorm" else nn.LayerNorm(dim, eps=eps)


class DepthwiseConv(nn.Module):
    """A depthwise 1-D convolution over time of (B, T, C): every channel its own k taps. Centred
    (k odd, k//2 frames each side) or causal (the k−1 previous frames)."""

    def __init__(self, channels: int, kernel: int, causal: bool) -> None:
        super().__init__()
        self.kernel, self.causal = kernel, causal
        self.conv = nn.Conv1d(channels, channels, kernel, groups=channels, padding=0 if causal else kernel // 2)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, C) → (B, T, C); ``keep`` (B, T, 1) zeroes padded frames first."""
        if keep is not None:
            x = x * keep
        x = x.transpose(1, 2)  # (B, C, T)
        if self.causal:
            x = F.pad(x, (self.kernel - 1, 0))  # (B, C, k-1+T)
        return self.conv(x).transpose(1, 2)  # (B, T, C)

    def step(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One causal frame: x (B, 1, C) and the last k−1 inputs (B, C, k−1) → (B, 1, C), new cache."""
        window = torch.cat([cache, x.transpose(1, 2)], 2)  # (B, C, k)
        return self.conv(window).transpose(1, 2), window[:, :, 1:]


class LocalBranch(nn.Module):
    """LSRA's convolution branch on C channels: GLU (C → 2C → C), depthwise conv, pointwise C → C."""

    def __init__(self, channels: int, kernel: int, causal: bool) -> None:
        super().__init__()
        self.glu = nn.Linear(channels, 2 * channels)
        self.conv = DepthwiseConv(channels, kernel, causal)
        self.out = nn.Linear(channels, channels)

    def _gate(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.glu(x).chunk(2, -1)  # 2 × (B, T, C)
        return a * torch.sigmoid(b)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.conv(self._gate(x), keep))  # (B, T, C)

    def step(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, cache = self.conv.step(self._gate(x), cache)  # (B, 1, C), (B, C, k-1)
        return self.out(y), cache


class ConvModule(nn.Module):
    """Conformer's convolution module on H channels: pointwise H → 2H, GLU, depthwise conv, LayerNorm
    (not BatchNorm: batch statistics would make a padded batch and a phone's single sentence differ),
    SiLU, pointwise H → H."""

    def __init__(self, hidden: int, kernel: int, eps: float) -> None:
        super().__init__()
        self.glu = nn.Linear(hidden, 2 * hidden)
        self.conv = DepthwiseConv(hidden, kernel, causal=False)
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        a, b = self.glu(x).chunk(2, -1)  # 2 × (B, T, H)
        h = self.conv(a * torch.sigmoid(b), keep)  # (B, T, H)
        return self.out(F.silu(self.norm(h)))  # (B, T, H)


class InvertedFeedForward(nn.Module):
    """MobileNetV2's inverted residual over tokens: H → F, act, depthwise conv (F channels), act, F → H."""

    def __init__(self, hidden: int, ffn: int, kernel: int, activation: nn.Module) -> None:
        super().__init__()
        self.up = nn.Linear(hidden, ffn)
        self.act = activation
        self.conv = DepthwiseConv(ffn, kernel, causal=False)
        self.down = nn.Linear(ffn, hidden)

    @property
    def width(self) -> int:
        up = self.up.b if hasattr(self.up, "b") else self.up  # a low-rank ``up``: its second factor
        return up.out_features

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        h = self.act(self.up(x))  # (B, T, F)
        return self.down(self.act(self.conv(h, keep)))  # (B, T, H)


def light_blocks(cfg) -> list[str]:  # cfg: TransformerConfig
    """The kinds of light block a config uses, named for messages (empty: a plain Transformer)."""
    kinds = [("LSRA convolution branches", any(cfg.conv_dim)), ("convolution modules", any(cfg.conv_module)),
             ("inverted-residual FFNs", cfg.ffn_type == "inverted"), ("bottlenecks", cfg.bottleneck_dim is not None),
             ("stacked FFNs", cfg.ffn_stack > 1), ("NoNorm", cfg.norm == "nonorm"),
             ("causal convolution branches", bool(cfg.num_decoder_layers and any(cfg.decoder_conv_dim)))]
    return [name for name, used in kinds if used]


def keep_frames(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, T) of 1/0 → (B, T, 1) multiplier that zeroes padded frames before a convolution."""
    return attention_mask.to(dtype)[:, :, None]


def validate_light(cfg) -> None:  # cfg: TransformerConfig (not imported: config.py imports this file)
    """The light switches' one-line errors (called from ``TransformerConfig.validate``)."""
    H = cfg.hidden_size
    if cfg.norm not in NORMS:
        raise ValueError(f"norm {cfg.norm!r} not in {NORMS}")
    if cfg.ffn_type not in FFN_TYPES:
        raise ValueError(f"ffn_type {cfg.ffn_type!r} not in {FFN_TYPES}")
    if not isinstance(cfg.ffn_stack, int) or isinstance(cfg.ffn_stack, bool) or cfg.ffn_stack < 1:
        raise ValueError(f"ffn_stack must be an integer >= 1, got {cfg.ffn_stack!r}")
    inner = H
    if cfg.bottleneck_dim is not None:
        if not isinstance(cfg.bottleneck_dim, int) or isinstance(cfg.bottleneck_dim, bool) or not (
                0 < cfg.bottleneck_dim < H):
            raise ValueError(f"bottleneck_dim must be an integer in (0, hidden_size {H}), got {cfg.bottleneck_dim!r}")
        if cfg.num_decoder_layers:
            raise ValueError("bottleneck_dim is for encoder layers; an encoder-decoder keeps full-width layers")
        inner = cfg.bottleneck_dim
    stacks = [("conv_dim", cfg.conv_dim, cfg.conv_kernel, inner)]
    if cfg.num_decoder_layers:
        stacks.append(("decoder_conv_dim", cfg.decoder_conv_dim, cfg.decoder_conv_kernel, H))
    for name, dims, kernels, width in stacks:
        for i, (c, k) in enumerate(zip(dims, kernels, strict=True)):
            if not 0 <= c < width:
                raise ValueError(f"{name}[{i}] = {c}: the convolution branch takes 0 .. {width - 1} of the layer's "
                                 f"{width} channels (the rest stay with attention)")
            if k < 3 or k % 2 == 0:
                raise ValueError(f"{name.replace('dim', 'kernel')}[{i}] = {k}: kernels must be odd and >= 3")
    if cfg.max_positions and any(k > cfg.max_positions for k in cfg.conv_kernel):
        raise ValueError(f"conv_kernel {max(cfg.conv_kernel)} is longer than max_positions {cfg.max_positions}")
