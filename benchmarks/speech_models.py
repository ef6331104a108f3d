"""FSDD speech recognizers trained on CPU in resumable slices: a teacher from scratch, then the same
small student twice — on the labels alone, and distilled from the teacher (frame-level KL on the CTC
posteriors + CTC, with the teacher's transcripts of the augmented audio as targets) — and all three
measured in PyTorch on

- FSDD's official test split (recordings 0-4 of all six speakers, 300 single digits): accuracy;
- 500 digit strings (1-7 digits, seed 0) of the held-out sixth speaker: digit error rate (WER);
- greedy CTC per clip, batch 1, 2 threads, in a fresh process: latency and real-time factor.

    python benchmarks/speech_models.py [--shared ../shared] [--work out/asr] [--minutes 60]
        [--teacher-steps 6000] [--student-steps 6000]

Each call trains for at most ``--minutes`` in all (teacher first, then the two students), then says
how far it got; call it again to continue — the weights end up exactly those of uninterrupted runs.
Training: five speakers (all but ``yweweler``), recordings 10-49 as clips and 2,000 digit strings a
epoch synthesized from them, augmented (speed, gain, noise, SpecAugment); dev = their recordings 5-9
and 200 strings. Targets (issue #19): the distilled student beats the labels-only one; its int8 bundle
(benchmarks/speech_runtimes.py) >= 99 % on the official test split and <= 3 % digit error on the
held-out speaker's strings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from slices import ROOT, train_slice, trained_for

LATENCY = r"""
import json, statistics, sys, time
import torch
from liteformer.data.speech import read_speech
from liteformer.models.checkpoint import load_model
from liteformer.tasks.speech import transcribe
torch.set_num_threads(2); torch.set_flush_denormal(True)
loaded = load_model(sys.argv[1]); data = read_speech(sys.argv[2])
ms, secs = [], []
with torch.inference_mode():
    transcribe(loaded.model, loaded.tokenizer, data.audio[:5], batch_size=1)
    for clip in data.audio[: int(sys.argv[3])]:
        t = time.perf_counter(); transcribe(loaded.model, loaded.tokenizer, [clip], batch_size=1)
        ms.append(1e3 * (time.perf_counter() - t)); secs.append(len(clip) / 16000)
print(json.dumps({"clip_ms": statistics.median(ms), "rtf": sum(ms) / 1e3 / sum(secs)}))
"""


def fsdd(shared: str, options: str) -> str:
    return f"{Path(shared) / 'datasets' / 'fsdd' / 'recordings'}:{options}"


def liteformer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liteformer", *args], cwd=ROOT, capture_output=True, text=True)


def evaluate(model: Path, data: str) -> dict:
    out = model.parent / f"{model.name}-{'test' if data.endswith(':test') else 'heldout'}.json"
    r = liteformer("eval", "--model", str(model), "--data", data, "--threads", "2", "--out", str(out))
    if r.returncode:
        raise SystemExit(f"eval {model} on {data} failed: {r.stderr.strip()[-400:]}")
    return json.loads(out.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"), help="the shared data folder")
    ap.add_argument("--work", default="out/asr", help="where the models go")
    ap.add_argument("--minutes", type=float, default=60.0, help="wall time of this call (default 60)")
    ap.add_argument("--teacher-config", default=str(ROOT / "examples" / "asr-teacher.json"))
    ap.add_argument("--student-config", default=str(ROOT / "examples" / "asr-student.json"))
    ap.add_argument("--teacher-steps", type=int, default=6000)
    ap.add_argument("--student-steps", type=int, default=6000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="bf16", choices=("fp32", "bf16"))
    ap.add_argument("--strings", type=int, default=500, help="held-out speaker's digit strings scored (default 500)")
    a = ap.parse_args()
    work = Path(a.work)
    common = ["--train", fsdd(a.shared, "train"), "--dev", fsdd(a.shared, "dev"), "--batch-size", "32",
              "--warmup", "0.08", "--eval-every", "500", "--checkpoint-every", "100", "--threads", str(a.threads),
              "--precision", a.precision, "--resume", "--strings", "2000", "--dev-strings", "200"]
    runs = {
        "teacher": ["finetune", "--task", "speech-recognition", "--model-config", a.teacher_config, "--lr", "1e-3",
                    "--max-steps", str(a.teacher_steps)],
        "student-labels": ["finetune", "--task", "speech-recognition", "--model-config", a.student_config,
                           "--lr", "2e-3", "--max-steps", str(a.student_steps)],
        "student-distilled": ["distill", "--task", "speech-recognition", "--teacher", str(work / "teacher"),
                              "--student-config", a.student_config, "--lr", "2e-3", "--max-steps",
                              str(a.student_steps), "--alpha", "0.5", "--temperature", "2", "--pseudo-labels"],
    }
    deadline = time.time() + a.minutes * 60
    for name, args in runs.items():
        left = (deadline - time.time()) / 60
        if (work / name / "training.json").exists():
            continue
        if left < 1:
            print(f"time is up before {name}; run this again to continue")
            return 0
        cmd = [sys.executable, "-m", "liteformer", *args, *common, "--out", str(work / name)]
        if not train_slice(cmd, work / name, left, work / f"{name}-progress.json", a.threads):
            return 0
    heldout = fsdd(a.shared, f"heldout,strings={a.strings}")
    rows = []
    for name in runs:
        model = work / name
        test, held = evaluate(model, fsdd(a.shared, "test")), evaluate(model, heldout)
        r = subprocess.run([sys.executable, "-c", LATENCY, str(model), heldout, "200"], cwd=ROOT, capture_output=True,
                           text=True)
        if r.returncode:
            raise SystemExit(f"latency of {model} failed: {r.stderr.strip()[-400:]}")
        lat = json.loads(r.stdout.strip().splitlines()[-1])
        from liteformer.models.checkpoint import load_model
        from liteformer.models.transformer import count_parameters
        rows.append({"model": name, "parameters": count_parameters(load_model(model).model),
                     "test_accuracy": test["exact"], "test_wer": test["wer"], "heldout_wer": held["wer"],
                     "heldout_cer": held["cer"], **lat, "trained": trained_for(work / f"{name}-progress.json")})
    print("\n| model | params | FSDD test accuracy | held-out speaker digit error % | CER % | ms/clip | RTF |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['parameters'] / 1e6:.2f} M | {r['test_accuracy']:.4f} | {r['heldout_wer']:.2f} | "
              f"{r['heldout_cer']:.2f} | {r['clip_ms']:.1f} | {r['rtf']:.4f} |")
    for r in rows:
        print(f"{r['model']}: trained in {r['trained']}")
    (work / "speech-models.json").write_text(json.dumps(rows, indent=2))
    d, lab = rows[2], rows[1]
    print(f"\ntarget: distilled student beats labels-only: {d['heldout_wer']:.2f} vs {lab['heldout_wer']:.2f} % "
          f"digit error ({'met' if d['heldout_wer'] < lab['heldout_wer'] else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
