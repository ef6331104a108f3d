"""LiteRT Interpreter (ai_edge_litert) for .tflite bundles with one signature per length bucket.

Each input is padded to the smallest bucket that holds it (padding is masked out, so the logits do
not change) and run through that bucket's signature runner, which does the seed's
allocate_tensors / set_tensor / invoke / get_tensor on its subgraph.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from liteformer.runtimes.runner import BundleRunner


class LiteRTRunner(BundleRunner):
    runtime = "litert"

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        super().__init__(path, variant, threads)
        self.interpreter = Interpreter(model_path=str(self.artifact), num_threads=threads)
        self.buckets = sorted(self.meta["buckets"])
        names = {int(v): k for k, v in self.meta["signatures"].items()}
        self.runners = {T: self.interpreter.get_signature_runner(names[T]) for T in self.buckets}

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        B, T = input_ids.shape
        i = bisect.bisect_left(self.buckets, T)
        if i == len(self.buckets):
            raise ValueError(f"input of {T} tokens exceeds the largest bucket {self.buckets[-1]}")
        L = self.buckets[i]
        outs = []
        for b in range(B):  # signatures have batch 1
            ids = np.zeros((1, L), dtype=np.int32)
            mask = np.zeros((1, L), dtype=np.int32)
            ids[0, :T], mask[0, :T] = input_ids[b], attention_mask[b]
            res = self.runners[L](input_ids=ids, attention_mask=mask)
            outs.append(next(iter(res.values())))
        return np.concatenate(outs, axis=0)


def load(path: Path, variant: str | None, threads: int) -> LiteRTRunner:
    return LiteRTRunner(path, variant, threads)
