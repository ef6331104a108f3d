"""The compression verbs' common ground: one config base and one registry.

    quantize_(model, Int8DynamicConfig())                      # compress/quantize/
    prune_(model, StructuredConfig(target=0.5), data)           # compress/prune/
    factorize_(model, LowRankConfig(ratio=0.7))                 # compress/factorize/

A method is one file: a frozen config dataclass derived from ``CompressConfig`` (its ``verb`` and
``method`` name, a ``validate()`` that checks it once for the CLI, recipes and the Python API) and a
handler registered for it with ``@register(ConfigType)``. The verbs dispatch on the config's type,
so adding a method never touches a verb. Compression knows models and task data, nothing of
runtimes, export or measurement.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from liteformer.errors import LiteformerError

_HANDLERS: dict[type, Callable[..., Any]] = {}


@dataclass(frozen=True)
class CompressConfig:
    """Base of every method's config. Subclasses set ``verb`` and ``method`` and may extend
    ``validate`` (call ``super().validate()``: every number must be finite)."""

    verb: ClassVar[str] = ""  # "quantize", "prune", "factorize"
    method: ClassVar[str] = ""  # how the CLI and recipes name it: "int8-dynamic", "structured", "low-rank"

    def validate(self, model_config=None) -> None:
        """Raise LiteformerError naming the field at fault; ``model_config`` for checks that depend on
        the model (a layer that does not exist, a target below the model's floor)."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise LiteformerError(f"{f.name.replace('_', '-')} must be a finite number, got {v}")

    def to_dict(self) -> dict:
        return {"verb": self.verb, "method": self.method, **dataclasses.asdict(self)}


def register(config_type: type[CompressConfig]):
    """Decorator: ``fn(model, config, *args)`` realizes ``config_type``'s method."""
    def deco(fn):
        _HANDLERS[config_type] = fn
        return fn
    return deco


def methods(verb: str) -> dict[str, type[CompressConfig]]:
    """Method name -> config type of the registered methods of ``verb``."""
    return {t.method: t for t in _HANDLERS if t.verb == verb}


def apply(verb: str, model, config, *args):
    """Dispatch ``verb`` on ``config``'s type; the config is validated first."""
    handler = _HANDLERS.get(type(config))
    if handler is None or getattr(config, "verb", None) != verb:
        known = ", ".join(t.__name__ for t in _HANDLERS if t.verb == verb)
        noun = {"quantize": "quantizer", "prune": "pruner", "factorize": "factorizer"}.get(verb, f"{verb} method")
        raise TypeError(f"no {noun} registered for {type(config).__name__} (registered: {known})")
    config.validate(getattr(model, "config", None))
    return handler(model, config, *args)
