"""Generation on the runtimes: a tiny encoder-decoder exported to ONNX Runtime, LiteRT and ExecuTorch
decodes exactly as in PyTorch (greedy and beam), the fixed-size cache works up to its last slot,
int8 exports verify by BLEU, and broken bundles fail with one line."""

import json
import shutil

import numpy as np
import pytest
import torch

from liteformer import runtimes
from liteformer.data.parallel import ParallelDataset, read_parallel
from liteformer.errors import LiteformerError
from liteformer.export.exporter import export_model
from liteformer.export.options import ExportOptions
from liteformer.models import seq2seq_graphs as g
from liteformer.models.checkpoint import load_model
from liteformer.models.generation import GenerationConfig, generate, model_calls
from liteformer.runtimes.generation import runner_calls
from liteformer.tasks import translation
from tests.conftest import run_cli

L = 12  # the cache: a random model never says </s>, so every output runs to the limit L - 1
RUNTIMES = ("onnx", "litert", "executorch")


@pytest.fixture(scope="module")
def pairs():
    d = read_parallel("multi30k:val")
    return ParallelDataset(d.sources[:10], d.targets[:10], d.path)


@pytest.fixture(scope="module")
def bundles(nmt_folder, pairs, tmp_path_factory):
    loaded = load_model(nmt_folder)
    root = tmp_path_factory.mktemp("seq2seq")
    out = {}
    for rt in RUNTIMES:
        opts = ExportOptions(max_length=32, buckets=(16, 32), max_target=L)
        out[rt] = (root / rt, export_model(loaded, rt, root / rt, opts, pairs, threads=1))
    return out


@pytest.mark.parametrize("rt", RUNTIMES)
def test_fp32_export_decodes_like_pytorch(bundles, nmt_folder, pairs, rt):
    path, side = bundles[rt]
    v = side["verify"]
    assert v["identical_outputs"] == 1.0 and v["max_abs_diff_first_steps"] <= 1e-4 and v["inputs"] == 10
    gen = side["generation"]
    assert gen["layout"]["self_cache"] == [6, L, 8] and gen["eos_id"] == 2 and "decode(" in gen["loop"]
    assert side["task"] == "translation"
    runner = runtimes.load(rt, path, None, 1)
    model = load_model(nmt_folder).model
    cfg = translation.runtime_config(runner)
    enc = runner.tokenizer.encode(pairs.sources, 32)
    for ids in enc.ids[:3]:
        x = torch.tensor([ids])
        want = generate(*model_calls(model, L), x, torch.ones_like(x), cfg, 1, 2)[0]
        got = translation.run_sentence(runner, ids, cfg)
        assert got.ids == want and len(want) == L - 1 and got.first_token_ms > 0


@pytest.mark.parametrize("rt", RUNTIMES)
def test_the_last_cache_slot(bundles, nmt_folder, rt):
    """A step at position L-1 (the cache's last slot) in the runtime equals the PyTorch graph's."""
    runner = runtimes.load(rt, bundles[rt][0], None, 1)
    model = load_model(nmt_folder).model
    torch.manual_seed(1)
    ids, mask = torch.randint(4, 200, (1, 16)), torch.ones(1, 16, dtype=torch.long)
    cross_k, cross_v = runner.encode(*runner.pad_source(ids.numpy(), mask.numpy()))
    _, dec = g.sample_inputs(model, L, 1, 16, torch.long)
    self_k, self_v = torch.randn_like(dec["self_k"]), torch.randn_like(dec["self_v"])
    with torch.no_grad():
        ref_k, ref_v = g.EncodeGraph(model)(ids, mask)
        want = g.DecodeGraph(model)(torch.tensor([[7]]), torch.tensor([L - 1]), mask, self_k, self_v, ref_k, ref_v)
    got = runner.decode(np.array([[7]]), np.array([L - 1]), mask.numpy(), self_k.numpy(), self_v.numpy(),
                        cross_k, cross_v)
    assert np.abs(got[0] - want[0].numpy()).max() < 1e-4
    np.testing.assert_allclose(got[1][:, :, L - 1], want[1][:, :, L - 1].numpy(), atol=1e-5)  # written
    np.testing.assert_array_equal(got[1][:, :, : L - 1], self_k[:, :, : L - 1].numpy())  # the rest untouched


def test_beam_search_through_a_runtime(bundles, nmt_folder, pairs):
    """Beam search reorders the runtime's cache rows (GraphState.select) as it does PyTorch's."""
    runner = runtimes.load("onnx", bundles["onnx"][0], None, 1)
    model = load_model(nmt_folder).model
    cfg = GenerationConfig(beam=3, max_target=L)
    from liteformer.data.batching import pad_batch
    src, mask = pad_batch(runner.tokenizer.encode(pairs.sources[:4], 32).ids, 0)
    assert generate(*runner_calls(runner), src, mask, cfg, 1, 2) == generate(*model_calls(model, L), src, mask, cfg,
                                                                             1, 2)


