"""ExecuTorch runtime (XNNPACK-lowered .pte) for .pte bundles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from executorch.runtime import Runtime

from liteformer.runtimes.runner import BundleRunner


class ExecuTorchRunner(BundleRunner):
    runtime = "executorch"

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        super().__init__(path, variant, threads)
        torch.set_num_threads(threads)
        self.program = Runtime.get().load_program(str(self.artifact))
        self.method = self.program.load_method("forward")

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        out = self.method.execute([torch.from_numpy(input_ids.astype(np.int64)),
                                   torch.from_numpy(attention_mask.astype(np.int64))])
        return out[0].numpy()


def load(path: Path, variant: str | None, threads: int) -> ExecuTorchRunner:
    return ExecuTorchRunner(path, variant, threads)
