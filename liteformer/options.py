"""Options described once. A config dataclass's fields carry their help text and value check
(``opt(...)``); from them come the argparse flags (``add_flags``), the option types a recipe step
accepts (``option_types``), the configs built from parsed flags or recipe options (``from_values``)
and the check itself (``check_fields``), so a CLI flag, a recipe option and the Python API reject a
bad value with the same words:

    @dataclass
    class TrainConfig:
        lr: float = opt(5e-5, "peak learning rate", check=Range(0, 1, lo_open=True, hi_open=True))

    add_flags(parser, TrainConfig)          # --lr (float, checked), help "peak learning rate (default 5e-05)"
    option_types(TrainConfig)               # {"lr": (int, float), ...}
    check_fields(TrainConfig(lr=2))         # OptionError: lr must be in (0, 1), got 2

Cross-field rules (exactly one of, goes with) stay in each config's ``validate()``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from dataclasses import MISSING, dataclass

from liteformer.errors import LiteformerError

NUM = (int, float)


class OptionError(LiteformerError):
    """A bad option value; ``name`` is the field at fault (None for a rule across fields)."""

    def __init__(self, message: str, name: str | None = None, names: tuple[str, ...] = ()):
        super().__init__(message)
        self.name = name
        self.names = tuple(names) or ((name,) if name else ())

    def as_flags(self) -> str:
        """The message with the field names it mentions written as command-line flags."""
        import re
        msg = str(self)
        for n in sorted(self.names, key=len, reverse=True):
            msg = re.sub(rf"(?<![\w-]){re.escape(n)}\b", "--" + n.replace("_", "-"), msg)
        return msg


@dataclass(frozen=True)
class Range:
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def holds(self, v: float) -> bool:
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)

    def __str__(self) -> str:
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {_num(self.lo)}"
        if self.lo is None:
            return f"{'<' if self.hi_open else '<='} {_num(self.hi)}"
        return f"in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.hi_open else ']'}"


def _num(v) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


POSITIVE = Range(0, lo_open=True)
NON_NEGATIVE = Range(0)
UNIT = Range(0, 1)  # [0, 1]
SHARE = Range(0, 1, lo_open=True)  # (0, 1]: a kept share
HALF_OPEN = Range(0, 1, hi_open=True)  # [0, 1)
OPEN_UNIT = Range(0, 1, lo_open=True, hi_open=True)  # (0, 1)


def opt(default=None, help: str = "", *, check: Range | None = None, choices: tuple | None = None,
        cli: bool = True):
    """A dataclass field with its help text, range ``check`` and ``choices`` (each element's, for a
    list); ``cli=False`` keeps it out of the flags and recipe options (set by the program). A list
    default becomes a default factory."""
    md = {"help": help, "check": check, "choices": choices, "cli": cli}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=md)
    return dataclasses.field(default=default, metadata=md)


def _fields(cls, names=None) -> list[dataclasses.Field]:
    fs = {f.name: f for f in dataclasses.fields(cls)}
    if names is None:
        return [f for f in fs.values() if "help" in f.metadata]
    return [fs[n] for n in names]


def _kind(cls, f: dataclasses.Field):
    """(base type, element type or None) of a field's annotation, Optional removed."""
    hint = typing.get_type_hints(cls)[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = args[0]
        args = list(typing.get_args(hint))
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        return list, (args[0] if args else str)
    return hint, None


def check_value(cls, name: str, value) -> str | None:
    """Why ``value`` is not valid for field ``name`` of ``cls`` (None when it is)."""
    f = _fields(cls, [name])[0]
    if value is None:
        return None
    md = f.metadata
    base, elem = _kind(cls, f)
    if isinstance(value, list | tuple) and elem in (int, float, str):
        ok = (lambda x: isinstance(x, int) and not isinstance(x, bool)) if elem is int else (
            (lambda x: isinstance(x, int | float) and not isinstance(x, bool)) if elem is float else
            (lambda x: isinstance(x, str)))
        if not all(ok(x) for x in value):
            return f"{name} must be a list of {_noun(elem)[3:] if elem is int else _noun(elem)[2:]}s, got {list(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} must be a finite number, got {value}"
    if md.get("check") is not None and isinstance(value, NUM) and not md["check"].holds(value):
        return f"{name} must be {md['check']}, got {value}"
    choices = md.get("choices")
    if choices:
        if isinstance(value, list | tuple):
            if not value or any(v not in choices for v in value):
                if isinstance(value, tuple):
                    return f"{name} must be a non-empty subset of {', '.join(choices)}, got {list(value)}"
                return f"{name} must list values among {', '.join(choices)}, got {list(value)}"
        elif value not in choices:
            return f"{name} must be one of {', '.join(choices)}, got {value!r}"
    if isinstance(value, list | tuple) and md.get("check") is not None:
        bad = [v for v in value if not md["check"].holds(v)]
        if bad:
            return f"{name} values must be {md['check']}, got {list(value)}"
    return None


def check_fields(obj, names=None) -> None:
    """Raise OptionError for the first field of ``obj`` whose value fails its check."""
    for f in _fields(type(obj), names):
        msg = check_value(type(obj), f.name, getattr(obj, f.name))
        if msg:
            raise OptionError(msg, f.name)


def option_types(cls, names=None) -> dict[str, type | tuple]:
    """Field name -> the YAML type(s) a recipe option of that field must have."""
    out = {}
    for f in _fields(cls, names):
        if not f.metadata.get("cli", True):
            continue
        base, _ = _kind(cls, f)
        out[f.name] = NUM if base is float else base
    return out


def from_values(cls, values: dict, names=None, **fixed):
    """``cls`` from the entries of ``values`` that name its fields (a recipe step's options, or
    ``vars()`` of parsed flags); absent or None ones keep their defaults. Lists become tuples where
    the field's default is a tuple."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    kw = {}
    for n in (names or known):
        if n in values and values[n] is not None and n in known:
            v = values[n]
            if isinstance(known[n].default, tuple) and isinstance(v, list):
                v = tuple(v)
            kw[n] = v
    return cls(**{**kw, **fixed})


def add_flags(parser, cls, names=None, *, prefix: str = "", defaults: dict | None = None,
              required: tuple = ()) -> None:
    """One flag per field: ``--{prefix}{name}``, typed and checked from the field; a bool is a switch
    (``--no-NAME`` when it defaults to true); a list is comma-separated."""
    defaults = defaults or {}
    for f in _fields(cls, names):
        if not f.metadata.get("cli", True):
            continue
        base, elem = _kind(cls, f)
        flag = f"--{prefix}{f.name}".replace("_", "-")
        dest = f"{prefix}{f.name}".replace("-", "_")
        default = defaults.get(f.name, f.default if f.default is not MISSING else f.default_factory())
        text = f.metadata.get("help", "").replace("%", "%%")
        if base is bool:
            if default:
                parser.add_argument(f"--{prefix}no-{f.name}".replace("_", "-"), dest=dest, action="store_false",
                                    help=text)
            else:
                parser.add_argument(flag, dest=dest, action="store_true", help=text)
            continue
        shown = ",".join(map(str, default)) if isinstance(default, list | tuple) else default
        if default is not None and f.name not in required:
            text = f"{text} (default {shown})" if text else f"default {shown}"
        choices = f.metadata.get("choices") if elem is None else None
        parser.add_argument(flag, dest=dest, type=_converter(cls, f.name, base, elem), default=default,
                            required=f.name in required, help=text, choices=choices,
                            metavar=None if choices else _metavar(base, elem))


def _converter(cls, name: str, base, elem):
    def convert(s: str):
        try:
            if base is list:
                v = [elem(x.strip()) for x in s.split(",") if x.strip()]
            else:
                v = base(s)
        except ValueError:
            if base is list:
                raise argparse.ArgumentTypeError(f"{name} {s!r}: expected comma-separated {_noun(elem)[3:]}s") from None
            raise argparse.ArgumentTypeError(f"{name} must be {_noun(base)}, got {s!r}") from None
        msg = check_value(cls, name, v)
        if msg:
            raise argparse.ArgumentTypeError(msg)
        return v
    convert.__name__ = _noun(elem if base is list else base)
    return convert


def _metavar(base, elem) -> str:
    if base is list:
        return "N,N" if elem is int else "A,B"
    return {int: "N", float: "X"}.get(base, "TEXT")


def _noun(t) -> str:
    return {int: "an integer", float: "a number", str: "a string"}.get(t, f"a {getattr(t, '__name__', t)}")
