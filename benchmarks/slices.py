"""Training on a CPU in slices that resume exactly: run a resumable liteformer training for at most
N minutes, stop it as Ctrl-C does (its last checkpoint is kept), and keep the wall time summed over
the slices (and where each ran) in a progress file, so that a benchmark can say how long its model
took to train across sessions."""

from __future__ import annotations

import json
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def add_slice_flags(ap, after: str) -> None:
    """The flags every sliced training script takes: --minutes, --threads, --train-only (``after``: what is left
    for later), --precision."""
    ap.add_argument("--minutes", type=float, default=60.0, help="wall time of this slice (default 60)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    ap.add_argument("--train-only", action="store_true", help=f"stop after training ({after})")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"), help="bf16 autocast (auto: on "
                    "a GPU; bf16: on a CPU too, fast with AMX)")


def liteformer(*args: str) -> None:
    """Run a liteformer command from the checkout; print its output, or stop with its error."""
    r = subprocess.run([sys.executable, "-m", "liteformer", *args], cwd=ROOT, text=True, capture_output=True)
    if r.returncode:
        sys.exit(f"liteformer {' '.join(args[:2])} failed: {r.stderr.strip()[-800:]}")
    print(r.stdout.strip())


def run_for(cmd: list[str], minutes: float) -> float:
    """Run ``cmd`` (a resumable liteformer training) for at most ``minutes``, then stop it as Ctrl-C
    does (its last checkpoint is kept); returns the seconds it ran."""
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    try:
        proc.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:  # a background job ignores SIGINT; the checkpoint is atomic, so a kill is as safe to resume
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return time.time() - t0


def machine(threads: int) -> str:
    """Where a slice ran: the GPU's name, or the CPU's."""
    import torch
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return f"{cpu} ({threads} threads)"


def train_slice(cmd: list[str], work: Path, minutes: float, progress_file: Path, threads: int) -> bool:
    """One slice of the training ``cmd`` writing ``work``; True once ``work`` holds the finished model
    (its training.json). The slice's time is added to ``progress_file``."""
    if (work / "training.json").exists():
        return True
    progress = json.loads(progress_file.read_text()) if progress_file.exists() else {"seconds": 0.0, "slices": 0}
    progress["seconds"] += run_for(cmd, minutes)
    progress["slices"] += 1
    progress.setdefault("machines", []).append(machine(threads))
    progress_file.parent.mkdir(parents=True, exist_ok=True)
    progress_file.write_text(json.dumps(progress, indent=2))
    done = (work / "training.json").exists()
    if not done:
        ckpt = Path(f"{work}.ckpt") / "last.pt"
        step = "?"
        if ckpt.exists():
            import torch
            step = torch.load(ckpt, weights_only=True, map_location="cpu")["step"]
        print(f"{work.name}: slice {progress['slices']} ended at step {step} after {progress['seconds'] / 60:.0f} "
              f"minutes in all; run this again to continue")
    return done


def trained_for(progress_file: Path) -> str:
    p = json.loads(progress_file.read_text()) if progress_file.exists() else {"seconds": 0, "slices": 0}
    where = ", ".join(sorted(set(p.get("machines", ["this machine"]))))
    return f"{p['seconds'] / 3600:.2f} h over {p['slices']} slice(s) on {where}"
