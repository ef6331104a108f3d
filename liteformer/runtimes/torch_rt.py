"""PyTorch eager runtime for model folders; variant ``int8-dynamic`` quantizes Linear layers
(int8 weights, activations quantized on the fly) at load time. An encoder-decoder runs through the
same two graphs as its exports (models/seq2seq_graphs), in eager mode, so the bench times the
teacher with the very loop the bundles use."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from liteformer.models.checkpoint import LoadedModel, load_model
from liteformer.models.transformer import count_parameters

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class TorchRunner:
    runtime = "torch"

    def __init__(self, path: Path, variant: str | None, threads: int, loaded: LoadedModel | None = None) -> None:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(True)
        loaded = loaded or load_model(path)
        self.task = loaded.task
        self.path, self.variant = Path(path), variant
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


class TorchGenerationRunner(TorchRunner):
    """An encoder-decoder folder with the ``GenerationRunner`` interface (encode/decode on NumPy)."""

    batch1 = False

    def __init__(self, path: Path, variant: str | None, threads: int, loaded: LoadedModel | None = None,
                 max_target: int | None = None) -> None:
        super().__init__(path, variant, threads, loaded)
        from liteformer.models import seq2seq_graphs as g
        L = max_target or min(128, self.config.max_positions)
        self.layout = g.layout(self.model, L)
        self.max_target = L
        self.generation = {"layout": self.layout, "bos_id": self.tokenizer.bos_id, "eos_id": self.tokenizer.eos_id}
        self.graphs = g.EncodeGraph(self.model).eval(), g.DecodeGraph(self.model).eval()

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        raise TypeError("an encoder-decoder has no single entry point; use encode/decode")

    def pad_source(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ids, mask

    @torch.inference_mode()
    def encode(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k, v = self.graphs[0](torch.from_numpy(ids).long(), torch.from_numpy(mask).long())
        return k.numpy(), v.numpy()

    @torch.inference_mode()
    def decode(self, *args: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """As ``GenerationRunner.decode``; a trailing ``conv`` cache is None for a decoder without LSRA."""
        t = [torch.from_numpy(np.asarray(a)) for a in args if a is not None]
        t[0], t[1], t[2] = t[0].long(), t[1].long().reshape(1), t[2].long()
        return tuple(o.numpy() for o in self.graphs[1](*t))


class TorchSpeechRunner(TorchRunner):
    """A speech model folder with the ``SpeechRunner`` interface; clips run unpadded (any length the
    model's positions allow)."""

    def __init__(self, path: Path, variant: str | None, threads: int, loaded: LoadedModel | None = None) -> None:
        super().__init__(path, variant, threads, loaded)
        a = self.model.audio
        self.sample_rate, self.max_samples = a.sample_rate, a.most_samples(self.config.max_positions)

    def pad(self, clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        audio = np.asarray(clip, np.float32)[None]
        return audio, np.ones_like(audio)

    @torch.inference_mode()
    def __call__(self, audio: np.ndarray, audio_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, frames = self.model(torch.from_numpy(audio), torch.from_numpy(audio_mask))
        return logits.numpy(), frames.numpy()


def load(path: Path, variant: str | None, threads: int) -> TorchRunner:
    loaded = load_model(path)
    cls = TorchGenerationRunner if loaded.is_generator else TorchSpeechRunner if loaded.is_speech else TorchRunner
    return cls(path, variant, threads, loaded)
