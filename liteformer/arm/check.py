"""``liteformer verify BUNDLE --arch aarch64``: a bundle run on this machine and under aarch64 emulation
(``env.py``) on the same real inputs of its task, by the same script (``probe.py``), and compared.

The rule is the export check's: a float artifact's outputs within 1e-4 of each other (classification:
every logit; generation: the first decoder step's logits; speech: the CTC logits of the real frames)
and the same predictions (labels, greedy output tokens, greedy CTC labels) on ≥ 99 % of the inputs; a
quantized artifact the same predictions on ≥ 99 % (its int8 kernels differ by instruction set, so its
largest difference is reported, not bounded). Emulation checks correctness, not a phone's speed; the
peak memory of each run (VmHWM of a process that imports only NumPy, the runtime and the tokenizer) is
reported, the emulated one including qemu's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from liteformer.arm.env import CPU, ArmEnv, ensure
from liteformer.errors import LiteformerError
from liteformer.tasks import DEV_DATA

FP32_TOLERANCE = 1e-4
MIN_AGREEMENT = 0.99


@dataclass
class ArchReport:
    bundle: str
    runtime: str
    kind: str
    quantized: bool
    inputs: int
    agreement: float  # share of inputs with the same prediction on both
    max_abs_diff: float
    ok: bool
    cpu: str
    message: str
    memory: dict = field(default_factory=dict)  # MiB: {"x86_64"|"aarch64": {bare, loaded, peak}}
    seconds: dict = field(default_factory=dict)
    artifact_mib: float = 0.0  # the model files (.tflite, .onnx, .pte): what the memory increase compares with

    def to_dict(self) -> dict:
        return asdict(self)

    def format(self) -> str:
        a = self.artifact_mib
        mem = "; ".join(f"{arch}: peak {m['peak']:.0f} MiB ({m['peak'] - m['bare']:+.0f} over the bare runtime"
                        + (f" = {(m['peak'] - m['bare']) / a:.1f}x the {a:.1f} MiB artifact)" if a else ")")
                        for arch, m in self.memory.items())
        return (f"{self.bundle} ({self.runtime}{', quantized' if self.quantized else ''}): {self.message}\n"
                f"  {self.inputs} inputs, predictions agree on {self.agreement:.0%}, max |diff| "
                f"{self.max_abs_diff:.2e}; aarch64 emulated (qemu, CPU {self.cpu}: correctness, not phone speed)"
                f"\n  memory {mem}")


def _job(bundle: Path, n: int, data: str | None) -> tuple[str, str, bool, dict[str, np.ndarray]]:
    """(runtime, kind, quantized, inputs) for ``n`` real inputs of the bundle's task, tokenized here."""
    from liteformer import runtimes
    rt = runtimes.detect(bundle)
    runner = runtimes.load(rt, bundle, None, 1)
    task = getattr(runner, "task", "text-classification")
    quantized = bool((runner.meta.get("export") or {}).get("quantization"))
    spec = data or DEV_DATA[task]
    max_length = int(runner.meta.get("max_length") or 128)
    if task == "speech-recognition":
        from liteformer.data.speech import read_speech
        clips = read_speech(data or f"fsdd:dev,strings={n}").audio[:n]
        return rt, "speech", quantized, {f"input_{i}": np.asarray(c, np.float32) for i, c in enumerate(clips)}
    if task == "text-classification":
        from liteformer.data.text import read_classification
        texts = read_classification(spec).texts[:n]
        ids, kind = runner.tokenizer.encode(texts, max_length).ids, "classify"
    else:
        from liteformer.train.translate import read_pairs
        sources = read_pairs(spec, task).sources[:n]
        limit = max(runner.meta.get("buckets") or [max_length])
        ids = runner.tokenizer.encode(sources, limit, keep="end" if task == "dialogue" else "start").ids
        kind = "generate"
    dtype = np.int32 if rt == "litert" else np.int64
    return rt, kind, quantized, {f"input_{i}": np.asarray(x, dtype) for i, x in enumerate(ids)}


