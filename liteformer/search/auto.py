"""The budget search for text classification (``search: auto`` in a recipe, ``liteformer compress``):
given a teacher, data and a budget, find a student that meets it without the user choosing a shape or a
training length.

1. **Probe** (no training): one student shape per compute level is cut from the teacher, its vocabulary
   pruned to the training texts, exported to the first runtime with each quantization, and benched
   side by side with the teacher on dev (fresh processes): size and speed do not depend on training,
   so (shape, quantization) pairs that cannot meet the budget's size, speed and memory terms are out
   before any training. None left: one line saying what the closest one reaches.
2. **Successive halving** (``halving.py``) over the feasible shapes × augmentation: distillation
   (logits, hidden states, attention maps; early stopping) to the first rung's steps for all, then the
   best 1/eta trained on, and so on up to the cap — continued, not restarted. A trial whose dev accuracy
   meets the budget's quality term (and, when only int8 bundles fit, whose int8 bundle does too, run in
   its runtime on dev) ends the search at once. A wall-time budget stops it at the next run.
3. **Finals**: the trial that met the budget (else the best ``finalists``) is exported to every runtime
   with each fitting quantization (int8 accuracy-aware: the layers int8 hurts most stay float, ≤ 0.5
   points on dev), benched against the teacher on test, and the best under the budget chosen, as a
   recipe does. The search report (``report/search.md|html|json``, ``search.png``) lists every trial.

Everything is kept under ``WORK`` (``search-state.json``, ``cache/``, ``trials/``): a stopped search
run again continues where it was.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

from liteformer.bench.select import Budget
from liteformer.errors import LiteformerError
from liteformer.fileio import write_json
from liteformer.recipe.cached import RecipeResult, bench_and_select, run_cached
from liteformer.recipe.steps import Context
from liteformer.search.halving import Outcome, SearchState, Trial, rungs_for, successive_halving
from liteformer.search.space import SearchOptions, Shape, default_steps, shapes_for

LATENCY_SLACK = 0.9  # the probe's speed and memory may miss by 10 % (one repetition on a noisy machine)
PROBE_TERMS = ("latency_p50_ms", "size_mb", "peak_rss_mb", "x_faster", "x_smaller")  # budget terms training can't move


def quality_bar(budget: Budget, teacher_dev: float) -> float | None:
    """The dev accuracy a trial must reach (the strictest quality term), or None without one."""
    bars = [v for v in (budget.min_accuracy, budget.min_quality) if v is not None]
    bars += [p / 100 * teacher_dev for p in (budget.min_pct_accuracy, budget.min_pct_quality) if p is not None]
    return max(bars) if bars else None


def fits(candidate, budget: Budget) -> list[str]:
    """The budget's size/speed/memory terms a probed bundle misses (speed and memory with 10 % slack)."""
    missed = []
    for flag, key, limit, sign in budget.checks():
        if key not in PROBE_TERMS:
            continue
        value = getattr(candidate, key, None)
        if value is None:
            continue
        slack = 1.0 if key in ("size_mb", "x_smaller") else LATENCY_SLACK
        ok = value >= limit * slack if sign < 0 else value * slack <= limit
        if not ok:
            missed.append(f"{flag} {limit:g}: {value:.3g}")
    return missed


