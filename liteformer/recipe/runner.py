"""Run a recipe: every variant of its search grid, each step cached by a hash of its inputs and
settings, then one interleaved bench of all results against the teacher and a budget selection.

Cache: ``WORK/cache/<step>-<key>/`` holds a step's output and ``<step>-<key>.done.json`` marks it
finished (with the step's report). The key hashes the step's name and options, the key of the step
before it (or the teacher's and data files' contents), so a re-run skips finished steps, variants
that share a prefix share its work, and a killed run resumes: the unfinished step starts again
(training steps continue from their own checkpoint, ``OUT.ckpt``). A full disk stops the run with
one line; finished steps stay cached.
"""

from __future__ import annotations

import sys
from pathlib import Path

from liteformer.bench.select import miss_text
from liteformer.errors import LiteformerError
from liteformer.fileio import write_json
from liteformer.recipe.cached import RecipeResult, bench_and_select, digest, recipe_budget, run_cached
from liteformer.recipe.schema import Recipe
from liteformer.recipe.steps import Context


def _content_key(path: str, task: str = "text-classification") -> str:
    """Hash of a data file or a model folder's files (aliases such as sst2:train hash their file; a
    speech split hashes its folder's or TSV's files and keeps its options)."""
    from liteformer.data.parallel import PAIRS, resolve_pair
    from liteformer.data.text import resolve
    from liteformer.models.checkpoint import file_sha256, resolve_model
    if task == "speech-recognition":
        from liteformer.recipe.schema import _speech_path
        p = _speech_path(path)
        if not p.exists():
            raise LiteformerError(f"{path}: no such file or folder {p}")
        files = sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
        return digest([path.rpartition(":")[2] if ":" in path else ""] + [(f.name, file_sha256(f)) for f in files])
    if task in ("summarization", "dialogue"):  # a DialogSum file, or a hash split of one (FILE:dev)
        from liteformer.data.dialogsum import resolve_split
        p, split = resolve_split(path)
        if not p.is_file():
            raise LiteformerError(f"{path}: no such file {p}")
        return digest([split, file_sha256(p)])
    if ("," in path or path.split(":")[0] in PAIRS) and not Path(path).exists():  # sentence pairs
        found = resolve_pair(path)
        files = found if isinstance(found, tuple) else (found,)
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise LiteformerError(f"{path}: no such file {missing[0]}")
        return digest([file_sha256(f) for f in files])
    p = resolve(path) if ":" in path and not Path(path).exists() else resolve_model(path)
    if p.is_dir():
        return digest([(f.name, file_sha256(f)) for f in sorted(p.iterdir()) if f.is_file()])
    if not p.exists():
        raise LiteformerError(f"{path}: no such file or folder")
    return file_sha256(p)


def run_recipe(recipe: Recipe, work: str | Path | None = None, progress: bool = False,
               log=lambda s: print(s, flush=True)) -> RecipeResult:
    work = Path(work or Path("runs") / recipe.name)
    cache = work / "cache"
    data = {"label_column": "label", **recipe.data}
    files = {k: _content_key(data[k], recipe.task) for k in ("train", "dev", "test") if k in data}  # missing: fail now
    data_key = digest({k: files.get(k, v) for k, v in data.items() if k != "test"})
    made = [d for d in (work, cache) if not d.exists()]
    cache.mkdir(parents=True, exist_ok=True)
    try:
        if recipe.auto is not None:
            return _run_auto(recipe, work, cache, data, data_key, progress, log)
        return _run(recipe, work, cache, data, data_key, progress, log)
    finally:  # a run that failed before any step finished leaves no empty folders
        for d in reversed(made):
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()


def _run_auto(recipe: Recipe, work: Path, cache: Path, data: dict, data_key: str, progress: bool,
              log) -> RecipeResult:
    """``search: auto``: the teacher (given, or the recipe's finetune step, cached), then the budget search
    in ``WORK`` (liteformer.search), which caches and resumes on its own."""
    from liteformer.options import from_values
    from liteformer.search.auto import run_search
    from liteformer.search.space import SearchOptions
    teacher, ran = recipe.teacher, 0
    for j, (name, opts) in enumerate(recipe.steps):  # at most one: finetune
        ctx = Context("", "", data, progress, splits={}, task=recipe.task)
        try:
            out, _, cached = run_cached(name, opts, ctx, digest(name, opts, data_key), cache, log)
        except LiteformerError as e:
            raise LiteformerError(f"{recipe.where(j)}: step {name}: {e}") from None
        teacher, ran = str(out), ran + (not cached)
    res = run_search(teacher, data, recipe_budget(recipe.budget), from_values(SearchOptions, recipe.auto),
                     work, progress=progress, log=log)
    res.steps_run += ran
    res.steps_cached += len(recipe.steps) - ran
    write_json(work / "recipe-result.json", {"recipe": str(recipe.path), "reason": res.reason, "search": True,
                                            "chosen": res.chosen.to_dict() if res.chosen else None,
                                            "candidates": res.candidates, "report": res.report,
                                            "left_out": res.left_out})
    return res


