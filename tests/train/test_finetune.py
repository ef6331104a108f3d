"""Training on a tiny, learnable task; DDP with 2 CPU processes gives the one-process result."""

import json
import random
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from liteformer.errors import LiteformerError
from liteformer.models.checkpoint import load_model
from liteformer.train.finetune import finetune, prepare
from liteformer.train.loop import TrainConfig
from tests.conftest import ROOT, run_cli

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 4, "ffn_dim": 64, "max_positions": 64,
        "dropout": 0.0, "attention_dropout": 0.0}


def _toy(path, n, seed):
    """Sentiment decided by one cue word among neutral filler: learnable in a few hundred steps."""
    rng = random.Random(seed)
    filler = "the a movie film story plot actors scene was is it and of".split()
    rows = ["sentence\tlabel"]
    for _ in range(n):
        y = rng.randint(0, 1)
        words = rng.choices(filler, k=rng.randint(3, 9))
        words.insert(rng.randint(0, len(words)), rng.choice(["great", "wonderful"] if y else ["awful", "boring"]))
        rows.append(f"{' '.join(words)}\t{['neg', 'pos'][y]}")
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    d = tmp_path_factory.mktemp("toy")
    cfg = d / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    return _toy(d / "train.tsv", 600, 0), _toy(d / "dev.tsv", 200, 1), str(cfg)


def test_finetune_from_config_learns(tmp_path, toy):
    train, dev, cfg = toy
    torch.manual_seed(0)
    prep = prepare(train, model_config=cfg, vocab_size=120, dev=dev)
    res = finetune(prep, tmp_path / "m", TrainConfig(epochs=6, lr=2e-3, batch_size=16, warmup=0.1), progress=False)
    assert res.best.accuracy >= 0.95, res.history
    lm = load_model(tmp_path / "m")
    assert lm.model.config.id2label == {0: "neg", 1: "pos"}
    assert json.loads((tmp_path / "m" / "training.json").read_text())["best"]["accuracy"] == res.best.accuracy


def test_finetune_from_base_keeps_or_replaces_head(tmp_path, tiny_folder, toy):
    train, dev, _ = toy
    prep = prepare(train, base=str(tiny_folder), dev=dev)  # tiny_folder labels "0"/"1" ≠ neg/pos
    assert prep.new_head and prep.model.config.id2label == {0: "neg", 1: "pos"}
    prep = prepare("sst2:test", base=str(tiny_folder))  # labels 0/1 match: head kept
    assert not prep.new_head


@pytest.mark.parametrize("kw,msg", [(dict(lr=0), "lr"), (dict(batch_size=0), "batch_size"),
                                    (dict(warmup=1.0), "warmup"), (dict(epochs=-1), "epochs")])
def test_impossible_hyper_parameters(kw, msg):
    with pytest.raises(LiteformerError, match=msg):
        TrainConfig(**kw).validate()


def test_ddp_two_processes_match_one(tmp_path, toy):
    train, _, cfg = toy
    tok = tmp_path / "tok"
    prep = prepare(train, model_config=cfg, vocab_size=120)
    tok.mkdir()
    prep.tokenizer.save(tok)
    common = ["finetune", "--model-config", cfg, "--tokenizer", str(tok), "--train", train,
              "--max-steps", "6", "--batch-size", "8", "--lr", "1e-3", "--threads", "1",
              "--eval-every", "2", "--max-minutes", "1e-6"]  # the time cap stops both runs at step 2
    one = run_cli(*common, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "liteformer", *common, "--out", str(tmp_path / "two")]
    two = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert two.returncode == 0, two.stderr[-2000:]
    a = load_file(str(tmp_path / "one" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "model.safetensors"))
    init = prep.model.state_dict()
    assert any(not torch.equal(a[k], init[k]) for k in a if k in init)  # it did train
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=2e-5, rtol=1e-4)
    for run in ("one", "two"):  # the first process decided; the other stopped with it
        record = json.loads((tmp_path / run / "training.json").read_text())
        assert record["steps"] == 2 and record["stopped"].startswith("time cap at step 2")


