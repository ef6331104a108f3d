"""ONNX Runtime (CPU execution provider) for .onnx bundles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from liteformer.runtimes.runner import BundleRunner


class OnnxRunner(BundleRunner):
    runtime = "onnx"

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        super().__init__(path, variant, threads)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.artifact), so, providers=["CPUExecutionProvider"])
        self.output = self.session.get_outputs()[0].name

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64)}
        return self.session.run([self.output], feed)[0]


def load(path: Path, variant: str | None, threads: int) -> OnnxRunner:
    return OnnxRunner(path, variant, threads)
