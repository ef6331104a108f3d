"""LiteRT quantization of an exported fp32 .tflite with the AI Edge Quantizer: dynamic-range int8
(int8 weights, activations quantized on the fly), static int8 (calibrated activations, one
calibration set per length-bucket signature), or dynamic int4 weights (channel-wise)."""

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


def quantize(fp32: Path, out: Path, method: str | None, calibration: list[list[int]] | None,
             signatures: dict[str, int], weight_only_regex: str | None = None) -> dict:
    """``method`` None: nothing but the ``weight_only_regex`` ops; those (ops whose output tensors'
    names match it) get channel-wise int8 weights with an explicit DEQUANTIZE and float arithmetic."""
    from ai_edge_quantizer import qtyping, quantizer, recipe

    qt = quantizer.Quantizer(str(fp32))
    qt.load_quantization_recipe(getattr(recipe, RECIPES[method])() if method else [])
    if weight_only_regex:
        weights = qtyping.TensorQuantizationConfig(num_bits=8, symmetric=True,
                                                   granularity=qtyping.QuantGranularity.CHANNELWISE)
        cfg = qtyping.OpQuantizationConfig(weight_tensor_config=weights, explicit_dequantize=True,
                                           compute_precision=qtyping.ComputePrecision.FLOAT)
        qt.update_quantization_recipe(regex=weight_only_regex, operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                      op_config=cfg)
    calib = None
    with contextlib.redirect_stdout(io.StringIO()):
        if qt.need_calibration:
            calib = qt.calibrate(_calibration(calibration or [], signatures), num_threads=2)
        result = qt.quantize(calib, enable_progress_report=False)
    result.export_model(str(out), overwrite=True)
    return {"method": method, "recipe": RECIPES.get(method),
            **({"weight_only_int8": weight_only_regex} if weight_only_regex else {})}

