"""ONNX Runtime quantization of an exported fp32 .onnx: dynamic int8 (weights int8, activations
quantized on the fly) or static int8 (QDQ, per-channel weights, calibrated activations). Groups
named in ``keep_float`` stay in float (mixed precision)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from liteformer.compress.quantize.groups import group_of

_SCOPE = re.compile(r"/([\w.]+): ")


def node_groups(path: Path) -> dict[str, str]:
    """ONNX node name → weight group, from the module scopes the dynamo exporter records."""
    import onnx
    model = onnx.load(str(path), load_external_data=False)
    out = {}
    for node in model.graph.node:
        scope = next((p.value for p in node.metadata_props if p.key == "namespace"), "")
        group = next((g for g in map(group_of, reversed(_SCOPE.findall(scope))) if g), None)
        if group is None:  # legacy exporter: names like /encoder/layers.0/attn/q/MatMul
            group = group_of(node.name.strip("/").replace("/", "."))
        if group:
            out[node.name] = group
    return out


class _Reader:
    def __init__(self, calibration: list[list[int]]) -> None:
        self.items = iter(calibration)

    def get_next(self):
        ids = next(self.items, None)
        if ids is None:
            return None
        x = np.asarray([ids], dtype=np.int64)
        return {"input_ids": x, "attention_mask": np.ones_like(x)}


def quantize(fp32: Path, out: Path, method: str, calibration: list[list[int]] | None,
             keep_float: tuple[str, ...], op_types: tuple[str, ...] | None = None) -> dict:
    """``op_types``: quantize only these ONNX ops (default: every kind ONNX Runtime quantizes)."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    groups = node_groups(fp32)
    exclude = [n for n, g in groups.items() if g in keep_float]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ORT's root-logger advice to "run pre-processing"; restored below
    try:
        if method == "int8-dynamic":
            # per-channel weights: per-tensor int8 costs the reference teacher 1.0 point, per-channel none
            # DefaultTensorType: shape inference does not type the outputs of ORT's fused contrib ops
            quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                             nodes_to_exclude=exclude, op_types_to_quantize=list(op_types) if op_types else None,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        elif method == "int8-static":
            quantize_static(str(fp32), str(out), _Reader(calibration or []), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=exclude, extra_options={"ActivationSymmetric": False})
        else:
            raise ValueError(method)
    finally:
        root.setLevel(level)
    return {"method": method, "excluded_nodes": len(exclude)}
