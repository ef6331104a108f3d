"""Denoising pre-training pairs (BART text infilling) and fine-tuning an encoder-decoder from them."""

import json
import random

import pytest

from liteformer.data.denoise import MASK, denoising_pairs, infill
from liteformer.errors import LiteformerError
from liteformer.train.translate import read_pairs as read_parallel
from tests.conftest import run_cli

TEXT = " ".join(f"w{i}" for i in range(40))


def test_infilling_masks_about_thirty_percent_in_spans():
    out = infill(TEXT, random.Random(0))
    kept = [w for w in out.split() if w != MASK]
    assert 26 <= len(kept) <= 30  # 12 of 40 words masked (a span may run past the goal by none)
    assert f"{MASK} {MASK}" not in out and MASK in out  # one piece per span; adjacent spans merge
    assert kept == [w for w in TEXT.split() if w in kept]  # order kept
    assert infill(TEXT, random.Random(0)) == out and infill("one", random.Random(0)) == MASK


def test_infilling_keeps_line_breaks_and_reads_jsonl_texts(tmp_path):
    dialogue = "\n".join(f"#Person{i % 2 + 1}#: " + " ".join(f"w{i}x{j}" for j in range(8)) for i in range(6))
    out = infill(dialogue, random.Random(1))
    assert MASK in out and out.count("\n") >= 3  # unmasked turns keep their breaks
    words = iter(dialogue.split())
    assert all(w in words for w in out.split() if w != MASK)  # the kept words, in order
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"text": dialogue}) + "\n" + json.dumps({"text": "a b c d e"}) + "\n")
    d = read_parallel(f"denoise:{f}")
    assert d.targets == [dialogue, "a b c d e"]
    f.write_text('{"txt": "a"}\n')
    with pytest.raises(LiteformerError, match="line 1.*text"):
        read_parallel(f"denoise:{f}")


def test_pairs_and_the_denoise_spec(tmp_path):
    p = denoising_pairs(["a b c d e f", "g h i j"], copies=2)
    assert len(p) == 4 and p.targets == ["a b c d e f", "g h i j"] * 2 and p.sources[0] != p.sources[2]
    f = tmp_path / "t.txt"
    f.write_text("the cat sat on the mat today\n\nthe dog ran far away from home\n")
    d = read_parallel(f"denoise:{f},copies=3")
    assert len(d) == 6 and all(MASK in s for s in d.sources)
    with pytest.raises(LiteformerError, match="copies=N"):
        read_parallel(f"denoise:{f},copy=2")
    with pytest.raises(LiteformerError, match="no such file"):
        read_parallel("denoise:/no/such.txt")


def test_pretrain_then_finetune_a_summarizer_from_it(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("".join(f"person {i} talks about the weather and a trip to the sea\n" for i in range(60)))
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"hidden_size": 32, "num_layers": 1, "num_heads": 4, "ffn_dim": 64,
                               "num_decoder_layers": 1, "max_positions": 256, "dropout": 0.0}))
    r = run_cli("finetune", "--task", "translation", "--model-config", str(cfg), "--vocab-size", "200", "--train",
                f"denoise:{f},copies=2", "--max-steps", "2", "--max-tokens", "2000", "--out", str(tmp_path / "pre"))
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_cli("finetune", "--task", "summarization", "--base", str(tmp_path / "pre"), "--train", "dialogsum:dev",
                "--max-steps", "2", "--max-tokens", "2000", "--out", str(tmp_path / "sum"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / "sum" / "config.json").read_text())["liteformer"]["task"] == "summarization"
    r = run_cli("finetune", "--task", "summarization", "--base", str(tmp_path / "pre"), "--model-config", str(cfg),
                "--train", "dialogsum:dev", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "--model-config" in r.stderr and "--base" in r.stderr
