"""Third-party converters (litert-torch, the ExecuTorch and ONNX quantizers) print pages of their own
progress, and torch warns; by default liteformer's output is liteformer's. ``quiet()`` sends what
the block writes to stdout/stderr — at the file-descriptor level, so native code is caught too — to
a temp file, and shows its tail only if the block fails; ``LITEFORMER_VERBOSE=1`` (the CLI's
``--verbose``) lets everything through. ``hush_libraries()`` lowers the native and Python loggers of
the runtimes and torch for a whole command."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

VERBOSE = "LITEFORMER_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE, "") not in ("", "0")


@contextlib.contextmanager
def fds_to(out: int, err: int) -> Iterator[None]:
    """File descriptors 1 and 2 pointed at ``out`` and ``err`` for the block (native code and child
    processes write there too), flushed and restored afterwards."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    os.dup2(out, 1)
    os.dup2(err, 2)
    try:  # file descriptors only: a logging handler made inside the block keeps writing to fd 2 afterwards
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    if verbose():
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as log:
        ok = False
        try:
            with fds_to(log.fileno(), log.fileno()):
                yield
            ok = True
        finally:
            if not ok and not isinstance(sys.exc_info()[1], KeyboardInterrupt):
                log.seek(0)
                tail = log.read().decode("utf-8", "replace").strip().splitlines()[-20:]
                if tail:
                    print("\n".join(["(output of the failed step, last lines:)", *tail]), file=sys.stderr)


def hush_libraries() -> None:
    """Unless verbose: TensorFlow Lite / absl / glog C++ logs (read from the environment when those
    libraries load, in this process and its children) and torch's Python loggers at ERROR."""
    if verbose():
        return
    import logging
    for var, value in (("TF_CPP_MIN_LOG_LEVEL", "3"), ("GLOG_minloglevel", "2"), ("ABSL_MIN_LOG_LEVEL", "3")):
        os.environ.setdefault(var, value)
    for name in ("torch", "torchao", "executorch", "absl", "onnxscript", "litert_torch"):
        logging.getLogger(name).setLevel(logging.ERROR)
