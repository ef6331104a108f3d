"""Early stopping: patience and min-delta on the dev score, a wall-time cap, the reason in the record,
a stopped run that stays stopped when resumed, and checkpoints written before these settings existed."""

from dataclasses import dataclass

import pytest
import torch

from liteformer.errors import LiteformerError
from liteformer.train.config import TrainConfig
from liteformer.train.loop import EarlyStop, ExampleBatches, Objective, train_loop


def test_patience_counts_evaluations_without_a_gain_of_min_delta():
    e = EarlyStop(patience=2, min_delta=0.01)
    assert e.after_eval(0.50, 10, 1.0) is None
    assert e.after_eval(0.505, 20, 1.0) is None  # a gain under min_delta does not count: stale 1
    assert e.after_eval(0.52, 30, 1.0) is None  # a real gain: stale 0
    assert e.after_eval(0.52, 40, 1.0) is None
    reason = e.after_eval(0.525, 50, 1.0)
    assert reason and "step 50" in reason and "2 evaluations" in reason
    assert EarlyStop().after_eval(0.1, 1, 1e6) is None  # off by default


def test_the_time_cap_adds_earlier_runs():
    e = EarlyStop(max_seconds=60, seconds=50)
    assert e.after_eval(None, 5, 5.0) is None
    assert "time cap at step 6" in e.after_eval(None, 6, 11.0)


@dataclass
class Report:
    score: float

    def to_dict(self) -> dict:
        return {"score": self.score}


class Planted:
    """A one-weight model whose dev score rises for ``rise`` evaluations, then falls."""

    def __init__(self, rise: int):
        self.rise, self.calls = rise, 0

    def objective(self) -> Objective:
        def evaluate(m):
            self.calls += 1
            return Report(float(min(self.calls, self.rise) - max(0, self.calls - self.rise)))

        def save(m, folder):
            folder.mkdir(parents=True, exist_ok=True)
            torch.save(m.state_dict(), folder / "w.pt")
        return Objective(lambda net, idx: net(torch.ones(len(idx), 1)).sum(), len, evaluate, lambda r: r.score,
                         save, lambda d: Report(**d), metric="dev_score")


def test_training_stops_on_a_plateau_and_stays_stopped_when_resumed(tmp_path):
    torch.manual_seed(0)
    model, planted = torch.nn.Linear(1, 1), Planted(rise=3)
    cfg = TrainConfig(max_steps=100, batch_size=4, eval_every=2, lr=1e-3, patience=2)
    r = train_loop(model, ExampleBatches(16, 4, 0), planted.objective(), cfg, tmp_path / "m", progress=False)
    # scores 1, 2, 3, 2, 1: the 4th and 5th evaluations (steps 8 and 10) gain nothing
    assert r.steps == 10 and r.stopped.startswith("early stop at step 10") and r.best == Report(3.0)
    assert [h["step"] for h in r.history] == [2, 4, 6, 8, 10] and r.to_dict()["stopped"] == r.stopped
    again = train_loop(torch.nn.Linear(1, 1), ExampleBatches(16, 4, 0), planted.objective(), cfg, tmp_path / "m",
                       progress=False, resume=True)
    assert again.steps == 10 and again.stopped == r.stopped and planted.calls == 5  # no more training


def test_a_checkpoint_from_before_these_settings_resumes(tmp_path):
    """Settings added since a checkpoint was written count as their defaults, so an older run continues;
    a setting that really changed is still refused."""
    model, planted = torch.nn.Linear(1, 1), Planted(rise=99)
    cfg = TrainConfig(max_steps=4, batch_size=4, eval_every=2, lr=1e-3)
    train_loop(model, ExampleBatches(16, 4, 0), planted.objective(), TrainConfig(**{**cfg.__dict__, "max_steps": 2}),
               tmp_path / "m", progress=False)
    ckpt = tmp_path / "m.ckpt" / "last.pt"
    state = torch.load(ckpt, weights_only=True)
    for k in ("patience", "min_delta", "max_minutes"):
        del state["config"][k]
    state["config"]["max_steps"] = 4
    del state["early"]
    torch.save(state, ckpt)
    r = train_loop(model, ExampleBatches(16, 4, 0), planted.objective(), cfg, tmp_path / "m", progress=False,
                   resume=True)
    assert r.steps == 4 and r.stopped is None
    with pytest.raises(LiteformerError, match=r"other settings \(patience\)"):
        train_loop(model, ExampleBatches(16, 4, 0), planted.objective(), TrainConfig(**{**cfg.__dict__,
                                                                                        "patience": 3}),
                   tmp_path / "m", progress=False, resume=True)


def test_a_run_paused_at_a_step_continues_to_the_uninterrupted_weights(tmp_path):
    """``until`` pauses a run (evaluated and checkpointed there, nothing published); resuming it gives the
    weights of a run that never paused — a search's successive halving trains candidates further this way."""
    cfg = TrainConfig(max_steps=10, batch_size=4, eval_every=4, lr=1e-2)
    torch.manual_seed(0)
    whole = torch.nn.Linear(1, 1)
    start = {k: v.clone() for k, v in whole.state_dict().items()}
    train_loop(whole, ExampleBatches(16, 4, 0), Planted(99).objective(), cfg, tmp_path / "a", progress=False)
    parted, planted = torch.nn.Linear(1, 1), Planted(99)
    parted.load_state_dict(start)
    r = train_loop(parted, ExampleBatches(16, 4, 0), planted.objective(), cfg, tmp_path / "b", progress=False,
                   until=5)
    assert r.paused and r.steps == 5 and [h["step"] for h in r.history] == [4, 5]
    assert (tmp_path / "b.ckpt" / "best" / "w.pt").exists()
    r = train_loop(parted, ExampleBatches(16, 4, 0), planted.objective(), cfg, tmp_path / "b", progress=False,
                   resume=True)
    assert not r.paused and r.steps == 10
    for k, v in whole.state_dict().items():
        torch.testing.assert_close(parted.state_dict()[k], v)
