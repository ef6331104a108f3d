"""Training a translation model: token-based batches, the loop on a seq2seq objective, the folder."""

import json

import pytest
import torch

from liteformer.data.batching import TokenBatches
from liteformer.errors import LiteformerError
from liteformer.models.checkpoint import load_model
from liteformer.models.seq2seq import TransformerForSeq2SeqLM
from liteformer.train.config import TrainConfig, TranslationConfig
from liteformer.train.translate import prepare, train_translation

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 4, "ffn_dim": 64, "num_decoder_layers": 1,
        "max_positions": 64, "dropout": 0.0, "attention_dropout": 0.0}


def test_token_batches_cover_every_example_within_the_budget():
    lengths = [3, 9, 4, 4, 12, 7, 2, 8, 5, 5]
    tb = TokenBatches(lengths, max_tokens=16, seed=1)
    for e in (0, 1):
        batches = tb.epoch(e)
        assert sorted(i for b in batches for i in b.tolist()) == list(range(10))
        over = [b for b in batches if len(b) * max(lengths[i] for i in b.tolist()) > 16]
        assert len(over) <= 1  # only the batch a short tail joined (fewer than TAIL_ROWS examples) may exceed
    assert [b.tolist() for b in tb.epoch(0)] == [b.tolist() for b in TokenBatches(lengths, 16, 1).epoch(0)]
    assert [b.tolist() for b in tb.epoch(0)] != [b.tolist() for b in tb.epoch(1)]
    with pytest.raises(ValueError, match="below the longest"):
        TokenBatches(lengths, 10)


def test_train_a_tiny_translation_model(tmp_path):
    cfg_file = tmp_path / "m.json"
    cfg_file.write_text(json.dumps(TINY))
    prep = prepare("multi30k:val", str(cfg_file), vocab_size=300, dev="multi30k:test")
    assert prep.model.config.positions == "learned" and prep.model.config.vocab_size == prep.tokenizer.vocab_size
    out = tmp_path / "nmt"
    cfg = TrainConfig(max_steps=12, lr=3e-3, eval_every=6, schedule="inverse-sqrt", warmup=0.25)
    result = train_translation(prep, out, cfg, TranslationConfig(max_tokens=400, dev_sentences=8), progress=False)
    record = json.loads((out / "training.json").read_text())
    assert [h["step"] for h in record["history"]] == [6, 12] and "dev_bleu" in record["history"][0]
    assert record["batches_per_epoch"] > 1 and result.steps == 12
    loaded = load_model(out)
    assert isinstance(loaded.model, TransformerForSeq2SeqLM)
    for k, v in prep.model.state_dict().items():  # the best checkpoint is one of the run's
        assert v.shape == loaded.model.state_dict()[k].shape
    assert not (tmp_path / "nmt.ckpt").exists()


def test_bad_translation_configs(tmp_path):
    (tmp_path / "enc.json").write_text(json.dumps({**TINY, "num_decoder_layers": 0}))
    with pytest.raises(LiteformerError, match="num_decoder_layers > 0"):
        prepare("multi30k:val", str(tmp_path / "enc.json"), vocab_size=200)
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(LiteformerError, match="a JSON object"):
        prepare("multi30k:val", str(tmp_path / "bad.json"), vocab_size=200)
    (tmp_path / "m.json").write_text(json.dumps(TINY))
    prep = prepare("multi30k:val", str(tmp_path / "m.json"), vocab_size=200)
    with pytest.raises(LiteformerError, match="below the longest"):
        train_translation(prep, tmp_path / "o", TrainConfig(max_steps=1), TranslationConfig(max_tokens=5),
                          progress=False)


