"""Successive halving (Jamieson & Talwalkar 2016; the scheme of Hyperband and of optuna's
SuccessiveHalvingPruner), written out because the search needs three things those pruners do not
give in one place: a trial is *continued* from its last rung, not restarted; the search ends as soon
as one trial meets the budget; and every result is kept in a JSON file, so a stopped search resumes
where it was and its report can say what it would have run next.

Trials run cheapest first. Rung k trains every surviving trial to ``rungs[k]`` steps (from where the
previous rung left it); the best ``ceil(n / eta)`` by score (higher is better; a tie goes to the
cheaper) go on to the next rung, the others are dropped there. A trial that converged (early stop)
keeps its score and is ranked with the others but not trained further.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from liteformer.fileio import read_json_object, write_json


@dataclass(frozen=True)
class Trial:
    key: str  # stable name (a folder, a cache key)
    params: dict  # what the trial is (shape, augmentation, ...), for the report
    cost: float  # relative cost per step (the cheapest run first)


@dataclass
class Outcome:
    score: float  # higher is better (dev accuracy, BLEU; an error rate's negative)
    meets: bool = False  # meets the whole budget on dev
    converged: bool = False  # training stopped by itself (early stopping): no further rung helps
    steps: int = 0  # steps trained so far
    seconds: float = 0.0  # this rung's wall time
    note: str = ""


@dataclass
class HalvingResult:
    met: str | None  # the trial that met the budget, if one did
    ranking: list[str]  # trial keys, best first, by their last score
    dropped: dict[str, int] = field(default_factory=dict)  # trial -> the rung it was dropped after
    stopped: str | None = None  # why the search ended early (time), None when it ran to the end
    next_runs: list[tuple[str, int]] = field(default_factory=list)  # what it would run next: (trial, steps)


class SearchState:
    """Every (trial, rung) outcome, kept in a JSON file as soon as it is known."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        data = read_json_object(self.path, "a search state") if self.path.exists() else {}
        self.outcomes: dict[str, dict[str, dict]] = data.get("outcomes", {})
        self.seconds: float = data.get("seconds", 0.0)  # search time of earlier runs

    def get(self, key: str, steps: int) -> Outcome | None:
        row = self.outcomes.get(key, {}).get(str(steps))
        return Outcome(**row) if row else None

    def put(self, key: str, steps: int, outcome: Outcome, extra_seconds: float = 0.0) -> None:
        self.outcomes.setdefault(key, {})[str(steps)] = asdict(outcome)
        self.seconds += extra_seconds
        self.save()

    def last(self, key: str) -> Outcome | None:
        rows = self.outcomes.get(key, {})
        return Outcome(**rows[max(rows, key=int)]) if rows else None

    def save(self) -> None:
        write_json(self.path, {"outcomes": self.outcomes, "seconds": round(self.seconds, 1)})


def rungs_for(min_steps: int, max_steps: int, eta: int) -> list[int]:
    """``min_steps``, ×eta, ×eta², … below ``max_steps``, then ``max_steps``."""
    out, r = [], max(1, min_steps)
    while r < max_steps:
        out.append(r)
        r *= eta
    return out + [max_steps]


def successive_halving(trials: list[Trial], rungs: list[int], run: Callable[[Trial, int], Outcome],
                       state: SearchState, eta: int = 3, deadline: float | None = None,
                       log: Callable[[str], None] = lambda s: None) -> HalvingResult:
    """Run ``trials`` over ``rungs`` (see the module docstring). ``run(trial, steps)`` trains the trial to
    ``steps`` (continuing it) and scores it; outcomes already in ``state`` are not run again.
    ``deadline``: a ``time.time()`` after which no new run starts."""
    survivors = sorted(trials, key=lambda t: t.cost)
    dropped: dict[str, int] = {}
    for k, steps in enumerate(rungs):
        for i, t in enumerate(survivors):
            before = state.last(t.key)
            if before is not None and before.converged and before.steps <= steps:
                outcome = before  # converged: its score stands
            else:
                outcome = state.get(t.key, steps)
            if outcome is None:
                if deadline is not None and time.time() >= deadline:
                    pending = [(u.key, steps) for u in survivors[i:]]
                    return HalvingResult(None, _ranking(trials, state), dropped, "time", pending)
                log(f"  trial {t.key}: to {steps} steps")
                t0 = time.time()
                outcome = run(t, steps)
                state.put(t.key, steps, outcome, time.time() - t0)
            if outcome.meets:
                return HalvingResult(t.key, _ranking(trials, state), dropped)
        if k == len(rungs) - 1:
            break
        keep = max(1, math.ceil(len(survivors) / eta))
        ranked = sorted(survivors, key=lambda t: (-state.last(t.key).score, t.cost))
        for t in ranked[keep:]:
            dropped[t.key] = k
        survivors = ranked[:keep]
    return HalvingResult(None, _ranking(trials, state), dropped)


def _ranking(trials: list[Trial], state: SearchState) -> list[str]:
    """Trials with a result, best last score first (ties: more steps, then cheaper)."""
    scored = [(t, state.last(t.key)) for t in trials if state.last(t.key) is not None]
    return [t.key for t, o in sorted(scored, key=lambda x: (-x[1].score, -x[1].steps, x[0].cost))]
