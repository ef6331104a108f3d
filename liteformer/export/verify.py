"""Verify an exported bundle against its source model on real inputs, through the same runtime
adapter that ``run`` and ``bench`` use."""

from __future__ import annotations

import numpy as np
import torch

from liteformer.bench.runtimes import run_each
from liteformer.data.tokenizer import TextTokenizer
from liteformer.errors import LiteformerError

FP32_TOLERANCE = 1e-4  # max |logit difference| for a float artifact
MIN_AGREEMENT = 0.99  # share of equal predicted labels for a quantized artifact


def verify_bundle(runner, model: torch.nn.Module, tokenizer: TextTokenizer, texts: list[str],
                  max_length: int, quantized: bool = False) -> dict:
    """Raise LiteformerError naming the diverging output; return the measured agreement."""
    if not texts:
        raise LiteformerError("verify: no inputs")
    enc = tokenizer.encode(texts, max_length)
    worst, worst_i, agree = 0.0, 0, 0
    model.eval()
    for i, (ids, got) in enumerate(zip(enc.ids, run_each(runner, enc.ids), strict=True)):
        x = torch.tensor([ids])
        with torch.inference_mode():
            ref = model(x, torch.ones_like(x)).double().numpy().reshape(-1)
        d = float(np.abs(got - ref).max())
        if d > worst:
            worst, worst_i = d, i
        agree += int(got.argmax() == ref.argmax())
    n = len(enc.ids)
    result = {"inputs": n, "max_abs_diff": worst, "label_agreement": agree / n, "quantized": quantized}
    where = f"input {worst_i} ({texts[worst_i][:40]!r})"
    if not quantized and worst > FP32_TOLERANCE:
        raise LiteformerError(f"verify failed: output 'logits' differs from the source by {worst:.2e} "
                              f"(> {FP32_TOLERANCE:g}) at {where}")
    if agree / n < MIN_AGREEMENT:
        raise LiteformerError(f"verify failed: predicted labels agree on {agree}/{n} inputs "
                              f"(< {MIN_AGREEMENT:.0%}); largest logit difference {worst:.2e} at {where}")
    return result
