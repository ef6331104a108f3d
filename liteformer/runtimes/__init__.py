"""The runtimes floor: one description per runtime, and the ``Runner`` that loads an artifact in it.

``RUNTIMES`` is the only table of runtime facts — name, pip extra, modules it needs, artifact
suffix, quantization methods realized in its own file, the exporter module (``export/``) and the
runner module (here). Export, bench, ``eval``, ``run``, recipes and the CLI all read it; export and
bench both sit above this floor and never import each other.

A runner module defines ``load(path, variant, threads) -> Runner`` (see ``runner.Runner``).
Adding a runtime = one runner module here + one exporter module in ``export/`` + one entry below.
Modules are imported only when a candidate or an export needs them.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from liteformer.errors import LiteformerError
from liteformer.runtimes.table import EXPORT_TARGETS, QUANTIZATION_METHODS, RUNTIMES, Runtime

__all__ = ["EXPORT_TARGETS", "QUANTIZATION_METHODS", "RUNTIMES", "Runtime", "check", "check_quantization", "detect",
           "exporter", "for_suffix", "get", "load"]


def get(name: str) -> Runtime:
    if name not in RUNTIMES:
        raise LiteformerError(f"runtime {name!r} is not available in this version (available: {sorted(RUNTIMES)})")
    return RUNTIMES[name]


def for_suffix(suffix: str) -> str | None:
    return next((n for n, r in RUNTIMES.items() if r.suffix == suffix.lower()), None)


def detect(path: Path) -> str:
    """The runtime an artifact runs in, from what it is."""
    from liteformer.runtimes.bundle import SIDECAR, read_sidecar
    if path.is_dir() and (path / SIDECAR).exists():
        return read_sidecar(path)["runtime"]
    if path.is_dir():
        return "torch"
    runtime = for_suffix(path.suffix)
    if runtime is None:
        known = ", ".join(r.suffix for r in RUNTIMES.values() if r.suffix)
        raise LiteformerError(f"{path}: unknown artifact type (expected a model folder, {known})")
    read_sidecar(path)  # an artifact needs its bundle
    return runtime


def check(runtime: str, variant: str | None) -> None:
    if variant not in get(runtime).variants:
        ok = [v for v in RUNTIMES[runtime].variants if v]
        raise LiteformerError(f"runtime {runtime!r} has no variant {variant!r} (variants: {ok})")


def load(runtime: str, path: Path, variant: str | None, threads: int):
    """A Runner for the artifact at ``path`` in ``runtime``."""
    check(runtime, variant)
    r = RUNTIMES[runtime]
    try:
        mod = importlib.import_module(r.runner)
    except ImportError as e:
        hint = f"; install it with pip install 'liteformer[{r.extra}]'" if r.extra else ""
        raise LiteformerError(f"runtime {runtime!r} is not installed ({e.name}){hint}") from None
    return mod.load(path, variant, threads)


def exporter(runtime: str) -> ModuleType:
    """The export backend of ``runtime``, after checking that what it needs is installed."""
    r = RUNTIMES.get(runtime)
    if r is None or r.exporter is None:
        raise LiteformerError(f"unknown export target {runtime!r} (targets: {', '.join(EXPORT_TARGETS)})")
    for name in r.needs:
        try:
            importlib.import_module(name)
        except ImportError:
            raise LiteformerError(f"export to {runtime} needs {name}: pip install 'liteformer[{r.extra}]'") from None
    return importlib.import_module(r.exporter)


def check_quantization(runtime: str, method: str) -> None:
    ok = get(runtime).quantization
    if method not in ok:
        raise LiteformerError(f"{runtime} does not support quantization {method!r} "
                              f"(it supports: {', '.join(ok) or 'none'})")
