"""Speech data: clips with transcripts, digit strings built from them, and training augmentation.

A split is named by
- a folder of WAV files whose names carry the label, as in the Free Spoken Digit Dataset
  ``{digit}_{speaker}_{index}.wav`` (a digit label becomes its word: ``7`` → "seven"), with options
  after a colon: ``DIR:train`` — or ``DIR:split=train,held_out=theo,strings=500,seed=1``:
    - ``split``: ``test`` = recordings 0–4 of every speaker (FSDD's official test split); ``dev`` =
      recordings 5–9 and ``train`` = 10 and up, both of every speaker but the held-out one;
      ``heldout`` = every recording of the held-out speaker; ``all`` (default);
    - ``held_out``: the speaker kept out of train and dev (default: the last name in sorted order);
    - ``strings=N``: instead of single clips, N **digit strings** (1–7 clips of one speaker joined by
      50–300 ms pauses; transcript: their words), the same N for the same seed;
- a ``.tsv`` file with ``path`` and ``text`` columns (and optionally ``speaker``), paths relative to
  the file;
- ``fsdd`` for the small slice of FSDD bundled with liteformer (``liteformer/data/bundled/fsdd``),
  with the same options: ``fsdd:test``, ``fsdd:heldout,strings=50``.

Audio is read at once and kept as 16 kHz float32 (``data/audio.py``); a clip that cannot be read is
one error line naming it.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liteformer.data.audio import SAMPLE_RATE, load_audio
from liteformer.data.chars import DIGITS
from liteformer.errors import LiteformerError

BUNDLED_FSDD = Path(__file__).parent / "bundled" / "fsdd"
NAMED = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>[^_]+)_(?P<index>\d+)\.wav$", re.IGNORECASE)
SPLITS = ("all", "train", "dev", "test", "heldout")
MAX_DIGITS = 7
PAUSE = (0.05, 0.30)  # seconds between the clips of a digit string
SPEEDS = (0.9, 1.0, 1.1)  # speed perturbation


@dataclass
class SpeechDataset:
    audio: list[np.ndarray]  # (N,) float32 at 16 kHz each
    texts: list[str]  # transcripts
    speakers: list[str]
    names: list[str]  # the file (or, for a digit string, the files) each example came from
    path: str  # how the split was named
    sample_rate: int = SAMPLE_RATE
    info: dict = field(default_factory=dict)  # split, held-out speaker, strings

    def __len__(self) -> int:
        return len(self.texts)

    def seconds(self) -> float:
        return sum(len(x) for x in self.audio) / self.sample_rate


def label_text(label: str) -> str:
    return DIGITS[int(label)] if label.isdigit() and len(label) == 1 else label.replace("-", " ")


def parse_spec(spec: str) -> tuple[str, dict]:
    """``DIR:split=train,held_out=theo`` → (DIR, {"split": "train", "held_out": "theo"})."""
    path, opts = spec, {}
    head, sep, tail = spec.rpartition(":")
    if sep and head and not Path(spec).exists() and not re.match(r"^[A-Za-z]$", head):
        path = head
        for part in filter(None, tail.split(",")):
            k, eq, v = part.partition("=")
            if not eq:
                k, v = "split", k
            if k not in ("split", "held_out", "strings", "seed"):
                raise LiteformerError(f"{spec}: unknown option {k!r} (split, held_out, strings, seed)")
            opts[k] = v.strip()
    if opts.get("split", "all") not in SPLITS:
        raise LiteformerError(f"{spec}: unknown split {opts['split']!r} ({', '.join(SPLITS)})")
    for k in ("strings", "seed"):
        if k in opts and not opts[k].isdigit():
            raise LiteformerError(f"{spec}: {k} must be a whole number, got {opts[k]!r}")
    return path, opts


def read_speech(spec: str | SpeechDataset) -> SpeechDataset:
    """A split named as in the module's docstring."""
    if isinstance(spec, SpeechDataset):
        return spec
    path, opts = parse_spec(spec)
    p = BUNDLED_FSDD / "recordings" if path == "fsdd" and not Path(path).exists() else Path(path)
    if p.is_dir():
        ds = _read_named_folder(p, opts, spec)
    elif p.suffix.lower() == ".tsv" and p.is_file():
        if opts:
            raise LiteformerError(f"{spec}: options apply to a folder of named clips, not to a TSV file")
        ds = _read_tsv(p, spec)
    elif not p.exists():
        raise LiteformerError(f"{p}: no such file or folder")
    else:
        raise LiteformerError(f"{p}: expected a folder of WAV files or a .tsv of path and text")
    if "strings" in opts:
        ds = digit_strings(ds, int(opts["strings"]), int(opts.get("seed", 0)), spec)
    if not len(ds):
        raise LiteformerError(f"{spec}: no clips in this split")
    return ds


