"""ONNX Runtime (CPU execution provider) for .onnx bundles: one graph for a classifier or a speech
recognizer, two (``encode.onnx`` and ``decode.onnx``) for a generation model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from liteformer.errors import LiteformerError
from liteformer.runtimes.bundle import read_sidecar
from liteformer.runtimes.runner import BundleRunner, GenerationRunner, SpeechRunner, is_generation, is_speech


def session(path: Path, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class OnnxRunner(BundleRunner):
    runtime = "onnx"

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        super().__init__(path, variant, threads)
        self.session = session(self.artifact, threads)
        self.output = self.session.get_outputs()[0].name

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64)}
        return self.session.run([self.output], feed)[0]


class OnnxGenerationRunner(GenerationRunner):
    runtime = "onnx"

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        super().__init__(path, variant, threads)
        graphs = self.meta.get("graphs")
        if not isinstance(graphs, dict) or set(graphs) != {"encode", "decode"}:
            raise LiteformerError(f"{self.path}: its sidecar must name the 'encode' and 'decode' graphs")
        folder = self.artifact.parent
        for name, file in graphs.items():
            if not isinstance(file, str) or Path(file).name != file or not (folder / file).is_file():
                raise LiteformerError(f"{folder}: the generation bundle lacks its {name} graph ({file!r})")
        self.enc = session(folder / graphs["encode"], threads)
        self.dec = session(folder / graphs["decode"], threads)
        shape = next((i.shape for i in self.dec.get_inputs() if i.name == "self_k"), None)
        if shape is None or not all(isinstance(x, int) for x in shape[1:]):
            raise LiteformerError(f"{folder / graphs['decode']}: not a liteformer decode graph (no fixed self_k input)")
        self.check_graph_cache(shape, folder / graphs["decode"])

    def _encode(self, ids, mask):
        return tuple(self.enc.run(None, {"input_ids": ids, "attention_mask": mask}))

    def _decode(self, token, position, mask, self_k, self_v, cross_k, cross_v, conv=None):
        feed = {"token": token, "position": position, "attention_mask": mask, "self_k": self_k, "self_v": self_v,
                "cross_k": cross_k, "cross_v": cross_v}
        if conv is not None:
            feed["conv"] = conv
        return tuple(self.dec.run(None, feed))


class OnnxSpeechRunner(SpeechRunner):
    runtime = "onnx"

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        super().__init__(path, variant, threads)
        self.session = session(self.artifact, threads)

    def _run(self, audio, audio_mask):
        return tuple(self.session.run(None, {"audio": audio, "audio_mask": audio_mask}))


def load(path: Path, variant: str | None, threads: int) -> OnnxRunner | OnnxGenerationRunner | OnnxSpeechRunner:
    meta = read_sidecar(path, "onnx")
    cls = OnnxGenerationRunner if is_generation(meta) else OnnxSpeechRunner if is_speech(meta) else OnnxRunner
    return cls(path, variant, threads)
