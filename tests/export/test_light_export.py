"""Light-block classifiers (LSRA, convolution module, inverted FFN, MobileBERT bottleneck + NoNorm) in
the own folder format, exported to every runtime with verification, fp32 and int8."""

import json

import numpy as np
import pytest
import torch

from liteformer import runtimes
from liteformer.data.text import read_classification
from liteformer.export.exporter import export_model
from liteformer.export.options import ExportOptions
from liteformer.models.checkpoint import load_model, save_model
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification

TEXTS = read_classification("sst2:dev").texts[:12]
SHAPES = {
    # layer 0: half the channels to a depthwise-convolution branch + a Conformer module; layer 1: inverted FFN
    "lsra": dict(conv_dim=[16, 0], conv_kernel=[3, 5], conv_module=[True, False], ffn_type="inverted"),
    "mobilebert": dict(bottleneck_dim=16, ffn_stack=2, norm="nonorm", num_heads=2, activation="relu"),
}


@pytest.fixture(scope="module")
def light_folders(tmp_path_factory, tokenizer):
    root, out = tmp_path_factory.mktemp("m"), {}
    for name, shape in SHAPES.items():
        torch.manual_seed(0)
        cfg = TransformerConfig.tiny(vocab_size=tokenizer.vocab_size, id2label={0: "0", 1: "1"}, **shape)
        save_model(TransformerForSequenceClassification(cfg).eval(), tokenizer, root / name)
        out[name] = root / name
    return out


@pytest.fixture(scope="module", params=list(SHAPES))
def light_folder(request, light_folders):
    return light_folders[request.param]


def test_own_format_round_trip(light_folder):
    from liteformer.models.describe import describe
    lm = load_model(light_folder)
    assert lm.family == "liteformer" and lm.model.config.light
    assert json.loads((light_folder / "config.json").read_text())["model_type"] == "liteformer"
    want = {"lsra": ["LSRA convolution branches", "convolution modules", "inverted-residual FFNs"],
            "mobilebert": ["bottlenecks", "stacked FFNs", "NoNorm"]}[light_folder.name]
    assert describe(light_folder)["light_blocks"] == want


@pytest.mark.parametrize(("shape", "target"), [
    ("lsra", "onnx"), ("lsra", "litert"), ("mobilebert", "onnx"),  # ExecuTorch: the LSRA decoder below
    *[pytest.param(s, t, marks=pytest.mark.slow) for s, t in (("lsra", "executorch"), ("mobilebert", "executorch"),
                                                               ("mobilebert", "litert"))]])
def test_light_export_verifies_in_each_runtime(light_folders, shape, target, tmp_path):
    lm = load_model(light_folders[shape])
    out = tmp_path / target
    meta = export_model(lm, target, out, ExportOptions(max_length=32, buckets=(8, 32)), TEXTS, threads=1)
    assert meta["verify"]["max_abs_diff"] <= 1e-4 and meta["verify"]["label_agreement"] == 1.0
    runner = runtimes.load(target, out, None, 1)
    for T in (3, 17):  # padded into a bucket: the convolutions see zeros, as unpadded
        ids = np.random.default_rng(T).integers(5, lm.tokenizer.vocab_size, (1, T))
        with torch.inference_mode():
            ref = lm.model(torch.from_numpy(ids), torch.ones(1, T, dtype=torch.long)).numpy()
        assert np.abs(runner(ids, np.ones_like(ids)) - ref).max() <= 1e-4


@pytest.mark.parametrize("target", ["onnx", pytest.param("executorch", marks=pytest.mark.slow), "litert"])
@pytest.mark.parametrize("shape", ["lsra", pytest.param("mobilebert", marks=pytest.mark.slow)])
def test_light_int8_export(light_folders, shape, target, tmp_path):
    """int8 weights: ONNX Runtime dynamic int8 on MatMul/Gemm (Conv weights int8 behind a
    DequantizeLinear — its ConvInteger has no CPU kernel), XNNPACK and LiteRT dynamic int8. The
    bottleneck shape (Linears and NoNorm only: no op the LSRA shape lacks) in the slow run."""
    light_folder = light_folders[shape]
    lm = load_model(light_folder)
    out = tmp_path / target
    meta = export_model(lm, target, out, ExportOptions(max_length=32, buckets=(32,), quantize="int8-dynamic"),
                        TEXTS, threads=1)
    assert meta["verify"]["label_agreement"] >= 0.9
    if target == "onnx":
        import onnx
        ops = {n.op_type for n in onnx.load(str(out / "model.onnx")).graph.node}
        assert "ConvInteger" not in ops and "MatMulInteger" in ops
        assert ("Conv" in ops) == ("conv_dim" in SHAPES[light_folder.name])


@pytest.fixture(scope="module")
def lsra_nmt(tmp_path_factory):
    """A tiny encoder-decoder whose decoder layers have causal convolution branches of different
    widths and kernels (layer 0: 16 channels, k=3; layer 1: 8 channels, k=5): a stacked cache (B, 24, 4)."""
    from liteformer.data.parallel import ParallelDataset, read_parallel
    from liteformer.data.subword import train_subword
    from liteformer.models.seq2seq import TransformerForSeq2SeqLM
    pairs = read_parallel("multi30k:val")
    tok = train_subword(pairs.sources + pairs.targets, 200)
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=tok.vocab_size, hidden_size=32, num_layers=1, num_heads=4, ffn_dim=64,
                            num_decoder_layers=2, decoder_num_heads=[2, 2], head_dim=8, decoder_cross_heads=4,
                            decoder_conv_dim=[16, 8], decoder_conv_kernel=[3, 5], conv_dim=16, max_positions=64,
                            type_vocab_size=0, pooler="none", norm_first=True, dropout=0.0, attention_dropout=0.0)
    path = tmp_path_factory.mktemp("m") / "lsra-nmt"
    save_model(TransformerForSeq2SeqLM(cfg).eval(), tok, path)
    return path, ParallelDataset(pairs.sources[:8], pairs.targets[:8], pairs.path)


@pytest.mark.parametrize("target", ["onnx", "executorch", "litert"])
def test_lsra_decoder_exports_with_its_convolution_cache(lsra_nmt, target, tmp_path):
    """The decode graph takes and returns the convolution cache; greedy outputs are token-identical to
    PyTorch's cached decoding (the exporter's verification) in each runtime."""
    path, pairs = lsra_nmt
    side = export_model(load_model(path), target, tmp_path / target,
                        ExportOptions(max_length=32, buckets=(32,), max_target=10), pairs, threads=1)
    lay = side["generation"]["layout"]
    assert lay["conv_layers"] == [[16, 3], [8, 5]] and lay["conv_cache"] == [24, 4]
    v = side["verify"]
    assert v["identical_outputs"] == 1.0 and v["max_abs_diff_first_steps"] <= 1e-4