def _read_named_folder(folder: Path, opts: dict, spec: str) -> SpeechDataset:
    rows = []
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() != ".wav":
            continue
        m = NAMED.match(f.name)
        if not m:
            raise LiteformerError(f"{f}: name is not {{label}}_{{speaker}}_{{index}}.wav")
        rows.append((f, m["label"], m["speaker"], int(m["index"])))
    if not rows:
        raise LiteformerError(f"{folder}: no .wav files")
    speakers = sorted({r[2] for r in rows})
    held = opts.get("held_out", speakers[-1])
    if held not in speakers:
        raise LiteformerError(f"{spec}: held_out speaker {held!r} is not in {folder} ({', '.join(speakers)})")
    split = opts.get("split", "all")
    keep = {"all": lambda s, i: True, "test": lambda s, i: i < 5, "dev": lambda s, i: s != held and 5 <= i < 10,
            "train": lambda s, i: s != held and i >= 10, "heldout": lambda s, i: s == held}[split]
    rows = [r for r in rows if keep(r[2], r[3])]
    audio = [_load(r[0]) for r in rows]
    return SpeechDataset(audio, [label_text(r[1]) for r in rows], [r[2] for r in rows], [r[0].name for r in rows],
                         spec, info={"split": split, "held_out": held})


def _read_tsv(path: Path, spec: str) -> SpeechDataset:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise LiteformerError(f"{path}: not UTF-8 text (byte {e.start})") from None
    reader = csv.DictReader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    cols = reader.fieldnames or []
    if "path" not in cols or "text" not in cols:
        raise LiteformerError(f"{path}: needs a header with 'path' and 'text' columns (has {cols})")
    audio, texts, speakers, names = [], [], [], []
    for n, row in enumerate(reader, start=2):
        if not row.get("path") or row.get("text") is None:
            raise LiteformerError(f"{path}:{n}: empty path or text")
        f = (path.parent / row["path"]).resolve()
        audio.append(_load(f))
        texts.append(row["text"])
        speakers.append(row.get("speaker") or "")
        names.append(row["path"])
    return SpeechDataset(audio, texts, speakers, names, spec)


def _load(f: Path) -> np.ndarray:
    x = load_audio(f)
    if not len(x):
        raise LiteformerError(f"{f}: empty audio (0 samples)")
    return x


def digit_strings(ds: SpeechDataset, n: int, seed: int = 0, spec: str | None = None) -> SpeechDataset:
    """``n`` strings of 1–7 clips of one speaker each, joined by short pauses (``join_clips``); the
    speaker is drawn in proportion to their clips. The same (clips, n, seed) give the same strings."""
    by_speaker: dict[str, list[int]] = {}
    for i, s in enumerate(ds.speakers):
        by_speaker.setdefault(s, []).append(i)
    names = sorted(by_speaker)
    weights = np.array([len(by_speaker[s]) for s in names], np.float64)
    rng = np.random.default_rng(seed)
    out = SpeechDataset([], [], [], [], spec or f"{ds.path}:strings={n}", ds.sample_rate,
                        {**ds.info, "strings": n, "seed": seed})
    for _ in range(n):
        s = names[rng.choice(len(names), p=weights / weights.sum())]
        k = int(rng.integers(1, MAX_DIGITS + 1))
        picks = [by_speaker[s][j] for j in rng.integers(0, len(by_speaker[s]), k)]
        out.audio.append(join_clips([ds.audio[i] for i in picks], rng, ds.sample_rate))
        out.texts.append(" ".join(ds.texts[i] for i in picks))
        out.speakers.append(s)
        out.names.append("+".join(ds.names[i] for i in picks))
    return out


def join_clips(clips: list[np.ndarray], rng: np.random.Generator, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Clips joined by pauses of 50–300 ms (silence), a pause's length drawn per gap."""
    parts = []
    for j, c in enumerate(clips):
        if j:
            parts.append(np.zeros(int(rng.uniform(*PAUSE) * rate), np.float32))
        parts.append(c)
    return np.concatenate(parts).astype(np.float32)


def augment(x: np.ndarray, rng: np.random.Generator, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Training augmentation of one example: speed ×0.9/1.0/1.1 (resampling by linear interpolation,
    pitch moves with it, as in Kaldi's speed perturbation), gain −6…+6 dB, and on half the examples
    white or brown noise at 10–30 dB SNR. SpecAugment masks come later, on the features."""
    speed = float(rng.choice(SPEEDS))
    if speed != 1.0:
        n = max(2, int(round(len(x) / speed)))
        x = np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x).astype(np.float32)
    x = x * np.float32(10 ** (rng.uniform(-6, 6) / 20))
    if rng.random() < 0.5:
        noise = rng.standard_normal(len(x)).astype(np.float32)
        if rng.random() < 0.5:  # brown: integrated white noise, zero-mean
            noise = np.cumsum(noise)
            noise -= np.linspace(noise[0], noise[-1], len(noise))
        p_signal = float(np.mean(x * x)) + 1e-10
        p_noise = float(np.mean(noise * noise)) + 1e-10
        snr = rng.uniform(10, 30)
        x = x + noise * np.float32(np.sqrt(p_signal / (p_noise * 10 ** (snr / 10))))
    return np.clip(x, -1.0, 1.0).astype(np.float32)