def test_cli_trains_evaluates_and_runs_a_translation_model(tmp_path):
    from tests.conftest import run_cli
    (tmp_path / "m.json").write_text(json.dumps(TINY))
    out = tmp_path / "nmt"
    r = run_cli("finetune", "--task", "translation", "--model-config", str(tmp_path / "m.json"), "--vocab-size",
                "300", "--train", "multi30k:val", "--dev", "multi30k:test", "--dev-sentences", "8", "--max-tokens",
                "400", "--max-steps", "4", "--eval-every", "2", "--lr", "3e-3", "--schedule", "inverse-sqrt",
                "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "best dev sacreBLEU" in r.stdout
    hyp = tmp_path / "hyp.txt"
    r = run_cli("eval", "--model", str(out), "--data", "multi30k:test", "--beam", "2", "--hypotheses", str(hyp),
                "--out", str(tmp_path / "bleu.json"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "sacreBLEU" in r.stdout and "nrefs:1" in r.stdout and len(hyp.read_text().splitlines()) == 200
    assert json.loads((tmp_path / "bleu.json").read_text())["sentences"] == 200
    r = run_cli("run", str(out), "--text", "a man is riding a bike", "--text", "two dogs")
    assert r.returncode == 0 and len(r.stdout.strip().splitlines()) == 2, r.stderr[-2000:]
    r = run_cli("finetune", "--task", "translation", "--base", "minilm-l6", "--train", "multi30k:val",
                "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "not an encoder-decoder" in r.stderr


def test_cli_distills_word_and_sequence_level(tmp_path):
    from tests.conftest import run_cli
    (tmp_path / "t.json").write_text(json.dumps(TINY))
    (tmp_path / "s.json").write_text(json.dumps({**TINY, "hidden_size": 16, "num_heads": 2, "ffn_dim": 32}))
    teacher = tmp_path / "teacher"
    common = ["--train", "multi30k:test", "--dev", "multi30k:test", "--dev-sentences", "4", "--max-tokens", "400",
              "--max-steps", "2", "--eval-every", "2"]
    r = run_cli("finetune", "--task", "translation", "--model-config", str(tmp_path / "t.json"), "--vocab-size",
                "300", *common, "--out", str(teacher))
    assert r.returncode == 0, r.stderr[-2000:]
    student = tmp_path / "student"
    r = run_cli("distill", "--task", "translation", "--teacher", str(teacher), "--student-config",
                str(tmp_path / "s.json"), "--kd", "both", *common, "--out", str(student))
    assert r.returncode == 0, r.stderr[-2000:]
    record = json.loads((student / "training.json").read_text())
    assert record["distill"]["kd"] == "both" and record["pairs"] == 200
    targets = tmp_path / "student.kd-targets.txt"
    assert len(targets.read_text().split("\n")[:-1]) == 200
    before = targets.stat().st_mtime_ns
    r = run_cli("distill", "--task", "translation", "--teacher", str(teacher), "--student-config",
                str(tmp_path / "s.json"), "--kd", "sequence", *common, "--kd-targets", str(targets),
                "--out", str(tmp_path / "s2"))
    assert r.returncode == 0 and targets.stat().st_mtime_ns == before  # the teacher's outputs are reused
    assert load_model(student).tokenizer.vocab_size == load_model(teacher).tokenizer.vocab_size  # its vocabulary
    r = run_cli("distill", "--task", "translation", "--teacher", str(teacher), "--student-layers", "0",
                *common, "--out", str(tmp_path / "s3"))
    assert r.returncode == 2 and "--student-config" in r.stderr
    # a student cut from the teacher's weights (same head size, half the width)
    r = run_cli("distill", "--task", "translation", "--teacher", str(teacher), "--student-config",
                str(tmp_path / "s.json"), "--student-init-from-teacher", "--kd", "word", *common,
                "--out", str(tmp_path / "cut"))
    assert r.returncode == 0, r.stderr[-2000:]
    cut = json.loads((tmp_path / "cut" / "training.json").read_text())["distill"]["init_from_teacher"]
    assert len(cut["hidden_channels"]) == 16 and cut["decoder_layers"] == [0]
    # a structurally pruned teacher recovers as a student of the unpruned one
    pruned = tmp_path / "pruned"
    r = run_cli("prune", str(teacher), "--method", "structured", "--target-flops", "0.6", "--importance-n", "16",
                "--data", "multi30k:test", "--out", str(pruned))
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((pruned / "compress.json").read_text())
    assert report["kept"] <= 0.6 and "cross_heads_after" in report
    r = run_cli("distill", "--task", "translation", "--teacher", str(teacher), "--student", str(pruned), "--kd",
                "word", *common, "--out", str(tmp_path / "recovered"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert load_model(tmp_path / "recovered").model.config.decoder_cross_heads == report["cross_heads_after"]


def test_ddp_two_processes_match_one(tmp_path):
    """Token-based batches under torchrun (gloo): each rank takes its rows of a global batch and its
    share of the batch's target tokens, so two processes give one process's weights."""
    import os
    import subprocess
    import sys

    from safetensors.torch import load_file

    from tests.conftest import ROOT, run_cli
    (tmp_path / "m.json").write_text(json.dumps(TINY))
    prep = prepare("multi30k:test", str(tmp_path / "m.json"), vocab_size=200)
    prep.tokenizer.save(tmp_path / "tok")
    common = ["finetune", "--task", "translation", "--model-config", str(tmp_path / "m.json"), "--tokenizer",
              str(tmp_path / "tok"), "--train", "multi30k:test", "--max-tokens", "300", "--max-steps", "4",
              "--lr", "3e-3", "--threads", "1"]
    one = run_cli(*common, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-2000:]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541",
           "-m", "liteformer", *common, "--out", str(tmp_path / "two")]
    two = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert two.returncode == 0, two.stderr[-2000:]
    a = load_file(str(tmp_path / "one" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=2e-5, rtol=1e-4)


def test_an_interrupted_run_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    import liteformer.train.translate as tr
    (tmp_path / "m.json").write_text(json.dumps({**TINY, "dropout": 0.1}))  # the RNG state matters too

    def run(out, resume=False):
        prep = prepare("multi30k:test", str(tmp_path / "m.json"), vocab_size=200)
        cfg = TrainConfig(max_steps=6, lr=3e-3, checkpoint_every=2, eval_every=6)
        return train_translation(prep, out, cfg, TranslationConfig(max_tokens=400), progress=False, resume=resume)

    run(tmp_path / "ref")
    calls = {"n": 0}
    real = tr.sequence_loss

    def dies_at_step_5(*a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(tr, "sequence_loss", dies_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut")
    assert not (tmp_path / "cut").exists() and (tmp_path / "cut.ckpt" / "last.pt").exists()
    monkeypatch.setattr(tr, "sequence_loss", real)
    run(tmp_path / "cut", resume=True)
    a = load_file(str(tmp_path / "ref" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bf16_autocast_on_the_cpu_is_opt_in(tmp_path):
    """precision=auto is fp32 on a CPU (bitwise the same weights); bf16 trains in autocast: close to the
    fp32 weights, not equal to them."""
    (tmp_path / "m.json").write_text(json.dumps(TINY))
    weights = {}
    for precision in ("auto", "fp32", "bf16"):
        prep = prepare("multi30k:test", str(tmp_path / "m.json"), vocab_size=200)
        cfg = TrainConfig(max_steps=3, lr=1e-3, precision=precision)
        train_translation(prep, tmp_path / precision, cfg, TranslationConfig(max_tokens=400), progress=False)
        weights[precision] = load_model(tmp_path / precision).model.state_dict()
    w = "encoder.layers.0.ffn.up.weight"
    assert all(torch.equal(weights["auto"][k], weights["fp32"][k]) for k in weights["auto"])
    assert not torch.equal(weights["bf16"][w], weights["fp32"][w])
    assert torch.allclose(weights["bf16"][w], weights["fp32"][w], atol=5e-3)


def test_teacher_outputs_continue_where_a_stopped_run_left_them(tmp_path):
    from liteformer.train import translate as tr
    sources = [f"sentence {i}" for i in range(10)]
    cache, calls = tmp_path / "kd.txt", []

    def run(texts):
        calls.append(len(texts))
        if len(calls) == 3:
            raise KeyboardInterrupt  # a slice's end in the third chunk
        return [t.upper() if t != "sentence 4" else "" for t in texts]

    with pytest.raises(KeyboardInterrupt):
        tr._chunked(cache, sources, "k1", 2, False, run)
    partial = tmp_path / "kd.txt.partial"
    assert partial.read_text().splitlines()[1:] == ["SENTENCE 0", "SENTENCE 1", "SENTENCE 2", "SENTENCE 3"]
    with open(partial, "a") as f:
        f.write("SENTENCE 4 cut by a ki")  # a line without its newline: dropped on resume
    calls.clear()
    out = tr._chunked(cache, sources, "k1", 2, False, lambda texts: calls.append(len(texts)) or run(texts))
    assert out[4] == "." and out[9] == "SENTENCE 9" and len(out) == 10
    assert sum(calls[::2]) == 6  # only the six sources left were generated (each call is recorded twice)
    assert tr._chunked(cache, sources, "k2", 4, False, lambda texts: ["x"] * len(texts)) == ["x"] * 10  # new key


def test_teacher_targets_are_one_line_per_source_and_reused(tmp_path):
    from liteformer.train.translate import teacher_targets
    cfg_file = tmp_path / "m.json"
    cfg_file.write_text(json.dumps(TINY))
    prep = prepare("multi30k:val", str(cfg_file), vocab_size=300)
    sources = prep.train.sources[:7]
    out = teacher_targets(prep.model, prep.tokenizer, sources, tmp_path / "kd.txt", chunk=3)
    assert len(out) == 7 and all(line and "\n" not in line for line in out)
    assert not (tmp_path / "kd.txt.partial").exists()
    assert teacher_targets(prep.model, prep.tokenizer, sources, tmp_path / "kd.txt", chunk=3) == out
