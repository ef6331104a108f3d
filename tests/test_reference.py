"""Real-size reference checks (slow; need ../shared): `pytest -m slow`."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT, SHARED, run_cli

TEACHER = SHARED / "models" / "minilm-l6-sst2"
TEST = SHARED / "datasets" / "sst2" / "test.tsv"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not TEACHER.exists(), reason="needs ../shared")]


def test_cli_eval_reproduces_teacher_accuracy():
    r = run_cli("eval", "--model", str(TEACHER), "--data", str(TEST))
    assert r.returncode == 0, r.stderr
    assert "accuracy 0.8945 (780/872)" in r.stdout


def test_reference_script_both_paths():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reference_teacher.py")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
