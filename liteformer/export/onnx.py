"""ONNX export (weights inside the file, dynamic batch and sequence axes): encoder classifiers go
through ONNX Runtime's transformer fusions (onnx_fuse), other models through the dynamo exporter."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

from liteformer.export.onnx_fuse import LEGACY_AXES, export_fused, why_not
from liteformer.export.options import ExportOptions, sample_inputs


def convert(model: torch.nn.Module, out_dir: Path, opts: ExportOptions) -> dict:
    import onnx  # noqa: F401  (fail early with the extra's name if missing)

    path = out_dir / ("model_fp32.onnx" if opts.quantize else "model.onnx")
    names = dict(input_names=["input_ids", "attention_mask"], output_names=["logits"])
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # e.g. "torchvision is not installed" notes
    fusion = {"ops": None, "skipped": why_not(model, opts)}
    if fusion["skipped"] is None:
        try:
            fusion["ops"] = export_fused(model, path, names)
            exporter = "legacy+ort-fusion"
        except Exception as e:  # a graph the optimizer does not handle: export it unfused
            fusion["skipped"] = f"fusion failed: {type(e).__name__}: {str(e)[:200]}"
    if fusion["ops"] is None:
        exporter = _export_plain(model, path, names)
    quant = None
    if opts.quantize:
        from liteformer.export.onnx_quant import quantize
        quant = quantize(path, out_dir / "model.onnx", opts.method, opts.calibration, opts.keep_float)
        path.unlink()
        path = out_dir / "model.onnx"
    return {"artifact": path.name, "exporter": exporter, "fusion": fusion, "quantization": quant,
            "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "seq"]},
                       {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "seq"]}],
            "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", model.config.num_labels]}]}


def _export_plain(model: torch.nn.Module, path: Path, names: dict) -> str:
    """The dynamo exporter (dynamic batch and length); the legacy one where dynamo fails."""
    ids, mask = sample_inputs(2, 8, torch.long)
    batch = torch.export.Dim("batch", min=1, max=4096)
    seq = torch.export.Dim("seq", min=2, max=model.config.max_positions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            prog = torch.onnx.export(model, (ids, mask), dynamo=True, external_data=False, verbose=False,
                                     dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}), **names)
            prog.save(str(path), external_data=False)
            return "dynamo"
        except Exception:  # e.g. T5-style attention: the legacy exporter handles it
            torch.onnx.export(model, (ids, mask), str(path), dynamo=False, dynamic_axes=LEGACY_AXES,
                              opset_version=17, **names)
            return "legacy"