class AutoSearch:
    def __init__(self, teacher: str, data: dict, budget: Budget, opts: SearchOptions, work: str | Path,
                 progress: bool = False, threads: int = 2, log=print):
        opts.validate()
        budget.validate()
        self.teacher, self.budget, self.opts, self.work = teacher, budget, opts, Path(work)
        self.data = {"label_column": "label", **data}
        if "dev" not in self.data:
            raise LiteformerError("the budget search needs a dev split (it ranks and stops trials by dev accuracy)")
        self.progress, self.threads, self.log = progress, threads, log
        self.cache = self.work / "cache"
        self.state = SearchState(self.work / "search-state.json")
        self.splits: dict = {}
        self.meta: dict = {}  # teacher's dev accuracy, the probe, the trials' notes (search-meta.json)

    def ctx(self, current: str) -> Context:
        return Context(self.teacher, current, self.data, self.progress, self.threads,
                       teacher_store=str(self.cache / "teacher-outputs"), splits=self.splits)

    def step(self, name: str, opts: dict, current: str, key: str) -> tuple[Path, dict]:
        out, report, _ = run_cached(name, opts, self.ctx(current), key, self.cache, self.log)
        return out, report

    # --- 1. the probe ------------------------------------------------------------------------------------------
    def teacher_dev(self) -> float:
        from liteformer.models.checkpoint import load_model
        from liteformer.tasks.classification import evaluate
        if "teacher_dev" not in self.meta:
            lm = load_model(self.teacher)
            dev = self.ctx(self.teacher).split("dev")
            self.meta["teacher_dev"] = evaluate(lm.model, lm.tokenizer, dev, progress=False).accuracy
            self.save_meta()
        return self.meta["teacher_dev"]

    def length(self) -> int:
        """The bench's fixed length: 128 tokens, or the teacher's positions if fewer."""
        from liteformer.models.checkpoint import load_model
        return min(128, load_model(self.teacher).model.config.max_positions)

    def shapes(self) -> list[Shape]:
        from liteformer.models.checkpoint import load_model
        return shapes_for(load_model(self.teacher).model.config, self.opts.levels)

    def cut(self, shape: Shape) -> Path:
        """The shape cut from the teacher (untrained), its config kept beside the cache."""
        from liteformer.models.checkpoint import load_model
        cfg = self.work / "shapes" / f"{shape.name}.json"
        if not cfg.exists():
            write_json(cfg, shape.config(load_model(self.teacher).model.config))
        out, _ = self.step("student", {"config": str(cfg), "init_from_teacher": True}, self.teacher,
                           f"cut-{shape.name}")
        return out

    def probe(self, shapes: list[Shape]) -> dict[str, list[str]]:
        """{shape name: the quantizations whose bundle fits the size/speed/memory budget}; the probe's
        table is kept in the meta file."""
        if "probe" not in self.meta:
            from liteformer.bench.harness import BenchSettings, parse_candidate, run_bench
            rt, cands = self.opts.runtimes[0], [replace(parse_candidate(self.teacher), name="teacher")]
            for shape in shapes:
                vocab, _ = self.step("prune", {"method": "vocab"}, str(self.cut(shape)), f"vocab-{shape.name}")
                for q in self.opts.quantize:
                    out, report = self.step("export", {"to": [rt], "quantize": q}, str(vocab),
                                            f"probe-{shape.name}-{q}")
                    if "error" not in report["bundles"][rt]:
                        cands.append(replace(parse_candidate(str(out / rt)), name=f"{shape.name} {q}"))
            self.log(f"probe: {len(cands) - 1} untrained bundles against the teacher on dev ({rt})")
            s = BenchSettings(data=self.data["dev"], text_column=self.data.get("text_column"),
                              label_column=self.data["label_column"], threads=2, reps=1, timed_examples=100,
                              fixed_reps=5, fixed_length=self.length())
            result = run_bench(cands, s, progress=self.progress)
            self.meta["probe"] = {c.name: {"size_mb": c.size_mb if c.ok else None, "latency_p50_ms": c.latency_p50_ms,
                                           "peak_rss_mb": c.peak_rss_mb, "x_faster": c.x_faster,
                                           "x_smaller": c.x_smaller, "ok": c.ok, "error": c.error}
                                  for c in result.candidates if c.name != "teacher"}
            self.save_meta()
        feasible: dict[str, list[str]] = {}
        for name, row in self.meta["probe"].items():
            shape, q = name.split(" ")
            row["missed"] = fits(_Row(row), self.budget) if row["ok"] else ["failed: " + str(row["error"])]
            if not row["missed"]:
                feasible.setdefault(shape, []).append(q)
        return feasible

    # --- 2. the trials -----------------------------------------------------------------------------------------
    def train_fn(self, shapes: dict[str, Shape], feasible: dict[str, list[str]], bar: float | None, cap: int,
                 first: int):
        from liteformer.compress.distill import DistillConfig, StudentSpec
        from liteformer.train.config import TrainConfig
        from liteformer.train.distill import distill
        o = self.opts

        def run(trial: Trial, steps: int) -> Outcome:
            shape = shapes[trial.params["shape"]]
            tcfg = TrainConfig(max_steps=cap, lr=o.lr, batch_size=o.batch_size, eval_every=max(1, first // 3),
                               patience=o.patience, min_delta=o.min_delta, warmup=0.06)
            dcfg = DistillConfig(hidden_weight=o.hidden_weight, attention_weight=o.attention_weight,
                                 augment=trial.params["augment"], cache_gb=o.cache_gb)
            ctx = self.ctx(self.teacher)
            t0 = time.time()
            r = distill(self.teacher, StudentSpec(checkpoint=str(self.cut(shape))), ctx.split("train"),
                        self.trial_dir(trial), dcfg, tcfg, ctx.split("dev"), self.data.get("text_column"),
                        self.data["label_column"], progress=self.progress, resume=True,
                        teacher_store=str(self.cache / "teacher-outputs"), until=steps)
            score = r.best.accuracy if r.best else 0.0
            out = Outcome(score, converged=not r.paused, steps=r.steps, seconds=time.time() - t0,
                          note=r.stopped or "")
            if bar is not None and score >= bar:
                out.meets, out.note = self.check_quantized(trial, feasible[shape.name], bar, out.note, r.steps)
            self.log(f"  trial {trial.key}: dev accuracy {score:.4f} at step {r.steps}"
                     + (" — meets the budget" if out.meets else ""))
            return out
        return run

    def trial_dir(self, trial: Trial) -> Path:
        return self.work / "trials" / trial.key

    def trained_model(self, key: str) -> Path:
        """A trial's model folder: the finished run, or the best weights so far of a paused one (copied)."""
        done = self.work / "trials" / key
        if (done / "config.json").exists():
            return done
        staged, copy = Path(f"{done}.ckpt") / "best", self.work / "paused" / key
        if not (staged / "config.json").exists():
            raise LiteformerError(f"trial {key}: no trained weights kept")
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(staged, copy)
        return copy

    def check_quantized(self, trial: Trial, quants: list[str], bar: float, note: str, steps: int) -> tuple[bool, str]:
        """A trial at the bar in PyTorch: when only quantized bundles fit the budget, the int8 bundle must
        reach it too (run in its runtime on dev)."""
        if "none" in quants:
            return True, note
        from liteformer.tasks.classification import evaluate_bundle
        rt, q = self.opts.runtimes[0], quants[0]
        model = self.trained_model(trial.key)
        key = f"{trial.key}-{steps}"
        vocab, _ = self.step("prune", {"method": "vocab"}, str(model), f"check-vocab-{key}")
        out, report = self.step("export", {"to": [rt], "quantize": q, "max_accuracy_drop": 0.5}, str(vocab),
                                f"check-{key}")
        if "error" in report["bundles"][rt]:
            return False, f"{note}; {q} export failed: {report['bundles'][rt]['error']}".strip("; ")
        acc = evaluate_bundle(out / rt, self.ctx(self.teacher).split("dev"), threads=self.threads,
                              progress=False).accuracy
        return acc >= bar, f"{note}; {q} {rt} dev accuracy {acc:.4f}".strip("; ")

    # --- the whole search --------------------------------------------------------------------------------------
    def save_meta(self) -> None:
        write_json(self.work / "search-meta.json", self.meta)

    def run(self) -> RecipeResult:
        from liteformer.fileio import read_json_object
        from liteformer.models.checkpoint import load_model
        t0 = time.time()
        self.check_budget_is_possible()  # what can be refused is refused before anything is written
        load_model(self.teacher).require_classifier("the budget search (text classification)")
        for split in ("train", "dev"):
            self.ctx(self.teacher).split(split)
        self.work.mkdir(parents=True, exist_ok=True)
        if (self.work / "search-meta.json").exists():
            self.meta = read_json_object(self.work / "search-meta.json", "a search's notes")
        inputs = {"teacher": str(self.teacher), **{k: str(v) for k, v in self.data.items()}}
        if self.meta.setdefault("inputs", inputs) != inputs:  # the caches' keys name shapes and trials, not inputs
            raise LiteformerError(f"{self.work}: holds a search of other inputs ({self.meta['inputs']}); choose "
                                  "another folder to search with these")
        spent = self.meta.get("seconds", 0.0)
        deadline = t0 + self.opts.max_minutes * 60 - spent
        teacher_dev = self.teacher_dev()
        bar = quality_bar(self.budget, teacher_dev)
        shapes = {s.name: s for s in self.shapes()}
        feasible = self.probe(list(shapes.values()))
        if not feasible:
            raise LiteformerError(self.unreachable())
        n_train = len(self.ctx(self.teacher).split("train").texts)
        first, cap = default_steps(n_train, min(self.opts.augment), self.opts.batch_size, self.opts.eta,
                                   self.opts.max_steps, self.opts.min_steps)
        rungs = rungs_for(first, cap, self.opts.eta)
        trials = [Trial(f"{name}-aug{a}", {"shape": name, "augment": a, "quantize": feasible[name]},
                        shapes[name].fraction * (1 + 0.25 * a))
                  for name in feasible for a in self.opts.augment]
        bar_text = f"dev accuracy >= {bar:.4f}" if bar is not None else "no quality term: the most accurate"
        self.log(f"search: {len(trials)} trials ({', '.join(feasible)} x augment {self.opts.augment}), rungs "
                 f"{rungs} steps, {bar_text} (teacher {teacher_dev:.4f})")
        halving = successive_halving(trials, rungs, self.train_fn(shapes, feasible, bar, cap, first), self.state,
                                     self.opts.eta, deadline, self.log)
        self.meta.update(rungs=rungs, bar=bar, halving=asdict(halving),
                         trials={t.key: {**t.params, "fraction": shapes[t.params["shape"]].fraction} for t in trials})
        self.meta["seconds"] = spent + time.time() - t0
        self.save_meta()
        res = self.finals(halving, feasible)
        self.meta["seconds"] = spent + time.time() - t0
        self.save_meta()
        from liteformer.search.report import write_search_report
        res.report.update({f"search_{k}": str(v) for k, v in write_search_report(self.work, self.meta, self.state,
                                                                                  res).items()})
        return res

    def finals(self, halving, feasible: dict[str, list[str]]) -> RecipeResult:
        res = RecipeResult(self.work, [("teacher", self.teacher)], None, "")
        keys = [halving.met] if halving.met else halving.ranking[: self.opts.finalists]
        if not keys:
            from liteformer.search.report import write_search_report
            paths = write_search_report(self.work, self.meta, self.state, res)
            raise LiteformerError(f"the search ran out of time before any trial finished its first rung (report: "
                                  f"{paths['md']}); give it more time (--max-minutes) and run it again: it "
                                  "continues where it stopped")
        for key in keys:
            shape = self.meta["trials"][key]["shape"] if key in self.meta.get("trials", {}) else key.rsplit("-", 1)[0]
            model = self.trained_model(key)
            steps = self.state.last(key).steps
            vocab, _ = self.step("prune", {"method": "vocab"}, str(model), f"final-vocab-{key}-{steps}")
            for q in feasible[shape]:
                opts = {"to": list(self.opts.runtimes), "quantize": q}
                if q != "none":
                    opts["max_accuracy_drop"] = 0.5
                out, report = self.step("export", opts, str(vocab), f"final-{key}-{steps}-{q}")
                for rt, info in report["bundles"].items():
                    if "error" in info:
                        res.left_out.append({"variant": f"{key} {q}", "runtime": rt, "error": info["error"]})
                    else:
                        res.candidates.append((f"{key} {q} {rt}", str(out / rt)))
        if len(res.candidates) == 1:
            raise LiteformerError("no bundle was built: " + "; ".join(f"{x['variant']} {x['runtime']}: {x['error']}"
                                                                     for x in res.left_out))
        bench_and_select(res, self.data, {"reps": self.opts.bench_reps, "length": self.length()}, self.budget,
                         self.work, self.progress, self.log)
        self.meta["finals"] = {"candidates": res.candidates, "chosen": res.chosen.name if res.chosen else None,
                               "reason": res.reason}
        return res

    def check_budget_is_possible(self) -> None:
        """A size budget below what every student must ship (the tokenizer's files) is refused before any work."""
        from liteformer.models.checkpoint import resolve_model
        if self.budget.max_size_mb is None:
            return
        folder = resolve_model(self.teacher)
        tok = sum(f.stat().st_size for f in folder.iterdir()
                  if f.is_file() and ("token" in f.name or f.name == "vocab.txt"))
        if tok / 1e6 >= self.budget.max_size_mb:
            raise LiteformerError(f"--max-size-mb {self.budget.max_size_mb:g}: the tokenizer files alone take "
                                  f"{tok / 1e6:.2f} MB; no student can meet it")

    def unreachable(self) -> str:
        rows = self.meta.get("probe", {})
        best = min((r for r in rows.values() if r["ok"]), key=lambda r: len(r["missed"]), default=None)
        name = next((n for n, r in rows.items() if r is best), None)
        if best is None:
            return "no student bundle could be built for the probe: " + "; ".join(str(r["error"])
                                                                               for r in rows.values())
        return (f"no student shape can meet the budget's size and speed terms (levels {self.opts.levels}): the "
                f"closest, {name}, misses {', '.join(best['missed'])}; allow more (or add smaller levels)")


class _Row:
    """A probe row read like a CandidateResult."""

    def __init__(self, row: dict):
        self.__dict__.update(row)


def run_search(teacher: str, data: dict, budget: Budget, opts: SearchOptions | None = None,
               work: str | Path = "search", progress: bool = False, threads: int = 2, log=print) -> RecipeResult:
    """The budget search (see the module docstring); returns what a recipe run returns (the bench table,
    the chosen bundle in ``WORK/best``, reports)."""
    return AutoSearch(teacher, data, budget, opts or SearchOptions(), work, progress, threads, log).run()
