"""Audio in: WAV files read with the standard ``wave`` module (PCM 8/16/24/32-bit, mono or several
channels, any sample rate), mixed down to mono and resampled to the model's rate (16 kHz) with a
windowed-sinc polyphase filter of our own (the same method as ``scipy.signal.resample_poly``, tested
against it; SciPy's is used where it is installed, being faster), so that reading audio needs nothing
beyond NumPy.

What a phone app must do before the exported graph: the same — 16 kHz mono float32 samples in
[-1, 1]. Every problem with a file (not a WAV, truncated, compressed, empty) is one
``LiteformerError`` line naming the file.
"""

from __future__ import annotations

import math
import wave
from functools import lru_cache
from pathlib import Path

import numpy as np

from liteformer.errors import LiteformerError

SAMPLE_RATE = 16_000  # what the speech models take


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """(samples (N,) float32 in [-1, 1], mono, at the file's rate; the file's sample rate)."""
    p = Path(path)
    try:
        with wave.open(str(p), "rb") as w:
            channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except FileNotFoundError:
        raise LiteformerError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise LiteformerError(f"{p}: is a folder, expected a WAV file") from None
    except (wave.Error, EOFError) as e:
        raise LiteformerError(f"{p}: not a PCM WAV file ({e})") from None
    except OSError as e:
        raise LiteformerError(f"{p}: cannot be read ({e.strerror or e})") from None
    if rate <= 0 or channels <= 0:
        raise LiteformerError(f"{p}: invalid WAV header ({channels} channels at {rate} Hz)")
    frame = channels * width
    if len(raw) < n * frame:  # the header promises more than the file holds
        raise LiteformerError(f"{p}: truncated WAV file ({len(raw) // frame} of {n} frames present)")
    if n == 0:
        raise LiteformerError(f"{p}: empty audio (0 samples)")
    x = _pcm_to_float(raw[: n * frame], width).reshape(n, channels)
    return x.mean(axis=1, dtype=np.float32) if channels > 1 else x[:, 0], rate


def _pcm_to_float(raw: bytes, width: int) -> np.ndarray:
    if width == 1:  # unsigned 8-bit
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    if width == 3:  # 24-bit little-endian: widen to int32 with the sign in the top byte
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8
        return (v >> 8).astype(np.float32) / 8388608.0
    if width == 4:
        return (np.frombuffer(raw, "<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
    raise LiteformerError(f"unsupported sample width {width} bytes")


def load_audio(path: str | Path, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A WAV file as mono float32 samples at ``rate``."""
    x, sr = read_wav(path)
    return resample(x, sr, rate)


def write_wav(path: str | Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Mono 16-bit PCM (for tests, demos and the digit strings a user may want to hear)."""
    pcm = np.clip(np.round(np.asarray(samples, np.float64) * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


@lru_cache(maxsize=16)
def _filter(up: int, down: int) -> np.ndarray:
    """A Kaiser-windowed (β 5) sinc low-pass at the lower of the two Nyquist rates: resample_poly's design."""
    m = max(up, down)
    half = 10 * m
    t = np.arange(-half, half + 1, dtype=np.float64)
    h = np.sinc(t / m) * np.kaiser(2 * half + 1, 5.0)
    return h / h.sum() * up  # unit gain at DC per output phase (firwin's scaling)


def resample(x: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """``x`` (N,) at ``rate`` → float32 at ``target``: upsample by ``up``, low-pass, keep every
    ``down``-th sample (``up/down`` = ``target/rate`` reduced), the filter centred so that sample 0
    stays at time 0; ceil(N·up/down) samples out."""
    x = np.asarray(x, np.float32)
    if rate == target:
        return x
    g = math.gcd(int(rate), int(target))
    up, down = target // g, rate // g
    try:  # the same filter, 40× faster where SciPy is installed
        from scipy.signal import resample_poly
        return resample_poly(x, up, down).astype(np.float32)
    except ImportError:
        pass
    return _resample_numpy(x, up, down)


def _resample_numpy(x: np.ndarray, up: int, down: int) -> np.ndarray:
    h = _filter(up, down)
    n_out = -(-len(x) * up // down)
    # the output sample k sits at upsampled index k·down; it sums h[k·down − j·up + half]·x[j]
    half = (len(h) - 1) // 2
    taps = -(-len(h) // up) + 1
    y = np.empty(n_out, np.float32)
    step = max(1, (1 << 21) // taps)  # outputs per chunk: a few MB of index arrays, whatever the length
    for start in range(0, n_out, step):
        k = np.arange(start, min(n_out, start + step), dtype=np.int64)[:, None]
        j = (k * down - half + up - 1) // up + np.arange(taps, dtype=np.int64)[None, :]  # (chunk, taps)
        idx = k * down - j * up + half
        ok = (idx >= 0) & (idx < len(h)) & (j >= 0) & (j < len(x))
        xs = np.where(ok, x[np.clip(j, 0, len(x) - 1)], 0.0)
        y[k[:, 0]] = (xs * np.where(ok, h[np.clip(idx, 0, len(h) - 1)], 0.0)).sum(axis=1)
    return y
