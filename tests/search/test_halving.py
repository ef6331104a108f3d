"""Successive halving on planted learning curves: the better trial is kept, worse ones are dropped at
the first rung, a trial meeting the budget ends the search, a deadline stops it with what it would run
next, and a second call resumes from the state file without running anything twice."""

import math
import time

from liteformer.search.halving import Outcome, SearchState, Trial, rungs_for, successive_halving

# asymptotic dev score of each planted trial; all learn at the same rate
FINAL = {"small": 0.80, "mid": 0.86, "best": 0.90, "worse": 0.70}


def trials():
    return [Trial(k, {"name": k}, cost) for k, cost in (("small", 1.0), ("mid", 2.0), ("best", 3.0),
                                                         ("worse", 1.5))]


class Runner:
    def __init__(self, goal: float = 1.0):
        self.calls, self.goal = [], goal

    def __call__(self, t: Trial, steps: int) -> Outcome:
        self.calls.append((t.key, steps))
        score = FINAL[t.key] * (1 - math.exp(-steps / 300))
        return Outcome(score, meets=score >= self.goal, steps=steps)


def test_rungs_grow_by_eta_up_to_the_cap():
    assert rungs_for(100, 2000, 3) == [100, 300, 900, 2000]
    assert rungs_for(500, 500, 3) == [500]


def test_the_planted_better_trial_is_kept_and_worse_ones_dropped(tmp_path):
    run = Runner()
    r = successive_halving(trials(), [100, 300, 900], run, SearchState(tmp_path / "s.json"), eta=3)
    assert r.met is None and r.stopped is None and r.ranking[0] == "best"
    # rung 0: all four, cheapest first; keep ceil(4/3) = 2 (best, mid); then ceil(2/3) = 1 (best)
    assert run.calls[:4] == [("small", 100), ("worse", 100), ("mid", 100), ("best", 100)]
    assert run.calls[4:] == [("best", 300), ("mid", 300), ("best", 900)]
    assert r.dropped == {"small": 0, "worse": 0, "mid": 1}


def test_a_trial_that_meets_the_budget_ends_the_search(tmp_path):
    run = Runner(goal=0.55)  # "best" reaches 0.55 at 300 steps (0.569), before anything else does
    r = successive_halving(trials(), [100, 300, 900], run, SearchState(tmp_path / "s.json"), eta=3)
    assert r.met == "best" and run.calls[-1] == ("best", 300) and ("best", 900) not in run.calls


def test_a_deadline_stops_and_a_second_call_resumes(tmp_path, monkeypatch):
    state = tmp_path / "s.json"
    clock = [0.0]  # a clock that moves only when a trial runs (10 s a run): no timing in the test
    monkeypatch.setattr(time, "time", lambda: clock[0])
    first = Runner()

    def slow(t, steps):
        clock[0] += 10
        return first(t, steps)
    r = successive_halving(trials(), [100, 300, 900], slow, SearchState(state), eta=3, deadline=15.0)
    assert r.stopped == "time" and r.next_runs == [("mid", 100), ("best", 100)] and len(first.calls) == 2
    again = Runner()
    r = successive_halving(trials(), [100, 300, 900], again, SearchState(state), eta=3)
    assert r.stopped is None and r.ranking[0] == "best"
    assert ("small", 100) not in again.calls and again.calls[0] == ("mid", 100)  # nothing run twice
    assert SearchState(state).seconds == 20


def test_a_converged_trial_keeps_its_score_and_is_not_trained_again(tmp_path):
    calls = []

    def run(t, steps):
        calls.append((t.key, steps))
        return Outcome(FINAL[t.key], converged=t.key == "best", steps=min(steps, 150))
    r = successive_halving(trials(), [100, 300, 900], run, SearchState(tmp_path / "s.json"), eta=3)
    assert r.ranking[0] == "best" and [c for c in calls if c[0] == "best"] == [("best", 100)]
