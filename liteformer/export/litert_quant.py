"""LiteRT quantization of an exported fp32 .tflite with the AI Edge Quantizer: dynamic-range int8
(int8 weights, activations quantized on the fly), static int8 (calibrated activations, one
calibration set per length-bucket signature), or dynamic int4 weights (channel-wise).

Each signature is its own subgraph, and the quantizer's writer gives every tensor of every subgraph
its own copy of its quantization parameters: a per-channel (per-row) table is stored once per length
bucket, about 12 bytes a row each time (~0.8 MB for a 13k-row embedding and 4 buckets).
The converter also names every inner tensor after its module path (~0.3 MB for a 4-layer model).
``compact`` rewrites the file with one copy of each distinct quantization set, shared by offset,
and short names for the tensors no signature reads or writes: same weights, same graph, same outputs.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

RECIPES = {"int8-dynamic": "dynamic_wi8_afp32", "int8-static": "static_wi8_ai8", "int4-dynamic": "dynamic_wi4_afp32"}


def _calibration(calibration: list[list[int]], signatures: dict[str, int],
                 floor: int = 8) -> dict[str, list[dict]]:
    """Each input calibrates the smallest bucket that holds it (as at run time); a bucket that gets
    fewer than ``floor`` inputs is topped up with others, padded or cut to its length."""
    order = sorted(signatures.items(), key=lambda kv: kv[1])
    chosen: dict[str, list[list[int]]] = {name: [] for name, _ in order}
    for ids in calibration:
        name = next((n for n, T in order if len(ids) <= T), order[-1][0])
        chosen[name].append(ids)
    out = {}
    for name, T in order:
        others = [x for x in calibration if x not in chosen[name]]
        rows_ids = chosen[name] + others[: max(0, floor - len(chosen[name]))]
        rows = []
        for ids in rows_ids:
            ids = ids[:T]
            x = np.zeros((1, T), dtype=np.int32)
            m = np.zeros((1, T), dtype=np.int32)
            x[0, : len(ids)], m[0, : len(ids)] = ids, 1
            rows.append({"input_ids": x, "attention_mask": m})
        out[name] = rows
    return out


def quantize(fp32: Path, out: Path, method: str, calibration: list[list[int]] | None,
             signatures: dict[str, int]) -> dict:
    from ai_edge_quantizer import quantizer, recipe

    qt = quantizer.Quantizer(str(fp32))
    qt.load_quantization_recipe(getattr(recipe, RECIPES[method])())
    calib = None
    with contextlib.redirect_stdout(io.StringIO()):
        if qt.need_calibration:
            calib = qt.calibrate(_calibration(calibration or [], signatures), num_threads=2)
        result = qt.quantize(calib, enable_progress_report=False)
    result.export_model(str(out), overwrite=True)
    return {"method": method, "recipe": RECIPES[method]}


def _quant_key(q) -> tuple:
    arrays = tuple(None if (v := getattr(q, f)) is None else (np.asarray(v).dtype.str, np.asarray(v).tobytes())
                   for f in ("min", "max", "scale", "zeroPoint"))
    return arrays, q.quantizedDimension, q.detailsType, id(q.details) if q.details is not None else None


@contextlib.contextmanager
def _shared_packing():
    """While active, packing two equal QuantizationParameters tables into one builder writes the
    first once and points the second at it (a flatbuffer may share a table between parents)."""
    from ai_edge_litert import schema_py_generated as schema
    original = schema.QuantizationParametersT.Pack
    packed: dict[tuple, int] = {}

    def pack(self, builder):
        key = (id(builder), _quant_key(self))
        if key not in packed:
            packed[key] = original(self, builder)
        return packed[key]

    schema.QuantizationParametersT.Pack = pack
    try:
        yield
    finally:
        schema.QuantizationParametersT.Pack = original


def compact(path: Path) -> tuple[int, int]:
    """Rewrite the .tflite at ``path`` with its duplicate quantization tables shared and its inner
    tensors renamed ``t<index>``; (bytes before, bytes after). Signature inputs and outputs keep
    their names; weights, graph and signatures are unchanged, so the outputs are bit-identical."""
    from ai_edge_litert.tools import flatbuffer_utils

    before = path.stat().st_size
    model = flatbuffer_utils.read_model(str(path))
    if any(getattr(b, "offset", 0) for b in model.buffers):  # a >2 GB file keeps its weights outside: as is
        return before, before
    for sg in model.subgraphs:
        keep = set(sg.inputs) | set(sg.outputs)
        for i, t in enumerate(sg.tensors):
            if i not in keep:
                t.name = f"t{i}"
    with _shared_packing():
        data = flatbuffer_utils.convert_object_to_bytearray(model)
    tmp = path.with_name(path.name + ".compact")
    tmp.write_bytes(data)
    tmp.replace(path)
    return before, len(data)
