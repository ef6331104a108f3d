"""Training and distilling a speech recognizer: synthesized examples, the loop on a CTC objective,
exact resume, the CLI."""

import json

import numpy as np
import pytest
import torch

from liteformer.data.speech import read_speech
from liteformer.errors import LiteformerError
from liteformer.models.checkpoint import load_model
from liteformer.models.speech import TransformerForCTC
from liteformer.train.config import SpeechConfig, TrainConfig
from liteformer.train.speech import SpeechExamples, frame_kd, prepare, train_speech
from tests.conftest import run_cli

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 4, "ffn_dim": 64, "max_positions": 128,
        "dropout": 0.0, "attention_dropout": 0.0, "audio": {"n_mels": 24, "channels": 16}}


def test_examples_are_a_pure_function_of_seed_epoch_and_index():
    data = read_speech("fsdd:dev")
    ex = SpeechExamples(data, strings=10, batch_size=8, seed=3, augmented=True)
    assert ex.n == 60 and ex.per_epoch == 8
    e1 = torch.cat(ex.epoch(1))
    assert sorted(e1.tolist()) == list(range(60, 120))  # epoch 1's ids carry the epoch
    a, b = ex.example(61), SpeechExamples(data, 10, 8, 3, True).example(61)
    assert a[1] == b[1] and np.array_equal(a[0], b[0])
    text = ex.example(115)[1]  # a digit string
    assert 1 <= len(text.split()) <= 7
    assert ex.example(1)[1] == data.texts[1] and not np.array_equal(ex.example(1)[0], ex.example(61)[0])
    for g in range(60, 120):  # the length without the audio is the audio's
        assert ex.length(g) == len(ex.example(g)[0])
    assert SpeechExamples(data, 10, 8, 3, False).length(70) == len(SpeechExamples(data, 10, 8, 3, False).example(70)[0])
    big = SpeechExamples(data, strings=200, batch_size=4, seed=0, augmented=True)
    batches = big.epoch(0)
    spread = [max(big.length(g) for g in b.tolist()) - min(big.length(g) for g in b.tolist()) for b in batches]
    assert len(batches) == big.per_epoch and sorted(torch.cat(batches).tolist()) == list(range(250))
    order = torch.cat(batches)[torch.randperm(250, generator=torch.Generator().manual_seed(1))].tolist()
    unsorted = [max(big.length(g) for g in order[j:j + 4]) - min(big.length(g) for g in order[j:j + 4])
                for j in range(0, 248, 4)]
    assert np.mean(spread) < 0.3 * np.mean(unsorted)  # similar lengths batched together


def test_train_a_tiny_recognizer(tmp_path):
    prep = prepare("fsdd:dev", dict(TINY), dev="fsdd:test")
    out = tmp_path / "asr"
    cfg = TrainConfig(max_steps=6, lr=3e-3, batch_size=8, eval_every=3)
    result = train_speech(prep, out, cfg, SpeechConfig(strings=8, dev_strings=4), progress=False)
    record = json.loads((out / "training.json").read_text())
    assert [h["step"] for h in record["history"]] == [3, 6] and 0 <= record["history"][0]["dev_wer"] <= 100
    assert record["task"] == "speech-recognition" and result.steps == 6
    loaded = load_model(out)
    assert isinstance(loaded.model, TransformerForCTC) and loaded.task == "speech-recognition"
    assert not torch.equal(loaded.model.feature_std, torch.ones_like(loaded.model.feature_std))  # set from data