def _probe(cmd: list[str], env: dict | None, what: str, timeout: float) -> float:
    t0 = time.time()
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LiteformerError(f"verify --arch: the {what} run took over {timeout:.0f} s") from None
    if r.returncode:
        tail = (r.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise LiteformerError(f"verify --arch: the {what} run failed (exit {r.returncode}: {tail})")
    return time.time() - t0


def compare(a: dict, b: dict, n: int, quantized: bool) -> tuple[float, float, str | None]:
    """(agreement, max |diff|, the first failure or None) of two probe outputs."""
    worst, worst_i, same = 0.0, 0, 0
    for i in range(n):
        la, lb = a[f"logits_{i}"], b[f"logits_{i}"]
        d = float(np.abs(la.astype(np.float64) - lb).max()) if la.shape == lb.shape else float("inf")
        if d > worst:
            worst, worst_i = d, i
        same += int(np.array_equal(a[f"tokens_{i}"], b[f"tokens_{i}"]))
    agreement = same / n
    if not quantized and worst > FP32_TOLERANCE:
        return agreement, worst, (f"outputs differ by {worst:.2e} (> {FP32_TOLERANCE:g}) at input {worst_i}")
    if agreement < MIN_AGREEMENT:
        return agreement, worst, (f"predictions agree on {same}/{n} inputs (< {MIN_AGREEMENT:.0%}); largest "
                                  f"difference {worst:.2e} at input {worst_i}")
    return agreement, worst, None


def _named_runtime(bundle: Path) -> str | None:
    """The runtime the bundle's sidecar names, if it can be read (the bundle's own checks say what is wrong)."""
    try:
        return json.loads((bundle / "liteformer.json").read_text(encoding="utf-8")).get("runtime")
    except (OSError, ValueError, AttributeError):
        return None


def verify_arch(bundle: str | Path, n: int = 32, data: str | None = None, cpu: str = CPU,
                env: ArmEnv | None = None, timeout: float = 1800, log=print) -> ArchReport:
    """The bundle on this machine and emulated aarch64 (see the module docstring)."""
    bundle = Path(bundle)
    if not bundle.exists():
        raise LiteformerError(f"{bundle}: no such bundle")
    if _named_runtime(bundle) == "executorch":  # before the bundle is loaded
        raise LiteformerError(f"{bundle}: an ExecuTorch bundle; verify --arch checks ONNX Runtime and LiteRT bundles "
                              "(ExecuTorch's aarch64 wheel links PyTorch, whose aarch64 build on PyPI is its CUDA one)")
    rt, kind, quantized, inputs = _job(bundle, n, data)
    if rt not in ("onnx", "litert"):
        raise LiteformerError(f"{bundle}: a {rt} artifact; verify --arch checks ONNX Runtime and LiteRT bundles")
    env = env or ensure((rt,), log)
    with tempfile.TemporaryDirectory(prefix="liteformer-arm-") as tmp:
        job = Path(tmp) / "job.npz"
        np.savez(job, kind=np.array(kind), **inputs)
        args = ["-m", "liteformer.arm.probe", rt, str(bundle.resolve()), str(job)]
        here = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(Path(__file__).resolve().parents[2]),
                                                                           os.environ.get("PYTHONPATH"))))}
        seconds = {"x86_64": _probe([sys.executable, *args, str(Path(tmp) / "x86.npz")], here, "x86_64", timeout)}
        log(f"verify: {len(inputs)} inputs on aarch64 (emulated, CPU {cpu}; about 1-2 s each)")
        seconds["aarch64"] = _probe(env.command([*args, str(Path(tmp) / "arm.npz")], cpu), env.environ(),
                                    "aarch64 (emulated)", timeout)
        a, b = dict(np.load(Path(tmp) / "x86.npz")), dict(np.load(Path(tmp) / "arm.npz"))
    agreement, worst, failure = compare(a, b, len(inputs), quantized)
    memory = {arch: dict(zip(("bare", "loaded", "peak"), map(float, r["memory"]), strict=True))
              for arch, r in (("x86_64", a), ("aarch64", b))}
    message = failure or ("the same predictions on every input" if agreement == 1 else
                          f"the same predictions on {agreement:.1%} of the inputs")
    return ArchReport(str(bundle), rt, kind, quantized, len(inputs), agreement, worst, failure is None, cpu,
                      message, memory, {k: round(v, 1) for k, v in seconds.items()}, artifact_mib(bundle))


def artifact_mib(bundle: Path) -> float:
    """MiB of the bundle's model files (its graphs; not the tokenizer or the sidecar)."""
    return sum(f.stat().st_size for f in bundle.iterdir() if f.suffix in (".tflite", ".onnx", ".pte", ".data")) / 2**20
