"""``export_model``: a model folder → one bundle per runtime, verified before it is put in place."""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

from liteformer.errors import LiteformerError
from liteformer.export.bundle import SIDECAR
from liteformer.export.options import ExportOptions
from liteformer.fileio import atomic_dir
from liteformer.models.checkpoint import LoadedModel, file_sha256
from liteformer.models.transformer import count_parameters

# runtime -> (backend module, pip extra, modules that must import)
BACKENDS = {
    "onnx": ("liteformer.export.onnx", "onnx", ("onnx", "onnxruntime")),
    "litert": ("liteformer.export.litert", "litert", ("litert_torch", "ai_edge_litert")),
    "executorch": ("liteformer.export.executorch", "executorch", ("executorch",)),
}


def backend(runtime: str):
    if runtime not in BACKENDS:
        raise LiteformerError(f"unknown export target {runtime!r} (targets: {', '.join(BACKENDS)})")
    module, extra, needs = BACKENDS[runtime]
    for name in needs:
        try:
            importlib.import_module(name)
        except ImportError:
            raise LiteformerError(f"export to {runtime} needs {name}: pip install 'liteformer[{extra}]'") from None
    return importlib.import_module(module)


def export_model(lm: LoadedModel, runtime: str, out: str | Path, opts: ExportOptions,
                 verify_texts: list[str] | None = None, threads: int = 2, extra: dict | None = None) -> dict:
    """Write a bundle for ``runtime`` at ``out`` (atomically); verify it unless no texts are given."""
    from liteformer.bench import runtimes
    from liteformer.export.verify import verify_bundle

    model = lm.model.eval()
    opts.validate(model.config.max_positions)
    opts.check_quantize(runtime)
    if opts.keep_float:
        from liteformer.compress.groups import check_groups
        check_groups(opts.keep_float, model.config)
    be = backend(runtime)
    t0 = time.time()
    with atomic_dir(out) as tmp:
        meta = be.convert(model, tmp, opts)
        lm.tokenizer.save(tmp)
        src = lm.path / "model.safetensors"
        sidecar = {
            "format": "liteformer-bundle", "version": 1, "runtime": runtime, **meta,
            "max_length": opts.max_length, "task": "text-classification",
            "id2label": {str(k): v for k, v in model.config.id2label.items()},
            "parameters": count_parameters(model), "config": model.config.to_dict(),
            "source": {"path": str(lm.path), "sha256": file_sha256(src) if src.exists() else None},
            "export": {"quantization": opts.quantize, "keep_float": list(opts.keep_float),
                       "calibration_inputs": len(opts.calibration or []), "seconds": None},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **(extra or {}),
        }
        _write(tmp, sidecar)
        if verify_texts:
            runner = runtimes.load(runtime, tmp, None, threads)
            sidecar["verify"] = verify_bundle(runner, model, lm.tokenizer, verify_texts, opts.max_length,
                                              quantized=opts.quantize is not None)
            del runner
        sidecar["export"]["seconds"] = round(time.time() - t0, 1)
        _write(tmp, sidecar)
    return sidecar


def _write(folder: Path, sidecar: dict) -> None:
    (folder / SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
