"""Distillation vs labels-only training of the same students, from the reference teacher.

    python benchmarks/distill_teacher.py [--teacher ../shared/models/minilm-l6-sst2]
        [--train ../shared/datasets/sst2/train.tsv] [--dev ../shared/datasets/sst2/dev.tsv]
        [--test ../shared/datasets/sst2/test.tsv] [--epochs 2] [--train-n 0] [--work out/distill]

Students: (i) teacher layers 0,2,4 (DistilBERT-style); (ii) 4 layers, hidden 256 from
examples/small.json (no pretraining). Each is trained twice with the same steps, seed and
hyper-parameters (lr 1e-4, batch 32): with distillation (alpha 0.5, T 2) and on labels only.
Prints test accuracy for each and the wall time of a distillation epoch against a plain epoch
(teacher-logit caching included). Issue targets: (i) >= 0.885, (ii) >= 0.86, distillation wins,
epoch time <= 1.3x. --train-n N uses a random N-sentence sample (a reduced, faster run; say so).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from samples import sample_split

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"


def run(*args: str) -> float:
    t = time.time()
    r = subprocess.run([sys.executable, "-m", "liteformer", *args], cwd=HERE.parent)
    if r.returncode:
        sys.exit(f"liteformer {args[0]} failed ({r.returncode})")
    return time.time() - t


def accuracy(model: Path, test: str) -> float:
    out = model / "test.json"
    run("eval", "--model", str(model), "--data", test, "--out", str(out))
    return json.loads(out.read_text())["accuracy"]


def _cut_teacher(teacher: str, layers: list[int], out: Path) -> None:
    sys.path.insert(0, str(HERE.parent))
    from liteformer.compress.distill import student_from_teacher
    from liteformer.models.checkpoint import load_model, save_model
    lm = load_model(teacher)
    save_model(student_from_teacher(lm.model, layers), lm.tokenizer, out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default=str(SHARED / "models/minilm-l6-sst2"))
    ap.add_argument("--train", default=str(SHARED / "datasets/sst2/train.tsv"))
    ap.add_argument("--dev", default=str(SHARED / "datasets/sst2/dev.tsv"))
    ap.add_argument("--test", default=str(SHARED / "datasets/sst2/test.tsv"))
    ap.add_argument("--epochs", default="2")
    ap.add_argument("--train-n", type=int, default=0, help="random sample of the training set (0 = all)")
    ap.add_argument("--dev-n", type=int, default=1000, help="dev sentences for checkpoint choice")
    ap.add_argument("--work", default="out/distill")
    a = ap.parse_args()
    work = Path(a.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    train = sample_split(a.train, a.train_n, work / "train.tsv")
    dev = sample_split(a.dev, a.dev_n, work / "dev.tsv")
    common = ["--train", train, "--dev", dev, "--epochs", a.epochs, "--lr", "1e-4", "--batch-size", "32",
              "--threads", "2"]
    small = str(HERE.parent / "examples" / "small.json")
    students = {"(i) layers 0,2,4": (["--student-layers", "0,2,4"], None),
                "(ii) 4L-256 from config": (["--student-config", small], small)}
    rows = []
    for label, (student, config) in students.items():
        tag = "i" if label.startswith("(i)") else "ii"
        kd_dir, ce_dir = work / f"{tag}-distill", work / f"{tag}-labels"
        t_kd = run("distill", "--teacher", a.teacher, *student, "--alpha", "0.5", "--temperature", "2",
                   "--out", str(kd_dir), *common)
        if config:  # labels only, same architecture and vocabulary, same steps
            t_ce = run("finetune", "--model-config", config, "--tokenizer", a.teacher, "--out", str(ce_dir), *common)
        else:  # labels only, from the same 3 teacher layers: plain fine-tuning of the cut model
            base = work / "i-base"
            _cut_teacher(a.teacher, [0, 2, 4], base)
            t_ce = run("finetune", "--base", str(base), "--out", str(ce_dir), *common)
        rows.append((label, accuracy(kd_dir, a.test), accuracy(ce_dir, a.test), t_kd, t_ce))
    print(f"\ntraining sentences: {'all' if not a.train_n else a.train_n}, epochs {a.epochs}")
    print("| student | distilled | labels only | distill wins | run time distill / labels |")
    print("|---|---|---|---|---|")
    for label, kd, ce, t_kd, t_ce in rows:
        print(f"| {label} | {kd:.4f} | {ce:.4f} | {'yes' if kd > ce else 'no'} | {t_kd / t_ce:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
