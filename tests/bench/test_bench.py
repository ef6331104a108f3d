"""bench on tiny models: each metric, failures kept apart, reports written."""

import json
import shutil

import pytest
import torch

from liteformer.bench.harness import BenchResult, BenchSettings, Candidate, parse_candidate, run_bench
from liteformer.bench.report import pareto_front, write_reports
from liteformer.bench.result import CandidateResult
from liteformer.data.text import read_classification
from liteformer.errors import LiteformerError
from liteformer.models.checkpoint import load_model
from liteformer.models.cost import macs_per_example
from liteformer.models.transformer import TransformerConfig
from liteformer.tasks.classification import evaluate
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    lines = (read_classification("sst2:test"), 40)
    ds, n = lines
    p = tmp_path_factory.mktemp("data") / "small.tsv"
    p.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(ds.texts[:n], ds.labels[:n], strict=True)))
    return str(p)


@pytest.fixture(scope="module")
def result(tiny_folder, small_data):
    s = BenchSettings(data=small_data, reps=2, timed_examples=15, fixed_length=32, warmup=2, fixed_reps=3)
    cands = [Candidate("fp32", str(tiny_folder), "torch"),
             Candidate("int8", str(tiny_folder), "torch", "int8-dynamic")]
    return run_bench(cands, s, progress=False)


def test_accuracy_is_the_runtime_run(result, tiny_folder, small_data):
    lm = load_model(tiny_folder)
    expected = evaluate(lm.model, lm.tokenizer, read_classification(small_data), progress=False)
    fp32 = result.candidates[0]
    assert fp32.ok and fp32.total == 40
    assert fp32.correct == expected.correct


def test_latency_size_memory_macs(result, tiny_folder):
    fp32, int8 = result.candidates
    for c in (fp32, int8):
        assert 0 < c.latency_p50_ms <= c.latency_p90_ms
        lo, hi = c.latency_p50_spread_ms
        assert lo <= c.latency_p50_ms <= hi
        assert c.fixed_ms > 0 and c.reps == 2 and c.timed_per_rep == 15
        assert c.peak_rss_mb > c.rss_increase_mb > 0
    files = [f for f in tiny_folder.iterdir() if f.is_file()]
    assert fp32.size_bytes == sum(f.stat().st_size for f in files)
    assert int8.size_bytes != fp32.size_bytes  # its own serialized int8 weights
    assert fp32.parameters == sum(p.numel() for p in load_model(tiny_folder).model.parameters())
    cfg = load_model(tiny_folder).model.config
    assert fp32.macs_fixed_length == macs_per_example(cfg, 32)
    assert fp32.x_smaller == 1.0 and fp32.x_faster == 1.0 and fp32.pct_accuracy == 100.0
    assert int8.x_faster == pytest.approx(fp32.latency_p50_ms / int8.latency_p50_ms)
    peak = result.machine["gemm_peak_gflops"]
    assert peak > 0.5  # any CPU this decade does more than 0.5 GFLOP/s in fp32 GEMM
    assert fp32.roofline_ms == pytest.approx(2 * fp32.macs_mean_length / (peak * 1e6))
    assert fp32.x_roofline == pytest.approx(fp32.latency_p50_ms / fp32.roofline_ms)


def test_macs_of_low_rank_layers():
    cfg = TransformerConfig.tiny(num_layers=1, num_heads=2, head_dim=4, ffn_dim=8, hidden_size=16)
    low = TransformerConfig.tiny(num_layers=1, num_heads=2, head_dim=4, ffn_dim=8, hidden_size=16,
                                 low_rank={"encoder.layers.0.ffn.up": 2})
    T = 5
    assert macs_per_example(cfg, T) - macs_per_example(low, T) == T * 16 * 8 - T * 2 * (16 + 8)


def test_macs_by_hand():
    cfg = TransformerConfig.tiny(num_layers=1, num_heads=2, head_dim=4, ffn_dim=8, hidden_size=16, num_labels=3)
    T, H, A, F = 5, 16, 8, 8
    assert macs_per_example(cfg, T) == 3 * T * H * A + 2 * T * T * A + T * A * H + 2 * T * H * F + H * H + H * 3


def test_reports_written(result, tmp_path):
    paths = write_reports(result, tmp_path)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "data:image/png;base64," in paths["html"].read_text()
    md = paths["md"].read_text()
    assert "| fp32 |" in md and "Pareto front" in md and "threads" in md
    again = BenchResult.load(paths["json"])
    assert again.candidates == result.candidates
    assert json.loads(paths["json"].read_text())["candidates"] == [c.to_dict() for c in result.candidates]
    assert again.machine["cores"] >= 1