def _run(recipe: Recipe, work: Path, cache: Path, data: dict, data_key: str, progress: bool, log) -> RecipeResult:
    res = RecipeResult(work, [], None, "")
    teacher, teacher_key = recipe.teacher, None
    if teacher:
        teacher_key = digest("teacher", _content_key(teacher))
    splits: dict = {}  # each data file is read once per run, shared by the steps of every variant
    finals: list[tuple[str, Path, str, list]] = []  # (variant label, output, step name, runtimes)
    variants = recipe.variants()
    for i, (label, steps) in enumerate(variants):
        log(f"[{i + 1}/{len(variants)}] {label}")
        key = teacher_key or data_key
        ctx = Context(teacher or "", teacher or "", data, progress, teacher_store=str(cache / "teacher-outputs"),
                      splits=splits, task=recipe.task)
        for j, (name, opts) in enumerate(steps):
            key = digest(name, opts, key, data_key)
            try:
                out, report, cached = run_cached(name, opts, ctx, key, cache, log)
            except LiteformerError as e:
                raise LiteformerError(f"{recipe.where(j)}: step {name}: {e}") from None
            res.steps_cached += cached
            res.steps_run += not cached
            if name == "finetune":
                ctx.teacher = str(out)
            if name != "export":
                ctx.current = str(out)
        last_name, last_opts = steps[-1]
        runtimes = []
        if last_name == "export":  # bundles that failed export or verification are reported, not benched
            for rt, info in report["bundles"].items():
                if "error" in info:
                    log(f"  {label} {rt}: left out: {info['error']}")
                    res.left_out.append({"variant": label, "runtime": rt, "error": info["error"]})
                else:
                    runtimes.append(rt)
        finals.append((label, Path(ctx.current) if last_name != "export" else out, last_name, runtimes))
    res.candidates = [("teacher", ctx.teacher)]
    for label, out, last, runtimes in finals:
        if runtimes:
            res.candidates += [(f"{label} {rt}" if len(variants) > 1 else rt, str(out / rt)) for rt in runtimes]
        elif last != "export":
            res.candidates.append((label, str(out)))
    if len(res.candidates) == 1:
        raise LiteformerError("no artifact was built: " + "; ".join(f"{x['variant']} {x['runtime']}: {x['error']}"
                                                                     for x in res.left_out))
    bench_and_select(res, data, recipe.bench, recipe_budget(recipe.budget), work, progress, log)
    closest = [{"name": c.name, "worst_miss": round(v, 3)} for c, v in res.closest]
    write_json(work / "recipe-result.json", {"recipe": str(recipe.path), "reason": res.reason, "closest": closest,
                                            "chosen": res.chosen.to_dict() if res.chosen else None,
                                            "candidates": res.candidates, "report": res.report,
                                            "steps_run": res.steps_run, "steps_cached": res.steps_cached,
                                            "left_out": res.left_out})
    return res


def print_result(res: RecipeResult, out=None) -> None:
    out = sys.stdout if out is None else out  # at call time: a default bound at import misses later redirects
    print(res.table, file=out)
    print(f"steps: {res.steps_run} run, {res.steps_cached} from cache", file=out)
    for x in res.left_out:
        print(f"left out: {x['variant']} {x['runtime']}: {x['error']}", file=out)
    print(f"report: {res.report.get('md')}  {res.report.get('html')}  {res.report.get('png')}", file=out)
    if res.report.get("search_md"):
        print(f"search: {res.report['search_md']}  {res.report.get('search_png')}", file=out)
    if res.chosen:
        c = res.chosen
        quality = f"accuracy {c.quality:.4f}" if c.metric == "accuracy" else f"{c.metric} {c.quality:.2f}"
        print(f"best under the budget: {c.name} ({c.runtime}): {quality}, "
              f"p50 {c.latency_p50_ms:.2f} ms, {c.size_mb:.1f} MB"
              + (f", {c.x_smaller:.1f}x smaller, {c.x_faster:.1f}x faster than the teacher"
                 if c.x_smaller else ""), file=out)
        print(f"bundle: {c.path}", file=out)
    else:
        print(f"nothing fits the budget: {res.reason}", file=out)
        for c, v in res.closest:
            print(f"  closest: {c.name} (misses by {miss_text(v)})", file=out)
