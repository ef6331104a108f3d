"""ONNX Runtime's transformer fusions for encoder classifiers.

The dynamo exporter writes ``scaled_dot_product_attention`` as a dozen small ops that no ORT fusion
recognizes. Here the model is exported with the explicit attention math and BERT's additive mask
(``Attention.additive_mask``) through the TorchScript exporter, and ``onnxruntime.transformers``
fuses each layer's attention into one ``Attention`` op (``QAttention`` after int8-dynamic),
residual + LayerNorm into ``SkipLayerNormalization`` and bias + GELU into ``BiasGelu``. On the
reference teacher this takes ORT int8-dynamic from 1.61× to 1.88× the speed of the plain fp32 graph
(2-core AVX2 machine, ``benchmarks/quantize_teacher.py --runtimes onnx``). The fused ops are ORT
contrib ops (domain com.microsoft): they run in ONNX Runtime (desktop and the mobile packages), not
in other ONNX runtimes — hence ``--no-fuse``.

Fusion is best-effort: patterns it does not match (e.g. low-rank q/k/v) stay as plain ops, and the
export check compares the result with the source model like any other artifact.
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path

import torch

from liteformer.export.options import ExportOptions, sample_inputs

# dynamic axes for the TorchScript (legacy) exporter, used here and by the plain export's fallback
LEGACY_AXES = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "logits": {0: "batch"}}
FUSED_OPS = ("Attention", "SkipLayerNormalization", "BiasGelu", "Gelu", "FastGelu", "LayerNormalization")


def why_not(model: torch.nn.Module, opts: ExportOptions) -> str | None:
    """The reason this export is not fused, or None when it is."""
    from liteformer.models.transformer import TransformerForSequenceClassification as Classifier
    if not opts.fuse:
        return "--no-fuse"
    if not isinstance(model, Classifier):
        return f"{type(model).__name__} (fusion covers encoder classifiers)"
    if opts.method not in (None, "int8-dynamic"):
        return f"{opts.method} (its QDQ graph is quantized unfused)"
    if opts.keep_float:
        return "--keep-float (mixed precision needs the per-layer node names of the unfused graph)"
    return None


def export_fused(model: torch.nn.Module, path: Path, names: dict) -> dict:
    """Write the fused fp32 graph to ``path``; return how many of each fused op it holds."""
    from onnxruntime.transformers.optimizer import optimize_model

    m = copy.deepcopy(model).eval()
    for mod in m.modules():
        if hasattr(mod, "additive_mask"):
            mod.additive_mask = True
    raw = path.with_name(path.stem + ".unfused.onnx")
    ids, mask = sample_inputs(1, 8, torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (ids, mask), str(raw), dynamo=False, dynamic_axes=LEGACY_AXES, opset_version=17, **names)
    level = logging.getLogger("onnxruntime.transformers").level
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)  # per-pattern "fused N" notes
    try:
        # heads (0 = read from each layer's reshape: pruned layers differ) and width found in the graph
        fused = optimize_model(str(raw), model_type="bert", num_heads=0, hidden_size=0, opt_level=1)
        stats = fused.get_fused_operator_statistics()
        fused.save_model_to_file(str(path))
    finally:
        logging.getLogger("onnxruntime.transformers").setLevel(level)
        raw.unlink(missing_ok=True)
    return {op: n for op, n in stats.items() if n and op in FUSED_OPS}
