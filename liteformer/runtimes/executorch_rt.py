"""ExecuTorch runtime (XNNPACK-lowered .pte) for .pte bundles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from executorch.runtime import Runtime

from liteformer.errors import LiteformerError
from liteformer.runtimes.bundle import read_sidecar
from liteformer.runtimes.runner import BundleRunner, GenerationRunner, SpeechRunner, is_generation, is_speech


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


class ExecuTorchGenerationRunner(GenerationRunner):
    """One .pte with the methods ``encode`` and ``decode`` (batch 1, dynamic source length)."""

    runtime = "executorch"
    batch1 = True

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        super().__init__(path, variant, threads)
        torch.set_num_threads(threads)
        self.program = Runtime.get().load_program(str(self.artifact))
        missing = [m for m in ("encode", "decode") if m not in self.program.method_names]
        if missing:
            raise LiteformerError(f"{self.artifact}: lacks the method(s) {missing} of a generation bundle")
        self.enc = self.program.load_method("encode")
        self.dec = self.program.load_method("decode")
        self.check_graph_cache(self.dec.metadata.input_tensor_meta(3).sizes(), self.artifact)  # self_k

    def _encode(self, ids, mask):
        out = self.enc.execute([torch.from_numpy(ids), torch.from_numpy(mask)])
        return out[0].numpy(), out[1].numpy()

    def _decode(self, *args):
        out = self.dec.execute([torch.from_numpy(np.ascontiguousarray(a)) for a in args])
        return tuple(o.numpy() for o in out)


class ExecuTorchSpeechRunner(SpeechRunner):
    """Method ``forward``: any n_fft + stride·k samples up to the longest."""

    runtime = "executorch"

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        super().__init__(path, variant, threads)
        torch.set_num_threads(threads)
        self.program = Runtime.get().load_program(str(self.artifact))
        self.method = self.program.load_method("forward")

    def _run(self, audio, audio_mask):
        out = self.method.execute([torch.from_numpy(audio), torch.from_numpy(audio_mask)])
        return out[0].numpy(), out[1].numpy()


def load(path: Path, variant: str | None, threads: int):
    meta = read_sidecar(path, "executorch")
    cls = ExecuTorchGenerationRunner if is_generation(meta) else ExecuTorchSpeechRunner if is_speech(meta) \
        else ExecuTorchRunner
    return cls(path, variant, threads)
