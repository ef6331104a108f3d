"""The machine a bench runs on: what it is (CPU, cores, versions) and its measured fp32 GEMM peak,
the compute bound of the roofline column."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path


def machine_info(threads: int) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "os": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def gemm_peak_gflops(threads: int, n: int = 1024, runs: int = 10) -> float:
    """The machine's measured fp32 GEMM throughput (n x n @ n x n in PyTorch at ``threads``), GFLOP/s:
    the roofline's compute bound, so latency / (model FLOPs / peak) says how far a model is from it."""
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        for _ in range(3):
            a @ b
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(old)
    return 2 * n**3 / statistics.median(times) / 1e9
