"""Export settings shared by the backends."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from liteformer.errors import LiteformerError

DEFAULT_BUCKETS = (16, 32, 64, 128)


@dataclass
class ExportOptions:
    max_length: int = 128  # longest input the artifact takes (tokens)
    buckets: tuple[int, ...] | None = None  # LiteRT static lengths; default 16/32/64/128 up to max_length

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
