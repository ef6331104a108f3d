"""``export_model``: a model folder → one bundle per runtime, verified before it is put in place.

The runtime's exporter module comes from the runtimes table; the exported artifact is loaded back
through the same ``Runner`` that ``run`` and ``bench`` use and checked by the model's task
(``tasks``: for a classifier, fp32 logits within 1e-4, labels agreeing on ≥ 99 %)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from liteformer import runtimes, tasks
from liteformer.export.options import ExportOptions
from liteformer.fileio import atomic_dir
from liteformer.models.checkpoint import LoadedModel, file_sha256
from liteformer.models.transformer import count_parameters
from liteformer.quiet import quiet
from liteformer.runtimes.bundle import SIDECAR

TASK = "text-classification"  # the task of every model liteformer exports today


def export_model(loaded: LoadedModel, runtime: str, out: str | Path, opts: ExportOptions,
                 verify_texts: list[str] | None = None, threads: int = 2, extra: dict | None = None) -> dict:
    """Write a bundle for ``runtime`` at ``out`` (atomically); verify it unless no texts are given."""
    loaded.require_classifier(f"export to {runtime}")
    model = loaded.model.eval()
    opts.validate(model.config.max_positions)
    opts.check_quantize(runtime)
    if opts.keep_float:
        from liteformer.compress.quantize.groups import check_groups
        check_groups(opts.keep_float, model.config)
    be = runtimes.exporter(runtime)
    task = tasks.get(TASK)
    t0 = time.time()
    with atomic_dir(out) as tmp:
        with quiet():  # the converters' own progress output (see liteformer.quiet)
            meta = be.convert(model, tmp, opts)
        loaded.tokenizer.save(tmp)
        src = loaded.path / "model.safetensors"
        sidecar = {
            "format": "liteformer-bundle", "version": 1, "runtime": runtime, **meta,
            "max_length": opts.max_length, "task": task.name,
            "id2label": {str(k): v for k, v in model.config.id2label.items()},
            "parameters": count_parameters(model), "config": model.config.to_dict(),
            "source": {"path": str(loaded.path), "sha256": file_sha256(src) if src.exists() else None},
            "export": {"quantization": opts.method, "keep_float": list(opts.keep_float),
                       "calibration_inputs": len(opts.calibration or []), "seconds": None},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **(extra or {}),
        }
        _write(tmp, sidecar)
        if verify_texts:
            runner = runtimes.load(runtime, tmp, None, threads, trusted=True)
            with quiet():  # a runtime's first run prints its own lines (LiteRT's XNNPACK delegate)
                sidecar["verify"] = task.verify(runner, model, loaded.tokenizer, verify_texts, opts.max_length,
                                                quantized=opts.quantize is not None)
            del runner
        sidecar["export"]["seconds"] = round(time.time() - t0, 1)
        _write(tmp, sidecar)
    return sidecar


def _write(folder: Path, sidecar: dict) -> None:
    (folder / SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
