"""Export tiny models to every runtime, run them, verify them; failures leave nothing behind."""

import json

import numpy as np
import pytest
import torch

from liteformer import runtimes
from liteformer.data.text import read_classification
from liteformer.errors import LiteformerError
from liteformer.export.exporter import export_model
from liteformer.export.options import ExportOptions
from liteformer.models.checkpoint import load_model, save_model
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification
from tests.conftest import run_cli

TARGETS = ["onnx", "executorch", "litert"]
TEXTS = read_classification("sst2:dev").texts[:12]


@pytest.fixture(scope="module")
def pruned_folder(tmp_path_factory, tokenizer, sst2_small):
    """vocab-prune → structured prune → factorize, as a compression plan leaves a model: per-layer
    widths, a dropped layer, low-rank Linears and embedding (own folder format)."""
    from liteformer.compress.factorize import LowRankConfig, factorize_
    from liteformer.compress.prune import StructuredConfig, TaskData, VocabConfig, prune_
    torch.manual_seed(1)
    cfg = TransformerConfig.tiny(vocab_size=tokenizer.vocab_size, num_layers=3, id2label={0: "0", 1: "1"})
    model = TransformerForSequenceClassification(cfg).eval()
    texts = sst2_small.texts[:200]
    data = TaskData(tokenizer, texts, [int(x) for x in sst2_small.labels[:200]], max_length=32, progress=False)
    data.tokenizer = prune_(model, VocabConfig(), data).tokenizer
    prune_(model, StructuredConfig(0.6, length=16, drop_layers=1, min_neurons=8), data)
    factorize_(model, LowRankConfig(rank=6, targets=("ffn",), embedding_rank=12))
    assert len(set(model.config.num_heads)) > 1 or len(set(model.config.ffn_dim)) > 1
    path = tmp_path_factory.mktemp("m") / "pruned"
    save_model(model, data.tokenizer, path)
    return path


@pytest.fixture(scope="module")
def distil_folder(tmp_path_factory, tokenizer):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.DistilBertConfig(vocab_size=tokenizer.vocab_size, dim=32, n_layers=2, n_heads=4,
                                        hidden_dim=48, max_position_embeddings=64)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("m") / "distil"
    transformers.DistilBertForSequenceClassification(cfg).eval().save_pretrained(path)
    tokenizer.save(path)
    return path


CASES = [(t, "tiny_folder") for t in TARGETS] + [
    ("onnx", "pruned_folder"), ("litert", "pruned_folder"), pytest.param("executorch", "pruned_folder",
                                                                         marks=pytest.mark.slow),
    ("onnx", "distil_folder"),  # a Hugging Face DistilBERT; to LiteRT/ExecuTorch only in the slow run
    *[pytest.param(t, "distil_folder", marks=pytest.mark.slow) for t in ("executorch", "litert")]]


@pytest.mark.parametrize("target, which", CASES)
def test_export_verify_and_run(target, which, request, tmp_path):
    lm = load_model(request.getfixturevalue(which))
    out = tmp_path / target
    meta = export_model(lm, target, out, ExportOptions(max_length=32, buckets=(8, 16, 32)), TEXTS, threads=1)
    assert meta["verify"]["max_abs_diff"] <= 1e-4 and meta["verify"]["label_agreement"] == 1.0
    side = json.loads((out / "liteformer.json").read_text())
    assert side["runtime"] == target and side["max_length"] == 32 and side["id2label"] == {"0": "0", "1": "1"}
    assert side["source"]["sha256"] and side["inputs"][0]["name"] == "input_ids"
    assert {"tokenizer.json", "vocab.txt", meta["artifact"]} <= {p.name for p in out.iterdir()}
    if target == "litert":
        assert side["buckets"] == [8, 16, 32] and side["inputs"][0]["dtype"] == "int32"
    # the runtime adapter gives the source's logits at several lengths (dynamic or bucketed)
    runner = runtimes.load(target, out, None, 1)
    for T in (3, 9, 32):
        ids = np.random.default_rng(T).integers(5, lm.tokenizer.vocab_size, (1, T))
        mask = np.ones_like(ids)
        with torch.inference_mode():
            ref = lm.model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        assert np.abs(runner(ids, mask) - ref).max() <= 1e-4


