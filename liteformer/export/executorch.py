"""ExecuTorch export: torch.export (dynamic sequence length) → XNNPACK-lowered .pte; int8 exports
also store the vocabulary table as int8 rows (compress.embedding_quant)."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import torch

from liteformer.compress.quantize import quantize_
from liteformer.compress.quantize.int8_embedding import Int8EmbeddingConfig
from liteformer.export.options import ExportOptions, sample_inputs


def convert(model: torch.nn.Module, out_dir: Path, opts: ExportOptions) -> dict:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    ids, mask = sample_inputs(1, min(8, opts.max_length), torch.long)
    seq = torch.export.Dim("seq", min=2, max=opts.max_length)
    int8_table = bool(opts.quantize) and "embeddings" not in opts.keep_float
    if int8_table:  # XNNPACK has no int8 embedding: int8 rows + per-row scales, gathered by plain ops
        model = quantize_(copy.deepcopy(model), Int8EmbeddingConfig())
    ep = torch.export.export(model, (ids, mask), dynamic_shapes=({1: seq}, {1: seq}), strict=False)
    quant = None
    if opts.quantize:
        ep, quant = _pt2e_quantize(ep, model, opts, (ids, mask), {}, ({1: seq}, {1: seq}))
        quant["int8_embedding"] = int8_table
    program = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    path = out_dir / "model.pte"
    path.write_bytes(program.buffer)
    return {"artifact": path.name, "backend": "xnnpack", "quantization": quant,
            "inputs": [{"name": "input_ids", "dtype": "int64", "shape": [1, f"seq<={opts.max_length}"]},
                       {"name": "attention_mask", "dtype": "int64", "shape": [1, f"seq<={opts.max_length}"]}],
            "outputs": [{"name": "logits", "dtype": "float32", "shape": [1, model.config.num_labels]}]}


def convert_seq2seq(model: torch.nn.Module, out_dir: Path, opts: ExportOptions) -> dict:
    """An encoder-decoder as one .pte with two methods, ``encode`` and ``decode``
    (models/seq2seq_graphs; batch 1, dynamic source length up to max_length, the decoder cache fixed
    at ``max_target`` slots), both lowered to XNNPACK."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from liteformer.models import seq2seq_graphs as g

    L = opts.target_length(model.config.max_positions)
    int8_table = bool(opts.quantize) and "embeddings" not in opts.keep_float
    output = None
    if int8_table:  # int8 rows for the lookups; the output projection an int8 Linear that XNNPACK runs as a GEMM
        output = g.untied_output(model)  # (rather than the int8 table dequantized at every step)
        model = quantize_(copy.deepcopy(model), Int8EmbeddingConfig())
        model.decoder.embeddings.word = model.encoder.embeddings.word  # still one (tied) table
    enc_in, dec_in = g.sample_inputs(model, L, 1, min(8, opts.max_length), torch.long)
    src = torch.export.Dim("source", min=2, max=opts.max_length)
    enc_dyn = {"input_ids": {1: src}, "attention_mask": {1: src}}
    dec_dyn = {"token": None, "position": None, "attention_mask": {1: src}, "self_k": None, "self_v": None,
               "cross_k": {2: src}, "cross_v": {2: src}}
    if g.CONV_INPUT in dec_in:  # an LSRA decoder's convolution cache (static)
        dec_dyn[g.CONV_INPUT] = None
    programs, quant = {}, None
    for name, module, sample, dyn in (("encode", g.EncodeGraph(model), enc_in, enc_dyn),
                                      ("decode", g.DecodeGraph(model, output), dec_in, dec_dyn)):
        ep = torch.export.export(module.eval(), (), kwargs=sample, dynamic_shapes=dyn, strict=False)
        if opts.quantize:
            ep, quant = _pt2e_quantize(ep, module, opts, (), sample, dyn, prefix="model.")
        programs[name] = ep
    if quant is not None:
        quant["int8_embedding"] = int8_table
    program = to_edge_transform_and_lower(programs, partitioner=[XnnpackPartitioner()]).to_executorch()
    path = out_dir / "model.pte"
    path.write_bytes(program.buffer)
    return {"artifact": path.name, "backend": "xnnpack", "quantization": quant, "methods": ["encode", "decode"],
            "generation": {"layout": g.layout(model, L)}}


