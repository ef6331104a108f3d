"""The DialogSum teachers (issue #21) trained on a lent GPU (the ``device`` tool: one command at most 10
minutes, 64 MiB of files back), then unpacked here and scored on this machine's CPU.

    here, once:    python benchmarks/dialogsum_device.py stage [--shared ../shared]
                   (copies DialogSum, Multi30k's English side and SST-2's training sentences into .gpu/,
                   which .gitignore names and the device call carries)
    on the GPU:    python3 benchmarks/dialogsum_device.py train --task summarization --out "$OUT"   carry: [".gpu"]
                   python3 benchmarks/dialogsum_device.py train --task dialogue --out "$OUT"        carry: [".gpu"]
                   right after, while the machine is warm (it reuses the pre-training left there)
    here:          python benchmarks/translation_device.py unpack FILES_AT
                   python benchmarks/dialogsum_teacher.py --task summarization   (test ROUGE, on the CPU)

``train`` runs benchmarks/dialogsum_teacher.py (pre-training if not done, then the task's fine-tuning,
bf16 autocast on the GPU, 8 CPU threads for data) for at most ``--minutes``, with ``--train-only``
semantics (the test scores are computed here afterwards), and packs the task's teacher
(checkpoints left out; ~40 MB, so the pre-trained model stays on the machine) as tar.gz parts of
15 MiB. A first 20-step smoke run of pre-training and fine-tuning on tiny models makes a broken path
cost seconds, not the lease.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from translation_device import ROOT, lf, pack, sh  # noqa: E402

STAGE = ROOT / ".gpu" / "shared"


def smoke(log: Path) -> None:
    d = Path("/tmp/liteformer-smoke-dialogsum")
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    (d / "m.json").write_text(json.dumps({"hidden_size": 32, "num_layers": 2, "num_heads": 4, "ffn_dim": 64,
                                          "num_decoder_layers": 1, "max_positions": 256}))
    (d / "t.jsonl").write_text("".join(json.dumps({"text": f"#Person1#: hello {i}\n#Person2#: hi there {i}"}) + "\n"
                                       for i in range(64)))
    common = ["--max-steps", "20", "--max-tokens", "2000", "--schedule", "inverse-sqrt", "--warmup", "0.2"]
    lf("finetune", "--task", "translation", "--model-config", str(d / "m.json"), "--vocab-size", "300", "--train",
       f"denoise:{d / 't.jsonl'}", *common, "--out", str(d / "pre"), log=log)
    lf("finetune", "--task", "summarization", "--base", str(d / "pre"), "--train", "dialogsum:train", "--dev",
       "dialogsum:dev", "--dev-sentences", "8", "--eval-every", "10", *common, "--out", str(d / "sum"), log=log)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=("stage", "train"))
    ap.add_argument("--task", default="summarization", choices=("summarization", "dialogue"))
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"), help="stage: the shared data folder")
    ap.add_argument("--out", default=os.environ.get("OUT", "out/device"), help="where the packs go ($OUT)")
    ap.add_argument("--minutes", type=float, default=8.0, help="training time limit (default 8)")
    a = ap.parse_args()
    if a.phase == "stage":
        for name, files in (("dialogsum", ("dialogsum.train.jsonl", "dialogsum.dev.jsonl", "dialogsum.test.jsonl")),
                            ("multi30k", ("train.en.gz",)), ("sst2", ("train.tsv",))):
            (STAGE / "datasets" / name).mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copy2(Path(a.shared) / "datasets" / name / f, STAGE / "datasets" / name / f)
        print(f"staged {STAGE}")
        return 0
    out, log = Path(a.out), Path(a.out) / "device-log.txt"
    out.mkdir(parents=True, exist_ok=True)
    import torch
    print(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}", flush=True)
    smoke(log)
    work = ROOT / "out" / "dialogsum"
    sh(sys.executable, str(Path(__file__).parent / "dialogsum_teacher.py"), "--task", a.task, "--shared", str(STAGE),
       "--minutes", str(a.minutes), "--threads", "8", "--precision", "auto", "--train-only", log=log)
    # the teacher alone (~40 MB; with the pre-trained model too a call's 64 MiB would not hold both): the
    # dialogue call reuses the pre-training on the warm machine, or gets it carried back from here
    keep = [p for p in (work / a.task, work / f"{a.task}-progress.json", work / "pretrained-progress.json")
            if p.exists()]
    pack(f"dialogsum-{a.task}", keep, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
