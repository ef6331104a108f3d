"""LiteRT files: one copy of each quantization table, however many length signatures share it,
and short inner tensor names."""

import shutil

import numpy as np
import pytest

from liteformer.export import litert
from liteformer.export.options import ExportOptions
from liteformer.models.checkpoint import load_model

pytest.importorskip("litert_torch")


def test_compact_file_shrinks_and_changes_no_output(tiny_folder, tmp_path, monkeypatch):
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.tools import flatbuffer_utils

    lm = load_model(tiny_folder)
    monkeypatch.setattr(litert, "compact", lambda path: None)  # the quantizer's own file
    meta = litert.convert(lm.model.eval(), tmp_path, ExportOptions(max_length=32, buckets=(8, 16, 32),
                                                                  quantize="int8-dynamic"))
    monkeypatch.undo()
    plain, shared = tmp_path / meta["artifact"], tmp_path / "shared.tflite"
    shutil.copy(plain, shared)
    before, after = litert.compact(shared)
    assert before == plain.stat().st_size and after == shared.stat().st_size
    # each of the 3 signatures held its own copy of the per-row scales of the word table
    # (4-byte scale + 8-byte zero point a row): two copies go
    rows = lm.model.config.vocab_size
    assert before - after >= 2 * rows * 12
    names = [t.name for sg in flatbuffer_utils.read_model(str(shared)).subgraphs for t in sg.tensors]
    assert max(map(len, names)) < 40
    a, b = (flatbuffer_utils.read_model(str(p)) for p in (plain, shared))
    assert [bytes(x.data) for x in a.buffers if x.data is not None] == \
           [bytes(x.data) for x in b.buffers if x.data is not None]  # the same weights
    runs = [Interpreter(model_path=str(p), num_threads=1) for p in (plain, shared)]
    for name, T in meta["signatures"].items():
        ids = np.random.default_rng(T).integers(5, rows, (1, T)).astype(np.int32)
        mask = np.ones_like(ids)
        outs = [list(r.get_signature_runner(name)(input_ids=ids, attention_mask=mask).values())[0] for r in runs]
        np.testing.assert_array_equal(outs[0], outs[1])