def _perturbing(monkeypatch, target):
    """Make the backend export a subtly different model than the source (a broken converter)."""
    be = runtimes.exporter(target)
    real = be.convert

    def broken(model, out_dir, opts):
        with torch.no_grad():
            model.classifier.bias += 0.01
        try:
            return real(model, out_dir, opts)
        finally:
            with torch.no_grad():
                model.classifier.bias -= 0.01
    monkeypatch.setattr(be, "convert", broken)


def test_failed_verification_writes_nothing_and_keeps_the_old_bundle(tiny_folder, tmp_path, monkeypatch):
    lm = load_model(tiny_folder)
    out = tmp_path / "onnx"
    export_model(lm, "onnx", out, ExportOptions(max_length=32), TEXTS, threads=1)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _perturbing(monkeypatch, "onnx")
    with pytest.raises(LiteformerError, match=r"output 'logits' differs from the source by 1\.00e-02"):
        export_model(lm, "onnx", out, ExportOptions(max_length=32), TEXTS, threads=1)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["onnx"]  # no temp folders left
    with pytest.raises(LiteformerError):
        export_model(lm, "onnx", tmp_path / "new", ExportOptions(max_length=32), TEXTS, threads=1)
    assert not (tmp_path / "new").exists()


def test_missing_runtime_names_the_extra(monkeypatch):
    from dataclasses import replace
    broken = replace(runtimes.RUNTIMES["litert"], needs=("no_such_module_xyz",))
    monkeypatch.setitem(runtimes.RUNTIMES, "litert", broken)
    with pytest.raises(LiteformerError, match=r"pip install 'liteformer\[litert\]'"):
        runtimes.exporter("litert")
    with pytest.raises(LiteformerError, match="unknown export target"):
        runtimes.exporter("coreml")


@pytest.mark.parametrize("opts", [ExportOptions(max_length=1), ExportOptions(max_length=65),
                                  ExportOptions(max_length=32, buckets=(8, 64))])
def test_impossible_lengths(tiny_folder, tmp_path, opts):
    with pytest.raises(LiteformerError, match="must be in"):
        export_model(load_model(tiny_folder), "onnx", tmp_path / "x", opts, None)
    assert not (tmp_path / "x").exists()


def test_cli_export_run_and_bench(tiny_folder, tmp_path):
    out = tmp_path / "b"
    r = run_cli("export", str(tiny_folder), "--to", "onnx,executorch", "--out", str(out), "--max-length", "32",
                "--verify-n", "8")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "verified on 8 inputs" in r.stdout and (out / "onnx" / "model.onnx").exists()
    r = run_cli("run", str(out / "onnx" / "model.onnx"), "--text", "a charming film", "--text", "dull", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)["results"]
    assert len(res) == 2 and res[0]["label"] in ("0", "1") and abs(sum(res[0]["probabilities"].values()) - 1) < 1e-6
    r2 = run_cli("run", str(out / "executorch"), "--text", "a charming film", "--text", "dull", "--json")
    assert [x["label"] for x in json.loads(r2.stdout)["results"]] == [x["label"] for x in res]
    r = run_cli("bench", str(tiny_folder), str(out / "onnx"), str(out / "executorch"), "--data", "sst2:test",
                "--reps", "1", "--timed-examples", "10", "--length", "32", "--out", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / "rep" / "bench.json").read_text())
    accs = {c["runtime"]: c["accuracy"] for c in rep["candidates"]}
    assert accs["onnx"] == accs["torch"] == accs["executorch"]


