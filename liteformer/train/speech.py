"""Training a speech recognizer from scratch (or distilling one): the CTC model from a JSON config,
feature statistics from the training audio, examples synthesized afresh each epoch — every training
clip once as itself plus ``strings`` digit strings of one speaker's clips — each augmented (speed,
gain, noise; SpecAugment inside the model), CTC loss, the best checkpoint by dev WER.

An example is a pure function of (seed, epoch, index), so training resumes exactly and DDP ranks
agree, as for text (the shared loop in ``train/loop.py``).

Distillation (``teacher``): per frame, (1−α)·T²·KL(teacher ‖ student) on the CTC posteriors (the
two share the 40 ms frame rate) plus α·CTC, and optionally the teacher's greedy transcripts as the
CTC targets of the augmented examples (``pseudo_labels``: what the teacher hears in the noisy,
sped-up audio).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from liteformer.data.chars import ALPHABET, CharTokenizer
from liteformer.data.speech import PAUSE, SPEEDS, SpeechDataset, augment, digit_strings, join_clips, read_speech
from liteformer.errors import LiteformerError
from liteformer.fileio import read_json_object
from liteformer.models.checkpoint import save_model
from liteformer.models.speech import TransformerForCTC
from liteformer.models.transformer import TransformerConfig
from liteformer.tasks.speech import AsrReport, check_lengths, ctc_loss, evaluate, pad_audio
from liteformer.train.config import SpeechConfig, TrainConfig
from liteformer.train.dist import init_from_env
from liteformer.train.loop import Objective, TrainResult, publish, train_loop

# a speech encoder's config beyond the user's JSON: no token types, no pooler, pre-LN, fixed positions
SPEECH_DEFAULTS = {"type_vocab_size": 0, "pooler": "none", "num_labels": 1, "positions": "sinusoidal",
                   "norm_first": True, "activation": "gelu", "max_positions": 256, "norm_eps": 1e-5}


@dataclass
class Prepared:
    model: TransformerForCTC
    tokenizer: CharTokenizer
    train: SpeechDataset
    dev: SpeechDataset | None


def build_model(model_config: str | dict, tokenizer: CharTokenizer) -> TransformerForCTC:
    """A CTC model from a JSON file (or dict) of TransformerConfig fields, ``audio`` among them."""
    fields = read_json_object(model_config, "a JSON object of TransformerConfig fields") \
        if not isinstance(model_config, dict) else dict(model_config)
    fields = {**SPEECH_DEFAULTS, **fields, "vocab_size": tokenizer.vocab_size, "pad_token_id": 0}
    fields.setdefault("audio", {})
    try:
        return TransformerForCTC(TransformerConfig.from_dict(fields))
    except (ValueError, TypeError) as e:
        raise LiteformerError(f"{model_config if isinstance(model_config, str) else 'model config'}: {e}") from None


def prepare(train: str | SpeechDataset, model_config: str | dict, dev: str | SpeechDataset | None = None,
            seed: int = 0, alphabet: str = ALPHABET) -> Prepared:
    torch.manual_seed(seed)
    tok = CharTokenizer(alphabet)
    train_ds = read_speech(train)
    dev_ds = read_speech(dev) if dev else None
    for ds in (train_ds, dev_ds):
        if ds is not None:
            tok.encode(ds.texts, ds.names)  # refuse characters outside the alphabet, naming the clip
    model = build_model(model_config, tok)
    for ds in (train_ds, dev_ds):
        if ds is not None:
            check_lengths(model, ds)
    return Prepared(model, tok, train_ds, dev_ds)


@torch.no_grad()
def set_feature_stats(model: TransformerForCTC, clips: list[np.ndarray], n: int = 500) -> None:
    """Per-band mean and std of the log-mel features of up to ``n`` clips (evenly spaced)."""
    pick = clips[:: max(1, len(clips) // n)][:n]
    feats = torch.cat([model.features(torch.from_numpy(c)[None])[0] for c in pick])  # (frames, M)
    model.feature_mean.copy_(feats.mean(0))
    model.feature_std.copy_(feats.std(0).clamp(min=1e-3))


class SpeechExamples:
    """Epoch ``e``'s global batches of example ids ``e·n + i``: i < clips is training clip i, the rest
    are digit strings; ``example(id)`` builds one, deterministically. Batches hold examples of similar
    length (sorted within windows of ``WINDOW`` batches of a random order, the batches then shuffled),
    which roughly halves the padding a batch of clips and 7-digit strings would carry."""

    WINDOW = 16

    def __init__(self, data: SpeechDataset, strings: int, batch_size: int, seed: int, augmented: bool) -> None:
        self.data, self.strings, self.batch_size, self.seed, self.augmented = data, strings, batch_size, seed, augmented
        self.n = len(data) + strings
        self.by_speaker: dict[str, list[int]] = {}
        for i, s in enumerate(data.speakers):
            self.by_speaker.setdefault(s, []).append(i)
        self.speakers = sorted(self.by_speaker)

    @property
    def per_epoch(self) -> int:
        return -(-self.n // self.batch_size)

    def epoch(self, e: int) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed + e)
        perm = torch.randperm(self.n, generator=g) + e * self.n
        lengths = torch.tensor([self.length(x) for x in perm.tolist()])
        bs, batches = self.batch_size, []
        for w in range(0, self.n, bs * self.WINDOW):
            chunk = perm[w : w + bs * self.WINDOW]
            chunk = chunk[torch.sort(lengths[w : w + bs * self.WINDOW], stable=True).indices]
            batches += [chunk[b : b + bs] for b in range(0, len(chunk), bs)]
        return [batches[j] for j in torch.randperm(len(batches), generator=g).tolist()]

    def _draw(self, gid: int) -> tuple[np.random.Generator, list[int] | None]:
        """The example's generator after its clips are drawn: (rng, the string's clips or None for a clip)."""
        e, i = divmod(int(gid), self.n)
        rng = np.random.default_rng([self.seed, e, i])
        if i < len(self.data):
            return rng, None
        clips = self.by_speaker[self.speakers[int(rng.integers(len(self.speakers)))]]
        return rng, [clips[j] for j in rng.integers(0, len(clips), int(rng.integers(1, 8)))]

    def example(self, gid: int) -> tuple[np.ndarray, str]:
        rng, picks = self._draw(gid)
        if picks is None:
            i = int(gid) % self.n
            x, text = self.data.audio[i], self.data.texts[i]
        else:
            x = join_clips([self.data.audio[j] for j in picks], rng, self.data.sample_rate)
            text = " ".join(self.data.texts[j] for j in picks)
        return (augment(x, rng, self.data.sample_rate) if self.augmented else x), text

    def length(self, gid: int) -> int:
        """``len(example(gid)[0])`` without building it: the same draws, no audio."""
        rng, picks = self._draw(gid)
        if picks is None:
            n = len(self.data.audio[int(gid) % self.n])
        else:
            n = sum(len(self.data.audio[j]) for j in picks)
            n += sum(int(rng.uniform(*PAUSE) * self.data.sample_rate) for _ in picks[1:])
        if self.augmented:
            speed = float(rng.choice(SPEEDS))
            n = n if speed == 1.0 else max(2, int(round(n / speed)))
        return n


def frame_kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, frames: torch.Tensor,
             temperature: float) -> torch.Tensor:
    """Per-clip T²·KL(teacher ‖ student) over the real frames, averaged over them: (B,)."""
    t = temperature
    p = F.log_softmax(teacher_logits.float() / t, -1)
    q = F.log_softmax(student_logits.float() / t, -1)
    kl = (p.exp() * (p - q)).sum(-1) * frames  # (B, T)
    return kl.sum(1) / frames.sum(1).clamp(min=1) * t * t


def train_speech(prep: Prepared, out: str | Path, cfg: TrainConfig, scfg: SpeechConfig | None = None,
                 progress: bool = True, resume: bool = False, teacher: TransformerForCTC | None = None,
                 record: dict | None = None) -> TrainResult:
    """Train ``prep.model``; keep the best by dev WER (single dev clips and digit strings together)."""
    scfg = scfg or SpeechConfig()
    scfg.validate()
    cfg.validate()
    info = init_from_env()
    model, tok = prep.model, prep.tokenizer
    if model.feature_mean.eq(0).all() and model.feature_std.eq(1).all():  # a new model (a resumed run reloads them)
        set_feature_stats(model, prep.train.audio, scfg.feature_clips)
    examples = SpeechExamples(prep.train, scfg.strings, cfg.batch_size, cfg.seed, scfg.augment_audio)
    if teacher is not None:
        teacher.to(info.device).eval()

    def loss(net, idx):
        clips, texts = zip(*(examples.example(g) for g in idx.tolist()), strict=True)
        audio, mask = (t.to(info.device) for t in pad_audio(list(clips)))
        if teacher is None:
            return ctc_loss(net, audio, mask, tok.encode(list(texts))).sum()
        with torch.no_grad():
            t_logits, frames = teacher(audio, mask)
        if scfg.pseudo_labels:
            n = frames.sum(1).long().tolist()
            from liteformer.tasks.speech import greedy
            pseudo = [greedy(t_logits[j].float(), n[j]) for j in range(len(n))]
            targets = [p if p else tok.encode_one(texts[j]) for j, p in enumerate(pseudo)]
        else:
            targets = tok.encode(list(texts))
        s_logits, _ = net(audio, mask)
        hard = ctc_loss(net, audio, mask, targets) if scfg.alpha else 0.0
        soft = frame_kd(s_logits, t_logits, frames, scfg.temperature)
        return (scfg.alpha * hard + (1 - scfg.alpha) * soft).sum()

    dev = None
    if prep.dev is not None:
        strings = digit_strings(prep.dev, scfg.dev_strings, 0) if scfg.dev_strings else None
        dev = SpeechDataset(prep.dev.audio + (strings.audio if strings else []),
                            prep.dev.texts + (strings.texts if strings else []),
                            prep.dev.speakers + (strings.speakers if strings else []),
                            prep.dev.names + (strings.names if strings else []), prep.dev.path)
    objective = Objective(
        loss, lambda g: float(len(g)), (lambda m: evaluate(m, tok, dev, progress=False)) if dev else None,
        lambda r: -r.wer, lambda m, folder: save_model(m, tok, folder), lambda d: AsrReport(**d), metric="dev_wer",
        value=lambda r: round(r.wer, 2))
    result = train_loop(model, examples, objective, cfg, out, progress, info, resume=resume)
    publish(out, {"task": "speech-recognition", "config": cfg.__dict__, "speech": scfg.__dict__, **(record or {}),
                  **result.to_dict(), "train": prep.train.path, "clips": len(prep.train),
                  "audio_minutes": round(prep.train.seconds() / 60, 1), "batches_per_epoch": examples.per_epoch},
            info)
    return result