def convert_speech(model: torch.nn.Module, out_dir: Path, opts: ExportOptions) -> dict:
    """A speech recognizer as one .pte (method ``forward``: ``audio (1, N), audio_mask (1, N) → logits,
    frame_mask``, features inside, N = n_fft + 4·hop·k up to the longest), lowered to XNNPACK. The
    feature matrices are stored as float (XNNPACK runs a convolution only with a constant weight; the
    int8 codes would cost ~0.7 MB less and run ~70x slower). int8: dynamic per-channel Linear
    weights; the log-mel front end stays float."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from liteformer.models.speech import exportable
    a = model.audio
    most, _ = opts.audio_lengths(a, model.config.max_positions)
    module = exportable(model, fold_features=True)  # a computed conv weight leaves XNNPACK: 27 vs 0.4 ms
    # whole strides only: every frame count is then an exact division (no guards on remainders)
    k = torch.export.Dim("k", min=1, max=(most - a.n_fft) // a.stride)
    dyn = ({1: a.stride * k + a.n_fft}, {1: a.stride * k + a.n_fft})
    sample = torch.zeros(1, a.padded(a.sample_rate)), torch.ones(1, a.padded(a.sample_rate))
    ep = torch.export.export(module, sample, dynamic_shapes=dyn, strict=False)
    quant = None
    if opts.quantize:
        keep = ("features", *opts.keep_float)
        ep, quant = _pt2e_quantize(ep, module, replace(opts, quantize=replace(opts.quantize, keep_float=keep)),
                                   sample, {}, dyn)
    program = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    path = out_dir / "model.pte"
    path.write_bytes(program.buffer)
    return {"artifact": path.name, "backend": "xnnpack", "quantization": quant, "max_samples": most}


def _pt2e_quantize(ep, model: torch.nn.Module, opts: ExportOptions, args: tuple, kwargs: dict, dynamic_shapes,
                   prefix: str = ""):
    """XNNPACK PT2E int8: symmetric per-channel weights; activations dynamic or calibrated.
    ``args``/``kwargs``: a sample input; ``prefix``: the path of the model inside ``model``."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from liteformer.compress.quantize.groups import group_of

    dynamic = opts.method == "int8-dynamic"
    qcfg = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic)
    quantizer = XNNPACKQuantizer().set_global(qcfg)
    kept = [name for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and group_of(name.removeprefix(prefix)) in opts.keep_float]
    if opts.keep_float:  # (set_module_name(name, None) is refused by this quantizer: filter the nodes instead)
        quantizer.set_filter_function(lambda node: not _in_groups(node, opts.keep_float, prefix))
    prepared = prepare_pt2e(ep.module(), quantizer)
    for ids in (opts.calibration or [])[:512]:  # static: observe activation ranges
        x = torch.tensor([ids[: opts.max_length]], dtype=torch.long)
        prepared(x, torch.ones_like(x))
    if not opts.calibration:
        prepared(*args, **kwargs)
    converted = convert_pt2e(prepared)
    ep = torch.export.export(converted, args, kwargs=kwargs, dynamic_shapes=dynamic_shapes, strict=False)
    return ep, {"method": opts.method, "quantizer": "XNNPACKQuantizer", "kept_float_linears": len(kept)}


def _in_groups(node, groups: tuple[str, ...], prefix: str) -> bool:
    """Whether an exported graph's node comes from a module of one of the weight ``groups``."""
    from liteformer.compress.quantize.groups import group_of
    stack = node.meta.get("nn_module_stack") or {}
    return any(group_of(str(path).removeprefix(prefix)) in groups for path, _ in stack.values())
