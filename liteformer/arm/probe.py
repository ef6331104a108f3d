"""Run a bundle on prepared inputs and keep what it outputs — the same script on this machine and under
aarch64 emulation, so the two runs differ only in the CPU they run on. It imports only NumPy, the
runtime, the tokenizer and liteformer's runner modules (no PyTorch), as a phone app would.

    python -m liteformer.arm.probe RUNTIME BUNDLE JOB.npz OUT.npz

JOB.npz holds ``kind`` (classify, generate or speech) and ``input_<i>`` arrays: token ids (classify,
generate) or audio samples (speech). OUT.npz gets, per input, ``logits_<i>`` (classify: the logits;
generate: the first decoder step's logits; speech: the CTC logits of the real frames) and
``tokens_<i>`` (generate: the greedy output ids; speech: the greedy CTC frame labels; classify: the
label), plus ``memory``: peak RSS (VmHWM, MiB) after importing the runtime, after loading the bundle
and at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path


def vm_hwm_mb() -> float:
    """Peak resident memory of this process so far (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def greedy(runner, ids, limit: int):
    """The phone's decoding loop in NumPy: encode once, feed each step's argmax back (no PyTorch)."""
    import numpy as np
    gen = runner.generation
    N, L, d = runner.layout["self_cache"]
    x, m = runner.pad_source(ids[None, :], np.ones((1, len(ids)), dtype=ids.dtype))
    cross_k, cross_v = runner.encode(x, m)
    self_k = np.zeros((1, N, L, d), np.float32)
    self_v = self_k.copy()
    conv = np.zeros((1, *runner.layout["conv_cache"]), np.float32) if runner.layout.get("conv_cache") else None
    token, out, first = np.array([[gen["bos_id"]]]), [], None
    for t in range(limit):
        logits, self_k, self_v, *rest = runner.decode(token, np.array([t]), m, self_k, self_v, cross_k, cross_v, conv)
        conv = rest[0] if rest else conv
        first = logits[0] if first is None else first
        nxt = int(logits[0].argmax())
        out.append(nxt)
        if nxt == gen["eos_id"]:
            break
        token = np.array([[nxt]])
    return first, out


def main(argv: list[str]) -> int:
    runtime, bundle, job, out = argv
    import numpy as np  # the runtime's own import comes first in what is measured as the bare runtime

    import liteformer.runtimes as runtimes
    from liteformer.runtimes.table import RUNTIMES
    __import__(RUNTIMES[runtime].runner)
    bare = vm_hwm_mb()
    runner = runtimes.load(runtime, Path(bundle), None, 1, trusted=True)
    loaded = vm_hwm_mb()
    data = np.load(job)
    kind = str(data["kind"])
    n = sum(1 for k in data.files if k.startswith("input_"))
    result = {}
    for i in range(n):
        x = data[f"input_{i}"]
        if kind == "classify":
            logits = runner(x[None, :], np.ones((1, len(x)), dtype=x.dtype))[0]
            result[f"logits_{i}"], result[f"tokens_{i}"] = logits, np.array([int(logits.argmax())])
        elif kind == "generate":
            limit = min(runner.max_target - 1, int(np.ceil(runner.generation["max_len_a"] * len(x)
                                                           + runner.generation["max_len_b"])))
            first, tokens = greedy(runner, x, limit)
            result[f"logits_{i}"], result[f"tokens_{i}"] = first, np.array(tokens)
        else:
            audio, mask = runner.pad(x)
            logits, frames = runner(audio, mask)
            real = logits[0][np.asarray(frames[0]) > 0]
            result[f"logits_{i}"], result[f"tokens_{i}"] = real, real.argmax(-1)
    result["memory"] = np.array([bare, loaded, vm_hwm_mb()])
    np.savez(out, **result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
