"""Export settings shared by the backends."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from liteformer.errors import LiteformerError

DEFAULT_BUCKETS = (16, 32, 64, 128)
# quantization methods each runtime realizes in its own file
QUANT_METHODS = {
    "onnx": ("int8-dynamic", "int8-static"),
    "litert": ("int8-dynamic", "int8-static", "int4-dynamic"),
    "executorch": ("int8-dynamic", "int8-static"),
}


@dataclass
class ExportOptions:
    max_length: int = 128  # longest input the artifact takes (tokens)
    buckets: tuple[int, ...] | None = None  # LiteRT static lengths; default 16/32/64/128 up to max_length
    quantize: str | None = None  # None (fp32) or a method of QUANT_METHODS
    calibration: list[list[int]] | None = None  # token ids of calibration inputs (static methods)
    keep_float: tuple[str, ...] = ()  # weight groups left in float (mixed precision)
    fuse: bool = True  # ONNX: ONNX Runtime's transformer fusions (see liteformer.export.onnx_fuse)

    def check_quantize(self, runtime: str) -> None:
        if self.quantize is None:
            if self.keep_float:
                raise LiteformerError("--keep-float needs --quantize")
            return
        ok = QUANT_METHODS.get(runtime, ())
        if self.quantize not in ok:
            raise LiteformerError(f"{runtime} does not support quantization {self.quantize!r} "
                                  f"(it supports: {', '.join(ok) or 'none'})")
        if self.quantize.endswith("static") and not self.calibration:
            raise LiteformerError(f"{self.quantize} needs a non-empty calibration set (--calibration-data)")
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

    def bucket_list(self) -> list[int]:
        if self.buckets:
            b = sorted(set(self.buckets))
        else:
            b = [x for x in DEFAULT_BUCKETS if x < self.max_length]
        return b if b and b[-1] == self.max_length else [*b, self.max_length]


def sample_inputs(batch: int, length: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    # values do not matter for tracing; the shapes and dtypes do
    return torch.ones(batch, length, dtype=dtype), torch.ones(batch, length, dtype=dtype)
