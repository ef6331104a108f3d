"""ExecuTorch export: torch.export (dynamic sequence length) → XNNPACK-lowered .pte."""

from __future__ import annotations

from pathlib import Path

import torch

from liteformer.export.options import ExportOptions, sample_inputs


def convert(model: torch.nn.Module, out_dir: Path, opts: ExportOptions) -> dict:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    ids, mask = sample_inputs(1, min(8, opts.max_length), torch.long)
    seq = torch.export.Dim("seq", min=2, max=opts.max_length)
    ep = torch.export.export(model, (ids, mask), dynamic_shapes=({1: seq}, {1: seq}), strict=False)
    program = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch()
    path = out_dir / "model.pte"
    path.write_bytes(program.buffer)
    return {"artifact": path.name, "backend": "xnnpack",
            "inputs": [{"name": "input_ids", "dtype": "int64", "shape": [1, f"seq<={opts.max_length}"]},
                       {"name": "attention_mask", "dtype": "int64", "shape": [1, f"seq<={opts.max_length}"]}],
            "outputs": [{"name": "logits", "dtype": "float32", "shape": [1, model.config.num_labels]}]}
