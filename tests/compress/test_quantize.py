"""Quantization: the PyTorch verb, each runtime's own int8 file, calibration checks, mixed precision."""

import copy
import json

import numpy as np
import pytest
import torch

from liteformer import runtimes
from liteformer.compress.quantize import Int8DynamicConfig, quantize_
from liteformer.compress.quantize.groups import group_of
from liteformer.data.text import read_classification
from liteformer.errors import LiteformerError
from liteformer.export.calibration import calibration_ids
from liteformer.export.exporter import export_model
from liteformer.export.options import ExportOptions
from liteformer.models.checkpoint import load_model
from liteformer.train.finetune import finetune, prepare
from liteformer.train.loop import TrainConfig
from liteformer.tune import mixed
from tests.conftest import run_cli
from tests.train.test_finetune import TINY, _toy


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained on a learnable toy task: confident predictions, stable under int8."""
    d = tmp_path_factory.mktemp("q")
    cfg = d / "tiny.json"
    cfg.write_text(json.dumps({**TINY, "hidden_size": 128, "ffn_dim": 512}))  # weights dominate the file
    train, dev = _toy(d / "train.tsv", 600, 0), _toy(d / "dev.tsv", 120, 1)
    torch.manual_seed(0)
    prep = prepare(train, model_config=str(cfg), vocab_size=120, dev=dev)
    res = finetune(prep, d / "m", TrainConfig(epochs=6, lr=2e-3, batch_size=16, warmup=0.1), progress=False)
    assert res.best.accuracy >= 0.95
    return d / "m", train, dev


def test_groups():
    assert group_of("encoder.layers.3.attn.q") == "layer3.attn"
    assert group_of("encoder.layers.0.ffn.down") == "layer0.ffn"
    assert group_of("encoder.embeddings.word") == "embeddings"
    assert group_of("classifier") == "head" and group_of("encoder.final_norm") is None


def test_quantize_verb_and_keep_float(trained):
    lm = load_model(trained[0])
    x = torch.randint(5, lm.model.config.vocab_size, (2, 9))
    ref = lm.model(x, torch.ones_like(x))
    quantize_(lm.model, Int8DynamicConfig(keep_float=("layer1.ffn",)))
    kinds = {n: type(m).__module__ for n, m in lm.model.named_modules() if n.endswith((".q", ".up", "classifier"))}
    assert "quantized" in kinds["encoder.layers.0.ffn.up"] and "quantized" in kinds["encoder.layers.0.attn.q"]
    assert "quantized" not in kinds["encoder.layers.1.ffn.up"]
    assert (lm.model(x, torch.ones_like(x)) - ref).abs().max() < 0.5
    with pytest.raises(TypeError, match="no quantizer registered"):
        quantize_(lm.model, object())


# ExecuTorch int8-dynamic by default in tests/export/test_export.py (test_executorch_int8_keeps_named_groups_float
# exports the all-int8 file too, verified, int8 table and size checked); here in the slow run
CASES = [("onnx", "int8-dynamic"), ("onnx", "int8-static"), ("litert", "int8-dynamic"),
         *[pytest.param("executorch", m, marks=pytest.mark.slow) for m in ("int8-dynamic", "int8-static")]]


@pytest.mark.parametrize("runtime,method", CASES)
def test_quantized_files_shrink_and_agree(trained, tmp_path, runtime, method):
    path, train, dev = trained
    lm = load_model(path)
    texts = read_classification(dev).texts[:60]
    calib = calibration_ids(train, lm, 32, 32) if method.endswith("static") else None
    q = export_model(lm, runtime, tmp_path / "q", ExportOptions(max_length=32, buckets=(16, 32), quantize=method,
                                                                calibration=calib), texts, 1)
    fp32_bytes = 4 * sum(p.numel() for p in lm.model.parameters())
    assert (tmp_path / "q" / q["artifact"]).stat().st_size < 0.75 * fp32_bytes
    assert q["verify"]["quantized"] and q["verify"]["label_agreement"] >= 0.99
    assert q["export"]["quantization"] == method and q["quantization"]["method"] == method
    assert not any(p.name.startswith("model_fp32") for p in (tmp_path / "q").iterdir())
    if runtime == "executorch":  # its vocabulary table is int8 too (XNNPACK has no int8 embedding)
        assert q["quantization"]["int8_embedding"]


def test_unsupported_method_names_the_supported(tiny_folder, tmp_path):
    with pytest.raises(LiteformerError, match="onnx does not support quantization 'int4-dynamic'.*int8-dynamic"):
        export_model(load_model(tiny_folder), "onnx", tmp_path / "x", ExportOptions(max_length=32,
                     quantize="int4-dynamic"), None)
    with pytest.raises(LiteformerError, match="needs a non-empty calibration set"):
        export_model(load_model(tiny_folder), "onnx", tmp_path / "x", ExportOptions(max_length=32,
                     quantize="int8-static", calibration=[]), None)
    with pytest.raises(LiteformerError, match="unknown layer groups"):
        export_model(load_model(tiny_folder), "onnx", tmp_path / "x", ExportOptions(max_length=32,
                     quantize=Int8DynamicConfig(keep_float=("layer9.ffn",))), None)
    assert not (tmp_path / "x").exists()


def test_calibration_data_checks(tiny_folder, tmp_path):
    lm = load_model(tiny_folder)
    (tmp_path / "other.tsv").write_text("sentence\tlabel\nfine\tspam\nbad\tham\n")
    with pytest.raises(LiteformerError, match="not the model's labels"):
        calibration_ids(str(tmp_path / "other.tsv"), lm, 8, 32)
    (tmp_path / "zh.tsv").write_text("text\n这部电影很好看\n非常无聊的故事\n")
    with pytest.raises(LiteformerError, match=r"\[UNK\].*another language or tokenizer"):
        calibration_ids(str(tmp_path / "zh.tsv"), lm, 8, 32)
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(LiteformerError, match="empty file"):
        calibration_ids(str(tmp_path / "empty.tsv"), lm, 8, 32)
    assert len(calibration_ids("sst2:train", lm, 8, 32)) == 8  # no label check problem: labels 0/1


def test_accuracy_aware_keeps_the_fewest_sensitive_groups():
    """A fake runtime whose accuracy depends on which groups stay float; the search must find them."""
    groups = ["embeddings", "layer0.attn", "layer0.ffn", "layer1.attn", "layer1.ffn", "head"]
    gains = {"layer1.ffn": 0.05, "embeddings": 0.012, "layer0.attn": 0.001}
    calls = []

    def measure(keep):
        calls.append(tuple(keep))
        return 0.80 + sum(gains.get(g, 0.0) for g in keep)

    res = mixed.search_keep_float(groups, measure, base=0.865, max_drop=0.005)
    assert res.keep_float == ["layer1.ffn", "embeddings"]
    assert res.final_accuracy == pytest.approx(0.862) and res.all_quantized_accuracy == pytest.approx(0.80)
    assert res.sensitivity["layer1.ffn"] == pytest.approx(0.05) and set(res.sensitivity) == set(groups)
    assert len(calls) == 1 + len(groups) + 2
    with pytest.raises(LiteformerError, match="best reached 0.8630"):
        mixed.search_keep_float(groups, measure, base=0.865, max_drop=0.001)
    res = mixed.search_keep_float(groups, lambda keep: 0.862, base=0.865, max_drop=0.005)
    assert res.keep_float == [] and res.sensitivity == {}  # within budget at once: no scan
    with pytest.raises(LiteformerError, match="must be in"):
        mixed.search_keep_float(groups, measure, base=0.865, max_drop=1.5)


def test_cli_quantize(trained, tmp_path):
    path, _, dev = trained
    out = tmp_path / "q"
    r = run_cli("quantize", str(path), "--to", "onnx", "--out", str(out), "--max-accuracy-drop", "0.01",
                "--eval-data", dev, "--verify-data", dev, "--verify-n", "50", "--max-length", "32")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "labels agree" in r.stdout and "accuracy on" in r.stdout
    side = json.loads((out / "liteformer.json").read_text())
    assert side["mixed_precision"]["final_accuracy"] >= side["mixed_precision"]["float_accuracy"] - 0.01
    runner = runtimes.load("onnx", out, None, 1)
    x = np.asarray([[2, 10, 3]])
    assert runner(x, np.ones_like(x)).shape == (1, 2)
    r = run_cli("quantize", str(path), "--to", "onnx", "--out", str(tmp_path / "z"), "--max-accuracy-drop", "0.01")
    assert r.returncode == 2 and "needs --eval-data" in r.stderr
    r = run_cli("quantize", str(path), "--to", "executorch", "--method", "int4-dynamic", "--out", str(tmp_path / "z"))
    assert r.returncode == 2 and "supports: int8-dynamic, int8-static" in r.stderr
    assert not (tmp_path / "z").exists()


def test_qat_fake_quantization_and_round_trip(trained, tmp_path):
    from liteformer.compress.quantize.qat import FakeQuantLinear, fake_quant_weight, qat_convert_, qat_prepare_
    w = torch.randn(6, 10)
    q = fake_quant_weight(w, 8)
    scale = w.abs().amax(1, keepdim=True) / 127
    assert torch.allclose(q / scale, (q / scale).round(), atol=1e-4)  # on the int8 grid
    assert (q - w).abs().max() <= scale.max() / 2 + 1e-6
    lm = load_model(trained[0])
    sd = {k: v.clone() for k, v in lm.model.state_dict().items()}
    qat_prepare_(lm.model)
    assert isinstance(lm.model.encoder.layers[0].attn.q, FakeQuantLinear)
    x = torch.randint(5, lm.model.config.vocab_size, (2, 7))
    y = lm.model(x, torch.ones_like(x))
    y.sum().backward()  # straight-through gradients reach the float weights
    assert lm.model.encoder.layers[0].ffn.up.weight.grad.abs().sum() > 0
    qat_convert_(lm.model)
    assert type(lm.model.encoder.layers[0].attn.q) is torch.nn.Linear
    assert all(torch.equal(v, sd[k]) for k, v in lm.model.state_dict().items())


def test_finetune_with_qat_learns_and_exports_int8(trained, tmp_path):
    _, train, dev = trained
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(TINY))
    torch.manual_seed(0)
    prep = prepare(train, model_config=str(cfg), vocab_size=120, dev=dev)
    res = finetune(prep, tmp_path / "m", TrainConfig(epochs=6, lr=2e-3, batch_size=16, warmup=0.1, qat=True),
                   progress=False)
    assert res.best.accuracy >= 0.95
    lm = load_model(tmp_path / "m")
    meta = export_model(lm, "onnx", tmp_path / "q", ExportOptions(max_length=32, quantize="int8-dynamic"),
                        read_classification(dev).texts[:60], 1)
    assert meta["verify"]["label_agreement"] >= 0.99


def test_int8_embedding_rows(trained):
    from liteformer.compress.quantize.int8_embedding import Int8Embedding, Int8EmbeddingConfig
    lm = load_model(trained[0])
    ref = lm.model.encoder.embeddings.word.weight.detach().clone()
    q = quantize_(copy.deepcopy(lm.model), Int8EmbeddingConfig())
    table = q.encoder.embeddings.word
    assert isinstance(table, Int8Embedding) and table.qweight.dtype == torch.int8
    assert not isinstance(q.encoder.embeddings.position, Int8Embedding)  # tiny tables stay float
    err = (table.weight - ref).abs().amax(1) / ref.abs().amax(1)
    assert err.max() <= 0.5 / 127 + 1e-6  # per-row rounding
    x = torch.randint(5, lm.model.config.vocab_size, (2, 9))
    assert torch.allclose(table(x), ref[x], atol=float(ref.abs().max()) / 250)
