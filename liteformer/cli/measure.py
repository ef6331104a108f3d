"""The measuring commands: ``eval`` (accuracy of a model folder or an exported bundle), ``bench``
(accuracy, latency, size and memory side by side in fresh processes) and ``select`` (the best under a
budget). Their parsers live in cli.py with the others."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from liteformer.errors import LiteformerError


def cmd_eval(a: argparse.Namespace) -> int:
    import torch

    from liteformer.data.text import read_classification
    from liteformer.data.tokenizer import default_max_length
    from liteformer.models.checkpoint import load_model
    from liteformer.tasks.classification import evaluate, evaluate_bundle
    if a.threads:
        torch.set_num_threads(a.threads)
    model = Path(a.model)
    if model.is_file() or (model / "liteformer.json").exists():  # an exported bundle or an artifact in one
        from liteformer import runtimes
        from liteformer.runtimes.bundle import read_sidecar
        runtimes.detect(model)  # an unknown file type or a lone artifact: one line
        task = read_sidecar(model).get("task")
        if task in ("translation", "summarization", "dialogue"):
            return _eval_translation_bundle(a, model, task)
        if task == "speech-recognition":
            from liteformer.cli.speech import eval_speech_bundle
            return eval_speech_bundle(a, model)
        data = read_classification(a.data, a.text_column, a.label_column)
        report = evaluate_bundle(model, data, a.max_length, a.threads or 2, progress=sys.stderr.isatty())
        return _print_report(a, f"bundle {model}", str(model), data, report)
    loaded = load_model(a.model)
    if loaded.is_speech:
        from liteformer.cli.speech import eval_speech
        return eval_speech(a, loaded)
    if loaded.model.config.num_decoder_layers:
        return _eval_translation(a, loaded)
    max_pos = loaded.model.config.max_positions
    a.max_length = a.max_length or default_max_length(max_pos)
    if a.max_length > max_pos:
        raise LiteformerError(f"--max-length {a.max_length} exceeds the model's "
                              f"{loaded.model.config.max_positions} positions")
    data = read_classification(a.data, a.text_column, a.label_column)
    report = evaluate(loaded.model, loaded.tokenizer, data, a.batch_size, a.max_length, progress=sys.stderr.isatty())
    return _print_report(a, f"model {loaded.path}", str(loaded.path), data, report)


def _eval_translation(a: argparse.Namespace, loaded) -> int:
    from liteformer.fileio import write_json, write_text
    from liteformer.models.generation import GenerationConfig
    from liteformer.options import from_values
    from liteformer.tasks.translation import evaluate
    L = min(128, loaded.model.config.max_positions)
    if loaded.task in ("summarization", "dialogue"):  # the task's length defaults unless a flag says otherwise
        import importlib

        from liteformer import tasks
        mod = importlib.import_module(tasks.TASKS[loaded.task])
        evaluate = mod.evaluate
        given = {k: getattr(a, k) for k, v in GENERATION_FLAG_DEFAULTS.items() if getattr(a, k, v) != v}
        cfg = mod.generation_config(L, **given)
    else:
        cfg = from_values(GenerationConfig, vars(a), max_target=L)
    report = evaluate(loaded.model, loaded.tokenizer, a.data, cfg, batch_size=a.batch_size,
                      max_length=a.max_length, progress=sys.stderr.isatty())
    print(f"model {loaded.path}  data {a.data}  beam {cfg.beam}")
    print(report.format())
    if a.hypotheses:
        write_text(a.hypotheses, "".join(h + "\n" for h in report.hypotheses))
    if a.out:
        write_json(a.out, {"model": str(loaded.path), "data": a.data, **report.to_dict()})
    return 0


def _eval_translation_bundle(a: argparse.Namespace, model: Path, task: str = "translation") -> int:
    from liteformer.fileio import write_json, write_text
    from liteformer.tasks.translation import evaluate_bundle
    if task == "summarization":
        from liteformer.tasks.summarization import evaluate_bundle
    elif task == "dialogue":
        from liteformer.tasks.dialogue import evaluate_bundle
    if getattr(a, "beam", 1) != 1:
        print("note: a bundle decodes greedily (the phone loop); --beam applies to model folders", file=sys.stderr)
    report = evaluate_bundle(model, a.data, a.max_length, a.threads or 2, progress=sys.stderr.isatty())
    print(f"bundle {model}  data {a.data}  greedy")
    print(report.format())
    if a.hypotheses:
        write_text(a.hypotheses, "".join(h + "\n" for h in report.hypotheses))
    if a.out:
        write_json(a.out, {"model": str(model), "data": a.data, "beam": 1, **report.to_dict()})
    return 0


GENERATION_FLAG_DEFAULTS = {"beam": 5, "length_penalty": 1.0, "max_len_a": 1.5, "max_len_b": 10, "min_length": 0}


def _print_report(a: argparse.Namespace, title: str, source: str, data, report) -> int:
    from liteformer.fileio import write_json
    if report.truncated:
        why = f"longer than {a.max_length} tokens and were truncated" if a.max_length else "truncated"
        print(f"warning: {report.truncated} of {report.total} examples were {why}", file=sys.stderr)
    print(f"{title}  data {data.path}")
    print(report.format())
    if a.out:
        write_json(a.out, {"model": source, "data": data.path, **report.to_dict()})
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from liteformer import tasks
    from liteformer.bench.harness import DEFAULT_DATA, BenchSettings, bench_task, parse_candidates, run_bench
    from liteformer.bench.report import format_table, write_reports
    from liteformer.bench.select import profile
    prof = profile(a.profile) if a.profile else {}
    cands = parse_candidates(a.candidates)
    task = bench_task(cands)
    s = BenchSettings(data=a.data or DEFAULT_DATA[task], text_column=a.text_column, label_column=a.label_column,
                      threads=a.threads or prof.get("threads", 2), reps=a.reps,
                      fixed_length=a.length or prof.get("fixed_length", 128), max_length=a.max_length,
                      timed_examples=a.timed_examples or None, warmup=a.warmup, baseline=a.baseline)
    s.validate()
    tasks.get(task).read(s.data, s.text_column, s.label_column)  # bad data: fail before any work
    if all(c.error for c in cands):  # nothing could run: no report, the first reason
        raise LiteformerError(cands[0].error)
    result = run_bench(cands, s, progress=sys.stderr.isatty())
    paths = write_reports(result, a.out)
    print(format_table(result))
    print(f"report: {paths['md']}  {paths['html']}  {paths['json']}  {paths['png']}  ({result.seconds:.0f} s)")
    failed = [c for c in result.candidates if not c.ok]
    for c in failed:
        print(f"liteformer bench: error: candidate {c.name} ({c.path}): {c.error}", file=sys.stderr)
    return 2 if failed else 0


def cmd_select(a: argparse.Namespace) -> int:

    from liteformer.bench.result import BenchResult
    from liteformer.bench.select import describe_candidate, miss_text, select
    from liteformer.cli.search import budget_from_flags
    budget = budget_from_flags(a)  # the flags before the report
    path = Path(a.report)
    result = BenchResult.load(path / "bench.json" if path.is_dir() else path)
    sel = select(result, budget)
    if a.json:
        print(json.dumps({"chosen": sel.chosen.to_dict() if sel.chosen else None, "reason": sel.reason,
                          "closest": [{"name": c.name, "worst_miss": v} for c, v in sel.closest]}, indent=2))
    elif sel.chosen:
        print(f"chosen: {describe_candidate(sel.chosen)}")
        print(f"        {sel.chosen.path}")
        print(f"{len(sel.feasible)} of {len(result.ok())} candidates fit the budget")
    else:
        print(f"nothing fits: {sel.reason}")
        for c, v in sel.closest:
            print(f"  closest: {describe_candidate(c)}  (misses by {miss_text(v)})")
    return 0 if sel.chosen else 1
