import wave

import numpy as np
import pytest

from liteformer.data.audio import _resample_numpy, load_audio, read_wav, resample, write_wav
from liteformer.errors import LiteformerError


def tone(seconds=0.25, rate=8000, hz=440.0):
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def write_pcm(path, data: bytes, rate=8000, channels=1, width=2):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)


@pytest.mark.parametrize("rate,target", [(8000, 16000), (44100, 16000), (22050, 16000), (48000, 16000),
                                         (16000, 8000), (11025, 16000)])
def test_resample_matches_scipy(rate, target):
    signal = pytest.importorskip("scipy.signal")
    x = np.random.default_rng(0).standard_normal(2000).astype(np.float32)
    g = np.gcd(rate, target)
    ref = signal.resample_poly(x, target // g, rate // g)
    ours = _resample_numpy(x, target // g, rate // g)  # the NumPy fallback, not SciPy's
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-5
    assert resample(x, rate, target).shape == ref.shape


def test_resample_keeps_a_tone():
    y = resample(tone(0.5, 8000, 440.0), 8000, 16000)
    spectrum = np.abs(np.fft.rfft(y[2000:6000]))
    assert abs(np.fft.rfftfreq(4000, 1 / 16000)[spectrum.argmax()] - 440) < 5


def test_wav_round_trip_and_formats(tmp_path):
    x = tone()
    write_wav(tmp_path / "a.wav", x, 8000)
    y, rate = read_wav(tmp_path / "a.wav")
    assert rate == 8000 and np.abs(x - y).max() < 1e-4
    stereo = np.stack([(x * 32767).astype("<i2"), np.zeros_like(x, dtype="<i2")], 1)
    write_pcm(tmp_path / "s.wav", stereo.tobytes(), channels=2)
    assert np.abs(read_wav(tmp_path / "s.wav")[0] - x / 2).max() < 1e-4  # mixed down to mono
    u8 = (np.clip(x * 128 + 128, 0, 255)).astype(np.uint8)
    write_pcm(tmp_path / "u8.wav", u8.tobytes(), width=1)
    assert np.abs(read_wav(tmp_path / "u8.wav")[0] - x).max() < 0.01
    i24 = (np.round(x * 8388607).astype(np.int32))
    raw = np.stack([(i24 >> s) & 0xFF for s in (0, 8, 16)], 1).astype(np.uint8).tobytes()
    write_pcm(tmp_path / "i24.wav", raw, width=3)
    assert np.abs(read_wav(tmp_path / "i24.wav")[0] - x).max() < 1e-5
    assert len(load_audio(tmp_path / "a.wav")) == 2 * len(x)  # 8 kHz → 16 kHz


def test_bad_audio_is_one_line(tmp_path):
    (tmp_path / "text.wav").write_text("not audio")
    write_pcm(tmp_path / "empty.wav", b"")
    write_wav(tmp_path / "full.wav", tone())
    raw = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(raw[: len(raw) // 2])
    for name, words in (("text.wav", "not a PCM WAV"), ("empty.wav", "empty audio"), ("cut.wav", "truncated"),
                        ("missing.wav", "no such file")):
        with pytest.raises(LiteformerError, match=words) as e:
            read_wav(tmp_path / name)
        assert name in str(e.value) and "\n" not in str(e.value)
