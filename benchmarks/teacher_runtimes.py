"""The reference teacher in every runtime: export to LiteRT / ExecuTorch / ONNX (verified), then
bench them beside fp32 and int8-dynamic PyTorch on sst2/test.tsv (batch 1, 2 threads).

    python benchmarks/teacher_runtimes.py [--teacher ../shared/models/minilm-l6-sst2]
        [--data ../shared/datasets/sst2/test.tsv] [--work out/teacher-runtimes]

Writes bundles under --work/bundles and the report (bench.md/.html/.json, pareto.png) under
--work/report; prints the table. Fails if a float runtime's accuracy is more than 0.2 points
from the teacher's in PyTorch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"


def cli(*args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "liteformer", *args], cwd=HERE.parent)
    if r.returncode != 0:
        sys.exit(f"liteformer {args[0]} failed with exit code {r.returncode}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default=str(SHARED / "models/minilm-l6-sst2"))
    ap.add_argument("--data", default=str(SHARED / "datasets/sst2/test.tsv"))
    ap.add_argument("--work", default="out/teacher-runtimes")
    ap.add_argument("--reps", default="3")
    a = ap.parse_args()
    work = Path(a.work).resolve()
    cli("export", a.teacher, "--to", "onnx,litert,executorch", "--out", str(work / "bundles"))
    b = work / "bundles"
    cli("bench", f"teacher={a.teacher}", f"torch-int8=torch+int8-dynamic:{a.teacher}", str(b / "onnx"),
        str(b / "litert"), str(b / "executorch"), "--data", a.data, "--reps", a.reps, "--out", str(work / "report"))
    rep = json.loads((work / "report" / "bench.json").read_text())
    base = next(c for c in rep["candidates"] if c["name"] == "teacher")["accuracy"]
    bad = [c["name"] for c in rep["candidates"]
           if c["ok"] and c["variant"] is None and abs(c["accuracy"] - base) > 0.002]
    if bad:
        print(f"MISS: {bad} differ from the teacher's {base:.4f} by more than 0.2 points")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
