"""Shared tiny fixtures: a WordPiece tokenizer trained on bundled text, tiny model folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(1)

from liteformer.data.text import read_classification  # noqa: E402
from liteformer.data.tokenizer import train_wordpiece  # noqa: E402
from liteformer.models.checkpoint import save_model  # noqa: E402
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def run_cli(*args: str, env: dict | None = None):
    """Run `python -m liteformer ARGS` in a fresh process; returns CompletedProcess."""
    import subprocess
    e = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "liteformer", *args], capture_output=True, text=True,
                          env=e, cwd=ROOT, timeout=600)


@pytest.fixture(scope="session")
def sst2_small():
    return read_classification("sst2:train")


@pytest.fixture(scope="session")
def tokenizer(sst2_small):
    return train_wordpiece(sst2_small.texts[:2000], vocab_size=300)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory, tokenizer):
    """A tiny BERT-shaped liteformer model saved as a Hugging Face folder."""
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(vocab_size=tokenizer.vocab_size, id2label={0: "0", 1: "1"})
    model = TransformerForSequenceClassification(cfg).eval()
    path = tmp_path_factory.mktemp("models") / "tiny"
    save_model(model, tokenizer, path)
    return path
