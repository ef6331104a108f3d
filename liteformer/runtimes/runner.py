"""The ``Runner`` protocol that export verification, the bench, ``eval`` and ``run`` all use, and the
base every exported-bundle runner shares (sidecar, tokenizer, labels, description)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from liteformer.data.tokenizer import load_tokenizer
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
        self.tokenizer = load_tokenizer(self.artifact.parent)
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
