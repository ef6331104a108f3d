"""The Multi30k translation teacher and its four students trained on a lent GPU (this workplace's
``device`` tool: one command at most 10 minutes, at most 64 MiB of files back per command), then
unpacked here and measured on this machine's CPU by the two benchmark scripts.

    here, once:       python benchmarks/translation_device.py stage [--shared ../shared]
                      (copies Multi30k into .gpu/, which .gitignore names and the device call carries)
    on the GPU:       python3 benchmarks/translation_device.py teacher --out "$OUT"    carry: [".gpu"]
                      python3 benchmarks/translation_device.py students --out "$OUT"   carry: [".gpu"]
                      (right after the first, while the machine is warm; on a fresh machine also
                      carry out/nmt/teacher and out/nmt/students/kd-targets.txt, unpacked here)
    here:             python benchmarks/translation_device.py unpack FILES_AT
                      python benchmarks/translation_teacher.py      (test BLEU of the teacher)
                      python benchmarks/translation_students.py     (students' BLEU, latency table)

``teacher`` first runs a 20-step smoke test of training, word+sequence distillation and generation
on the GPU (so a broken path costs seconds, not the lease), then trains the teacher
(translation_teacher.py, bf16 autocast), generates the sequence-level KD targets (beam 5 over the
29,000 training sources) and packs both; ``students`` trains the four students
(translation_students.py) and packs them. Packs are tar.gz files cut into 15 MiB parts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STAGE = ROOT / ".gpu" / "shared"
PART = 15 * 2**20
TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 4, "ffn_dim": 64, "num_decoder_layers": 1,
        "max_positions": 64}
KD_TARGETS = r"""
import sys
from liteformer.data.parallel import read_parallel
from liteformer.models.checkpoint import load_model
from liteformer.train.translate import teacher_targets
t = load_model(sys.argv[1])
teacher_targets(t.model, t.tokenizer, read_parallel(sys.argv[2]).sources, sys.argv[3], progress=sys.stderr.isatty())
"""


def sh(*cmd: str, log: Path | None = None) -> None:
    t0 = time.time()
    r = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    line = f"{time.time() - t0:7.1f} s  rc {r.returncode}  {' '.join(cmd[:6])}"
    print(line, flush=True)
    if log:
        with open(log, "a") as f:
            f.write(line + "\n")
    if r.returncode:
        sys.exit(f"failed: {' '.join(cmd)}")


def lf(*args: str, log: Path | None = None) -> None:
    sh(sys.executable, "-m", "liteformer", *args, log=log)


def pack(name: str, paths: list[Path], out: Path) -> None:
    """``paths`` (relative to the repository, checkpoints left out) as OUT/NAME.tgz.partNN."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path("/tmp") / f"{name}.tgz"
    with tarfile.open(tmp, "w:gz") as tar:
        for p in paths:
            tar.add(p.relative_to(ROOT), filter=lambda ti: None if ".ckpt" in ti.name else ti)
    data = tmp.read_bytes()
    for i in range(0, len(data), PART):
        (out / f"{name}.tgz.part{i // PART:02d}").write_bytes(data[i:i + PART])
    print(f"packed {name}: {len(data) / 2**20:.1f} MiB in {-(-len(data) // PART)} part(s)")


def smoke(log: Path) -> None:
    d = Path("/tmp/liteformer-smoke")
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    (d / "m.json").write_text(json.dumps(TINY))
    common = ["--train", "multi30k:val", "--dev", "multi30k:test", "--dev-sentences", "16", "--max-steps", "20",
              "--eval-every", "10", "--max-tokens", "600", "--schedule", "inverse-sqrt", "--warmup", "0.2"]
    lf("finetune", "--task", "translation", "--model-config", str(d / "m.json"), "--vocab-size", "300", *common,
       "--out", str(d / "t"), log=log)
    lf("distill", "--task", "translation", "--teacher", str(d / "t"), "--student-config", str(d / "m.json"),
       "--kd", "both", *common, "--out", str(d / "s"), log=log)
    lf("eval", "--model", str(d / "s"), "--data", "multi30k:test", "--beam", "3", log=log)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=("stage", "teacher", "students", "unpack"))
    ap.add_argument("files", nargs="?", help="unpack: the folder the device call's files came back to")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"), help="stage: the shared data folder")
    ap.add_argument("--out", default=os.environ.get("OUT", "out/device"), help="where the packs go ($OUT)")
    ap.add_argument("--minutes", type=float, default=7.0, help="training time limit of this phase (default 7)")
    ap.add_argument("--steps", type=int, default=None, help="the phase's steps (default: the scripts' 3000/3000)")
    ap.add_argument("--config", default=None, help="the model JSON (default: the scripts' teacher/student)")
    a = ap.parse_args()
    out, log = Path(a.out), Path(a.out) / "device-log.txt"
    data = STAGE / "datasets" / "multi30k"
    nmt = ROOT / "out" / "nmt"
    if a.phase == "stage":
        data.mkdir(parents=True, exist_ok=True)
        for f in (Path(a.shared) / "datasets" / "multi30k").iterdir():
            shutil.copy2(f, data / f.name)
        print(f"staged {data}")
        return 0
    if a.phase == "unpack":
        parts = sorted(Path(a.files).glob("*.tgz.part*"))
        for name in sorted({p.name.split(".tgz.part")[0] for p in parts}):
            tmp = Path("/tmp") / f"{name}.tgz"
            tmp.write_bytes(b"".join(p.read_bytes() for p in parts if p.name.startswith(name + ".tgz")))
            with tarfile.open(tmp) as tar:
                tar.extractall(ROOT, filter="data")
            print(f"unpacked {name}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    import torch
    print(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}"
          f"{', ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''}", flush=True)
    shared = ["--shared", str(STAGE), "--threads", "8", "--checkpoint-every", "1000", "--train-only",
              "--minutes", str(a.minutes)]
    shared += ["--steps", str(a.steps)] if a.steps else []
    if a.phase == "teacher":
        smoke(log)
        sh(sys.executable, str(HERE / "translation_teacher.py"), *shared,
           *(["--config", a.config] if a.config else []), log=log)
        if not (nmt / "teacher" / "training.json").exists():
            sys.exit("the teacher did not finish in time")
        (nmt / "students").mkdir(parents=True, exist_ok=True)
        sh(sys.executable, "-c", KD_TARGETS, str(nmt / "teacher"),
           f"{data / 'train.en.gz'},{data / 'train.de.gz'}", str(nmt / "students" / "kd-targets.txt"), log=log)
        pack("nmt-teacher", [nmt / "teacher", nmt / "teacher-progress.json", nmt / "students" / "kd-targets.txt"],
             out)
    else:
        sh(sys.executable, str(HERE / "translation_students.py"), *shared,
           *(["--student", a.config] if a.config else []), log=log)
        ways = [nmt / "students" / w for w in ("references", "word-kd", "sequence-kd", "both")]
        if not all((w / "training.json").exists() for w in ways):
            sys.exit("the students did not all finish in time; call this again to continue")
        pack("nmt-students", ways, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
