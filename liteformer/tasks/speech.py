"""Speech recognition: clips with transcripts in (``data/speech.py``), raw audio through the CTC
model (``models/speech.py``: features inside), CTC loss, greedy CTC decoding, and error rates.

Metrics (the ``jiwer`` package, ``pip install 'liteformer[speech]'``), on transcripts normalized by
``data.chars.normalize_for_scoring`` (the same for every system compared, the Whisper anchor too):
- **WER**, word error rate — on digit strings the *digit error rate*, each digit being a word;
- **CER**, character error rate;
- **exact**: the share of clips transcribed without an error (on single digits: the accuracy).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from liteformer.data.chars import BLANK, ctc_collapse, normalize_for_scoring
from liteformer.data.speech import SpeechDataset, read_speech
from liteformer.errors import LiteformerError

NAME = "speech-recognition"


@dataclass
class AsrReport:
    wer: float  # percent
    cer: float  # percent
    exact: float  # share of clips with no error
    clips: int
    seconds: float  # audio duration in all
    hypotheses: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {"wer": round(self.wer, 2), "cer": round(self.cer, 2), "exact": round(self.exact, 4),
                "clips": self.clips, "seconds": round(self.seconds, 1)}

    def format(self) -> str:
        return (f"WER {self.wer:.2f} %  CER {self.cer:.2f} %  exact {self.exact:.4f}  on {self.clips} clips "
                f"({self.seconds / 60:.1f} min of audio)")


def error_rates(hypotheses: list[str], references: list[str], seconds: float = 0.0) -> AsrReport:
    """WER/CER (jiwer) and the exact-match share after ``normalize_for_scoring``."""
    try:
        import jiwer
    except ImportError:
        raise LiteformerError("speech metrics need jiwer: pip install 'liteformer[speech]'") from None
    if len(hypotheses) != len(references) or not references:
        raise LiteformerError(f"{len(hypotheses)} transcripts for {len(references)} references")
    hyp = [normalize_for_scoring(h) for h in hypotheses]
    ref = [normalize_for_scoring(r) for r in references]
    if not all(ref):
        raise LiteformerError("a reference transcript is empty after normalization")
    wer = jiwer.wer(ref, hyp) * 100
    cer = jiwer.cer(ref, hyp) * 100
    exact = sum(h == r for h, r in zip(hyp, ref, strict=True)) / len(ref)
    return AsrReport(wer, cer, exact, len(ref), seconds, list(hypotheses))


def pad_audio(clips: list[np.ndarray], length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(audio (B, N), mask (B, N)) with N = ``length`` or the longest clip; padding is silence."""
    n = length or max(len(c) for c in clips)
    audio = torch.zeros(len(clips), n)
    mask = torch.zeros(len(clips), n)
    for i, c in enumerate(clips):
        audio[i, : len(c)] = torch.from_numpy(np.asarray(c, np.float32))
        mask[i, : len(c)] = 1.0
    return audio, mask


def ctc_loss(model, audio: torch.Tensor, mask: torch.Tensor, targets: list[list[int]]) -> torch.Tensor:
    """Per-clip CTC loss (B,), each divided by its transcript's length (PyTorch's ``mean`` reduction
    before the batch mean). Clips too short for their transcript give 0 (``zero_infinity``)."""
    logits, frames = model(audio, mask)  # (B, T, V), (B, T)
    logp = logits.float().log_softmax(-1).transpose(0, 1)  # (T, B, V)
    lengths = frames.sum(1).long()  # (B,)
    flat = torch.tensor([t for x in targets for t in x], dtype=torch.long, device=audio.device)
    tlen = torch.tensor([len(x) for x in targets], dtype=torch.long, device=audio.device)
    loss = F.ctc_loss(logp, flat, lengths, tlen, blank=BLANK, reduction="none", zero_infinity=True)  # (B,)
    return loss / tlen.clamp(min=1)


def greedy(logits: np.ndarray | torch.Tensor, frames: int) -> list[int]:
    """Best path over the first ``frames`` frames of one clip's logits (T, V), collapsed."""
    best = logits[:frames].argmax(-1)
    return ctc_collapse(best.tolist() if hasattr(best, "tolist") else best)


def check_lengths(model_or_runner, data: SpeechDataset, what: str = "model") -> None:
    """Refuse clips too short for one feature window or longer than the model's positions."""
    from liteformer.models.speech import AudioConfig
    cfg = model_or_runner.config
    a = AudioConfig.from_dict(cfg.audio)
    longest = max(range(len(data)), key=lambda i: len(data.audio[i]))
    shortest = min(range(len(data)), key=lambda i: len(data.audio[i]))
    if len(data.audio[shortest]) < a.min_samples():
        raise LiteformerError(f"{data.names[shortest]}: clip of {len(data.audio[shortest])} samples is shorter than "
                              f"one {a.n_fft}-sample window")
    if a.encoder_frames(len(data.audio[longest])) > cfg.max_positions:
        limit = (cfg.max_positions * 4 - 1) * a.hop / a.sample_rate
        raise LiteformerError(f"{data.names[longest]}: {len(data.audio[longest]) / a.sample_rate:.1f} s of audio is "
                              f"longer than the {what} takes (~{limit:.1f} s); split it")


@torch.inference_mode()
def transcribe(model, tokenizer, clips: list[np.ndarray], batch_size: int = 32, progress: bool = False) -> list[str]:
    """Greedy CTC transcripts of 16 kHz clips, in input order (batches of similar lengths)."""
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(clips)), key=lambda i: len(clips[i]))
    out: list[str] = [""] * len(clips)
    starts = range(0, len(order), batch_size)
    for s in tqdm(starts, desc="transcribe", unit="batch", disable=not progress, file=sys.stderr, leave=False):
        idx = order[s : s + batch_size]
        audio, mask = pad_audio([clips[i] for i in idx])
        logits, frames = model(audio.to(device), mask.to(device))
        logits, n = logits.float().cpu(), frames.sum(1).long().tolist()
        for j, i in enumerate(idx):
            out[i] = tokenizer.decode(greedy(logits[j], n[j]))
    return out


def evaluate(model, tokenizer, data: str | SpeechDataset, batch_size: int = 32, progress: bool = True) -> AsrReport:
    data = read_speech(data)
    check_lengths(model, data)
    hyp = transcribe(model, tokenizer, data.audio, batch_size, progress)
    return error_rates(hyp, data.texts, data.seconds())


class SpeechRecognition:
    name = NAME
    metric = "wer"
    higher_is_better = False

    def read(self, path: str, text_column: str | None = None, label_column: str | None = None) -> SpeechDataset:
        return read_speech(path)

    def new_head(self, model, labels) -> None:
        raise LiteformerError("a speech recognizer's CTC head is its alphabet; nothing to replace")

    def evaluate(self, model, tokenizer, data, batch_size: int = 32, max_length: int | None = None,
                 progress: bool = True) -> AsrReport:
        return evaluate(model, tokenizer, data, batch_size, progress)


TASK = SpeechRecognition()
