"""The budget search end to end on a trained toy teacher: the probe, successive halving with a time
budget that stops it (a report, not a traceback), a second run that continues where it was and stops
as soon as a trial meets the budget on dev, the final bench and the report; and the budgets it refuses."""

import json

import pytest

from liteformer.bench.select import Budget
from liteformer.errors import LiteformerError
from liteformer.search.auto import run_search
from liteformer.search.space import SearchOptions, shapes_for
from tests.compress.test_quantize import trained  # noqa: F401  (a trained toy teacher)
from tests.conftest import run_cli

OPTS = dict(levels=[0.5, 0.25], augment=[0], quantize=["none"], runtimes=["onnx"], min_steps=8, max_steps=32,
            eta=2, patience=0, lr=1e-3, batch_size=16, bench_reps=1)


def test_shapes_scale_depth_and_width_together():
    from liteformer.models.config import TransformerConfig
    teacher = TransformerConfig(vocab_size=100, hidden_size=384, num_layers=6, num_heads=12, ffn_dim=1536)
    shapes = shapes_for(teacher, [0.5, 0.3, 0.1, 0.3])
    assert [s.name for s in shapes] == ["L3-H160", "L4-H256", "L5-H288"]  # cheapest first, duplicates once
    s = shapes[1]  # the headline student: 4 of 6 layers, width 256, FFN 1024, heads of 32
    assert (s.heads, s.head_dim, s.ffn) == (8, 32, 1024) and 0.25 < s.fraction < 0.35


def test_a_search_stopped_by_time_resumes_and_ends_when_a_trial_meets_the_budget(trained, tmp_path):  # noqa: F811
    path, train, dev = trained
    data = {"train": train, "dev": dev, "test": dev}
    budget = Budget(min_pct_accuracy=90, min_x_smaller=1.2)
    with pytest.raises(LiteformerError, match="ran out of time before any trial"):
        run_search(str(path), data, budget, SearchOptions(**OPTS, max_minutes=1e-4), tmp_path / "s", log=print)
    assert (tmp_path / "s" / "report" / "search.md").exists()  # a report, not a traceback
    meta = json.loads((tmp_path / "s" / "search-meta.json").read_text())
    assert set(meta["probe"]) == {"L1-H96 none", "L2-H96 none"}
    # the second run through the CLI (the same function), continuing the same folder
    flags = ["--levels", "0.5,0.25", "--augment", "0", "--quantize", "none", "--runtimes", "onnx", "--min-steps", "8",
             "--max-steps", "32", "--eta", "2", "--patience", "0", "--lr", "1e-3", "--batch-size", "16",
             "--bench-reps", "1", "--max-minutes", "30"]
    r = run_cli("compress", str(path), "--train", train, "--dev", dev, "--test", dev, "--min-pct-accuracy", "90",
                "--min-x-smaller", "1.2", *flags, "--out", str(tmp_path / "s"))
    assert r.returncode == 0, r.stderr[-2000:]
    meta = json.loads((tmp_path / "s" / "search-meta.json").read_text())
    met = meta["halving"]["met"]
    assert met is not None and f"best under the budget: {met}" in r.stdout and "search.md" in r.stdout
    state = json.loads((tmp_path / "s" / "search-state.json").read_text())["outcomes"]
    assert state[met][min(state[met], key=int)]["meets"]  # met on its first rung: nothing trained further
    report = (tmp_path / "s" / "report" / "search.md").read_text()
    assert "met the budget on dev" in report and "chosen" in report and "## Probe" in report
    assert (tmp_path / "s" / "report" / "search.png").stat().st_size > 1000 and (tmp_path / "s" / "best").is_dir()


def test_budgets_no_student_can_meet_are_refused_before_any_training(trained, tmp_path):  # noqa: F811
    path, train, dev = trained
    data = {"train": train, "dev": dev}
    with pytest.raises(LiteformerError, match="the tokenizer files alone take"):
        run_search(str(path), data, Budget(max_size_mb=1e-6), SearchOptions(**OPTS), tmp_path / "a")
    with pytest.raises(LiteformerError, match="no student shape can meet the budget's size and speed terms"):
        run_search(str(path), data, Budget(min_x_smaller=1000), SearchOptions(**OPTS), tmp_path / "b")
    with pytest.raises(LiteformerError, match="max_minutes must be > 0"):
        run_search(str(path), data, Budget(), SearchOptions(**{**OPTS, "max_minutes": 0}), tmp_path / "c")
    with pytest.raises(LiteformerError, match="holds a search of other inputs"):
        run_search(str(path), {"train": dev, "dev": dev}, Budget(min_x_smaller=1000), SearchOptions(**OPTS),
                   tmp_path / "b")
    with pytest.raises(LiteformerError, match="needs a dev split"):
        run_search(str(path), {"train": train}, Budget(), SearchOptions(**OPTS), tmp_path / "d")
