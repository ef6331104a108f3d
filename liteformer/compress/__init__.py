"""Compression verbs with config objects (torchao-style): ``quantize_(model, Int8DynamicConfig())``."""
