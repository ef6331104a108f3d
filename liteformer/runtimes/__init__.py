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
import os
import signal
import subprocess
import sys
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


ISOLATED = "LITEFORMER_ISOLATED"  # set in processes that may crash alone (bench workers, load probes)


def load(runtime: str, path: Path, variant: str | None, threads: int, trusted: bool = False):
    """A Runner for the artifact at ``path`` in ``runtime``. One checked path for every command:
    the file's header is checked first, a runtime that a corrupt file can abort loads it in a child
    process first (not when ``trusted``: a file liteformer has just written), and whatever the
    runtime raises while loading becomes one error line."""
    check(runtime, variant)
    r = RUNTIMES[runtime]
    path = Path(path)
    check_artifact(runtime, path)
    from liteformer.quiet import quiet
    try:
        with quiet():  # runtimes print their own start-up lines (absl, XNNPACK delegate)
            mod = importlib.import_module(r.runner)
    except ImportError as e:
        hint = f"; install it with pip install 'liteformer[{r.extra}]'" if r.extra else ""
        raise LiteformerError(f"runtime {runtime!r} is not installed ({e.name}){hint}") from None
    if r.isolate and not trusted and not os.environ.get(ISOLATED):
        _probe(runtime, path)
    try:
        with quiet():
            return mod.load(path, variant, threads)
    except LiteformerError:
        raise
    except Exception as e:  # the runtime's own parse errors: protobuf, flatbuffer, safetensors, ...
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise LiteformerError(f"{path}: {runtime} cannot load it ({type(e).__name__}: {first})") from None


def artifact_file(runtime: str, path: Path) -> Path | None:
    """The artifact file of a bundle folder or artifact path (None for a model folder, or the folder of
    a runtime that takes one, such as the Whisper anchor)."""
    if RUNTIMES[runtime].suffix is None:
        return None
    if path.is_dir():
        from liteformer.runtimes.bundle import artifact_path, read_sidecar
        return artifact_path(path, read_sidecar(path, runtime))
    return path


def check_artifact(runtime: str, path: Path) -> None:
    """The artifact exists, is a file and starts as ``runtime``'s files do."""
    f = artifact_file(runtime, path)
    magic = RUNTIMES[runtime].magic
    if f is None:
        return
    if not f.is_file():
        raise LiteformerError(f"{f}: not a file")
    if magic is not None:
        offset, want = magic
        with open(f, "rb") as fh:
            head = fh.read(offset + len(want))
        if head[offset:] != want:
            raise LiteformerError(f"{f}: not a {runtime} file (its header is wrong: another format, or damaged)")


def _probe(runtime: str, path: Path) -> None:
    """Load ``path`` in a child process first: a file that aborts the runtime kills only the child."""
    code = ("import sys; from pathlib import Path; from liteformer import runtimes\n"
            "from liteformer.errors import LiteformerError\n"
            "try:\n    runtimes.load(sys.argv[1], Path(sys.argv[2]), None, 1)\n"
            "except LiteformerError as e:\n    print(e, file=sys.stderr); sys.exit(2)\n")
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, ISOLATED: "1", "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", code, runtime, str(path)], capture_output=True, text=True, env=env,
                       timeout=600)
    if r.returncode == 0:
        return
    if r.returncode == 2 and r.stderr.strip():
        raise LiteformerError(r.stderr.strip().splitlines()[-1])
    if r.returncode < 0:
        name = signal.Signals(-r.returncode).name
        raise LiteformerError(f"{path}: {runtime} crashed loading it ({name}): a damaged or foreign file")
    tail = (r.stderr.strip().splitlines() or ["no output"])[-1][:200]
    raise LiteformerError(f"{path}: {runtime} cannot load it ({tail})")


def exporter(runtime: str) -> ModuleType:
    """The export backend of ``runtime``, after checking that what it needs is installed."""
    r = RUNTIMES.get(runtime)
    if r is None or r.exporter is None:
        raise LiteformerError(f"unknown export target {runtime!r} (targets: {', '.join(EXPORT_TARGETS)})")
    from liteformer.quiet import quiet
    for name in r.needs:
        try:
            with quiet():  # importing a converter prints its libraries' start-up lines
                importlib.import_module(name)
        except ImportError:
            raise LiteformerError(f"export to {runtime} needs {name}: pip install 'liteformer[{r.extra}]'") from None
    with quiet():
        return importlib.import_module(r.exporter)


def check_quantization(runtime: str, method: str) -> None:
    ok = get(runtime).quantization
    if method not in ok:
        raise LiteformerError(f"{runtime} does not support quantization {method!r} "
                              f"(it supports: {', '.join(ok) or 'none'})")
