"""Export to the phone runtimes: ``exporter.export_model`` writes a verified bundle; each runtime's
backend (named in ``liteformer.runtimes.RUNTIMES``) is one module here, imported only when used,
with its own quantizer beside it (``onnx_quant``, ``litert_quant``; ExecuTorch's is inline)."""
