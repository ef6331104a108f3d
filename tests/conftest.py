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


def run_cli(*args: str, env: dict | None = None, input: str | None = None):
    """Run `python -m liteformer ARGS` in a fresh process (``input``: its stdin); returns CompletedProcess."""
    import subprocess
    e = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "liteformer", *args], capture_output=True, text=True,
                          env=e, cwd=ROOT, timeout=600, input=input)


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


@pytest.fixture(scope="session")
def nmt_folder(tmp_path_factory):
    """A tiny random encoder-decoder (decoder layers of 4 and 2 heads) with a 200-piece joint
    vocabulary from multi30k:val, saved as a model folder."""
    from liteformer.data.parallel import read_parallel
    from liteformer.data.subword import train_subword
    from liteformer.models.seq2seq import TransformerForSeq2SeqLM
    pairs = read_parallel("multi30k:val")
    tok = train_subword(pairs.sources + pairs.targets, 200)
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=tok.vocab_size, hidden_size=32, num_layers=2, num_heads=4, ffn_dim=64,
                            num_decoder_layers=2, decoder_num_heads=[4, 2], max_positions=64, type_vocab_size=0,
                            pooler="none", norm_first=True, positions="learned", dropout=0.0,
                            attention_dropout=0.0)
    model = TransformerForSeq2SeqLM(cfg).eval()
    path = tmp_path_factory.mktemp("models") / "nmt"
    save_model(model, tok, path)
    return path
