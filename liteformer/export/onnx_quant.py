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
    if method == "int8-dynamic" and op_types is None:  # every kind but Conv: ConvInteger has no CPU kernel
        from onnxruntime.quantization.registry import IntegerOpsRegistry
        op_types = tuple(sorted(set(IntegerOpsRegistry) - {"Conv"}))
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


def int8_conv_weights(path: Path, exclude: set[str] | frozenset[str] = frozenset()) -> int:
    """Store the float weights of ``path``'s Conv nodes as int8 (per output channel, symmetric) behind a
    ``DequantizeLinear``: weight-only int8 for convolutions, which ONNX Runtime's dynamic quantization
    leaves float (its ConvInteger has no CPU kernel). Activations and the arithmetic stay float (ORT
    folds the dequantization into a float weight when the session loads); the file holds 1 byte a
    weight. Nodes named in ``exclude`` and 0/1 kernels (masks) keep float weights. Returns how many
    convolutions changed."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    changed, new_nodes = 0, []
    for node in graph.node:
        w = inits.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
        if w is None or node.name in exclude or uses.get(w.name, 0) != 1 or w.data_type != onnx.TensorProto.FLOAT:
            new_nodes.append(node)
            continue
        arr = numpy_helper.to_array(w)  # (C_out, C_in / groups, *kernel)
        if np.isin(arr, (0.0, 1.0)).all():  # a fixed 0/1 window (a speech model's masks) stays exact
            new_nodes.append(node)
            continue
        scale = np.abs(arr.reshape(arr.shape[0], -1)).max(axis=1) / 127.0
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        codes = np.clip(np.round(arr / scale.reshape(-1, *([1] * (arr.ndim - 1)))), -127, 127).astype(np.int8)
        graph.initializer.remove(w)
        graph.initializer.extend([numpy_helper.from_array(codes, w.name + "_int8"),
                                  numpy_helper.from_array(scale, w.name + "_scale"),
                                  numpy_helper.from_array(np.zeros(len(scale), np.int8), w.name + "_zero")])
        new_nodes.append(helper.make_node("DequantizeLinear", [w.name + "_int8", w.name + "_scale", w.name + "_zero"],
                                          [w.name], name=w.name + "_dequantize", axis=0))
        new_nodes.append(node)
        changed += 1
    if changed:
        del graph.node[:]
        graph.node.extend(new_nodes)
        if not any(op.domain in ("", "ai.onnx") and op.version >= 13 for op in model.opset_import):
            return 0  # per-axis DequantizeLinear needs opset 13
        tmp = path.with_name(path.name + ".tmp")
        onnx.save(model, str(tmp))
        tmp.replace(path)
    return changed
