"""``liteformer compress TEACHER --train … --dev … --budget…``: the budget search (``liteformer.search``)
from the command line — the same function as a recipe's ``search: auto``. Also the budget flags that
``select`` and ``compress`` share."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BUDGET_FLAGS = {  # Budget field -> help of its flag
    "max_latency_ms": "p50 latency at real length, batch 1",
    "max_size_mb": "size on disk, MB (10^6 bytes)",
    "max_memory_mb": "peak RSS of the runtime process, MiB",
    "min_accuracy": "accuracy as a fraction, e.g. 0.88",
    "min_x_faster": "at least this many times faster than the report's baseline (p50), e.g. 10; relative budgets "
                    "hold on any machine",
    "min_x_smaller": "at least this many times smaller than the baseline, e.g. 12",
    "min_pct_accuracy": "at least this percentage of the baseline's accuracy, e.g. 98",
    "min_quality": "the report's quality metric at least this (accuracy as a fraction, sacreBLEU 0-100 for "
                   "translation)",
    "min_pct_quality": "at least this percentage of the baseline's quality metric (accuracy or sacreBLEU), e.g. 97",
    "max_error": "speech: the report's error rate (WER, percent) at most this, e.g. 3",
}


def add_budget_flags(p) -> None:
    p.add_argument("--profile", default=None, help="named budgets (phone-low, phone-mid, phone-high); "
                   "explicit flags override them")
    for name, text in BUDGET_FLAGS.items():
        p.add_argument("--" + name.replace("_", "-"), type=float, default=None, help=text)


def budget_from_flags(a: argparse.Namespace):
    """The Budget of ``--profile`` and the explicit flags (which override it), validated."""
    from dataclasses import replace

    from liteformer.bench.select import Budget, profile
    budget = profile(a.profile)["budget"] if a.profile else Budget()
    budget = replace(budget, **{k: getattr(a, k) for k in BUDGET_FLAGS if getattr(a, k) is not None})
    budget.validate()
    return budget


def add_parser(sub) -> None:
    from liteformer.options import add_flags
    from liteformer.search.space import SearchOptions
    p = sub.add_parser(
        "compress", help="find a student that meets a budget: probe shapes, distill with successive halving, bench",
        description="The budget search for a text classifier: student shapes cut from the teacher at several "
        "compute levels are probed for size and speed (untrained, in the first runtime), the feasible ones "
        "distilled with successive halving (cheapest first, the best third trained on, early stopping), the "
        "search ends as soon as one meets the budget on dev (or when --max-minutes runs out), and the finalists "
        "are exported, benched against the teacher on test and the best under the budget copied to OUT/best. "
        "OUT/report/search.md lists every trial and what it would try next. Run it again to continue a "
        "stopped search.")
    p.add_argument("teacher", help="the teacher: a text-classification model folder or alias")
    p.add_argument("--train", required=True, help="training data (TSV/CSV/JSONL with a text and a label column)")
    p.add_argument("--dev", required=True, help="dev data: ranks the trials and decides when one meets the budget")
    p.add_argument("--test", default=None, help="test data for the final bench (default: dev)")
    p.add_argument("--text-column", default=None, help="the text column (default: the first non-label one)")
    p.add_argument("--label-column", default="label", help="the label column")
    add_budget_flags(p)
    add_flags(p, SearchOptions)
    p.add_argument("--out", default="liteformer-search", help="the search's folder (caches, trials, reports, best)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads")


def cmd_compress(a: argparse.Namespace) -> int:
    import torch

    from liteformer.options import from_values
    from liteformer.recipe.runner import print_result
    from liteformer.search.auto import run_search
    from liteformer.search.space import SearchOptions
    torch.set_num_threads(a.threads)
    budget = budget_from_flags(a)
    opts = from_values(SearchOptions, vars(a))
    data = {"train": a.train, "dev": a.dev, "label_column": a.label_column}
    if a.test:
        data["test"] = a.test
    if a.text_column:
        data["text_column"] = a.text_column
    res = run_search(a.teacher, data, budget, opts, Path(a.out), progress=sys.stderr.isatty(), threads=a.threads)
    print_result(res)
    return 0 if res.chosen else 1
