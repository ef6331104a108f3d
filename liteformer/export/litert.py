"""LiteRT (.tflite) export with litert-torch: one signature per sequence-length bucket.

litert-torch 0.10 cannot convert a dynamic sequence length and the interpreter cannot resize the
RESHAPE-carrying graph, so each bucket (e.g. 16/32/64/128 tokens) is a static signature of the same
file; the weights are stored once. ``run``/``bench`` pick the smallest bucket that fits an input.
Token ids are int32 (what LiteRT's EMBEDDING_LOOKUP/GATHER take).
"""

from __future__ import annotations

from pathlib import Path

import torch

from liteformer.export.options import ExportOptions, sample_inputs


def signature_name(length: int) -> str:
    return f"len{length}"


def convert(model: torch.nn.Module, out_dir: Path, opts: ExportOptions) -> dict:
    import litert_torch

    buckets = opts.bucket_list()
    conv = None
    for T in buckets:
        ids, mask = sample_inputs(1, T, torch.int32)
        kwargs = {"input_ids": ids, "attention_mask": mask}
        conv = (litert_torch.signature if conv is None else conv.signature)(signature_name(T), model,
                                                                          sample_kwargs=kwargs)
    edge = conv.convert()
    path = out_dir / ("model_fp32.tflite" if opts.quantize else "model.tflite")
    edge.export(str(path))
    signatures = {signature_name(T): T for T in buckets}
    quant = None
    from liteformer.export.litert_quant import compact, quantize
    if opts.quantize:
        quant = quantize(path, out_dir / "model.tflite", opts.quantize, opts.calibration, signatures)
        path.unlink()
        path = out_dir / "model.tflite"
    compact(path)  # quantization tables shared across signatures, short inner tensor names
    return {"artifact": path.name, "buckets": buckets, "signatures": signatures, "quantization": quant,
            "inputs": [{"name": "input_ids", "dtype": "int32", "shape": [1, "bucket"]},
                       {"name": "attention_mask", "dtype": "int32", "shape": [1, "bucket"]}],
            "outputs": [{"name": "output_0", "dtype": "float32", "shape": [1, model.config.num_labels]}]}
