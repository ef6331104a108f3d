"""Runtime adapters: one module per runtime, imported only when a candidate needs it.

An adapter module defines ``load(path, variant, threads) -> Runner``. A Runner has ``tokenizer``,
``id2label``, ``__call__(input_ids, attention_mask) -> logits`` (NumPy, batch 1) and ``describe()``
(files it needs, parameters, config). Adding a runtime = one module + one line in ``RUNTIMES``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from liteformer.errors import LiteformerError

# runtime name -> (module, pip extra that provides it, variants it accepts)
RUNTIMES = {
    "torch": ("liteformer.bench.runtimes.torch_rt", None, (None, "int8-dynamic")),
    "onnx": ("liteformer.bench.runtimes.onnx_rt", "onnx", (None,)),
    "litert": ("liteformer.bench.runtimes.litert_rt", "litert", (None,)),
    "executorch": ("liteformer.bench.runtimes.executorch_rt", "executorch", (None,)),
}
SUFFIX_RUNTIME = {".onnx": "onnx", ".tflite": "litert", ".pte": "executorch"}


def detect(path: Path) -> str:
    """The runtime an artifact runs in, from what it is."""
    from liteformer.export.bundle import read_sidecar
    if path.is_dir() and (path / "liteformer.json").exists():
        return read_sidecar(path)["runtime"]
    if path.is_dir():
        return "torch"
    runtime = SUFFIX_RUNTIME.get(path.suffix.lower())
    if runtime is None:
        raise LiteformerError(f"{path}: unknown artifact type (expected a model folder, .onnx, .tflite or .pte)")
    read_sidecar(path)  # an artifact needs its bundle
    return runtime


def check(runtime: str, variant: str | None) -> None:
    if runtime not in RUNTIMES:
        raise LiteformerError(f"runtime {runtime!r} is not available in this version (available: {sorted(RUNTIMES)})")
    if variant not in RUNTIMES[runtime][2]:
        ok = [v for v in RUNTIMES[runtime][2] if v]
        raise LiteformerError(f"runtime {runtime!r} has no variant {variant!r} (variants: {ok})")


def load(runtime: str, path: Path, variant: str | None, threads: int):
    check(runtime, variant)
    module, extra, _ = RUNTIMES[runtime]
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        hint = f"; install it with pip install 'liteformer[{extra}]'" if extra else ""
        raise LiteformerError(f"runtime {runtime!r} is not installed ({e.name}){hint}") from None
    return mod.load(path, variant, threads)


def encode_labelled(runner, data, max_length: int | None = None, longest: int = 0, what: str = "model"):
    """(label ids, encoded texts) of a labelled split for ``runner``: its own label map and tokenizer,
    ``max_length`` defaulting to 128 or its positions if fewer. Labels it does not know, or a length
    (``max_length`` or ``longest``) past its positions, give one error line."""
    from liteformer.data.text import encode_labels
    from liteformer.data.tokenizer import default_max_length
    try:
        y = encode_labels(data, {v: k for k, v in runner.id2label.items()})
    except LiteformerError as e:
        raise LiteformerError(f"data does not match the {what}'s labels: {e}") from None
    positions = (runner.describe().get("config") or {}).get("max_positions", 10**9)
    max_length = max_length or default_max_length(positions)
    if max(max_length, longest) > positions:
        raise LiteformerError(f"length {max(max_length, longest)} exceeds the {what}'s {positions} positions")
    return y, runner.tokenizer.encode(data.texts, max_length)


def run_each(runner, ids: list[list[int]]):
    """Each sequence alone (batch 1, no padding), as a phone app runs the model; yields its logits
    as a float64 vector."""
    import numpy as np
    for seq in ids:
        x = np.asarray([seq], dtype=np.int64)
        yield np.asarray(runner(x, np.ones_like(x)), dtype=np.float64).reshape(-1)
