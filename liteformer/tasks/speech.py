"""Speech recognition: clips with transcripts in (``data/speech.py``), raw audio through the CTC
model (``models/speech.py``: features inside), CTC loss, greedy CTC decoding, and error rates.

Metrics (the ``jiwer`` package, ``pip install 'liteformer[speech]'``), on transcripts normalized by
``data.chars.normalize_for_scoring`` (the same for every system compared, the Whisper anchor too):
- **WER**, word error rate — on digit strings the *digit error rate*, each digit being a word;
- **CER**, character error rate;
- **exact**: the share of clips transcribed without an error (on single digits: the accuracy).

The runtime loop (``run_clip``): a clip padded to a length the bundle takes (masked), one call of its
graph — features inside — and greedy CTC over the real frames, batch 1, as a phone app runs it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from liteformer.data.audio import SAMPLE_RATE
from liteformer.data.chars import BLANK, ctc_collapse, normalize_for_scoring
from liteformer.data.speech import SpeechDataset, read_speech
from liteformer.errors import LiteformerError

NAME = "speech-recognition"
FP32_TOLERANCE = 1e-4  # export check: max |logit difference| on the real frames of a float artifact
MIN_IDENTICAL = 0.99  # export check: share of clips with identical greedy transcripts (fp32)
MAX_ERROR_RISE = 0.3  # export check: a quantized artifact's WER/CER may exceed its source's by this many points
MIN_SAMPLES = 400  # one 25 ms window at 16 kHz


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


@dataclass
class Clips:
    """A split as a runner's inputs: the clips (``ids``, the name the bench's worker reads)."""

    ids: list[np.ndarray]
    truncated: int = 0


def encode_clips(runner, data: str | SpeechDataset, max_length: int | None = None, longest: int = 0,
                 what: str = "bundle") -> tuple[list[str], Clips]:
    """(transcripts, clips) of a split for ``runner``; a clip it cannot take (too short for one window,
    longer than its longest bucket) is refused, naming it."""
    data = read_speech(data)
    most = runner.max_samples
    for x, name in zip(data.audio, data.names, strict=True):
        if len(x) > most:
            raise LiteformerError(f"{name}: {len(x) / runner.sample_rate:.2f} s of audio is longer than the {what} "
                                  f"takes ({most / runner.sample_rate:.2f} s); split it")
        if len(x) < MIN_SAMPLES:
            raise LiteformerError(f"{name}: clip of {len(x)} samples is too short (one 25 ms window at least)")
    return list(data.texts), Clips(list(data.audio))


def run_clip(runner, clip: np.ndarray) -> tuple[np.ndarray, str]:
    """**The runtime loop**: pad, one graph call, greedy CTC over the real frames, characters.
    Returns (the real frames' logits (T, V), the transcript). An anchor that transcribes by itself
    (Whisper) gives no logits."""
    if hasattr(runner, "transcribe"):
        return None, runner.transcribe(clip)
    audio, mask = runner.pad(clip)
    logits, frames = runner(audio, mask)
    n = int(np.asarray(frames)[0].sum())
    real = np.asarray(logits)[0, :n]
    return real, runner.tokenizer.decode(greedy(real, n))


def evaluate_bundle(path, data: str | SpeechDataset, threads: int = 2, progress: bool = True) -> AsrReport:
    """The report for an exported bundle (or a model folder), run clip by clip in its own runtime."""
    from pathlib import Path

    from liteformer import runtimes
    path = Path(path)
    runner = runtimes.load(runtimes.detect(path), path, None, threads)
    refs, clips = encode_clips(runner, data)
    hyp = [run_clip(runner, c)[1] for c in tqdm(clips.ids, desc="eval", unit="clip", disable=not progress,
                                                 file=sys.stderr, leave=False)]
    return error_rates(hyp, refs, sum(len(c) for c in clips.ids) / runner.sample_rate)


def verify(runner, model, tokenizer, data: SpeechDataset, max_length: int = 0, quantized: bool = False) -> dict:
    """The export check: fp32 — greedy transcripts identical on >= 99 % of the clips and max |Δlogit| <=
    1e-4 on their real frames; quantized — WER within 0.3 points of the PyTorch model's (and the same
    for CER). Raises ``LiteformerError`` with what it measured."""
    refs, clips = encode_clips(runner, data, what="bundle")
    ours = transcribe(model, tokenizer, clips.ids)
    diffs, same, theirs = [], 0, []
    for clip, mine in zip(clips.ids, ours, strict=True):
        logits, text = run_clip(runner, clip)
        theirs.append(text)
        same += text == mine
        if not quantized:
            with torch.inference_mode():
                ref, _ = model(torch.from_numpy(clip)[None])
            diffs.append(float(np.abs(ref[0].float().numpy() - logits).max()))
    n = len(clips.ids)
    out = {"inputs": n, "identical_transcripts": same / n, "max_abs_diff": max(diffs) if diffs else None}
    if not quantized:
        if out["max_abs_diff"] > FP32_TOLERANCE or same / n < MIN_IDENTICAL:
            raise LiteformerError(f"export check failed: max |logit diff| {out['max_abs_diff']:.2e} (limit "
                                  f"{FP32_TOLERANCE:.0e}), identical transcripts {same}/{n} (need "
                                  f"{MIN_IDENTICAL:.0%})")
        return out
    theirs_r, ours_r = error_rates(theirs, refs), error_rates(ours, refs)
    out.update(wer=theirs_r.wer, wer_source=ours_r.wer, cer=theirs_r.cer, cer_source=ours_r.cer)
    if theirs_r.wer - ours_r.wer > MAX_ERROR_RISE or theirs_r.cer - ours_r.cer > MAX_ERROR_RISE:
        raise LiteformerError(f"export check failed: WER {theirs_r.wer:.2f} % vs {ours_r.wer:.2f} % of the source, "
                              f"CER {theirs_r.cer:.2f} % vs {ours_r.cer:.2f} % (at most {MAX_ERROR_RISE} points more)")
    return out


class SpeechRecognition:
    name = NAME
    metric = "wer"
    higher_is_better = False
    fixed_timing = False  # clips are timed whole, as they come

    def encode(self, runner, data, max_length: int | None = None, longest: int = 0,
               what: str = "bundle") -> tuple[list[str], Clips]:
        return encode_clips(runner, data, max_length, longest, what)

    def predict(self, runner, example: np.ndarray, length: int | None = None) -> str:
        return run_clip(runner, example)[1]

    def report(self, predictions: list, references: list, runner, truncated: int = 0) -> AsrReport:
        return error_rates(predictions, references)

    def verify(self, runner, model, tokenizer, texts, max_length: int = 0, quantized: bool = False) -> dict:
        return verify(runner, model, tokenizer, texts, max_length, quantized)

    def duration(self, example: np.ndarray) -> float:
        """Seconds of audio in an example (the bench's real-time factor)."""
        return len(example) / SAMPLE_RATE

    def read(self, path: str, text_column: str | None = None, label_column: str | None = None) -> SpeechDataset:
        return read_speech(path)

    def new_head(self, model, labels) -> None:
        raise LiteformerError("a speech recognizer's CTC head is its alphabet; nothing to replace")

    def evaluate(self, model, tokenizer, data, batch_size: int = 32, max_length: int | None = None,
                 progress: bool = True) -> AsrReport:
        return evaluate(model, tokenizer, data, batch_size, progress)


TASK = SpeechRecognition()
