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


SHARED = Path(__file__).resolve().parent.parent.parent / "shared"  # ../shared beside the checkout


def add_teacher_and_splits(ap, splits: tuple[str, ...] = ("train", "dev", "test")) -> None:
    """--teacher and one option per SST-2 split, defaulting to the copies in ../shared."""
    ap.add_argument("--teacher", default=str(SHARED / "models/minilm-l6-sst2"))
    for split in splits:
        ap.add_argument(f"--{split}", default=str(SHARED / f"datasets/sst2/{split}.tsv"))