def test_pareto_front():
    c = lambda n, a, ms: CandidateResult(n, "p", "torch", accuracy=a, latency_p50_ms=ms)  # noqa: E731
    cands = [c("a", 0.9, 10), c("b", 0.85, 5), c("c", 0.84, 6), c("d", 0.9, 12),
             CandidateResult("x", "p", "torch", ok=False)]
    assert pareto_front(cands) == ["a", "b"]


def test_failed_candidate_does_not_lose_others(tiny_folder, small_data, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_folder, bad)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 3])  # truncated
    out = tmp_path / "rep"
    r = run_cli("bench", str(tiny_folder), f"broken={bad}", "--data", small_data, "--reps", "1",
                "--timed-examples", "5", "--length", "16", "--out", str(out))
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "broken" in err[0] and "corrupt safetensors" in err[0]
    rep = json.loads((out / "bench.json").read_text())
    assert [c["ok"] for c in rep["candidates"]] == [True, False]
    assert "FAILED" in r.stdout and (out / "pareto.png").exists()


def test_labels_not_matching_the_model(tiny_folder, tmp_path):
    (tmp_path / "d.tsv").write_text("sentence\tlabel\ngood\tpositive\nbad\tnegative\n")
    res = run_bench([Candidate("m", str(tiny_folder), "torch")],
                    BenchSettings(data=str(tmp_path / "d.tsv"), reps=1, fixed_reps=1, warmup=0), progress=False)
    assert not res.candidates[0].ok and "labels" in res.candidates[0].error


def test_candidate_specs(tiny_folder, tmp_path):
    c = parse_candidate(f"q=torch+int8-dynamic:{tiny_folder}")
    assert (c.name, c.runtime, c.variant) == ("q", "torch", "int8-dynamic")
    c = parse_candidate(str(tiny_folder))
    assert (c.name, c.runtime, c.variant) == ("tiny", "torch", None)
    (tmp_path / "m.bin").write_bytes(b"x")
    with pytest.raises(LiteformerError, match="unknown artifact type"):
        parse_candidate(str(tmp_path / "m.bin"))
    with pytest.raises(LiteformerError, match="no such file"):
        parse_candidate(str(tmp_path / "missing"))
    with pytest.raises(LiteformerError, match="no variant"):
        parse_candidate(f"torch+int3:{tiny_folder}")


@pytest.mark.parametrize("args,msg", [
    (["/nonexistent/model"], "no such file or folder"),
    (["{tiny}", "--data", "/nonexistent.tsv"], "no such file"),
    (["{tiny}", "--reps", "0"], "must be > 0"),
    (["{tiny}", "--profile", "toaster"], "unknown profile"),
    (["{tiny}", "--baseline", "nope"], "is not a candidate name"),
])
def test_bench_bad_input(tiny_folder, tmp_path, args, msg):
    args = [a.replace("{tiny}", str(tiny_folder)) for a in args]
    r = run_cli("bench", *args, "--out", str(tmp_path / "o"))
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr
    assert not (tmp_path / "o").exists()


def test_int8_variant_really_quantizes(tiny_folder):
    from liteformer.runtimes.torch_rt import load
    runner = load(tiny_folder, "int8-dynamic", 1)
    assert any("quantized" in type(m).__module__ for m in runner.model.modules())
    x = torch.ones(1, 5, dtype=torch.long).numpy()
    assert runner(x, x).shape == (1, 2)


def test_a_missing_candidate_is_reported_and_the_others_still_run(tiny_folder, small_data, tmp_path):
    out = tmp_path / "rep"
    r = run_cli("bench", str(tiny_folder), f"gone={tmp_path / 'nowhere'}", "--data", small_data, "--reps", "1",
                "--timed-examples", "5", "--length", "16", "--out", str(out))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "nowhere" in r.stderr
    rep = json.loads((out / "bench.json").read_text())
    assert [(c["name"], c["ok"]) for c in rep["candidates"]] == [("tiny", True), ("gone", False)]


def test_pareto_plot_uses_a_log_axis_when_latencies_span_widely(tmp_path):
    from liteformer.bench.report import plot_pareto
    c = lambda n, rt, ms: CandidateResult(n, "p", rt, accuracy=0.9 - ms / 1000, latency_p50_ms=ms,  # noqa: E731
                                          size_bytes=10**6)
    wide = BenchResult(settings={"threads": 2}, machine={}, candidates=[c("t", "torch", 20), c("s", "onnx", 1)])
    assert plot_pareto(wide, tmp_path / "a.png") == "log"
    narrow = BenchResult(settings={"threads": 2}, machine={}, candidates=[c("t", "torch", 2), c("s", "litert", 1)])
    assert plot_pareto(narrow, tmp_path / "b.png") == "linear"
