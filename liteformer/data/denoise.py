"""Denoising pairs for pre-training an encoder-decoder (BART's text infilling, Lewis et al. 2020): in
each text, spans of words (lengths drawn from Poisson(λ = 3), at least one word) are replaced by one
``<unk>`` piece each — liteformer's subword vocabularies have no ``<mask>``; ``<unk>`` is a special
piece that plain text never produces — until about 30 % of the words are masked; the model learns to
write the original text back. A pure function of (texts, seed, copy): the same pairs every run.

As a training split of ``finetune``/``distill`` of an encoder-decoder: ``denoise:FILE`` (one text a
line, plain or gzip; a ``.jsonl`` file holds one ``{"text": ...}`` a line, for texts with line breaks
such as dialogues) or ``denoise:FILE,copies=N`` (N differently masked copies of every text).
"""

from __future__ import annotations

import json
import random
import re

import numpy as np

from liteformer.data.parallel import ParallelDataset
from liteformer.errors import LiteformerError

MASK = "<unk>"


def infill(text: str, rng: random.Random, ratio: float = 0.3, mean_span: float = 3.0) -> str:
    """``text`` with spans of words replaced by one ``<unk>`` each (about ``ratio`` of its words); the
    whitespace between words is kept (a dialogue's line breaks stay in its unmasked parts)."""
    pieces = re.findall(r"\S+\s*", text.strip())  # each word with the whitespace after it
    words = [p.rstrip() for p in pieces]
    if len(words) < 2:
        return MASK if words else text
    goal = max(1, round(ratio * len(words)))
    masked = [False] * len(words)
    np_rng = np.random.default_rng(rng.getrandbits(32))
    tries = 0
    while sum(masked) < goal and tries < 10 * len(words):
        tries += 1
        span = max(1, min(int(np_rng.poisson(mean_span)), goal - sum(masked)))
        start = rng.randrange(0, len(words) - span + 1)
        if any(masked[start:start + span]):
            continue
        for i in range(start, start + span):
            masked[i] = True
    out: list[str] = []
    for i, piece in enumerate(pieces):
        if not masked[i]:
            out.append(piece)
        elif i + 1 == len(pieces) or not masked[i + 1]:  # one mask piece per span (adjacent spans merge)
            out.append(MASK + piece[len(words[i]):])
    return "".join(out)


def denoising_pairs(texts: list[str], copies: int = 1, seed: int = 0, ratio: float = 0.3,
                    mean_span: float = 3.0, path: str = "denoise") -> ParallelDataset:
    """(masked text → text) pairs, ``copies`` per text."""
    if copies < 1:
        raise LiteformerError(f"copies must be >= 1, got {copies}")
    texts = [t.strip() for t in texts if t.strip()]
    if not texts:
        raise LiteformerError(f"{path}: no text to denoise")
    sources, targets = [], []
    for c in range(copies):
        rng = random.Random(f"{seed}:{c}")
        for t in texts:
            sources.append(infill(t, rng, ratio, mean_span))
            targets.append(t)
    return ParallelDataset(sources, targets, path)


def read_denoising(spec: str) -> ParallelDataset:
    """``denoise:FILE[,copies=N]`` → denoising pairs of the file's lines."""
    from pathlib import Path

    from liteformer.data.parallel import _lines
    body = spec.removeprefix("denoise:")
    name, _, opts = body.partition(",")
    copies = 1
    if opts:
        key, _, value = opts.partition("=")
        if key != "copies" or not value.isdigit():
            raise LiteformerError(f"{spec}: expected denoise:FILE or denoise:FILE,copies=N")
        copies = int(value)
    lines = _lines(Path(name))
    if name.endswith((".jsonl", ".jsonl.gz")):
        texts = []
        for n, line in enumerate(lines, 1):
            try:
                row = json.loads(line) if line.strip() else {"text": ""}
            except json.JSONDecodeError:
                row = None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise LiteformerError(f"{name}: line {n}: expected a JSON object with a \"text\" string")
            texts.append(row["text"])
        lines = texts
    return denoising_pairs(lines, copies, path=spec)
