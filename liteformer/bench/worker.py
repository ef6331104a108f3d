"""One measurement of one candidate, in a fresh process: ``python -m liteformer.bench.worker``.

Reads a JSON spec on stdin, prints one JSON result line on stdout. Memory is read from
/proc/self/status (VmHWM, the peak resident set of *this* process; ru_maxrss after a fork would
count the parent).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path


def proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def measure(spec: dict) -> dict:
    threads = spec["threads"]
    import torch  # every runtime's adapter needs it; importing it first makes the baseline fair

    torch.set_num_threads(threads)
    from liteformer import runtimes, tasks

    runtimes.check(spec["runtime"], spec.get("variant"))
    hwm_import = proc_status_kb("VmHWM")
    t = time.perf_counter()
    runner = runtimes.load(spec["runtime"], Path(spec["path"]), spec.get("variant"), threads)
    load_s = time.perf_counter() - t
    task = tasks.get(getattr(runner, "task", None))
    fixed_timing = getattr(task, "fixed_timing", True)  # generation: whole sentences only
    data = task.read(spec["data"], spec.get("text_column"), spec.get("label_column", "label"))
    y, enc = task.encode(runner, data, spec.get("max_length"), spec["fixed_length"] if fixed_timing else 0)
    described = runner.describe()
    timed = set(spec["timed"]) if spec.get("timed") is not None else set(range(len(y)))
    do_all = spec.get("accuracy", True)

    for i in range(min(spec.get("warmup", 10), len(enc.ids))):
        task.predict(runner, enc.ids[i])
    lat, pred, first, out_tokens = [], {}, [], []
    for i, ids in enumerate(enc.ids):  # the task's runtime loop, one example at a time
        if i not in timed and not do_all:
            continue
        t = time.perf_counter()
        pred[i] = task.predict(runner, ids)
        dt = (time.perf_counter() - t) * 1000
        if i in timed:
            lat.append(dt)
            if hasattr(pred[i], "first_token_ms"):  # generation: first token and output length
                first.append(pred[i].first_token_ms)
                out_tokens.append(len(pred[i].ids))
    fixed = []
    L = spec["fixed_length"]
    if fixed_timing:
        longest = max(enc.ids, key=len)[:L]
        for _ in range(spec.get("fixed_reps", 20)):
            t = time.perf_counter()
            task.predict(runner, longest, L)
            fixed.append((time.perf_counter() - t) * 1000)
    out = {
        "ok": True,
        "load_s": load_s,
        "latency_ms": {"mean": sum(lat) / len(lat), "p50": _percentile(lat, 0.5), "p90": _percentile(lat, 0.9),
                       "n": len(lat)},
        "fixed_ms": _percentile(fixed, 0.5) if fixed else None,
        "hwm_import_kb": hwm_import,
        "hwm_kb": proc_status_kb("VmHWM"),
        "truncated": enc.truncated,
        "mean_tokens": sum(len(x) for x in enc.ids) / len(enc.ids),
        **described,
    }
    duration = getattr(task, "duration", None)
    if duration is not None:  # speech: processing time / audio time over the timed clips
        audio_s = sum(duration(enc.ids[i]) for i in pred if i in timed)
        out["rtf"] = sum(lat) / 1000 / audio_s if audio_s else None
    if first:
        out["generation"] = {"first_token_ms": _percentile(first, 0.5),
                             "tokens_per_s": sum(out_tokens) / (sum(lat) / 1000),
                             "mean_output_tokens": sum(out_tokens) / len(out_tokens)}
    if do_all:
        report = task.report([pred[i] for i in range(len(y))], y, runner)
        out.update(metric=task.metric, quality=getattr(report, task.metric))
        if task.metric == "accuracy":
            out.update(accuracy=report.accuracy, correct=report.correct, total=report.total, labels=report.labels)
        else:
            out.update(scores=report.to_dict(), total=len(y))
    return out


def main() -> int:
    spec = json.loads(sys.stdin.read())
    os.environ.setdefault("OMP_NUM_THREADS", str(spec["threads"]))
    try:
        result = measure(spec)
    except Exception as e:  # reported as a failed candidate, the others go on
        from liteformer.errors import LiteformerError
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if not isinstance(e, LiteformerError):
            msg = f"{type(e).__name__}: {msg}"
            traceback.print_exc(file=sys.stderr)
        result = {"ok": False, "error": msg}
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
