"""Distillation: the loss as written, layer maps, students, caching, inner-layer losses, CLI."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from liteformer.compress import distill as D
from liteformer.compress.distill import StudentSpec
from liteformer.compress.distill.teacher_cache import teacher_outputs
from liteformer.data.batching import pad_batch
from liteformer.errors import LiteformerError
from liteformer.models.checkpoint import load_model, save_model
from liteformer.train.distill import distill
from liteformer.train.loop import TrainConfig
from tests.compress.test_quantize import trained  # noqa: F401  (module fixture: a trained toy teacher)
from tests.conftest import run_cli


def test_kd_loss_is_the_seed_formula():
    torch.manual_seed(0)
    s, t = torch.randn(4, 3), torch.randn(4, 3)
    y = torch.tensor([0, 2, 1, -1])
    alpha, T = 0.3, 2.5
    got = D.kd_loss(s, t, y, alpha, T)
    p, q = F.softmax(t / T, -1), F.softmax(s / T, -1)
    kl = (p * (p / q).log()).sum(-1)  # KL(p ‖ q): teacher p, student q
    ce = F.cross_entropy(s, y.clamp_min(0), reduction="none") * torch.tensor([1.0, 1, 1, 0])
    torch.testing.assert_close(got, alpha * ce + (1 - alpha) * T * T * kl)
    assert D.kd_loss(t, t, torch.tensor([-1] * 4), 0.5, 2.0).abs().max() < 1e-6  # same distribution: 0


def test_t_squared_keeps_soft_gradient_scale():
    torch.manual_seed(0)
    s, t = torch.randn(64, 5, requires_grad=True), torch.randn(64, 5)
    norms = []
    for T in (8.0, 32.0):  # KL's gradient shrinks like 1/T²; the T² factor undoes that
        g, = torch.autograd.grad(D.kd_loss(s, t, torch.full((64,), -1), 0.0, T).sum(), s)
        norms.append(g.norm().item())
    assert 0.8 < norms[0] / norms[1] < 1.25  # without T² the ratio would be 16


def test_layer_maps_and_validation():
    assert D.uniform_layer_map(3, 6) == [1, 3, 5]
    assert D.uniform_layer_map(4, 6) == [1, 2, 4, 5]
    assert D.uniform_layer_map(6, 6) == list(range(6))
    for cfg, msg in [(D.DistillConfig(alpha=1.5), "alpha"), (D.DistillConfig(temperature=0), "temperature"),
                     (D.DistillConfig(layer_map=[1, 9]), "points to teacher layers"),
                     (D.DistillConfig(layer_map=[1]), "entries for 2")]:
        with pytest.raises(LiteformerError, match=msg):
            cfg.validate(2, 6)


def test_student_from_teacher_copies_layers(tiny_folder):
    teacher = load_model(tiny_folder).model
    full = D.student_from_teacher(teacher, [0, 1])
    x = torch.randint(5, 100, (2, 6))
    torch.testing.assert_close(full(x, torch.ones_like(x)), teacher(x, torch.ones_like(x)))
    one = D.student_from_teacher(teacher, [1])
    torch.testing.assert_close(one.encoder.layers[0].attn.q.weight, teacher.encoder.layers[1].attn.q.weight)
    with pytest.raises(LiteformerError, match="must be teacher layers"):
        D.student_from_teacher(teacher, [0, 5])


def test_distill_logits_cached_once(trained, tmp_path, monkeypatch):  # noqa: F811
    path, train, dev = trained
    calls = []
    real = teacher_outputs
    monkeypatch.setattr("liteformer.train.distill.teacher_outputs",
                        lambda *a, **k: calls.append(len(a[1])) or real(*a, **k))
    res = distill(str(path), StudentSpec(layers=[1]), train, tmp_path / "s", D.DistillConfig(),
                  TrainConfig(epochs=3, lr=2e-3, batch_size=16), dev=dev, progress=False)
    assert calls == [600]  # the teacher ran once over the training set, not once an epoch
    assert res.best.accuracy >= 0.9
    meta = json.loads((tmp_path / "s" / "training.json").read_text())
    assert meta["distill"]["layer_map"] == [1] and load_model(tmp_path / "s").model.config.num_layers == 1
    assert meta["teacher_seconds"] > 0  # the teacher's pass is reported beside the training time


def test_unlabelled_texts_widen_the_transfer_set(trained, tmp_path):  # noqa: F811
    """The labelled rows carry only two of the task's four cue words; the teacher labelling the
    other texts (soft targets only: no label is read from them) teaches the student the other two."""
    path, train, dev = trained
    header, *rows = open(train, encoding="utf-8").read().splitlines()
    seen = [r for r in rows if " great " in f" {r} " or " awful " in f" {r} "]
    few = tmp_path / "few.tsv"
    few.write_text("\n".join([header, *seen]) + "\n")
    more = tmp_path / "more.txt"
    more.write_text("\n".join(r.split("\t")[0] for r in rows if r not in seen) + "\n")
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"hidden_size": 32, "num_layers": 1, "num_heads": 2, "ffn_dim": 64,
                               "max_positions": 64, "dropout": 0.0, "attention_dropout": 0.0}))
    spec, tcfg = StudentSpec(config=str(cfg)), TrainConfig(max_steps=300, lr=2e-3, batch_size=16)
    torch.manual_seed(0)
    alone = distill(str(path), spec, str(few), tmp_path / "a", D.DistillConfig(), tcfg, dev=dev, progress=False)
    torch.manual_seed(0)
    wide = distill(str(path), spec, str(few), tmp_path / "b", D.DistillConfig(), tcfg, dev=dev, progress=False,
                   unlabelled=more)
    assert wide.best.accuracy >= 0.9 and wide.best.accuracy > alone.best.accuracy + 0.1, (alone, wide)
    meta = json.loads((tmp_path / "b" / "training.json").read_text())
    assert meta["unlabelled"]["texts"] == len(rows) - len(seen) and meta["augmented"] == 0
    (tmp_path / "empty.txt").write_text("\n \n")
    for bad, why in (("missing.txt", "no such file"), ("empty.txt", "no text lines")):
        with pytest.raises(LiteformerError, match=why):
            distill(str(path), spec, str(few), tmp_path / "c", D.DistillConfig(), tcfg, progress=False,
                    unlabelled=tmp_path / bad)


def test_distill_inner_losses_with_projection_new_vocab_and_augment(trained, tmp_path, tokenizer):  # noqa: F811
    path, train, dev = trained
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"hidden_size": 32, "num_layers": 1, "num_heads": 2, "ffn_dim": 64,
                               "max_positions": 64, "dropout": 0.0, "attention_dropout": 0.0}))
    res = distill(str(path), StudentSpec(config=str(cfg), init_embeddings=True), train, tmp_path / "a",
                  D.DistillConfig(hidden_weight=1.0, attention_weight=1.0, augment=1),
                  TrainConfig(epochs=3, lr=2e-3, batch_size=16), dev=dev, progress=False)
    assert res.best.accuracy >= 0.8
    meta = json.loads((tmp_path / "a" / "training.json").read_text())
    assert meta["augmented"] == 600 and meta["init_embeddings"]["width"][1] == 32
    # a new, smaller vocabulary: logit distillation works
    res = distill(str(path), StudentSpec(config=str(cfg), vocab_size=100), train, tmp_path / "b",
                  D.DistillConfig(), TrainConfig(epochs=3, lr=2e-3, batch_size=16), dev=dev, progress=False)
    assert res.best.accuracy >= 0.8
    # a vocabulary that cuts the text into other pieces: inner losses are refused
    other = tmp_path / "other-tok"
    other.mkdir()
    tokenizer.save(other)  # WordPiece trained on SST-2, not on the toy task
    with pytest.raises(LiteformerError, match="need token positions that match"):
        distill(str(path), StudentSpec(config=str(cfg), tokenizer=str(other)), train, tmp_path / "c",
                D.DistillConfig(hidden_weight=1.0), TrainConfig(max_steps=1), progress=False)


def test_cached_inner_tensors_give_the_teachers_loss_without_running_it(trained):  # noqa: F811
    teacher = load_model(trained[0]).model.eval()
    student = D.student_from_teacher(teacher, [1]).eval()
    torch.manual_seed(0)
    for p in student.parameters():  # a student that differs from the teacher: a non-zero loss
        p.data += 0.05 * torch.randn_like(p)
    ids = [[2, 5, 9, 11, 3], [2, 7, 3], [2, 4, 4, 8, 12, 6, 3]]
    cfg = D.DistillConfig(hidden_weight=1.0, attention_weight=1.0)
    logits, cache = teacher_outputs(teacher, ids, 0, [0, 2], [1], max_bytes=1 << 20, progress=False)
    assert cache is not None and teacher_outputs(teacher, ids, 0, [0, 2], [1], max_bytes=10)[1] is None
    x, m = pad_batch(ids, 0)
    idx, labels = torch.arange(3), torch.tensor([0, 1, 0])
    live = D.DistillLoss(cfg, [1], teacher, student.config, logits)(student, x, m, idx, labels)
    calls = []
    hook = teacher.encoder.register_forward_hook(lambda *a: calls.append(1))
    cached = D.DistillLoss(cfg, [1], teacher, student.config, logits, inner_cache=cache)(student, x, m, idx, labels)
    hook.remove()
    assert calls == [] and torch.allclose(live, cached, rtol=1e-2, atol=1e-4)  # fp16 storage


def test_stored_teacher_outputs_are_written_once_and_mapped(trained, tmp_path):  # noqa: F811
    teacher = load_model(trained[0]).model.eval()
    ids = [[2, 5, 9, 11, 3], [2, 7, 3], [2, 4, 4, 8, 12, 6, 3]]
    ram_logits, ram = teacher_outputs(teacher, ids, 0, [0, 2], [1], max_bytes=1 << 20, progress=False)
    logits, disk = teacher_outputs(teacher, ids, 0, [0, 2], [1], max_bytes=1 << 20, progress=False, store=tmp_path)
    (entry,) = tmp_path.iterdir()  # one folder, no temporary left behind
    assert sorted(p.name for p in entry.iterdir()) == ["attention-1.bin", "hidden-0.bin", "hidden-2.bin",
                                                       "lengths.bin", "logits.bin", "meta.json"]
    calls = []
    hook = teacher.encoder.register_forward_hook(lambda *a: calls.append(1))
    again, mapped = teacher_outputs(teacher, ids, 0, [0, 2], [1], max_bytes=1 << 20, progress=False, store=tmp_path)
    hook.remove()
    assert calls == []  # read back, the teacher did not run
    for got in (logits, again):
        torch.testing.assert_close(got, ram_logits)
    idx = torch.tensor([2, 0])
    for cache in (disk, mapped):
        torch.testing.assert_close(cache.hidden_batch(2, idx, 7), ram.hidden_batch(2, idx, 7))
        torch.testing.assert_close(cache.attention_batch(1, idx, 7), ram.attention_batch(1, idx, 7))
    # other inputs, other layers or other weights: another entry; logits-only entries hold no tables
    teacher_outputs(teacher, ids[:2], 0, [0], [], max_bytes=1 << 20, progress=False, store=tmp_path)
    assert len(list(tmp_path.iterdir())) == 2
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with pytest.raises(LiteformerError, match="cannot store the teacher's outputs"):
        teacher_outputs(teacher, ids, 0, progress=False, store=blocked / "sub")


def test_inner_loss_is_zero_for_a_copy_of_the_teacher(trained):  # noqa: F811
    teacher = load_model(trained[0]).model.eval()
    student = D.student_from_teacher(teacher, list(range(teacher.config.num_layers))).eval()
    loss = D.DistillLoss(D.DistillConfig(alpha=0.0, hidden_weight=1.0, attention_weight=1.0),
                         [0, 1], teacher, student.config, torch.zeros(4, 2))
    x = torch.randint(5, 50, (4, 7))
    logits = teacher(x, torch.ones_like(x))
    loss.cached = logits.detach()
    out = loss(student, x, torch.ones_like(x), torch.arange(4), torch.full((4,), -1))
    assert out.abs().max() < 1e-5 and not math.isnan(out.sum().item())


def test_inner_losses_through_a_vocabulary_pruned_student(trained, tmp_path):  # noqa: F811
    """A vocabulary pruned from the teacher's splits training text into the same pieces: the teacher
    gets its own ids, positions align, and a pruned copy of the teacher has zero inner loss."""
    from liteformer.compress.prune import TaskData, VocabConfig, prune_
    from liteformer.data.batching import pad_batch
    from liteformer.data.text import read_classification
    path, train, _ = trained
    lm = load_model(path)
    texts = read_classification(train).texts[:40]
    student = D.student_from_teacher(lm.model, list(range(lm.model.config.num_layers))).eval()
    new_tok = prune_(student, VocabConfig(), TaskData(lm.tokenizer, texts)).tokenizer
    s_ids, t_ids = new_tok.encode(texts, 32).ids, lm.tokenizer.encode(texts, 32).ids
    assert s_ids != t_ids and [len(x) for x in s_ids] == [len(x) for x in t_ids]
    loss = D.DistillLoss(D.DistillConfig(alpha=0.0, hidden_weight=1.0, attention_weight=1.0), [0, 1],
                         lm.model.eval(), student.config, torch.zeros(len(texts), 2), teacher_ids=t_ids,
                         teacher_pad=lm.tokenizer.pad_id)
    x, m = pad_batch(s_ids[:8], new_tok.pad_id)
    with torch.no_grad():
        loss.cached[:8] = student(x, m)
    out = loss(student, x, m, torch.arange(8), torch.full((8,), -1))
    assert out.abs().max() < 1e-5
    save_model(student, new_tok, tmp_path / "s")
    res = distill(str(path), StudentSpec(checkpoint=str(tmp_path / "s")), train, tmp_path / "o",
                  D.DistillConfig(hidden_weight=1.0), TrainConfig(max_steps=2, batch_size=8), progress=False)
    assert res.steps == 2


@pytest.mark.parametrize("args,msg", [
    (["--alpha", "2"], "alpha must be in [0, 1]"),
    (["--temperature", "0"], "temperature must be > 0"),
    (["--layer-map", "7"], "points to teacher layers [7]"),
    (["--unlabelled", "nowhere.txt"], "nowhere.txt: no such file"),
    (["--student-init-from-teacher"], "--student-init-from-teacher goes with --student-config"),
])
def test_cli_distill_bad_input(trained, tmp_path, args, msg):  # noqa: F811
    path, train, _ = trained
    r = run_cli("distill", "--teacher", str(path), "--student-layers", "1", "--train", train,
                "--out", str(tmp_path / "o"), *args)
    assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "o").exists()


def test_cli_distill_empty_train_and_two_students(trained, tmp_path):  # noqa: F811
    path, train, _ = trained
    (tmp_path / "e.tsv").write_text("sentence\tlabel\n")
    r = run_cli("distill", "--teacher", str(path), "--student-layers", "1", "--train", str(tmp_path / "e.tsv"),
                "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "no data rows" in r.stderr
    r = run_cli("distill", "--teacher", str(path), "--student-layers", "1", "--student", str(path),
                "--train", train, "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "exactly one student" in r.stderr


def test_distill_ddp_two_processes_match_one(trained, tmp_path):  # noqa: F811
    """Inner-layer distillation with a learned projection under torchrun (gloo) = one process."""
    import os
    import subprocess
    import sys

    from safetensors.torch import load_file

    from tests.conftest import ROOT
    path, train, _ = trained
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"hidden_size": 32, "num_layers": 1, "num_heads": 2, "ffn_dim": 64,
                               "max_positions": 64, "dropout": 0.0, "attention_dropout": 0.0}))
    common = ["distill", "--teacher", str(path), "--student-config", str(cfg), "--train", train,
              "--hidden-weight", "1", "--max-steps", "5", "--batch-size", "8", "--lr", "1e-3", "--threads", "1"]
    one = run_cli(*common, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", "29541", "-m", "liteformer", *common, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    a = load_file(str(tmp_path / "one" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=2e-5, rtol=1e-4)


def test_distill_a_config_student_cut_from_the_teacher(trained, tmp_path):  # noqa: F811
    path, train, dev = trained
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"hidden_size": 64, "num_layers": 1, "num_heads": 2, "head_dim": 32, "ffn_dim": 128,
                               "max_positions": 64, "dropout": 0.0, "attention_dropout": 0.0}))
    spec = StudentSpec(config=str(cfg), init_from_teacher=True)
    res = distill(str(path), spec, train, tmp_path / "a", D.DistillConfig(hidden_weight=1.0),
                  TrainConfig(epochs=1, lr=1e-3, batch_size=16), dev=dev, progress=False)
    assert res.best.accuracy >= 0.8
    meta = json.loads((tmp_path / "a" / "training.json").read_text())["init_from_teacher"]
    assert meta["layers"] == [0] and meta["width"] == [128, 64] and len(meta["heads"][0]) == 2
    # the hidden-state projections start by putting the kept channels back where they came from
    teacher = load_model(path).model
    student = load_model(tmp_path / "a").model
    loss = D.DistillLoss(D.DistillConfig(hidden_weight=1.0), [1], teacher, student.config,
                         torch.zeros(1, 2), channels=meta["hidden_channels"])
    h = torch.randn(3, 64)
    back = loss.proj[0](h)  # (3, 128)
    torch.testing.assert_close(back[:, meta["hidden_channels"]], h)
    others = [c for c in range(128) if c not in meta["hidden_channels"]]
    assert back[:, others].abs().max() == 0  # and nothing elsewhere


def test_distill_into_light_students(trained, tmp_path):  # noqa: F811
    """A light student is just a config: LSRA branches + a convolution module, and a MobileBERT
    bottleneck with stacked FFNs and NoNorm, both distilled with hidden-state projections (their width
    differs from the teacher's; NoNorm starts the residual stream at unit scale, without which this run
    stalls at chance) and saved in the own format. Teacher init refuses the bottleneck by block type."""
    path, train, dev = trained
    shapes = {"lsra": ({"hidden_size": 64, "num_layers": 2, "num_heads": 2, "conv_dim": 32, "conv_kernel": 3,
                        "conv_module": [False, True]}, 1.0),
              "mobilebert": ({"hidden_size": 64, "bottleneck_dim": 32, "num_layers": 2, "num_heads": 2,
                              "ffn_stack": 2, "norm": "nonorm"}, 1.0)}
    for name, (shape, hidden) in shapes.items():
        cfg = tmp_path / f"{name}.json"
        cfg.write_text(json.dumps({**shape, "ffn_dim": 64, "max_positions": 64, "dropout": 0.0,
                                   "attention_dropout": 0.0}))
        res = distill(str(path), StudentSpec(config=str(cfg)), train, tmp_path / name,
                      D.DistillConfig(hidden_weight=hidden), TrainConfig(epochs=3, lr=2e-3, batch_size=16), dev=dev,
                      progress=False)
        assert res.best.accuracy >= 0.8, name
        assert load_model(tmp_path / name).model.config.light
    with pytest.raises(LiteformerError, match="this student has bottlenecks, stacked FFNs, NoNorm"):
        distill(str(path), StudentSpec(config=str(tmp_path / "mobilebert.json"), init_from_teacher=True), train,
                tmp_path / "x", D.DistillConfig(), TrainConfig(epochs=1), dev=dev, progress=False)
    assert not (tmp_path / "x").exists()
