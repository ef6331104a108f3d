"""LiteRT (.tflite) export with litert-torch: one signature per sequence-length bucket.

litert-torch 0.10 cannot convert a dynamic sequence length and the interpreter cannot resize the
RESHAPE-carrying graph, so each bucket (e.g. 16/32/64/128 tokens) is a static signature of the same
file; the weights are stored once. ``run``/``bench`` pick the smallest bucket that fits an input.
Token ids are int32 (what LiteRT's EMBEDDING_LOOKUP/GATHER take).

Each signature is its own subgraph, and the quantizer's writer gives every tensor of every subgraph
its own copy of its quantization parameters: a per-channel (per-row) table is stored once per length
bucket, about 12 bytes a row each time (~0.8 MB for a 13k-row embedding and 4 buckets). The
converter also names every inner tensor after its module path (~0.3 MB for a 4-layer model).
``compact`` rewrites every exported file with one copy of each distinct quantization set, shared by
offset, and short names for the tensors no signature reads or writes: same weights, same graph,
same outputs.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
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
    signatures = {signature_name(T): T for T in buckets}
    path, quant = _write(conv, out_dir, "model", opts, signatures)
    return {"artifact": path.name, "buckets": buckets, "signatures": signatures, "quantization": quant,
            "inputs": [{"name": "input_ids", "dtype": "int32", "shape": [1, "bucket"]},
                       {"name": "attention_mask", "dtype": "int32", "shape": [1, "bucket"]}],
            "outputs": [{"name": "output_0", "dtype": "float32", "shape": [1, model.config.num_labels]}]}


def convert_seq2seq(model: torch.nn.Module, out_dir: Path, opts: ExportOptions) -> dict:
    """An encoder-decoder as one .tflite with two signatures per source-length bucket S,
    ``encode_S`` and ``decode_S`` (models/seq2seq_graphs; batch 1, int32 ids, the decoder cache fixed
    at ``max_target`` slots). The weights are stored once for all signatures."""
    import litert_torch

    from liteformer.models import seq2seq_graphs as g

    L = opts.target_length(model.config.max_positions)
    buckets = opts.bucket_list()
    encode, decode = g.EncodeGraph(model).eval(), g.DecodeGraph(model).eval()
    conv, signatures = None, {}
    for S in buckets:
        enc_in, dec_in = g.sample_inputs(model, L, 1, S, torch.int32)
        for name, module, sample in ((f"encode_{S}", encode, enc_in), (f"decode_{S}", decode, dec_in)):
            conv = (litert_torch.signature if conv is None else conv.signature)(name, module, sample_kwargs=sample)
            signatures[name] = S
    path, quant = _write(conv, out_dir, "model", opts, signatures)
    return {"artifact": path.name, "buckets": buckets, "signatures": signatures, "quantization": quant,
            "generation": {"layout": g.layout(model, L)}}


def convert_speech(model: torch.nn.Module, out_dir: Path, opts: ExportOptions) -> dict:
    """A speech recognizer as one .tflite with a signature ``asr_N`` per audio-length bucket of N samples
    (``audio (1, N), audio_mask (1, N) → logits, frame_mask``, features inside). The feature matrices
    are stored int8 weight-only (DEQUANTIZE of a constant, which the XNNPACK delegate folds at load:
    the same values as the model's int8 codes, float arithmetic), fp32 export or not; int8 adds
    dynamic-range weights everywhere else."""
    import litert_torch

    from liteformer.models.speech import exportable
    _, buckets = opts.audio_lengths(model.audio, model.config.max_positions)
    module = exportable(model, fold_features=True)
    conv, signatures = None, {}
    for N in buckets:
        sample = {"audio": torch.zeros(1, N), "audio_mask": torch.ones(1, N)}
        conv = (litert_torch.signature if conv is None else conv.signature)(f"asr_{N}", module, sample_kwargs=sample)
        signatures[f"asr_{N}"] = N
    path, quant = _write(conv, out_dir, "model", opts, signatures, features_regex=".*LogMel_features.*")
    return {"artifact": path.name, "buckets": buckets, "signatures": signatures, "quantization": quant,
            "max_samples": buckets[-1]}


def _write(conv, out_dir: Path, stem: str, opts: ExportOptions, signatures: dict[str, int],
           features_regex: str | None = None) -> tuple[Path, dict | None]:
    """Convert, quantize if asked (ops whose outputs match ``features_regex`` get int8 weight-only
    storage, float arithmetic, whether or not the rest is quantized), compact; the final file and the
    quantizer's report (None for fp32)."""
    edge = conv.convert()
    staged = bool(opts.quantize) or features_regex is not None
    path = out_dir / (f"{stem}_fp32.tflite" if staged else f"{stem}.tflite")
    edge.export(str(path))
    quant = None
    if staged:
        from liteformer.export.litert_quant import quantize
        quant = quantize(path, out_dir / f"{stem}.tflite", opts.method, opts.calibration, signatures, features_regex)
        path.unlink()
        path = out_dir / f"{stem}.tflite"
        quant = quant if opts.quantize else None
    compact(path)  # quantization tables shared across signatures, short inner tensor names
    return path, quant


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