def test_an_interrupted_run_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    import liteformer.train.speech as sp

    def run(out, resume=False):
        prep = prepare("fsdd:dev", {**TINY, "dropout": 0.1}, dev="fsdd:test")  # RNG state matters too
        cfg = TrainConfig(max_steps=6, lr=3e-3, batch_size=8, checkpoint_every=2, eval_every=6)
        return train_speech(prep, out, cfg, SpeechConfig(strings=8, dev_strings=0), progress=False, resume=resume)

    run(tmp_path / "ref")
    calls = {"n": 0}
    real = sp.ctc_loss

    def dies_at_step_5(*a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(sp, "ctc_loss", dies_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut")
    monkeypatch.setattr(sp, "ctc_loss", real)
    run(tmp_path / "cut", resume=True)
    a = load_file(str(tmp_path / "ref" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_frame_kd_is_zero_for_equal_posteriors_and_ignores_padding():
    s = torch.randn(2, 5, 7)
    frames = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.float)
    assert frame_kd(s, s, frames, 2.0).abs().max() < 1e-6
    t = s.clone()
    t[0, 3:] += 5  # padded frames only
    assert frame_kd(s, t, frames, 2.0)[0].abs() < 1e-6 and frame_kd(s, s + torch.randn(2, 5, 7), frames, 1.0)[1] > 0


def test_transcripts_outside_the_alphabet_and_overlong_clips_are_refused(tmp_path):
    from liteformer.data.audio import write_wav
    write_wav(tmp_path / "a.wav", np.zeros(8000, np.float32))
    (tmp_path / "s.tsv").write_text("path\ttext\na.wav\tcafé au lait\n")
    with pytest.raises(LiteformerError, match=r"a.wav: characters outside the model's alphabet \('é'\)"):
        prepare(str(tmp_path / "s.tsv"), dict(TINY))
    write_wav(tmp_path / "long.wav", np.zeros(16000 * 30, np.float32))
    (tmp_path / "l.tsv").write_text("path\ttext\nlong.wav\tyes\n")
    with pytest.raises(LiteformerError, match="long.wav: 30.0 s of audio is longer than the model takes"):
        prepare(str(tmp_path / "l.tsv"), dict(TINY))
    write_wav(tmp_path / "short.wav", np.zeros(100, np.float32))
    (tmp_path / "t.tsv").write_text("path\ttext\nshort.wav\tyes\n")
    with pytest.raises(LiteformerError, match="short.wav: clip of 100 samples is shorter than one 400-sample"):
        prepare(str(tmp_path / "t.tsv"), dict(TINY))


def test_cli_finetune_eval_and_distill(tmp_path):
    teacher_cfg, student_cfg = tmp_path / "t.json", tmp_path / "s.json"
    teacher_cfg.write_text(json.dumps(TINY))
    student_cfg.write_text(json.dumps({**TINY, "hidden_size": 16, "num_heads": 2, "num_layers": 1}))
    common = ["--train", "fsdd:dev", "--dev", "fsdd:test", "--batch-size", "8", "--max-steps", "4", "--eval-every",
              "4", "--strings", "4", "--dev-strings", "2", "--lr", "3e-3"]
    r = run_cli("finetune", "--task", "speech-recognition", "--model-config", str(teacher_cfg), *common,
                "--out", str(tmp_path / "t"))
    assert r.returncode == 0, r.stderr
    assert "best dev WER" in r.stdout
    r = run_cli("info", str(tmp_path / "t"))
    assert r.returncode == 0 and "speech-recognition" in r.stdout and "24 mel bands" in r.stdout
    r = run_cli("eval", "--model", str(tmp_path / "t"), "--data", "fsdd:heldout,strings=3",
                "--out", str(tmp_path / "e.json"))
    assert r.returncode == 0, r.stderr
    assert "WER" in r.stdout and json.loads((tmp_path / "e.json").read_text())["clips"] == 3
    r = run_cli("distill", "--task", "speech-recognition", "--teacher", str(tmp_path / "t"), "--student-config",
                str(student_cfg), *common, "--pseudo-labels", "--out", str(tmp_path / "s"))
    assert r.returncode == 0, r.stderr
    record = json.loads((tmp_path / "s" / "training.json").read_text())
    assert record["teacher"] == str(tmp_path / "t") and record["speech"]["pseudo_labels"]
    r = run_cli("finetune", "--task", "speech-recognition", "--base", "minilm-l6", *common, "--out",
                str(tmp_path / "x"))
    assert r.returncode == 2 and "trains from scratch" in r.stderr and "Traceback" not in r.stderr
