"""Export settings shared by the backends."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from liteformer.compress.quantize import QuantizeConfig, quantize_config
from liteformer.errors import LiteformerError
from liteformer.runtimes import check_quantization

DEFAULT_BUCKETS = (16, 32, 64, 128)


@dataclass
class ExportOptions:
    max_length: int = 128  # longest input the artifact takes (tokens)
    buckets: tuple[int, ...] | None = None  # LiteRT static lengths; default 16/32/64/128 up to max_length
    # None (fp32) or a quantization config (compress.quantize: Int8DynamicConfig(keep_float=...), ...);
    # a method name ("int8-dynamic") is taken as its config
    quantize: QuantizeConfig | str | None = None
    calibration: list[list[int]] | None = None  # token ids of calibration inputs (static methods)
    fuse: bool = True  # ONNX: ONNX Runtime's transformer fusions (see liteformer.export.onnx_fuse)
    # generation models: the decoder cache's fixed length = the longest output (tokens, <s> included);
    # None: 128, or the model's positions if fewer
    max_target: int | None = None
    # speech models: the longest clip (seconds; None: 8 s, or the model's positions if less) and
    # LiteRT's audio-length buckets (seconds; default 1/2/4/8 up to max_seconds)
    max_seconds: float | None = None
    audio_buckets: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.quantize, str):
            self.quantize = quantize_config(self.quantize)

    @property
    def method(self) -> str | None:
        """The quantization method's name, or None for fp32."""
        return self.quantize.method if self.quantize is not None else None

    @property
    def keep_float(self) -> tuple[str, ...]:
        """Weight groups left in float (mixed precision)."""
        return tuple(self.quantize.keep_float) if self.quantize is not None else ()

    def check_quantize(self, runtime: str) -> None:
        if self.quantize is None:
            return
        check_quantization(runtime, self.quantize.method)
        if self.quantize.static and not self.calibration:
            raise LiteformerError(f"{self.quantize.method} needs a non-empty calibration set (--calibration-data)")
        if self.keep_float and runtime == "litert":
            raise LiteformerError("litert: --keep-float (mixed precision) is not supported; "
                                  "its dynamic-range int8 keeps accuracy without it")

    def validate(self, max_positions: int) -> None:
        if not 2 <= self.max_length <= max_positions:
            raise LiteformerError(f"max-length {self.max_length} must be in [2, {max_positions}] "
                                  "(the model's positions)")
        if self.buckets is not None:
            bad = [b for b in self.buckets if not 2 <= b <= self.max_length]
            if bad or not self.buckets:
                raise LiteformerError(f"buckets {list(self.buckets)} must be in [2, max-length {self.max_length}]")

    def check_model(self, cfg) -> None:
        """``validate`` for this model (a TransformerConfig), and its light blocks' kernels fit the inputs."""
        self.validate(cfg.max_positions)
        kernels = [k for k, c in zip(cfg.conv_kernel, cfg.conv_dim, strict=True) if c] + [
            k for k, c in zip(cfg.conv_kernel, cfg.conv_module, strict=True) if c] + (
            cfg.conv_kernel if cfg.ffn_type == "inverted" else [])
        if kernels and not cfg.audio and max(kernels) > self.max_length:
            raise LiteformerError(f"the model's convolution kernel {max(kernels)} is longer than the longest input "
                                  f"({self.max_length} tokens): export with --max-length >= {max(kernels)}")

    def target_length(self, max_positions: int) -> int:
        """The decoder cache's length for a model with ``max_positions`` positions (checked)."""
        L = self.max_target if self.max_target is not None else min(128, max_positions)
        if not isinstance(L, int) or not 2 <= L <= max_positions:
            raise LiteformerError(f"max-target {L} must be in [2, {max_positions}] (the model's positions; "
                                  "the longest output in tokens)")
        return L

    def audio_lengths(self, audio, max_positions: int) -> tuple[int, list[int]]:
        """(the most samples, LiteRT's bucket lengths in samples) for a speech model's AudioConfig:
        each padded to the form the graph takes (``AudioConfig.padded``), checked against its positions."""
        most = audio.most_samples(max_positions)
        seconds = self.max_seconds if self.max_seconds is not None else min(8.0, most / audio.sample_rate)
        top = audio.padded(int(round(seconds * audio.sample_rate)))
        if not 0 < seconds or top > most:
            raise LiteformerError(f"max-seconds {seconds:g} must be in (0, {most / audio.sample_rate:.2f}] "
                                  f"(the model's {max_positions} positions)")
        wanted = self.audio_buckets or tuple(b for b in (1.0, 2.0, 4.0) if b < seconds)
        bad = [b for b in wanted if not 0 < b <= seconds]
        if bad:
            raise LiteformerError(f"audio buckets {list(wanted)} must be in (0, max-seconds {seconds:g}]")
        buckets = sorted({audio.padded(int(round(b * audio.sample_rate))) for b in wanted} | {top})
        return top, buckets

    def bucket_list(self) -> list[int]:
        if self.buckets:
            b = sorted(set(self.buckets))
        else:
            b = [x for x in DEFAULT_BUCKETS if x < self.max_length]
        return b if b and b[-1] == self.max_length else [*b, self.max_length]


def sample_inputs(batch: int, length: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    # values do not matter for tracing; the shapes and dtypes do
    return torch.ones(batch, length, dtype=dtype), torch.ones(batch, length, dtype=dtype)
