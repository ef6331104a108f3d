import json

import pytest

from liteformer.bench.harness import BenchResult
from liteformer.bench.select import Budget, select
from liteformer.errors import LiteformerError
from tests.conftest import run_cli


def _c(name, acc, ms, mb, mem=100.0, ok=True):
    return {"name": name, "path": f"/m/{name}", "runtime": "torch", "variant": None, "ok": ok, "accuracy": acc,
            "latency_p50_ms": ms, "fixed_ms": 3 * ms, "size_bytes": mb * 1e6, "peak_rss_mb": mem}


@pytest.fixture
def report(tmp_path):
    r = BenchResult(settings={}, machine={}, baseline="big",
                    candidates=[_c("big", 0.89, 12, 90, 400), _c("int8", 0.88, 6, 59, 450),
                                _c("small", 0.86, 2, 5, 150), {"name": "broken", "ok": False, "error": "x",
                                                                "path": "p", "runtime": "torch"}])
    p = tmp_path / "bench.json"
    p.write_text(json.dumps(r.to_dict()))
    return r, p


def test_most_accurate_under_budget(report):
    r, _ = report
    assert select(r, Budget()).chosen.name == "big"
    assert select(r, Budget(max_latency_ms=7)).chosen.name == "int8"
    assert select(r, Budget(max_size_mb=10)).chosen.name == "small"
    assert select(r, Budget(max_memory_mb=420, min_accuracy=0.87)).chosen.name == "big"


def test_nothing_fits_names_the_constraint(report):
    r, _ = report
    sel = select(r, Budget(max_latency_ms=1))
    assert sel.chosen is None and sel.reason == "no candidate meets --max-latency-ms"
    assert sel.closest[0][0].name == "small" and sel.closest[0][1] == pytest.approx(1.0)
    sel = select(r, Budget(max_size_mb=10, min_accuracy=0.88))
    assert sel.chosen is None and "none meets --max-size-mb and --min-accuracy" in sel.reason


def test_relative_budget_against_the_baseline(report):
    from liteformer.bench.harness import _ratios
    r, _ = report
    with pytest.raises(LiteformerError, match="need the baseline 'big' measured in the same report"):
        select(r, Budget(min_x_faster=2))  # no ratios: the baseline was not measured with them
    _ratios(r)  # as a bench run adds them: big 12 ms / 90 MB / 0.89 is the reference
    assert select(r, Budget(min_x_faster=2)).chosen.name == "int8"  # 12 / 6 = 2.0x
    assert select(r, Budget(min_x_smaller=10, min_pct_accuracy=96)).chosen.name == "small"  # 18x, 96.6 %
    sel = select(r, Budget(min_x_smaller=10, min_pct_accuracy=98))
    assert sel.chosen is None and "none meets --min-x-smaller and --min-pct-accuracy" in sel.reason
    assert sel.closest[0][0].name == "small"  # 96.6 % of 98 % misses by 1.4 %
    assert sel.closest[0][1] == pytest.approx((98 - 100 * 0.86 / 0.89) / 98)


def test_budget_validation():
    with pytest.raises(LiteformerError):
        Budget(max_latency_ms=-1).validate()
    with pytest.raises(LiteformerError):
        Budget(min_accuracy=89).validate()
    with pytest.raises(LiteformerError, match="percentage"):
        Budget(min_pct_accuracy=0.98 * 1000).validate()


def test_select_cli(report, tmp_path):
    _, p = report
    r = run_cli("select", str(p), "--max-latency-ms", "7")
    assert r.returncode == 0 and "chosen: int8" in r.stdout
    r = run_cli("select", str(p.parent), "--profile", "phone-low", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["chosen"]["name"] == "small"
    r = run_cli("select", str(p), "--max-size-mb", "1")
    assert r.returncode == 1 and "no candidate meets --max-size-mb" in r.stdout and "closest: small" in r.stdout
    (tmp_path / "junk.json").write_text("[1, 2")
    r = run_cli("select", str(tmp_path / "junk.json"))
    assert r.returncode == 2 and "not a liteformer bench JSON report" in r.stderr


def test_a_miss_is_never_printed_as_zero():
    from liteformer.bench.select import miss_text
    assert miss_text(0.004) == "0.4%" and miss_text(0.00001) == "<0.1%" and miss_text(0.5) == "50%"
