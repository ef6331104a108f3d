import numpy as np
import pytest

from liteformer.data.audio import write_wav
from liteformer.data.chars import CharTokenizer, ctc_collapse, load_chars, normalize_for_scoring
from liteformer.data.speech import augment, digit_strings, parse_spec, read_speech
from liteformer.errors import LiteformerError


def test_bundled_fsdd_splits():
    test, dev, train, held = (read_speech(f"fsdd:{s}") for s in ("test", "dev", "train", "heldout"))
    assert len(test) == 60 and len(dev) == 50 and len(train) == 150 and len(held) == 50
    assert set(held.speakers) == {"yweweler"} and "yweweler" not in set(train.speakers) | set(dev.speakers)
    assert not set(train.names) & set(dev.names) and not set(train.names) & set(test.names)
    assert {t for t in test.texts} == {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
    other = read_speech("fsdd:train,held_out=theo")
    assert "theo" not in other.speakers and "yweweler" in other.speakers
    assert all(x.dtype == np.float32 and 3000 < len(x) < 40000 for x in train.audio)  # 16 kHz


def test_digit_strings_are_deterministic_one_speaker_each():
    a = read_speech("fsdd:heldout,strings=20,seed=3")
    b = read_speech("fsdd:heldout,strings=20,seed=3")
    assert a.texts == b.texts and all(np.array_equal(x, y) for x, y in zip(a.audio, b.audio, strict=True))
    assert len(a) == 20 and all(1 <= len(t.split()) <= 7 for t in a.texts)
    clips = read_speech("fsdd:heldout")
    s = digit_strings(clips, 5, seed=1)
    for audio, names in zip(s.audio, s.names, strict=True):
        parts = names.split("+")
        assert len({n.split("_")[1] for n in parts}) == 1
        assert len(audio) >= sum(len(clips.audio[clips.names.index(n)]) for n in parts)


def test_spec_options_and_bad_specs(tmp_path):
    assert parse_spec("dir:train") == ("dir", {"split": "train"})
    assert parse_spec("dir:split=heldout,held_out=x,strings=5") == ("dir", {"split": "heldout", "held_out": "x",
                                                                      "strings": "5"})
    for spec, words in (("fsdd:nonsense", "unknown split"), ("fsdd:colour=red", "unknown option"),
                        ("fsdd:strings=many", "whole number"), ("fsdd:held_out=bob", "not in"),
                        (str(tmp_path / "nowhere"), "no such file")):
        with pytest.raises(LiteformerError, match=words):
            read_speech(spec)
    (tmp_path / "clip.wav").write_bytes(b"RIFF")
    with pytest.raises(LiteformerError, match="clip.wav: name is not"):
        read_speech(str(tmp_path))


def test_tsv_split(tmp_path):
    rng = np.random.default_rng(0)
    write_wav(tmp_path / "a.wav", 0.1 * rng.standard_normal(8000), 16000)
    write_wav(tmp_path / "b.wav", 0.1 * rng.standard_normal(4000), 8000)
    (tmp_path / "s.tsv").write_text("path\ttext\tspeaker\na.wav\tHello  World\tx\nb.wav\tyes\ty\n")
    ds = read_speech(str(tmp_path / "s.tsv"))
    assert ds.texts == ["Hello  World", "yes"] and ds.speakers == ["x", "y"] and len(ds.audio[1]) == 8000
    (tmp_path / "bad.tsv").write_text("file\ttranscript\na.wav\tx\n")
    with pytest.raises(LiteformerError, match="'path' and 'text'"):
        read_speech(str(tmp_path / "bad.tsv"))


def test_chars_and_scoring_normalization(tmp_path):
    tok = CharTokenizer()
    ids = tok.encode_one("Seven  Three")
    assert tok.decode(ids) == "seven three" and 0 not in ids and tok.vocab_size == 29
    with pytest.raises(LiteformerError, match=r"clip.wav: characters outside the model's alphabet \('7'\)"):
        tok.encode_one("room 7", "clip.wav")
    tok.save(tmp_path)
    assert load_chars(tmp_path).alphabet == tok.alphabet
    assert ctc_collapse([0, 3, 3, 0, 3, 5, 5, 0]) == [3, 3, 5]
    assert normalize_for_scoring("Seven, 3-1!") == "seven three one"
    assert normalize_for_scoring("It's 42.") == "it's four two"


def test_augment_changes_length_and_level_but_stays_in_range():
    x = (0.3 * np.sin(np.arange(16000) / 10)).astype(np.float32)
    lengths = {len(augment(x, np.random.default_rng(s))) for s in range(30)}
    assert lengths == {14545, 16000, 17778}  # speeds 1.1, 1.0, 0.9
    y = augment(x, np.random.default_rng(1))
    assert y.dtype == np.float32 and np.abs(y).max() <= 1.0
    assert np.array_equal(y, augment(x, np.random.default_rng(1)))
