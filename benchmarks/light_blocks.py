"""Light blocks against a plain student at equal MACs on SST-2 (issue #20): which block pays off in
which runtime. Three students of the headline's shape family (4 layers, width 256), each distilled the
same way from the reference teacher (../shared/models/minilm-l6-sst2):

- ``lsra``: the headline shape with half of each layer's attention channels replaced by a depthwise
  convolution branch (long-short range attention, kernels 3/5/7/7; examples/sst2-lsra.json);
- ``mobilebert``: a MobileBERT-style bottleneck (inner width 128, 4 stacked FFNs of 512, NoNorm, ReLU;
  examples/sst2-mobilebert.json);
- ``plain``: a plain Transformer at the same MACs (FFN 704 instead of 1024; examples/sst2-plain-eq.json).

MACs per sentence at 25 tokens (SST-2's mean): 64.7 M (LSRA), 66.2 M (MobileBERT), 63.6 M (plain), all
within 4 % of each other. Distillation (identical flags but the start): plain and LSRA cut from the
teacher's layers (``--student-init-from-teacher``: kept channels, heads and neurons by importance; LSRA's
attention takes the teacher's heads on its half of the channels, its convolution branch starts
silent), MobileBERT from the teacher's embeddings PCA-projected (``--student-init-embeddings``: a
bottleneck has no counterpart in the teacher); logits + hidden states (learned projections) +
head-averaged attention maps, 2 teacher-labelled augmented copies, 1.25 passes, one teacher cache
shared by the three. Each student is exported to ONNX
Runtime, LiteRT and ExecuTorch, fp32 and int8 (dynamic, per-channel), verified, and benched in one
``liteformer bench`` run with the teacher: accuracy on sst2/test.tsv, latency per sentence at the real
lengths and at 128 tokens, batch 1, 2 threads, fresh processes, medians.

    python benchmarks/light_blocks.py [--minutes 60] [--work out/light] [--shared ../shared] [--reps 3]
        [--results]

``--latency-only`` skips training: randomly initialised students of the same shapes (the teacher's
vocabulary) are exported and benched for latency alone (accuracy meaningless), so that which block pays
off in which runtime is known before the students are trained.

Training runs in resumable slices (``--minutes`` per call; call again to go on; the time summed in
WORK/progress-NAME.json). Target: a light student keeps >= 99 % of the teacher's accuracy and is
>= 1.2x faster than the plain student at equal accuracy in at least two runtimes; the script prints
the ratios of each light student to the plain one per runtime and precision.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from slices import ROOT, liteformer, train_slice, trained_for

STUDENTS = {"plain": "sst2-plain-eq.json", "lsra": "sst2-lsra.json", "mobilebert": "sst2-mobilebert.json"}
# the start: cut from the teacher's layers where a plain layer maps (LSRA: its attention half; the branch
# starts silent), else the teacher's embeddings PCA-projected (a bottleneck has no teacher counterpart)
INIT = {"plain": "--student-init-from-teacher", "lsra": "--student-init-from-teacher",
        "mobilebert": "--student-init-embeddings"}
RUNTIMES = ("onnx", "litert", "executorch")


def distill_cmd(a: argparse.Namespace, name: str, work: Path) -> list[str]:
    d = Path(a.shared) / "datasets" / "sst2"
    return [sys.executable, "-m", "liteformer", "distill", "--teacher", a.teacher, "--student-config",
            str(ROOT / "examples" / STUDENTS[name]), INIT[name], "--train", str(d / "train.tsv"),
            "--dev", str(d / "dev.tsv"), "--hidden-weight", "1", "--attention-weight", "1", "--augment", "2",
            "--epochs", str(a.epochs), "--lr", str(a.lr), "--batch-size", "32", "--teacher-cache",
            str(work / "teacher-cache"), "--cache-gb", "12", "--checkpoint-every", "200", "--threads", "2",
            "--resume", "--out", str(work / name)]


def untrained(teacher: str, names: list[str], work: Path) -> None:
    """Randomly initialised students of each shape with the teacher's tokenizer, saved under WORK."""
    import torch

    from liteformer.models.checkpoint import load_model, save_model
    from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification
    tok = load_model(teacher).tokenizer
    for name in names:
        if (work / name / "config.json").exists():
            continue
        d = json.loads((ROOT / "examples" / STUDENTS[name]).read_text())
        torch.manual_seed(0)
        model = TransformerForSequenceClassification(TransformerConfig(vocab_size=tok.vocab_size, **d)).eval()
        save_model(model, tok, work / name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"), help="the shared data folder")
    ap.add_argument("--teacher", default=str(ROOT.parent / "shared" / "models" / "minilm-l6-sst2"))
    ap.add_argument("--work", default="out/light", help="students, bundles and reports")
    ap.add_argument("--minutes", type=float, default=60.0, help="training wall time of this call (default 60)")
    ap.add_argument("--epochs", type=float, default=1.25, help="passes over the data and its copies (default 1.25)")
    ap.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (default 3e-4)")
    ap.add_argument("--reps", type=int, default=3, help="fresh-process bench repetitions (default 3)")
    ap.add_argument("--only", default=None, help="comma-separated students (default: all three)")
    ap.add_argument("--latency-only", action="store_true", help="untrained students: latency per runtime only")
    ap.add_argument("--results", action="store_true", help="also copy the report to docs/results/light-blocks")
    a = ap.parse_args()
    work = Path(a.work) / ("latency-only" if a.latency_only else "")
    names = a.only.split(",") if a.only else list(STUDENTS)
    if a.latency_only:
        untrained(a.teacher, names, work)
    left = a.minutes
    for name in [] if a.latency_only else names:
        if (work / name / "training.json").exists():
            continue
        if left <= 0:
            print("time is up for this call; run it again to continue")
            return 0
        t0 = time.time()
        done = train_slice(distill_cmd(a, name, work), work / name, left, work / f"progress-{name}.json", 2)
        left -= (time.time() - t0) / 60
        if not done:
            return 0
        print(f"{name}: trained in {trained_for(work / f'progress-{name}.json')}")
    test = str(Path(a.shared) / "datasets" / "sst2" / "test.tsv")
    verify = str(Path(a.shared) / "datasets" / "sst2" / "dev.tsv")
    cands = [f"teacher={a.teacher}"]
    for name in names:
        cands.append(f"{name}-torch={work / name}")
        for rt in RUNTIMES:
            for q in (None, "int8-dynamic"):
                tag = f"{name}-{rt}-{'int8' if q else 'fp32'}"
                out = work / "bundles" / tag
                if not (out / "liteformer.json").exists():
                    check = ["--no-verify"] if a.latency_only and q else ["--verify-data", verify]  # random logits:
                    liteformer("export", str(work / name), "--to", rt, "--out", str(out), *check,  # int8 flips labels
                               *(["--quantize", q] if q else []))
                cands.append(f"{tag}={out}")
    report = work / "bench"
    timed = ["--timed-examples", "150"] if a.latency_only else []
    liteformer("bench", *cands, "--data", test, "--reps", str(a.reps), "--length", "128", "--baseline", "teacher",
               *timed, "--out", str(report), "--overwrite")
    rows = {c["name"]: c for c in json.loads((report / "bench.json").read_text())["candidates"] if c["ok"]}
    teacher = rows["teacher"]["accuracy"]
    print("\n| student | MMACs (mean length) | runtime | precision | accuracy | % teacher | p50 ms | "
          "x plain | ms @128 | x plain @128 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    wins: dict[str, set[str]] = {}
    for name in names:
        for rt in ("torch", *RUNTIMES):
            for prec in (("fp32",) if rt == "torch" else ("fp32", "int8")):
                tag = f"{name}-torch" if rt == "torch" else f"{name}-{rt}-{prec}"
                plain = rows.get("plain-torch" if rt == "torch" else f"plain-{rt}-{prec}")
                r = rows.get(tag)
                if r is None:
                    print(f"| {name} | | {rt} | {prec} | failed: see {report / 'bench.md'} | | | | | |")
                    continue
                x = plain["latency_p50_ms"] / r["latency_p50_ms"] if plain else float("nan")
                x128 = plain["fixed_ms"] / r["fixed_ms"] if plain else float("nan")
                pct = 100 * r["accuracy"] / teacher
                print(f"| {name} | {r['macs_mean_length'] / 1e6:.1f} | {rt} | {prec} | {r['accuracy']:.4f} | "
                      f"{pct:.1f} | {r['latency_p50_ms']:.2f} | {x:.2f} | {r['fixed_ms']:.2f} | {x128:.2f} |")
                fair = plain and r["accuracy"] >= plain["accuracy"] - 0.005  # at equal accuracy (within 0.5 pt)
                if name != "plain" and fair and pct >= 99 and x >= 1.2:
                    wins.setdefault(name, set()).add(rt)
    met = {n: sorted(w) for n, w in wins.items() if len(w) >= 2}
    if a.latency_only:
        print("\n(untrained students: the accuracy columns are chance; the latency ratios are what this run measures)")
    else:
        print(f"\ntarget (a light student >= 99 % of the teacher, >= 1.2x faster than plain at equal accuracy in "
              f">= 2 runtimes): {'met by ' + json.dumps(met) if met else 'not met'}")
    if a.results:
        dest = ROOT / "docs" / "results" / ("light-blocks-latency" if a.latency_only else "light-blocks")
        dest.mkdir(parents=True, exist_ok=True)
        for f in ("bench.md", "bench.json", "pareto.png"):
            shutil.copy(report / f, dest / f)
        print(f"report copied to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
