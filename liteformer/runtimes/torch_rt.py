"""PyTorch eager runtime for model folders; variant ``int8-dynamic`` quantizes Linear layers
(int8 weights, activations quantized on the fly) at load time."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from liteformer.models.checkpoint import load_model
from liteformer.models.transformer import count_parameters

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class TorchRunner:
    runtime = "torch"

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(True)
        loaded = load_model(path)
        loaded.require_classifier("the PyTorch runner (bench)")
        self.path, self.variant = path, variant
        self.tokenizer, self.config = loaded.tokenizer, loaded.model.config
        self.id2label = dict(self.config.id2label)
        self.parameters = count_parameters(loaded.model)
        self.model = loaded.model.eval()
        self.weights_bytes = None
        if variant == "int8-dynamic":
            self.model = _int8_dynamic(self.model)
            buf = io.BytesIO()  # the quantized weights as they would be stored
            torch.save(self.model.state_dict(), buf)
            self.weights_bytes = buf.tell()

    @torch.inference_mode()
    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self.model(torch.from_numpy(input_ids), torch.from_numpy(attention_mask)).numpy()

    def describe(self) -> dict:
        files = [f for f in self.path.iterdir() if f.is_file() and f.name != "training.json"]
        weights = [f for f in files if f.name in WEIGHT_FILES]
        size = sum(f.stat().st_size for f in files)
        if self.weights_bytes is not None:  # in-memory variant: count its serialized weights instead
            size += self.weights_bytes - sum(f.stat().st_size for f in weights)
        return {"files": [str(f) for f in files], "size_bytes": size, "parameters": self.parameters,
                "config": self.config.to_dict(), "fixed_lengths": None}


def _int8_dynamic(model: torch.nn.Module) -> torch.nn.Module:
    from liteformer.compress.quantize import Int8DynamicConfig, quantize_
    return quantize_(model, Int8DynamicConfig())


def load(path: Path, variant: str | None, threads: int) -> TorchRunner:
    return TorchRunner(path, variant, threads)
