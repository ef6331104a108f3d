"""The one table of runtime facts (see ``liteformer.runtimes``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    name: str
    extra: str | None  # pip extra that installs it: pip install 'liteformer[EXTRA]'
    needs: tuple[str, ...]  # modules that must import for it to run (and export)
    runner: str  # module with load(path, variant, threads) -> Runner
    exporter: str | None = None  # module with convert(model, out_dir, ExportOptions) -> sidecar fields
    suffix: str | None = None  # artifact file suffix
    quantization: tuple[str, ...] = ()  # methods realized in its own file (export --quantize)
    variants: tuple[str | None, ...] = (None,)  # load-time variants (bench: RUNTIME+VARIANT:PATH)
    magic: tuple[int, bytes] | None = None  # (offset, bytes) every artifact file of this runtime has
    isolate: bool = False  # a corrupt file can abort the process inside the runtime: load it in a child first


RUNTIMES: dict[str, Runtime] = {r.name: r for r in (
    Runtime("torch", None, ("torch",), "liteformer.runtimes.torch_rt", variants=(None, "int8-dynamic")),
    Runtime("onnx", "onnx", ("onnx", "onnxruntime"), "liteformer.runtimes.onnx_rt", "liteformer.export.onnx",
            ".onnx", ("int8-dynamic", "int8-static"), magic=(0, b"\x08")),  # ModelProto.ir_version first
    Runtime("litert", "litert", ("litert_torch", "ai_edge_litert"), "liteformer.runtimes.litert_rt",
            "liteformer.export.litert", ".tflite", ("int8-dynamic", "int8-static", "int4-dynamic"),
            magic=(4, b"TFL3")),  # the flatbuffer file identifier
    Runtime("executorch", "executorch", ("executorch",), "liteformer.runtimes.executorch_rt",
            "liteformer.export.executorch", ".pte", ("int8-dynamic", "int8-static"), magic=(4, b"ET"),
            isolate=True),  # ET12...: the program flatbuffer's identifier
    # an anchor, not a target: Whisper in CTranslate2 (faster-whisper), for the speech bench
    Runtime("whisper", "speech-anchor", ("faster_whisper", "ctranslate2"), "liteformer.runtimes.whisper_rt",
            variants=(None, "int8", "float32")),
)}
EXPORT_TARGETS = tuple(n for n, r in RUNTIMES.items() if r.exporter)
QUANTIZATION_METHODS = tuple(dict.fromkeys(m for r in RUNTIMES.values() for m in r.quantization))
