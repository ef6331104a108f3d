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

from liteformer.errors import LiteformerError
from liteformer.runtimes.bundle import read_sidecar
from liteformer.runtimes.runner import BundleRunner, GenerationRunner, SpeechRunner, is_generation, is_speech


class LiteRTRunner(BundleRunner):
    runtime = "litert"

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        super().__init__(path, variant, threads)
        self.interpreter = Interpreter(model_path=str(self.artifact), num_threads=threads)
        self.buckets = sorted(self.meta["buckets"])
        names = {int(v): k for k, v in self.meta["signatures"].items()}
        self.runners = {T: self.interpreter.get_signature_runner(names[T]) for T in self.buckets}

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        padded = pad_to_bucket(self.buckets, input_ids, attention_mask, np.int32)
        if padded is None:
            raise ValueError(f"input of {input_ids.shape[1]} tokens exceeds the largest bucket {self.buckets[-1]}")
        ids, mask = padded
        run = self.runners[ids.shape[1]]
        outs = [next(iter(run(input_ids=ids[b:b + 1], attention_mask=mask[b:b + 1]).values()))
                for b in range(ids.shape[0])]  # signatures have batch 1
        return np.concatenate(outs, axis=0)


def pad_to_bucket(buckets: list[int], ids: np.ndarray, mask: np.ndarray,
                  dtype=None) -> tuple[np.ndarray, np.ndarray] | None:
    """``ids``/``mask`` (B, T) zero-padded (mask 0) to the smallest bucket that holds T; None if none does."""
    B, T = ids.shape
    i = bisect.bisect_left(buckets, T)
    if i == len(buckets):
        return None
    pi, pm = np.zeros((B, buckets[i]), dtype=dtype or ids.dtype), np.zeros((B, buckets[i]), dtype=dtype or mask.dtype)
    pi[:, :T], pm[:, :T] = ids, mask
    return pi, pm


class LiteRTGenerationRunner(GenerationRunner):
    """``encode_S``/``decode_S`` signatures per source bucket S; a source is padded to the smallest
    bucket that holds it (masked), and the decode signature of that bucket runs every step."""

    runtime = "litert"
    id_dtype = np.int32
    batch1 = True

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        super().__init__(path, variant, threads)
        self.interpreter = Interpreter(model_path=str(self.artifact), num_threads=threads)
        self.buckets = sorted(self.meta["buckets"])
        have = set(self.interpreter.get_signature_list())
        missing = [f"{k}_{S}" for S in self.buckets for k in ("encode", "decode") if f"{k}_{S}" not in have]
        if missing:
            raise LiteformerError(f"{self.artifact}: lacks the signatures {missing} its sidecar names "
                                  "(graph and sidecar are from different exports)")
        self.enc = {S: self.interpreter.get_signature_runner(f"encode_{S}") for S in self.buckets}
        self.dec = {S: self.interpreter.get_signature_runner(f"decode_{S}") for S in self.buckets}
        for runner in self.dec.values():
            self.check_graph_cache(runner.get_input_details()["self_k"]["shape"], self.artifact)

    def pad_source(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        padded = pad_to_bucket(self.buckets, ids, mask)
        if padded is None:
            raise LiteformerError(f"a source of {ids.shape[1]} tokens exceeds the largest bucket {self.buckets[-1]}")
        return padded

    def _encode(self, ids, mask):
        res = self.enc[ids.shape[1]](input_ids=ids, attention_mask=mask)
        return res["output_0"], res["output_1"]

    def _decode(self, token, position, mask, self_k, self_v, cross_k, cross_v, conv=None):
        extra = {} if conv is None else {"conv": conv}
        res = self.dec[mask.shape[1]](token=token, position=position, attention_mask=mask, self_k=self_k,
                                      self_v=self_v, cross_k=cross_k, cross_v=cross_v, **extra)
        return tuple(res[f"output_{i}"] for i in range(len(res)))


class LiteRTSpeechRunner(SpeechRunner):
    """A signature ``asr_N`` per audio-length bucket of N samples; a clip is padded to the smallest."""

    runtime = "litert"

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        super().__init__(path, variant, threads)
        self.interpreter = Interpreter(model_path=str(self.artifact), num_threads=threads)
        self.lengths = sorted(int(b) for b in self.meta["buckets"])
        have = set(self.interpreter.get_signature_list())
        missing = [f"asr_{N}" for N in self.lengths if f"asr_{N}" not in have]
        if missing:
            raise LiteformerError(f"{self.artifact}: lacks the signatures {missing} its sidecar names "
                                  "(graph and sidecar are from different exports)")
        self.runners = {N: self.interpreter.get_signature_runner(f"asr_{N}") for N in self.lengths}

    def _run(self, audio, audio_mask):
        run = self.runners.get(audio.shape[1])
        if run is None:
            raise LiteformerError(f"{self.path}: no signature for {audio.shape[1]} samples (buckets: {self.lengths})")
        res = run(audio=audio, audio_mask=audio_mask)
        return res["output_0"], res["output_1"]


def load(path: Path, variant: str | None, threads: int) -> LiteRTRunner | LiteRTGenerationRunner | LiteRTSpeechRunner:
    meta = read_sidecar(path, "litert")
    cls = LiteRTGenerationRunner if is_generation(meta) else LiteRTSpeechRunner if is_speech(meta) else LiteRTRunner
    return cls(path, variant, threads)