# ExecuTorch's int8 seq2seq export (and its BLEU check) runs by default in
# tests/compress/test_prune_output_vocab.py; this one in the slow run
@pytest.mark.parametrize("rt", ["onnx", "litert", pytest.param("executorch", marks=pytest.mark.slow)])
def test_int8_export_verifies_by_bleu(nmt_folder, pairs, tmp_path, rt, bundles):
    loaded = load_model(nmt_folder)
    opts = ExportOptions(max_length=32, buckets=(32,), max_target=L, quantize="int8-dynamic")
    side = export_model(loaded, rt, tmp_path / "q", opts, pairs, threads=1)
    v = side["verify"]
    assert v["quantized"] and v["bleu"] >= v["bleu_source"] - 0.5 and side["export"]["quantization"] == "int8-dynamic"
    size = lambda p: sum(f.stat().st_size for f in p.iterdir() if f.name != "liteformer.json")  # noqa: E731
    assert size(tmp_path / "q") < size(bundles[rt][0])


def test_a_failed_bleu_check_leaves_nothing(nmt_folder, pairs, tmp_path, monkeypatch):
    monkeypatch.setattr(translation, "MAX_BLEU_DROP", -1.0)  # nothing can pass
    opts = ExportOptions(max_length=32, max_target=L, quantize="int8-dynamic")
    with pytest.raises(LiteformerError, match="verify failed: sacreBLEU"):
        export_model(load_model(nmt_folder), "onnx", tmp_path / "q", opts, pairs, threads=1)
    assert not (tmp_path / "q").exists()
    with pytest.raises(LiteformerError, match="needs reference translations"):
        export_model(load_model(nmt_folder), "onnx", tmp_path / "q", opts, pairs.sources, threads=1)


def test_static_quantization_of_a_generator_is_refused(nmt_folder, tmp_path):
    opts = ExportOptions(max_length=32, quantize="int8-static", calibration=[[5, 6, 2]])
    with pytest.raises(LiteformerError, match="static quantization of a generation model"):
        export_model(load_model(nmt_folder), "onnx", tmp_path / "q", opts)


def test_broken_generation_bundles(bundles, tmp_path):
    onnx = shutil.copytree(bundles["onnx"][0], tmp_path / "onnx")
    (onnx / "decode.onnx").unlink()
    with pytest.raises(LiteformerError, match="lacks its decode graph"):
        runtimes.load("onnx", onnx, None, 1)
    for rt in RUNTIMES:  # a sidecar whose cache does not match the graph
        b = shutil.copytree(bundles[rt][0], tmp_path / f"cache-{rt}")
        side = json.loads((b / "liteformer.json").read_text())
        side["generation"]["layout"]["self_cache"] = [6, L + 4, 8]
        (b / "liteformer.json").write_text(json.dumps(side))
        with pytest.raises(LiteformerError, match=r"cache input has shape \(6, 12, 8\), the sidecar says"):
            runtimes.load(rt, b, None, 1)
    runner = runtimes.load("onnx", bundles["onnx"][0], None, 1)
    with pytest.raises(LiteformerError, match="decoder cache of shape"):
        runner.decode(np.ones((1, 1)), np.zeros(1), np.ones((1, 4)), np.zeros((1, 6, L - 1, 8)),
                      np.zeros((1, 6, L - 1, 8)), np.zeros((1, 6, 4, 8)), np.zeros((1, 6, 4, 8)))
    lite = runtimes.load("litert", bundles["litert"][0], None, 1)
    with pytest.raises(LiteformerError, match="exceeds the largest bucket 32"):
        lite.pad_source(np.ones((1, 33)), np.ones((1, 33)))


def test_cli_runs_evals_and_refuses(bundles, nmt_folder, tmp_path):
    path = bundles["litert"][0]
    long = "a man " * 40
    r = run_cli("run", str(path), "--text", "A man rides a bike.", "--text", long, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)["results"]
    assert len(out) == 2 and "1 of 2 sources were longer than 32 tokens and were truncated" in r.stderr
    r = run_cli("eval", "--model", str(path), "--data", "multi30k:val", "--hypotheses", str(tmp_path / "h.txt"),
                "--out", str(tmp_path / "e.json"))
    assert r.returncode == 0, r.stderr
    assert "sacreBLEU" in r.stdout and len((tmp_path / "h.txt").read_text().splitlines()) == 200
    for flags, msg in ((["--max-target", "0"], "max_target must be > 0"),
                       (["--max-target", "65"], "max-target 65 must be in [2, 64]"),
                       (["--quantize", "int8-static", "--calibration-data", "sst2:train"], "static quantization")):
        r = run_cli("export", str(nmt_folder), "--to", "onnx", "--out", str(tmp_path / "x"), *flags)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not (tmp_path / "x").exists()
    broken = shutil.copytree(path, tmp_path / "nosidecar")
    (broken / "liteformer.json").unlink()
    r = run_cli("run", str(broken / "model.tflite"), "--text", "x")
    assert r.returncode == 2 and "no liteformer.json" in r.stderr and "Traceback" not in r.stderr
