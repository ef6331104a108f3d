"""What every exported-bundle runner shares: sidecar, tokenizer, labels, description."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liteformer.data.tokenizer import load_tokenizer
from liteformer.export.bundle import artifact_path, bundle_files, read_sidecar


class BundleRunner:
    runtime = ""

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        self.meta = read_sidecar(path)
        if self.meta["runtime"] != self.runtime:
            raise ValueError(f"{path} is a {self.meta['runtime']} bundle, not {self.runtime}")
        self.path = Path(path)
        self.artifact = artifact_path(path, self.meta)
        self.tokenizer = load_tokenizer(self.artifact.parent)
        self.id2label = {int(k): v for k, v in self.meta["id2label"].items()}
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
