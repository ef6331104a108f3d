"""The ``Runner`` protocol that export verification, the bench, ``eval`` and ``run`` all use, and the
base every exported-bundle runner shares (sidecar, tokenizer, labels, description)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from liteformer.data.tokenizer import load_any_tokenizer
from liteformer.errors import LiteformerError
from liteformer.runtimes.bundle import artifact_path, bundle_files, read_sidecar


class Runner(Protocol):
    """An artifact loaded in its runtime. ``__call__`` runs its (first) entry point on NumPy arrays —
    for an encoder classifier ``(input_ids, attention_mask) -> logits``; a task with more entry
    points (a decoder step) finds them as methods of its runner. ``describe()`` gives the files it
    needs, their size, parameters, model config and fixed lengths (the bench reports them)."""

    runtime: str
    task: str
    tokenizer: Any
    id2label: dict[int, str]

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...
    def describe(self) -> dict: ...


class BundleRunner:
    runtime = ""

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        self.meta = read_sidecar(path, self.runtime)
        self.path = Path(path)
        self.artifact = artifact_path(path, self.meta)
        self.tokenizer = load_any_tokenizer(self.artifact.parent)
        self.id2label = {int(k): v for k, v in self.meta["id2label"].items()}
        self.task = self.meta.get("task", "text-classification")
        self.threads = threads

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        files = bundle_files(self.path)
        cfg = dict(self.meta.get("config") or {})
        if cfg:  # an artifact takes at most its max_length tokens
            cfg["max_positions"] = min(cfg.get("max_positions", 10**9), self.meta["max_length"])
        return {"files": [str(f) for f in files], "size_bytes": sum(f.stat().st_size for f in files),
                "parameters": self.meta.get("parameters"), "config": cfg or None,
                "fixed_lengths": self.meta.get("buckets")}


def is_generation(meta: dict) -> bool:
    """A bundle of an encoder-decoder (encode and decode graphs), from its sidecar."""
    return isinstance(meta.get("generation"), dict)


class GenerationRunner(BundleRunner):
    """A generation bundle's two entry points on NumPy arrays (see models/seq2seq_graphs):

        encode(input_ids (B, S), attention_mask (B, S)) -> cross_k, cross_v (B, Nx, S, d)
        decode(token (B, 1), position (1,), attention_mask, self_k, self_v, cross_k, cross_v[, conv])
            -> logits (B, V), self_k, self_v (B, N, L, d)[, conv (B, C, K): an LSRA decoder's]

    ``pad_source`` brings a source to a length the artifact takes (a LiteRT bucket); runtimes whose
    graphs have batch 1 run the rows one by one. ``runtimes.generation`` drives the loop."""

    id_dtype: type = np.int64
    batch1 = False  # graphs exported for one sentence at a time (LiteRT, ExecuTorch)

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        super().__init__(path, variant, threads)
        lay = self.meta["generation"].get("layout")
        if not isinstance(lay, dict) or not all(isinstance(lay.get(k), list) for k in ("self_cache", "cross_cache")):
            raise LiteformerError(f"{self.path}: its sidecar's generation.layout is missing or malformed")
        self.layout = lay
        self.max_target = int(lay["max_target"])
        self.generation = self.meta["generation"]

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        raise LiteformerError(f"{self.path}: a generation bundle has no single entry point; "
                              "run it through its task's decoding loop (liteformer run / eval)")

    def pad_source(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ids, mask

    def check_graph_cache(self, shape, where: Path) -> None:
        """The decode graph's cache input has the sidecar's shape (else graph and sidecar disagree)."""
        got, want = tuple(int(x) for x in list(shape)[1:]), tuple(self.layout["self_cache"])
        if got != want:
            raise LiteformerError(f"{where}: its cache input has shape {got}, the sidecar says {want}: graph and "
                                  "sidecar are from different exports")

    def check_cache(self, self_k: np.ndarray, cross_k: np.ndarray) -> None:
        """A cache of the shape this model was exported with (one line naming both otherwise)."""
        want = tuple(self.layout["self_cache"])
        if tuple(self_k.shape[1:]) != want:
            raise LiteformerError(f"{self.path}: decoder cache of shape {tuple(self_k.shape[1:])} does not match the "
                                  f"model's (heads, max_target, head_dim) = {want}")
        nx, d = self.layout["cross_cache"][0], self.layout["cross_cache"][2]
        if cross_k.shape[1] != nx or cross_k.shape[3] != d:
            raise LiteformerError(f"{self.path}: cross-attention cache of shape {tuple(cross_k.shape[1:])} does not "
                                  f"match the model's ({nx}, source, {d})")

    def encode(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids, mask = ids.astype(self.id_dtype, copy=False), mask.astype(self.id_dtype, copy=False)
        if not self.batch1 or ids.shape[0] == 1:
            return self._encode(ids, mask)
        outs = [self._encode(ids[b:b + 1], mask[b:b + 1]) for b in range(ids.shape[0])]
        return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])

    def decode(self, token, position, mask, self_k, self_v, cross_k, cross_v, conv=None):
        """One step → logits, self_k, self_v (and conv: an LSRA decoder's convolution cache, in and out)."""
        self.check_cache(self_k, cross_k)
        if (conv is None) != ("conv_cache" not in self.layout):
            raise LiteformerError(f"{self.path}: the decoder's convolution cache is "
                                  f"{'missing' if conv is None else 'not an input of this model'}")
        ids = [token, np.asarray(position).reshape(1), mask]  # no copies of arrays already of the right type:
        caches = (self_k, self_v, cross_k, cross_v) + (() if conv is None else (conv,))
        args = [x.astype(self.id_dtype, copy=False) for x in ids] + [  # this runs at every decoder step
            x.astype(np.float32, copy=False) for x in caches]
        if not self.batch1 or token.shape[0] == 1:
            return self._decode(*args)
        rows = [self._decode(*[a if i == 1 else a[b:b + 1] for i, a in enumerate(args)])
                for b in range(token.shape[0])]
        return tuple(np.concatenate([r[j] for r in rows]) for j in range(len(rows[0])))

    def _encode(self, ids, mask):
        raise NotImplementedError

    def _decode(self, token, position, mask, self_k, self_v, cross_k, cross_v, conv=None):
        raise NotImplementedError


def is_speech(meta: dict) -> bool:
    """A bundle of a speech recognizer (audio in, CTC logits out), from its sidecar."""
    return isinstance(meta.get("speech"), dict)


class SpeechRunner(BundleRunner):
    """A speech bundle's graph on NumPy arrays (features inside; see models/speech.py):

        (audio (1, N) float32, audio_mask (1, N) float32) -> logits (1, T, V), frame_mask (1, T)

    N is n_fft + stride·k samples (LiteRT: one of its buckets); ``pad`` brings a clip there (padding
    is masked: the real frames' logits do not change). Graphs take one clip at a time."""

    lengths: list[int] | None = None  # the only lengths the graph takes (LiteRT buckets); None: any valid one

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        super().__init__(path, variant, threads)
        sp = self.meta["speech"]
        try:
            self.n_fft, self.stride = int(sp["n_fft"]), int(sp["stride"])
            self.sample_rate, self.max_samples = int(sp["sample_rate"]), int(sp["max_samples"])
        except (KeyError, TypeError, ValueError):
            raise LiteformerError(f"{self.path}: its sidecar's speech block is missing or malformed") from None

    def padded_length(self, samples: int) -> int | None:
        n = self.n_fft + self.stride * max(1, -(-(samples - self.n_fft) // self.stride))
        if self.lengths is not None:
            n = next((b for b in self.lengths if b >= samples), None)
        return n if n is not None and n <= self.max_samples else None

    def pad(self, clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = self.padded_length(len(clip))
        if n is None:
            raise LiteformerError(f"a clip of {len(clip) / self.sample_rate:.2f} s is longer than the bundle takes "
                                  f"({self.max_samples / self.sample_rate:.2f} s)")
        audio, mask = np.zeros((1, n), np.float32), np.zeros((1, n), np.float32)
        audio[0, : len(clip)], mask[0, : len(clip)] = clip, 1.0
        return audio, mask

    def __call__(self, audio: np.ndarray, audio_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._run(audio.astype(np.float32, copy=False), audio_mask.astype(np.float32, copy=False))

    def _run(self, audio: np.ndarray, audio_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError
