"""Speech bundles: raw audio in (features inside), audio-length buckets, verified in each runtime."""

import json

import numpy as np
import pytest
import torch

from liteformer import runtimes
from liteformer.data.audio import write_wav
from liteformer.data.chars import CharTokenizer
from liteformer.data.speech import read_speech
from liteformer.errors import LiteformerError
from liteformer.export.exporter import export_model
from liteformer.export.options import ExportOptions
from liteformer.models.checkpoint import load_model, save_model
from liteformer.models.speech import TransformerForCTC
from liteformer.models.transformer import TransformerConfig
from liteformer.tasks.speech import evaluate, evaluate_bundle, run_clip
from tests.conftest import run_cli


def tiny_asr() -> TransformerForCTC:
    """A tiny random CTC model with feature statistics set from the bundled clips."""
    from liteformer.train.speech import set_feature_stats
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(vocab_size=29, type_vocab_size=0, pooler="none", num_labels=1, norm_first=True,
                                 positions="sinusoidal", max_positions=256, audio={"n_mels": 32, "channels": 16})
    model = TransformerForCTC(cfg).eval()
    set_feature_stats(model, read_speech("fsdd:dev").audio, 50)
    return model


@pytest.fixture(scope="module")
def asr_folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("asr") / "tiny"
    save_model(tiny_asr(), CharTokenizer(), path)
    return path


@pytest.fixture(scope="module")
def strings():
    return read_speech("fsdd:dev,strings=12")


@pytest.mark.parametrize("runtime", ["onnx", "litert", "executorch"])
def test_fp32_bundle_equals_the_model(asr_folder, strings, runtime, tmp_path):
    loaded = load_model(asr_folder)
    out = tmp_path / runtime
    meta = export_model(loaded, runtime, out, ExportOptions(max_seconds=6.0, audio_buckets=(2.0,)), strings)
    v = meta["verify"]
    assert v["identical_transcripts"] == 1.0 and v["max_abs_diff"] <= 1e-4 and v["inputs"] == 12
    sp = meta["speech"]
    assert sp["sample_rate"] == 16000 and sp["alphabet"] == CharTokenizer().alphabet and sp["stride"] == 640
    assert (sp["max_samples"] - 400) % 640 == 0 and sp["max_samples"] >= 6 * 16000
    if runtime == "litert":
        assert meta["buckets"] == [32400, sp["max_samples"]] and set(meta["signatures"]) == {"asr_32400",
                                                                                              f"asr_{sp['max_samples']}"}
    runner = runtimes.load(runtime, out, None, 1)
    clip = strings.audio[0]
    audio, mask = runner.pad(clip)
    assert audio.shape[1] >= len(clip) and mask.sum() == len(clip)
    with torch.inference_mode():
        ref, frames = loaded.model(torch.from_numpy(clip)[None])
    logits, _ = run_clip(runner, clip)
    assert logits.shape == tuple(ref.shape[1:]) and np.abs(logits - ref[0].numpy()).max() < 1e-4
    bundle = evaluate_bundle(out, strings, threads=1, progress=False)
    torch_report = evaluate(loaded.model, loaded.tokenizer, strings, progress=False)
    assert bundle.hypotheses == torch_report.hypotheses and bundle.wer == torch_report.wer


@pytest.mark.parametrize("runtime", ["onnx", "litert", pytest.param("executorch", marks=pytest.mark.slow)])
def test_int8_bundle_keeps_the_features_float_and_is_checked_by_error_rates(asr_folder, strings, runtime, tmp_path):
    meta = export_model(load_model(asr_folder), runtime, tmp_path / "q", ExportOptions(quantize="int8-dynamic",
                                                                                       max_seconds=6.0), strings)
    v = meta["verify"]
    assert {"wer", "wer_source", "cer", "cer_source"} <= set(v) and v["wer"] - v["wer_source"] <= 0.3
    q = meta["quantization"]
    if runtime == "onnx":
        assert q["excluded_nodes"] > 0  # the log-mel front end
        assert q["int8_conv_weights"] == 2  # the subsampling convolutions, weight-only (not the 0/1 mask windows)
    if runtime == "litert":
        assert "LogMel" in q["weight_only_int8"]


def test_bad_speech_exports(asr_folder, strings, tmp_path):
    loaded = load_model(asr_folder)
    with pytest.raises(LiteformerError, match="static quantization of a speech model"):
        export_model(loaded, "onnx", tmp_path / "s", ExportOptions(quantize="int8-static", calibration=[[1]]))
    with pytest.raises(LiteformerError, match="max-seconds 40 must be in"):
        export_model(loaded, "onnx", tmp_path / "l", ExportOptions(max_seconds=40.0))
    with pytest.raises(LiteformerError, match="audio buckets"):
        export_model(loaded, "litert", tmp_path / "b", ExportOptions(max_seconds=2.0, audio_buckets=(3.0,)))
    assert not (tmp_path / "s").exists() and not (tmp_path / "l").exists()
    export_model(loaded, "onnx", tmp_path / "short", ExportOptions(max_seconds=1.0), None)
    long = read_speech("fsdd:heldout,strings=5,seed=2")  # strings of several seconds
    with pytest.raises(LiteformerError, match=r"longer than the bundle takes \(1.0"):
        evaluate_bundle(tmp_path / "short", long, threads=1, progress=False)


def test_cli_export_run_eval_bench(asr_folder, tmp_path):
    out = tmp_path / "b"
    r = run_cli("export", str(asr_folder), "--to", "onnx", "--out", str(out), "--max-seconds", "6",
                "--verify-data", "fsdd:test", "--verify-n", "10")
    assert r.returncode == 0, r.stderr
    assert "transcripts identical on 100%" in r.stdout
    from liteformer.cli.export import verify_text  # a quantized bundle's line has error rates, no logit diff
    line = verify_text({"inputs": 9, "identical_transcripts": 0.9, "max_abs_diff": None, "wer": 2.5, "wer_source": 2.0})
    assert line == "verified on 9 clips: transcripts identical on 90%, WER 2.50 % (source 2.00 %)"
    clip = tmp_path / "clip.wav"
    write_wav(clip, np.concatenate(read_speech("fsdd:test").audio[:2]), 16000)
    r = run_cli("run", str(out), "--audio", str(clip), "--json")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)["results"][0]
    assert row["audio"] == str(clip) and isinstance(row["transcript"], str)
    r2 = run_cli("run", str(asr_folder), "--audio", str(clip), "--json")  # the model folder, in PyTorch
    assert json.loads(r2.stdout)["results"][0]["transcript"] == row["transcript"]
    r = run_cli("eval", "--model", str(out), "--data", "fsdd:test", "--out", str(tmp_path / "e.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "e.json").read_text())["clips"] == 60
    r = run_cli("bench", str(asr_folder), str(out), "--data", "fsdd:test", "--reps", "1", "--out",
                str(tmp_path / "bench"))
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "bench" / "bench.json").read_text())["candidates"]
    assert all(0 < row["rtf"] < 10 and row["metric"] == "wer" and row["macs_mean_length"] > 0 for row in rows)
    assert "RTF" in (tmp_path / "bench" / "bench.md").read_text()
    r = run_cli("select", str(tmp_path / "bench"), "--max-error", "200")
    assert r.returncode == 0, r.stderr
    r = run_cli("select", str(tmp_path / "bench"), "--min-quality", "0.5")
    assert r.returncode == 2 and "--max-error" in r.stderr
    (tmp_path / "bad.wav").write_text("text")
    for args, words in ((["--audio", str(tmp_path / "none.wav")], "none.wav: no such file"),
                        (["--audio", str(tmp_path / "bad.wav")], "bad.wav: not a PCM WAV"),
                        (["--audio", str(clip), "--text", "hi"], "not both")):
        r = run_cli("run", str(out), *args)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr
