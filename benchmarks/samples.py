"""Reduced benchmark runs: seeded random samples of a TSV split (shared by the benchmark scripts)."""

from __future__ import annotations

import random
from pathlib import Path


def sample_split(src: str, n: int, dest: Path) -> str:
    """``src`` itself when ``n`` is 0, else a file at ``dest`` with its header and ``n`` random rows
    (seed 0, so every run and every script draws the same sentences)."""
    if not n:
        return src
    lines = Path(src).read_text(encoding="utf-8").splitlines()
    rows = random.Random(0).sample(lines[1:], min(n, len(lines) - 1))
    dest.write_text("\n".join([lines[0], *rows]) + "\n", encoding="utf-8")
    return str(dest)
