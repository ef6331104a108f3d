"""Distillation vs labels-only training of the same students, from the reference teacher.

    python benchmarks/distill_teacher.py [--teacher ../shared/models/minilm-l6-sst2]
        [--train ../shared/datasets/sst2/train.tsv] [--dev ../shared/datasets/sst2/dev.tsv]
        [--test ../shared/datasets/sst2/test.tsv] [--epochs 2] [--train-n 0] [--work out/distill]
        [--students i,ii] [--hidden-weight 0] [--attention-weight 0] [--augment 0] [--lr 1e-4]
        [--init-embeddings | --init-from-teacher] [--unlabelled out/transfer.txt]

Students: (i) teacher layers 0,2,4 (DistilBERT-style); (ii) 4 layers, hidden 256 from
examples/small.json (no pretraining). Each is trained twice with the same steps, seed and
hyper-parameters (lr 1e-4 unless --lr, batch 32): with distillation (alpha 0.5, T 2) and on labels only
(with --augment K or --unlabelled the labels-only run gets as many more epochs as the distilled runs'
extra texts add: the same number of steps).
Prints test accuracy for each and the wall time of a distillation epoch against a plain epoch
(teacher-logit caching included). Issue targets: (i) >= 0.885, (ii) >= 0.86, distillation wins,
epoch time <= 1.3x. --train-n N uses a random N-sentence sample (a reduced, faster run; say so).
--hidden-weight/--attention-weight/--augment add the inner-layer losses and augmentation to the
distilled runs; --init-embeddings starts student (ii) — in both of its runs — from the teacher's
PCA-projected embeddings; --init-from-teacher instead gives (ii) the teacher's head size
(examples/small-d32.json: 8 heads of 32) and cuts all of its weights from the teacher's (layers
0, 2, 3, 4; the most important channels, heads and neurons; --student-init-from-teacher);
--unlabelled FILE (see transfer_texts.py) adds texts the teacher labels to the distilled runs'
transfer set. A finished run (its folder holds training.json) is reused, an interrupted one resumes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from samples import add_teacher_and_splits, sample_split

HERE = Path(__file__).resolve().parent


def run(*args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "liteformer", *args], cwd=HERE.parent)
    if r.returncode:
        sys.exit(f"liteformer {args[0]} failed ({r.returncode})")


def seconds(out: Path) -> float:
    """Training time of a finished run, the teacher's one pass over the data included."""
    d = json.loads((out / "training.json").read_text())
    return d["seconds"] + d.get("teacher_seconds", 0.0)


def trained(out: Path, *args: str) -> float:
    """Train unless ``out`` already holds a finished, evaluated run; the run's training time."""
    if not (out / "training.json").exists():  # written when a run ends
        run(*args, "--out", str(out), "--resume")  # an interrupted run continues from its checkpoint
    return seconds(out)


def accuracy(model: Path, test: str) -> float:
    out = model / "test.json"
    if not out.exists():
        run("eval", "--model", str(model), "--data", test, "--out", str(out))
    return json.loads(out.read_text())["accuracy"]


def _student_folder(teacher: str, out: Path, layers: list[int] | None = None, config: str | None = None,
                    from_teacher: bool = False, train: str = "") -> str:
    """The labels-only baseline's starting point: the same weights the distilled student starts from."""
    sys.path.insert(0, str(HERE.parent))
    from liteformer.compress.distill import StudentSpec, build_student, student_from_teacher
    from liteformer.models.checkpoint import load_model, save_model
    if not (out / "config.json").exists():
        lm = load_model(teacher)
        if layers is not None:
            save_model(student_from_teacher(lm.model, layers), lm.tokenizer, out)
        else:
            from liteformer.data.text import read_classification
            spec = StudentSpec(config=config, init_embeddings=not from_teacher, init_from_teacher=from_teacher)
            texts = read_classification(train).texts if from_teacher else []  # what the teacher is scored on
            model, tok, _ = build_student(spec, lm.model, lm.tokenizer, texts)
            save_model(model, tok, out)
    return str(out)


def _time(folder: Path, tag: str, steps: int, kd: list[str], ce: list[str]) -> tuple[float, float, float]:
    """(teacher pass s, s/step distilled, s/step labels-only) from ``steps``-step runs."""
    out = []
    for args, name in ((kd, "distill"), (ce, "labels")):
        d = folder / f"{tag}-{name}"
        shutil.rmtree(d, ignore_errors=True)
        run(*args, "--max-steps", str(steps), "--out", str(d))
        out.append(json.loads((d / "training.json").read_text()))
    return out[0]["teacher_seconds"], out[0]["seconds"] / steps, out[1]["seconds"] / steps


