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
        from liteformer.export.onnx_quant import int8_conv_weights, node_groups, quantize
        quant = quantize(path, out_dir / "model.onnx", opts.method, opts.calibration, opts.keep_float)
        if opts.method == "int8-dynamic":  # light blocks' depthwise convolutions: int8 weights, float math
            kept = {n for n, g in node_groups(path).items() if g in opts.keep_float}
            quant["int8_conv_weights"] = int8_conv_weights(out_dir / "model.onnx", kept)
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


def convert_seq2seq(model: torch.nn.Module, out_dir: Path, opts: ExportOptions) -> dict:
    """An encoder-decoder as two graphs, ``encode.onnx`` and ``decode.onnx`` (models/seq2seq_graphs),
    dynamic batch and source length, the decoder cache fixed at ``max_target`` slots."""
    import onnx  # noqa: F401

    from liteformer.models import seq2seq_graphs as g

    L = opts.target_length(model.config.max_positions)
    enc_in, dec_in = g.sample_inputs(model, L, 2, 8, torch.long)
    batch = torch.export.Dim("batch", min=1, max=4096)
    src = torch.export.Dim("source", min=2, max=opts.max_length)
    enc_dyn = {"input_ids": {0: batch, 1: src}, "attention_mask": {0: batch, 1: src}}
    dec_dyn = {"token": {0: batch}, "position": None, "attention_mask": {0: batch, 1: src},
               "self_k": {0: batch}, "self_v": {0: batch}, "cross_k": {0: batch, 2: src}, "cross_v": {0: batch, 2: src}}
    if g.CONV_INPUT in dec_in:  # an LSRA decoder's convolution cache
        dec_dyn[g.CONV_INPUT] = {0: batch}
    dec_names, dec_outs = g.decode_names(model)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    graphs, quant = {}, {}
    for name, module, sample, dyn, inputs, outputs in (
            ("encode", g.EncodeGraph(model), enc_in, enc_dyn, g.ENCODE_INPUTS, g.ENCODE_OUTPUTS),
            ("decode", g.DecodeGraph(model), dec_in, dec_dyn, dec_names, dec_outs)):
        final = out_dir / f"{name}.onnx"
        path = out_dir / f"{name}_fp32.onnx" if opts.quantize else final
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prog = torch.onnx.export(module, (), kwargs=sample, dynamo=True, external_data=False, verbose=False,
                                     dynamic_shapes=dyn, input_names=list(inputs), output_names=list(outputs))
            prog.save(str(path), external_data=False)
        if opts.quantize:
            from liteformer.export.onnx_quant import quantize
            quant[name] = quantize(path, final, opts.method, opts.calibration, opts.keep_float)
            path.unlink()
        strip_metadata(final)
        graphs[name] = final.name
    return {"artifact": graphs["encode"], "exporter": "dynamo", "graphs": graphs,
            "quantization": {"method": opts.method, **quant} if opts.quantize else None,
            "generation": {"layout": g.layout(model, L)}}


def convert_speech(model: torch.nn.Module, out_dir: Path, opts: ExportOptions) -> dict:
    """A speech recognizer as one graph, ``audio (batch, samples), audio_mask → logits, frame_mask``,
    features inside, dynamic batch and length (any n_fft + 4·hop·k samples up to the longest).
    int8: the MatMul/Gemm weights dynamic int8, the convolutions' weights int8 behind a
    DequantizeLinear (weight-only: ONNX Runtime's dynamic ConvInteger has no CPU kernel); the features
    stay float (their power spectrum spans a range that per-tensor activation quantization would
    flatten)."""
    import onnx  # noqa: F401

    from liteformer.models.speech import exportable
    a = model.audio
    most, _ = opts.audio_lengths(a, model.config.max_positions)
    k = torch.export.Dim("k", min=1, max=(most - a.n_fft) // a.stride)
    batch = torch.export.Dim("batch", min=1, max=4096)
    sample = torch.zeros(2, a.padded(a.sample_rate)), torch.ones(2, a.padded(a.sample_rate))
    dyn = ({0: batch, 1: a.stride * k + a.n_fft}, {0: batch, 1: a.stride * k + a.n_fft})
    final = out_dir / "model.onnx"
    path = out_dir / "model_fp32.onnx" if opts.quantize else final
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(exportable(model), sample, dynamo=True, external_data=False, verbose=False,
                                 dynamic_shapes=dyn, input_names=["audio", "audio_mask"],
                                 output_names=["logits", "frame_mask"])
        prog.save(str(path), external_data=False)
    quant = None
    if opts.quantize:
        from liteformer.export.onnx_quant import int8_conv_weights, node_groups, quantize
        keep = ("features", *opts.keep_float)
        quant = quantize(path, final, opts.method, opts.calibration, keep, op_types=("MatMul", "Gemm"))
        kept = {n for n, g in node_groups(path).items() if g in keep}
        quant["int8_conv_weights"] = int8_conv_weights(final, kept)  # the subsampling convolutions
        path.unlink()
    strip_metadata(final)
    return {"artifact": final.name, "exporter": "dynamo", "quantization": quant, "max_samples": most}


def strip_metadata(path: Path) -> None:
    """Drop what only a debugger reads: the exporter's per-node metadata (module scopes, stack traces)
    and intermediate shape annotations — about half of a small model's file. Same graph, same outputs."""
    import onnx
    model = onnx.load(str(path))
    for node in model.graph.node:
        del node.metadata_props[:]
    del model.graph.value_info[:]
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(path)
