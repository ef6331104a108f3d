"""Benchmark candidates side by side: accuracy, latency, size, memory, MACs — each measured by
running the artifact in its own runtime, in a fresh process per candidate and repetition, with the
candidates interleaved (rotated) across repetitions so machine drift hits all of them alike."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from liteformer import runtimes
from liteformer.bench.machine import gemm_peak_gflops, machine_info
from liteformer.bench.result import LOWER_IS_BETTER, BenchResult, CandidateResult
from liteformer.errors import LiteformerError
from liteformer.models.cost import macs_per_clip, macs_per_example, macs_per_sentence
from liteformer.models.transformer import TransformerConfig


@dataclass
class Candidate:
    name: str
    path: str
    runtime: str
    variant: str | None = None
    error: str | None = None  # why it cannot run (e.g. no such file): reported as failed, not run


def parse_candidates(specs: list[str]) -> list[Candidate]:
    """Every spec parsed; one that does not parse becomes a failed candidate, so the rest still run."""
    out = []
    for spec in specs:
        try:
            out.append(parse_candidate(spec))
        except LiteformerError as e:
            name, eq, rest = spec.partition("=")
            label = name if eq and "/" not in name and ":" not in name else Path(spec).name or spec
            out.append(Candidate(label, spec, "?", error=str(e)))
    return out


def parse_candidate(spec: str) -> Candidate:
    """``[NAME=][RUNTIME[+VARIANT]:]PATH``, e.g. ``int8=torch+int8-dynamic:teacher/``."""
    name = None
    maybe, eq, rest = spec.partition("=")
    if eq and maybe and "/" not in maybe and ":" not in maybe and not Path(spec).exists():
        name, spec = maybe, rest
    runtime = variant = None
    head, sep, rest = spec.partition(":")
    if sep and head.split("+")[0] in runtimes.RUNTIMES and not Path(spec).exists():
        runtime, _, variant = head.partition("+")
        spec, variant = rest, variant or None
    if runtime == "whisper":  # the speech anchor's alias (whisper:tiny.en)
        from liteformer.runtimes.whisper_rt import resolve
        spec = resolve(spec)
    path = Path(spec)
    if not path.exists():
        raise LiteformerError(f"candidate {spec}: no such file or folder")
    runtime = runtime or runtimes.detect(path)
    runtimes.check(runtime, variant)
    default = path.name.removesuffix(path.suffix) or str(path)
    return Candidate(name or (f"{default}+{variant}" if variant else default), str(path), runtime, variant)


def candidate_task(c: Candidate) -> str:
    """The task of a candidate: its bundle's sidecar, or its model folder's architecture."""
    path = Path(c.path)
    if c.runtime == "torch":
        from liteformer.models.checkpoint import folder_task
        return folder_task(path)
    if c.runtime == "whisper":  # the speech anchor
        return "speech-recognition"
    from liteformer.runtimes.bundle import read_sidecar
    return read_sidecar(path).get("task", "text-classification")


def bench_task(cands: list[Candidate]) -> str:
    """The one task every runnable candidate serves (a bench compares like with like)."""
    found = {}
    for c in cands:
        if not c.error:
            try:
                found.setdefault(candidate_task(c), c.name)
            except LiteformerError as e:
                c.error = str(e)
    if len(found) > 1:
        raise LiteformerError(f"candidates of different tasks cannot be benched together: "
                              f"{', '.join(f'{n} ({t})' for t, n in found.items())}")
    return next(iter(found), "text-classification")


DEFAULT_DATA = {"text-classification": "sst2:test", "translation": "multi30k:test", "speech-recognition": "fsdd:test",
                "summarization": "dialogsum:test", "dialogue": "dialogsum:test"}


@dataclass
class BenchSettings:
    data: str
    text_column: str | None = None
    label_column: str = "label"
    threads: int = 2
    reps: int = 3
    fixed_length: int = 128
    max_length: int | None = None  # None: 128, or the model's positions if fewer
    timed_examples: int | None = 300  # per repetition; None: all
    warmup: int = 10
    fixed_reps: int = 20
    baseline: str | None = None  # candidate name; default the first

    def validate(self) -> None:
        for name in ("threads", "reps", "fixed_length", "max_length", "fixed_reps"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise LiteformerError(f"{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")
        if self.timed_examples is not None and self.timed_examples <= 0:
            raise LiteformerError(f"timed-examples must be > 0, got {self.timed_examples}")
        if self.warmup < 0:
            raise LiteformerError(f"warmup must be >= 0, got {self.warmup}")


def _worker(spec: dict) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"]), "TQDM_DISABLE": "1", runtimes.ISOLATED: "1"}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    try:
        r = subprocess.run([sys.executable, "-m", "liteformer.bench.worker"], input=json.dumps(spec),
                           capture_output=True, text=True, env=env, timeout=3600)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "timed out after 3600 s"}
    lines = [x for x in r.stdout.splitlines() if x.startswith("{")]
    if not lines:
        tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "error": f"worker exited with code {r.returncode}: {tail}"}
    return json.loads(lines[-1])


def run_bench(cands: list[Candidate], s: BenchSettings, progress: bool = True) -> BenchResult:
    s.validate()
    if not cands:
        raise LiteformerError("no candidates to benchmark")
    names = [c.name for c in cands]
    if len(set(names)) != len(names):
        raise LiteformerError(f"candidate names must differ: {names} (use NAME=PATH)")
    if s.baseline and s.baseline not in names:
        raise LiteformerError(f"--baseline {s.baseline!r} is not a candidate name ({names})")
    from liteformer import tasks
    n = len(tasks.get(bench_task(cands)).read(s.data, s.text_column, s.label_column))
    timed = sorted(random.Random(0).sample(range(n), min(n, s.timed_examples or n)))
    t0 = time.time()
    runs: dict[str, list[dict]] = {c.name: [] for c in cands}
    bar = tqdm(total=s.reps * len(cands), desc="bench", unit="run", disable=not progress, file=sys.stderr)
    for rep in range(s.reps):
        order = cands[rep % len(cands):] + cands[: rep % len(cands)]  # rotate: no fixed position
        for c in order:
            if c.error or (runs[c.name] and not runs[c.name][0]["ok"]):
                runs[c.name] = runs[c.name] or [{"ok": False, "error": c.error}]
                bar.update(1)
                continue  # a failed candidate is not retried
            spec = {**asdict(s), **{k: v for k, v in asdict(c).items() if k != "error"}, "timed": timed,
                    "accuracy": rep == 0}
            bar.set_postfix_str(c.name)
            runs[c.name].append(_worker(spec))
            bar.update(1)
    bar.close()
    result = BenchResult(asdict(s), machine_info(s.threads), baseline=s.baseline or cands[0].name)
    result.machine["gemm_peak_gflops"] = round(gemm_peak_gflops(s.threads), 1)
    result.candidates = [_aggregate(c, runs[c.name], s) for c in cands]
    for c in result.candidates:  # roofline: the time the model's FLOPs take at the measured GEMM peak
        if c.ok and c.macs_mean_length:
            c.roofline_ms = 2 * c.macs_mean_length / (result.machine["gemm_peak_gflops"] * 1e6)
            c.x_roofline = c.latency_p50_ms / c.roofline_ms
    _ratios(result)
    result.seconds = round(time.time() - t0, 1)
    return result


def _aggregate(c: Candidate, reps: list[dict], s: BenchSettings) -> CandidateResult:
    base = {"name": c.name, "path": c.path, "runtime": c.runtime, "variant": c.variant}
    bad = next((r for r in reps if not r["ok"]), None)
    if bad:
        return CandidateResult(**base, ok=False, error=bad["error"])
    first = reps[0]
    med = lambda xs: statistics.median(xs)  # noqa: E731
    p50s = [r["latency_ms"]["p50"] for r in reps]
    fixed = [r["fixed_ms"] for r in reps if r.get("fixed_ms") is not None]
    row = CandidateResult(
        **base, metric=first["metric"], quality=first["quality"], accuracy=first.get("accuracy"),
        correct=first.get("correct"), total=first["total"], scores=first.get("scores"),
        latency_mean_ms=med([r["latency_ms"]["mean"] for r in reps]), latency_p50_ms=med(p50s),
        latency_p90_ms=med([r["latency_ms"]["p90"] for r in reps]), latency_p50_spread_ms=[min(p50s), max(p50s)],
        fixed_ms=med(fixed) if fixed else None, fixed_length=s.fixed_length if fixed else None,
        size_bytes=first["size_bytes"],
        parameters=first["parameters"], peak_rss_mb=med([r["hwm_kb"] for r in reps]) / 1024,
        rss_increase_mb=med([r["hwm_kb"] - r["hwm_import_kb"] for r in reps]) / 1024,
        load_s=med([r["load_s"] for r in reps]), mean_tokens=first["mean_tokens"], truncated=first["truncated"],
        timed_per_rep=first["latency_ms"]["n"], reps=len(reps))
    gen = [r["generation"] for r in reps if r.get("generation")]
    if gen:
        row.first_token_ms = med([g["first_token_ms"] for g in gen])
        row.tokens_per_s = med([g["tokens_per_s"] for g in gen])
        row.mean_output_tokens = gen[0]["mean_output_tokens"]
    rtfs = [r["rtf"] for r in reps if r.get("rtf") is not None]
    row.rtf = med(rtfs) if rtfs else None
    if first.get("config"):
        cfg = TransformerConfig.from_dict(first["config"])
        if cfg.audio:  # speech: mean_tokens holds the mean clip length in samples
            row.macs_mean_length = macs_per_clip(cfg, round(first["mean_tokens"]))
        elif gen:  # encoder once + one decoder step per output token (<s> fed first)
            row.macs_mean_length = macs_per_sentence(cfg, round(first["mean_tokens"]),
                                                     round(row.mean_output_tokens))
        else:
            row.macs_mean_length = macs_per_example(cfg, round(first["mean_tokens"]))
            row.macs_fixed_length = macs_per_example(cfg, s.fixed_length)
    return row


def _ratios(result: BenchResult) -> None:
    base = result.get(result.baseline)
    for c in result.candidates:
        if not (c.ok and base and base.ok):
            continue
        c.x_smaller = base.size_bytes / c.size_bytes
        c.x_faster = base.latency_p50_ms / c.latency_p50_ms
        c.x_faster_fixed = base.fixed_ms / c.fixed_ms if base.fixed_ms and c.fixed_ms else None
        lower_better = c.metric in LOWER_IS_BETTER  # an error rate: its share of the baseline's means nothing
        c.pct_quality = 100 * c.quality / base.quality if base.quality and not lower_better else None
        if c.accuracy is not None and base.accuracy:
            c.pct_accuracy = c.pct_quality