def _students(tag: str, a, work: Path, small: str, train: str) -> tuple[str, list[str], list[str]]:
    """(label, distill's student options, the labels-only run's starting-point options)."""
    if tag == "i":
        base = _student_folder(a.teacher, work / "i-base", layers=[0, 2, 4])
        return "(i) layers 0,2,4", ["--student-layers", "0,2,4"], ["--base", base]
    if a.init_from_teacher:  # the teacher's head size (8 heads of 32), every weight cut from the teacher
        cfg = str(HERE.parent / "examples" / "small-d32.json")
        base = _student_folder(a.teacher, work / "ii-base", config=cfg, from_teacher=True, train=train)
        return ("(ii) 4L-256 (8 heads of 32) from config, cut from the teacher",
                ["--student-config", cfg, "--student-init-from-teacher"], ["--base", base])
    if a.init_embeddings:
        base = _student_folder(a.teacher, work / "ii-base", config=small)
        return "(ii) 4L-256 from config, teacher-projected embeddings", ["--student", base], ["--base", base]
    return "(ii) 4L-256 from config", ["--student-config", small], ["--model-config", small, "--tokenizer", a.teacher]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_teacher_and_splits(ap)
    ap.add_argument("--epochs", default="2")
    ap.add_argument("--train-n", type=int, default=0, help="random sample of the training set (0 = all)")
    ap.add_argument("--dev-n", type=int, default=1000, help="dev sentences for checkpoint choice")
    ap.add_argument("--work", default="out/distill")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--students", default="i,ii", help="which students: i, ii or i,ii")
    ap.add_argument("--hidden-weight", type=float, default=0.0, help="hidden-state loss weight (distilled runs)")
    ap.add_argument("--attention-weight", type=float, default=0.0, help="attention loss weight (distilled runs)")
    ap.add_argument("--augment", type=int, default=0, help="augmented copies per sentence (distilled runs)")
    ap.add_argument("--cache-gb", default="8", help="room for the teacher's cached hidden states (distilled "
                    "runs; an augmented copy doubles what they need)")
    ap.add_argument("--unlabelled", default=None, help="texts for the teacher to label (distilled runs)")
    ap.add_argument("--lr", default="1e-4", help="peak learning rate of both runs (default 1e-4)")
    ap.add_argument("--time-steps", type=int, default=0, help="instead: time N steps of each run (fresh, "
                    "--max-steps N) and the teacher's pass, and print the epoch-time ratio")
    ap.add_argument("--init-embeddings", action="store_true", help="student (ii) from the teacher's embeddings")
    ap.add_argument("--init-from-teacher", action="store_true", help="student (ii), 8 heads of 32 "
                    "(examples/small-d32.json), with every weight cut from the teacher's")
    a = ap.parse_args()
    work = Path(a.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    train = sample_split(a.train, a.train_n, work / "train.tsv")
    dev = sample_split(a.dev, a.dev_n, work / "dev.tsv")
    common = ["--train", train, "--dev", dev, "--lr", a.lr, "--batch-size", "32",
              "--threads", str(a.threads), "--eval-every", "500"]
    kd_extra = ["--alpha", "0.5", "--temperature", "2", "--hidden-weight", str(a.hidden_weight),
                "--attention-weight", str(a.attention_weight), "--augment", str(a.augment), "--cache-gb", a.cache_gb,
                "--epochs", a.epochs, *(["--unlabelled", a.unlabelled] if a.unlabelled else [])]
    # same steps: an augmented copy adds an epoch's worth of steps to each distilled epoch, and the
    # unlabelled texts their share of one
    n = len(Path(train).read_text(encoding="utf-8").splitlines()) - 1  # rows under the header
    sys.path.insert(0, str(HERE.parent))
    from liteformer.data.text import read_texts
    widen = 1 + a.augment + (len(read_texts(a.unlabelled)) / n if a.unlabelled else 0)
    ce_extra = ["--epochs", f"{float(a.epochs) * widen:.4g}"]
    small = str(HERE.parent / "examples" / "small.json")
    rows, timing = [], []
    for tag in a.students.split(","):
        label, student, ce_student = _students(tag, a, work, small, train)
        if a.time_steps:  # fresh short runs: seconds per step of each, and the teacher's pass
            timing.append((label, *_time(work / f"time-{a.time_steps}", tag, a.time_steps,
                                         ["distill", "--teacher", a.teacher, *student, *kd_extra, *common],
                                         ["finetune", *ce_student, *ce_extra, *common])))
            continue
        kd_dir, ce_dir = work / f"{tag}-distill", work / f"{tag}-labels"
        t_kd = trained(kd_dir, "distill", "--teacher", a.teacher, *student, *kd_extra, *common)
        t_ce = trained(ce_dir, "finetune", *ce_student, *ce_extra, *common)  # labels only, same start, same steps
        rows.append((label, accuracy(kd_dir, a.test), accuracy(ce_dir, a.test), t_kd, t_ce))
    if timing:
        per_epoch, epochs = -(-n // 32), float(a.epochs)
        print(f"\n{a.time_steps} steps of each; an epoch = {per_epoch} steps of 32; teacher pass once per run")
        print("| student | teacher pass s | s/step distill | s/step labels | epoch distill / labels "
              f"(pass over {epochs:g} epochs) | first epoch |")
        print("|---|---|---|---|---|---|")
        for label, pass_s, kd, ce in timing:
            plain = per_epoch * ce
            print(f"| {label} | {pass_s:.0f} | {kd:.3f} | {ce:.3f} | {(pass_s / epochs + per_epoch * kd) / plain:.2f}x"
                  f" | {(pass_s + per_epoch * kd) / plain:.2f}x |")
        return 0
    print(f"\ntraining sentences: {'all' if not a.train_n else a.train_n}, epochs {a.epochs}, distilled with "
          f"hidden {a.hidden_weight}, attention {a.attention_weight}, augment {a.augment}, lr {a.lr}"
          + (f", unlabelled {a.unlabelled}" if a.unlabelled else ""))
    print("| student | distilled | labels only | distill wins | training time distill / labels |")
    print("|---|---|---|---|---|")
    for label, kd, ce, t_kd, t_ce in rows:
        print(f"| {label} | {kd:.4f} | {ce:.4f} | {'yes' if kd > ce else 'no'} | {t_kd / t_ce:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
