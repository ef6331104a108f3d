"""The parts of a recipe run that the budget search (``liteformer.search``) shares: the result of a run,
a step run once and cached under a key (``CACHE/<step>-<key>/`` + ``<step>-<key>.done.json``), and the
final bench of the candidates with the budget's choice."""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from liteformer.bench.result import CandidateResult
from liteformer.bench.select import Budget
from liteformer.errors import LiteformerError
from liteformer.fileio import write_json
from liteformer.recipe.steps import Context, run_step


@dataclass
class RecipeResult:
    work: Path
    candidates: list[tuple[str, str]]  # (bench name, path)
    chosen: CandidateResult | None  # its path is the copy in WORK/best
    reason: str
    report: dict = field(default_factory=dict)  # paths of the bench reports
    steps_run: int = 0
    steps_cached: int = 0
    table: str = ""  # the bench table
    left_out: list[dict] = field(default_factory=list)  # bundles whose export or verification failed
    closest: list[tuple[CandidateResult, float]] = field(default_factory=list)  # when nothing fits


def digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_cached(name: str, opts: dict, ctx: Context, key: str, cache: Path, log) -> tuple[Path, dict, bool]:
    out = cache / f"{name}-{key}"
    done = cache / f"{name}-{key}.done.json"
    if done.exists():
        return out, json.loads(done.read_text())["report"], True
    log(f"  {name} {json.dumps(opts)} -> {out.name}")
    t = time.time()
    try:
        report = run_step(name, ctx, opts, out)
        write_json(done, {"step": name, "options": opts, "report": report, "seconds": round(time.time() - t, 1)})
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise LiteformerError(f"disk full during step {name} ({out}); finished steps are kept in {cache}, "
                                  "free space and run the recipe again to resume") from None
        raise
    return out, report, False


def recipe_budget(budget: dict) -> Budget:
    """A recipe's ``budget:`` section as a Budget: its ``profile``'s budgets, overridden by the explicit ones."""
    from liteformer.bench.select import profile
    budget = dict(budget)
    base = profile(budget.pop("profile"))["budget"] if "profile" in budget else Budget()
    return replace(base, **budget)


def bench_and_select(res: RecipeResult, data: dict, bench: dict, budget: Budget, work: Path, progress: bool,
                     log) -> None:
    """One interleaved bench of ``res.candidates`` (the teacher first: the baseline) on the test split (or
    dev, or train), reports in ``WORK/report``, and the best under ``budget`` copied to ``WORK/best``."""
    from liteformer.bench.harness import BenchSettings, parse_candidate, run_bench
    from liteformer.bench.report import format_table, write_reports
    from liteformer.bench.select import select
    settings = BenchSettings(data=data.get("test") or data.get("dev") or data["train"],
                             text_column=data.get("text_column"), label_column=data.get("label_column", "label"),
                             threads=bench.get("threads", 2), reps=bench.get("reps", 3),
                             timed_examples=bench.get("timed_examples", 300), fixed_length=bench.get("length", 128))
    settings.validate()
    log(f"bench: {len(res.candidates)} candidates on {settings.data}")
    cands = [replace(parse_candidate(path), name=name) for name, path in res.candidates]
    result = run_bench(cands, settings, progress=progress)
    res.report = {k: str(v) for k, v in write_reports(result, work / "report").items()}
    res.table = format_table(result)
    built = replace(result, candidates=[c for c in result.candidates if c.name != "teacher"])  # the reference
    sel = select(built, budget)
    res.reason = sel.reason
    if sel.chosen:
        best = work / "best"
        shutil.rmtree(best, ignore_errors=True)
        shutil.copytree(sel.chosen.path, best)
        res.chosen = replace(sel.chosen, path=str(best))
    else:
        res.chosen = None
        res.closest = sel.closest
