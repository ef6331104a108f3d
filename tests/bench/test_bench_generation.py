"""bench and select on a translation model: sacreBLEU of each artifact's own outputs, latency per
sentence, first-token latency and tokens per second, the generation table, and budgets on BLEU."""

import pytest

from liteformer.bench.harness import BenchSettings, Candidate, run_bench
from liteformer.bench.report import format_table, write_reports
from liteformer.bench.select import Budget, select
from liteformer.data.parallel import read_parallel
from liteformer.errors import LiteformerError
from liteformer.export.exporter import export_model
from liteformer.export.options import ExportOptions
from liteformer.models.checkpoint import load_model
from liteformer.models.cost import macs_per_sentence
from liteformer.tasks.translation import evaluate_bundle


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    d = read_parallel("multi30k:val")
    p = tmp_path_factory.mktemp("data") / "pairs.tsv"
    p.write_text("source\ttarget\n" + "".join(f"{s}\t{t}\n" for s, t in zip(d.sources[:8], d.targets[:8],
                                                                          strict=True)))
    return str(p)


@pytest.fixture(scope="module")
def result(nmt_folder, pairs_file, tmp_path_factory):
    bundle = tmp_path_factory.mktemp("b") / "onnx"
    export_model(load_model(nmt_folder), "onnx", bundle, ExportOptions(max_length=32, max_target=16))
    s = BenchSettings(data=pairs_file, reps=2, timed_examples=4, warmup=1)
    cands = [Candidate("teacher", str(nmt_folder), "torch"), Candidate("onnx", str(bundle), "onnx")]
    return run_bench(cands, s, progress=False), bundle


def test_bleu_is_the_artifacts_own(result, pairs_file):
    res, bundle = result
    onnx = res.get("onnx")
    assert onnx.ok and onnx.metric == "bleu" and onnx.total == 8 and onnx.accuracy is None
    want = evaluate_bundle(bundle, pairs_file, progress=False)
    assert onnx.quality == pytest.approx(want.bleu) and onnx.scores["chrf"] == pytest.approx(round(want.chrf, 2))
    assert "13a" in onnx.scores["signature"]


def test_generation_timings(result, nmt_folder):
    res, _ = result
    for c in res.ok():
        assert 0 < c.first_token_ms < c.latency_p50_ms <= c.latency_p90_ms
        assert c.tokens_per_s > 0 and c.mean_output_tokens >= 1 and c.fixed_ms is None and c.reps == 2
    onnx = res.get("onnx")
    cfg = load_model(nmt_folder).model.config
    assert onnx.macs_mean_length == macs_per_sentence(cfg, round(onnx.mean_tokens), round(onnx.mean_output_tokens))
    assert onnx.mean_output_tokens <= 15  # the bundle's cache holds 16 positions, <s> first


def test_table_reports_and_budgets(result, tmp_path):
    res, _ = result
    table = format_table(res)
    assert "BLEU" in table and "1st tok ms" in table and "tok/s" in table and "accuracy" not in table.split("\n")[0]
    paths = write_reports(res, tmp_path)
    assert "sacreBLEU vs latency" in paths["md"].read_text()
    best = select(res, Budget(min_quality=0.0 + 1e-9)) if max(c.quality for c in res.ok()) > 0 else None
    assert best is None or best.chosen is not None
    with pytest.raises(LiteformerError, match="no accuracy"):
        select(res, Budget(min_accuracy=0.5))
    sel = select(res, Budget(max_size_mb=10))
    assert sel.chosen is not None
