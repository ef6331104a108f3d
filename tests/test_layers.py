"""The package's layering, as imports (module-level and lazy ones alike): compression knows nothing
of runtimes, export, measurement or the searches; export and bench sit side by side on the runtimes
floor; models import nothing above data; no import loops."""

import ast
from pathlib import Path

from tests.conftest import ROOT

PKG = ROOT / "liteformer"


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _graph() -> dict[str, set[str]]:
    modules = {_module(p) for p in PKG.rglob("*.py")}
    graph = {}
    for p in PKG.rglob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("liteformer"):
                for a in node.names:  # `from liteformer import runtimes` imports a module
                    deps.add(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("liteformer")}
        graph[_module(p)] = deps - {_module(p)}
    return graph


def _under(module: str, *packages: str) -> bool:
    return any(module == f"liteformer.{p}" or module.startswith(f"liteformer.{p}.") for p in packages)


def _violations(src: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{m} -> {d}" for m, deps in _graph().items() if _under(m, *src)
                  for d in deps if _under(d, *forbidden))


def test_compress_knows_no_runtime_export_bench_or_search():
    assert _violations(("compress",), ("export", "bench", "tune", "runtimes", "recipe", "cli", "verbs")) == []


def test_export_and_bench_do_not_import_each_other():
    assert _violations(("export",), ("bench",)) == []
    assert _violations(("bench",), ("export", "tune")) == []


def test_models_import_nothing_above_data():
    allowed = ("models", "data", "errors", "fileio", "options")
    bad = [f"{m} -> {d}" for m, deps in _graph().items() if _under(m, "models")
           for d in deps if not _under(d, *allowed)]
    assert bad == []


def test_runtimes_floor_sits_below_export_and_bench():
    assert _violations(("runtimes",), ("export", "bench", "tune", "recipe", "cli", "verbs")) == []


def test_no_import_loops():
    graph = _graph()
    state: dict[str, int] = {}
    loops = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                loops.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d in graph and d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert loops == []
