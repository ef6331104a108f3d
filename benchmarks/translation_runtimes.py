"""Translation on the phone runtimes (issue #18): the Multi30k student exported to ONNX Runtime,
LiteRT and ExecuTorch, fp32 and int8, each verified after export, then benched against the teacher
in PyTorch fp32 on test_2016_flickr in one run — batch 1, 2 threads, fresh process per candidate,
interleaved: sacreBLEU of each artifact's own greedy outputs, latency per sentence (encode + greedy
decode), first-token latency, decoder tokens/s, size of the whole bundle (tokenizer included), peak
memory.

    python benchmarks/translation_runtimes.py [--teacher out/nmt/teacher] [--student out/nmt/students/both]
        [--work out/nmt/runtimes] [--shared ../shared] [--reps 3] [--timed 300]

Anchor (the peers' way): the teacher exported to ONNX and quantized with ONNX Runtime's
``quantize_dynamic`` at its defaults (per-tensor int8 weights), decoded by the same loop.
Targets for the best student bundle against the teacher in PyTorch: >= 8x smaller, >= 5x faster per
sentence, >= 97 % of its sacreBLEU; int8 within 0.5 sacreBLEU of the same student in fp32.
Exports are cached in WORK (delete a bundle to redo it); the bench report goes to WORK/bench and,
with --results, to docs/results/translation-runtimes.
Needs the teacher and students of benchmarks/translation_teacher.py and translation_students.py
(about 2.4 h and 4 x 1.2 h of CPU training here when missing).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from slices import ROOT, liteformer
from translation_teacher import pairs

RUNTIMES = ("onnx", "litert", "executorch")


def export(model: Path, rt: str, out: Path, quantize: str | None, verify: str, max_target: int) -> None:
    if (out / "liteformer.json").exists():
        return
    args = ["export", str(model), "--to", rt, "--out", str(out), "--verify-data", verify, "--verify-n", "200",
            "--max-target", str(max_target)]
    liteformer(*args, *(["--quantize", quantize] if quantize else []))


def ort_default_anchor(teacher: Path, work: Path, verify: str, max_target: int) -> Path:
    """The teacher's fp32 ONNX bundle with both graphs through quantize_dynamic(model, out) as is."""
    out = work / "teacher-ort-default"
    if (out / "liteformer.json").exists():
        return out
    fp32 = work / "teacher-onnx"
    export(teacher, "onnx", fp32, None, verify, max_target)
    from onnxruntime.quantization import quantize_dynamic
    tmp = work / "teacher-ort-default.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(fp32, tmp)
    for graph in ("encode.onnx", "decode.onnx"):
        quantize_dynamic(str(fp32 / graph), str(tmp / graph))  # the library's defaults
    side = json.loads((tmp / "liteformer.json").read_text())
    side["export"]["quantization"] = "ort-quantize_dynamic-defaults"
    side.pop("verify", None)
    (tmp / "liteformer.json").write_text(json.dumps(side, indent=2))
    tmp.rename(out)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"), help="the shared data folder")
    ap.add_argument("--teacher", default="out/nmt/teacher", help="the trained teacher")
    ap.add_argument("--student", default=None, help="the student (default: the best of out/nmt/students by "
                    "students.json, else out/nmt/students/sequence-kd)")
    ap.add_argument("--work", default="out/nmt/runtimes", help="bundles and the bench report")
    ap.add_argument("--test", default=None, help="test pairs (default: multi30k test_2016_flickr in --shared)")
    ap.add_argument("--verify", default=None, help="verification pairs (default: multi30k val in --shared)")
    ap.add_argument("--max-target", type=int, default=64, help="decoder cache length (default 64: the longest "
                    "test reference is 40 pieces)")
    ap.add_argument("--reps", type=int, default=3, help="fresh-process repetitions (default 3)")
    ap.add_argument("--timed", type=int, default=300, help="sentences timed per repetition (default 300)")
    ap.add_argument("--results", action="store_true", help="also copy the report to docs/results")
    a = ap.parse_args()
    test = a.test or pairs(a.shared, "test_2016_flickr")
    verify = a.verify or pairs(a.shared, "val")
    teacher, work = Path(a.teacher), Path(a.work)
    student = Path(a.student) if a.student else None
    if student is None:
        table = Path("out/nmt/students/students.json")
        rows = json.loads(table.read_text()) if table.exists() else {}
        best = max((k for k in rows if k != "teacher"), key=lambda k: rows[k]["bleu"], default="sequence-kd")
        student = Path("out/nmt/students") / best
    for m in (teacher, student):
        if not (m / "config.json").exists():
            sys.exit(f"{m}: no model; train it with benchmarks/translation_teacher.py / translation_students.py")
    work.mkdir(parents=True, exist_ok=True)
    cands = [f"teacher={teacher}", f"student={student}"]
    for rt in RUNTIMES:
        for q in (None, "int8-dynamic"):
            name = f"student-{rt}-{'int8' if q else 'fp32'}"
            export(student, rt, work / name, q, verify, a.max_target)
            cands.append(f"{name}={work / name}")
    cands.append(f"teacher-ort-default-int8={ort_default_anchor(teacher, work, verify, a.max_target)}")
    liteformer("bench", *cands, "--data", test, "--reps", str(a.reps), "--timed-examples", str(a.timed),
               "--baseline", "teacher", "--out", str(work / "bench"), "--overwrite")
    res = json.loads((work / "bench" / "bench.json").read_text())
    by = {c["name"]: c for c in res["candidates"] if c["ok"]}
    t = by["teacher"]
    print("\ntargets (against the teacher in PyTorch fp32, this run):")
    bundles = [c for n, c in by.items() if n.startswith("student-")]
    fits = [c for c in bundles if c["x_smaller"] >= 8 and c["x_faster"] >= 5 and c["pct_quality"] >= 97]
    best = max(fits or bundles, key=lambda c: (c["quality"], c["x_faster"]))
    print(f"  best bundle {best['name']}: {best['x_smaller']:.1f}x smaller (>= 8), {best['x_faster']:.1f}x faster "
          f"(>= 5), {best['pct_quality']:.1f} % of the teacher's sacreBLEU {t['quality']:.2f} (>= 97)"
          + ("" if fits else "  -- MISSED"))
    for rt in RUNTIMES:
        f, q = by.get(f"student-{rt}-fp32"), by.get(f"student-{rt}-int8")
        if f and q:
            drop = f["quality"] - q["quality"]
            print(f"  {rt}: int8 sacreBLEU {q['quality']:.2f} vs fp32 {f['quality']:.2f} (drop {drop:.2f}, "
                  f"<= 0.5{'' if drop <= 0.5 else ' -- MISSED'})")
    if a.results:
        dest = ROOT / "docs" / "results" / "translation-runtimes"
        dest.mkdir(parents=True, exist_ok=True)
        for f in ("bench.md", "bench.json", "pareto.png"):
            shutil.copy(work / "bench" / f, dest / f)
        print(f"report copied to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
