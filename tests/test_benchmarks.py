"""Every benchmark script (real-size runs, not run here) at least parses its command line."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPTS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if p.name != "samples.py")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_help(script):
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and "usage:" in r.stdout, r.stderr[-500:]