@pytest.mark.parametrize("args,msg", [
    (["--to", "coreml"], "unknown export target"),
    (["--to", "onnx", "--buckets", "8,x"], "expected comma-separated integers"),
    (["--to", "onnx", "--max-length", "500"], "must be in [2, 64]"),
])
def test_cli_export_bad_input(tiny_folder, tmp_path, args, msg):
    r = run_cli("export", str(tiny_folder), *args, "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "o").exists()


def test_run_bad_artifact(tmp_path):
    (tmp_path / "m.tflite").write_bytes(b"not a model")
    r = run_cli("run", str(tmp_path / "m.tflite"), "--text", "x")
    assert r.returncode == 2 and "no liteformer.json" in r.stderr


@pytest.mark.parametrize("which", ["tiny_folder", "pruned_folder"])
def test_onnx_fusion_matches_source_on_padded_batches(which, request, tmp_path):
    """ORT's fused Attention reads the mask as right padding: a padded batch of 3 must still give
    each sentence the source's logits; --no-fuse (fuse=False) keeps the dynamo graph."""
    import onnxruntime as ort
    lm = load_model(request.getfixturevalue(which))
    meta = export_model(lm, "onnx", tmp_path / "f", ExportOptions(max_length=32), TEXTS, threads=1)
    assert meta["exporter"] == "legacy+ort-fusion" and meta["fusion"]["ops"]["SkipLayerNormalization"] > 0
    if which == "tiny_folder":  # plain q/k/v: every layer's attention is one op
        assert meta["fusion"]["ops"]["Attention"] == lm.model.config.num_layers
    enc = lm.tokenizer.encode(TEXTS[:3], 32)
    T = max(map(len, enc.ids))
    ids = np.asarray([x + [lm.tokenizer.pad_id] * (T - len(x)) for x in enc.ids], dtype=np.int64)
    mask = np.asarray([[1] * len(x) + [0] * (T - len(x)) for x in enc.ids], dtype=np.int64)
    sess = ort.InferenceSession(str(tmp_path / "f" / "model.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    with torch.inference_mode():
        ref = lm.model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    assert np.abs(got - ref).max() <= 1e-4
    plain = export_model(lm, "onnx", tmp_path / "p", ExportOptions(max_length=32, fuse=False), TEXTS, threads=1)
    assert plain["exporter"] == "dynamo" and plain["fusion"] == {"ops": None, "skipped": "--no-fuse"}


def test_eval_runs_a_bundle_in_its_runtime(tiny_folder, tmp_path):
    """`liteformer eval --model BUNDLE` scores the exported file itself: an fp32 export gives the source's report."""
    lm = load_model(tiny_folder)
    export_model(lm, "onnx", tmp_path / "b", ExportOptions(max_length=32), TEXTS, threads=1)
    src = run_cli("eval", "--model", str(tiny_folder), "--data", "sst2:dev", "--max-length", "32",
                  "--out", str(tmp_path / "src.json"))
    assert src.returncode == 0, src.stderr
    for target in (tmp_path / "b", tmp_path / "b" / "model.onnx"):
        r = run_cli("eval", "--model", str(target), "--data", "sst2:dev", "--out", str(tmp_path / "b.json"))
        assert r.returncode == 0, r.stderr
        got, want = (json.loads((tmp_path / f).read_text()) for f in ("b.json", "src.json"))
        assert got["confusion"] == want["confusion"] and got["total"] == want["total"] > 100
    (tmp_path / "labels.tsv").write_text("sentence\tlabel\ngood\tpositive\n")
    r = run_cli("eval", "--model", str(tmp_path / "b"), "--data", str(tmp_path / "labels.tsv"))
    assert r.returncode == 2 and "does not match the bundle's labels" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_cli("eval", "--model", str(tmp_path / "b"), "--data", "sst2:dev", "--max-length", "64")
    assert r.returncode == 2 and "exceeds the bundle's 32 positions" in r.stderr


def test_executorch_int8_keeps_named_groups_float(tiny_folder, tmp_path):
    """keep_float in ExecuTorch: the XNNPACK quantizer refuses set_module_name(name, None), so the
    kept groups are filtered out node by node; their Linears stay float and the bundle still verifies."""
    loaded = load_model(tiny_folder)
    from liteformer.compress.quantize import Int8DynamicConfig
    opts = ExportOptions(max_length=32, quantize=Int8DynamicConfig(keep_float=("head", "layer1.ffn")))
    meta = export_model(loaded, "executorch", tmp_path / "et", opts, TEXTS)
    assert meta["quantization"]["kept_float_linears"] == 4  # pooler, classifier, ffn.up, ffn.down
    assert meta["verify"]["label_agreement"] >= 0.99
    all_int8 = export_model(loaded, "executorch", tmp_path / "all", ExportOptions(max_length=32,
                                                                                   quantize="int8-dynamic"), TEXTS)
    q = all_int8["quantization"]  # the all-int8 file: also tests/compress/test_quantize.py's case (slow run)
    assert q["kept_float_linears"] == 0 and q["int8_embedding"] and all_int8["verify"]["label_agreement"] >= 0.99
    fp32_bytes = 4 * sum(p.numel() for p in loaded.model.parameters())
    assert (tmp_path / "all" / "model.pte").stat().st_size < 0.75 * fp32_bytes
    kept = (tmp_path / "et" / "model.pte").stat().st_size - (tmp_path / "all" / "model.pte").stat().st_size
    assert kept > 3 * (32 * 64 + 32 * 32)  # those weights really stay 4-byte floats in the file