def test_kill_9_and_resume_gives_the_uninterrupted_weights(tmp_path, toy):
    """A run killed at an arbitrary point resumes from its last checkpoint to the same final weights."""
    import os
    import signal
    import time

    train, dev, _ = toy
    cfg = tmp_path / "drop.json"
    cfg.write_text(json.dumps({**TINY, "dropout": 0.1, "attention_dropout": 0.1}))  # RNG state matters
    tok = tmp_path / "tok"
    tok.mkdir()
    prepare(train, model_config=str(cfg), vocab_size=120).tokenizer.save(tok)
    common = ["finetune", "--model-config", str(cfg), "--tokenizer", str(tok), "--train", train, "--dev", dev,
              "--max-steps", "400", "--batch-size", "8", "--lr", "1e-3", "--threads", "1", "--eval-every", "100",
              "--checkpoint-every", "7"]
    ref = run_cli(*common, "--out", str(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr[-2000:]

    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "liteformer", *common, "--out", str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "killed.ckpt" / "last.pt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and torch.load(ckpt, weights_only=True)["step"] >= 150:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    step = torch.load(ckpt, weights_only=True)["step"]
    assert 150 <= step < 400
    assert not out.exists()  # the final name appears only when the run is complete
    (ckpt.parent / ".last.pt.killed.tmp").write_bytes(b"half a checkpoint")  # a write killed mid-way
    resumed = run_cli(*common, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = load_file(str(tmp_path / "ref" / "model.safetensors"))
    b = load_file(str(out / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((out / "training.json").read_text())["history"] == \
        json.loads((tmp_path / "ref" / "training.json").read_text())["history"]
    assert not ckpt.exists()  # cleaned up after a finished run


def test_resume_refuses_other_settings(tmp_path, toy):
    train, _, cfg = toy
    from liteformer.train.loop import TrainConfig as TC
    from liteformer.train.loop import _save_checkpoint, train_classifier
    prep = prepare(train, model_config=cfg, vocab_size=120)
    c1 = TC(max_steps=2, batch_size=8)
    opt = torch.optim.AdamW(prep.model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    _save_checkpoint(tmp_path / "o.ckpt" / "last.pt", c1, prep.model, None, opt, sched, 1, 8, None, [])
    enc = prep.tokenizer.encode(prep.train.texts, 64)
    with pytest.raises(LiteformerError, match="other settings.*lr"):
        train_classifier(prep.model, prep.tokenizer, enc.ids, [0] * len(enc.ids), None,
                         TC(max_steps=2, batch_size=8, lr=1e-3), tmp_path / "o", progress=False, resume=True)


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path, toy):
    train, _, cfg = toy
    from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification
    from liteformer.train.loop import TrainConfig as TC
    from liteformer.train.loop import _save_checkpoint, train_classifier
    prep = prepare(train, model_config=cfg, vocab_size=120)
    other = TransformerForSequenceClassification(TransformerConfig(**{**TINY, "hidden_size": 16, "num_heads": 2,
                                                                       "vocab_size": 120}))
    c = TC(max_steps=2, batch_size=8)
    opt = torch.optim.AdamW(other.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    _save_checkpoint(tmp_path / "o.ckpt" / "last.pt", c, other, None, opt, sched, 1, 8, None, [])
    enc = prep.tokenizer.encode(prep.train.texts, 64)
    with pytest.raises(LiteformerError, match="checkpoint does not fit this model"):
        train_classifier(prep.model, prep.tokenizer, enc.ids, [0] * len(enc.ids), None, c, tmp_path / "o",
                         progress=False, resume=True)


def test_ctrl_c_names_resume_and_leaves_no_output(tmp_path, toy):
    import os
    import signal
    import time

    train, dev, _ = toy
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(TINY))
    out = tmp_path / "o"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "liteformer", "finetune", "--model-config", str(cfg),
                             "--vocab-size", "120", "--train", train, "--dev", dev, "--max-steps", "100000",
                             "--batch-size", "8", "--threads", "1", "--eval-every", "5", "--out", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (tmp_path / "o.ckpt" / "best").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert any(x.endswith(f"interrupted; run the same command with --resume to continue from {out}.ckpt")
               for x in err.strip().splitlines()), err[-2000:]
    assert not out.exists() and (tmp_path / "o.ckpt" / "best" / "config.json").exists()
