"""``liteformer verify BUNDLE... --arch aarch64``: each bundle run here and under aarch64 emulation on the
same real inputs of its task, compared by the export check's rule (``liteformer.arm.check``)."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="check bundles on aarch64 (emulated): the same predictions as here",
                       description=__doc__ + " The emulated environment (qemu from Debian's qemu-user-static, an "
                       "arm64 Debian Python 3.11, the runtimes' aarch64 wheels) is built on first use and cached in "
                       "~/.cache/liteformer/aarch64 ($LITEFORMER_ARM_CACHE). Emulation checks correctness, not a "
                       "phone's speed. Exit code 1 when a bundle's outputs differ.")
    p.add_argument("bundles", nargs="+", help="exported bundle folders (ONNX Runtime, LiteRT, ExecuTorch)")
    p.add_argument("--arch", default="aarch64", choices=["aarch64"], help="the architecture to check on")
    p.add_argument("--n", type=int, default=32, help="real inputs of the bundle's task (default 32; emulation "
                   "takes about 1-2 s an input)")
    p.add_argument("--data", default=None, help="where the inputs come from (default: the task's bundled dev split)")
    p.add_argument("--cpu", default="neoverse-n1", help="qemu's CPU model (default neoverse-n1; qemu 7.2's 'max' "
                   "emulates SME and gives wrong int8 results)")
    p.add_argument("--json", action="store_true", help="print the reports as JSON")


def cmd_verify(a: argparse.Namespace) -> int:
    from pathlib import Path

    from liteformer.arm.check import verify_arch
    from liteformer.errors import LiteformerError
    if a.n <= 0:
        raise LiteformerError(f"--n must be > 0, got {a.n}")
    missing = [b for b in a.bundles if not (Path(b) / "liteformer.json").is_file()]
    if missing:
        raise LiteformerError(f"{missing[0]}: not a bundle folder (no liteformer.json)")
    reports = []
    for b in a.bundles:
        reports.append(verify_arch(b, a.n, a.data, a.cpu, log=lambda s: None if a.json else print(s)))
        if not a.json:
            print(("ok      " if reports[-1].ok else "FAILED  ") + reports[-1].format(), flush=True)
    if a.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
    return 0 if all(r.ok for r in reports) else 1
