"""Options described once: flags, recipe types and checks derived from a dataclass's fields."""

import argparse
from dataclasses import dataclass

import pytest

from liteformer.options import (
    HALF_OPEN,
    NUM,
    POSITIVE,
    SHARE,
    OptionError,
    Range,
    add_flags,
    check_fields,
    from_values,
    opt,
    option_types,
)


@dataclass
class Cfg:
    rate: float = opt(0.5, "a share", check=SHARE)
    steps: int | None = opt(None, "how many", check=POSITIVE)
    drop: float = opt(0.0, "dropped share", check=HALF_OPEN)
    kinds: tuple[str, ...] = opt(("a", "b"), "which kinds", choices=("a", "b", "c"))
    sizes: list[int] | None = opt(None, "sizes", check=POSITIVE)
    fast: bool = opt(False, "go fast")
    fuse: bool = opt(True, "fuse")
    mode: str = opt("x", "mode", choices=("x", "y"))
    hidden: str | None = opt(None, "set by the program", cli=False)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    add_flags(p, Cfg)
    return p


def test_range_text_and_bounds():
    assert str(SHARE) == "in (0, 1]" and str(HALF_OPEN) == "in [0, 1)" and str(POSITIVE) == "> 0"
    assert str(Range(2)) == ">= 2"
    assert SHARE.holds(1) and not SHARE.holds(0) and HALF_OPEN.holds(0) and not HALF_OPEN.holds(1)


def test_flags_parse_convert_and_default():
    a = _parser().parse_args(["--rate", "0.25", "--kinds", "a,c", "--sizes", "16,32", "--fast", "--no-fuse"])
    assert (a.rate, a.kinds, a.sizes, a.fast, a.fuse, a.steps, a.mode) == (0.25, ["a", "c"], [16, 32], True, False,
                                                                              None, "x")
    assert not hasattr(a, "hidden")
    cfg = from_values(Cfg, vars(a))
    assert cfg.kinds == ("a", "c") and cfg.sizes == [16, 32] and cfg.hidden is None


@pytest.mark.parametrize("argv,msg", [
    (["--rate", "0"], "rate must be in (0, 1], got 0.0"),
    (["--steps", "x"], "steps must be an integer, got 'x'"),
    (["--steps", "-3"], "steps must be > 0, got -3"),
    (["--kinds", "a,z"], "kinds must list values among a, b, c"),
    (["--sizes", "16,0"], "sizes values must be > 0"),
    (["--rate", "nan"], "rate must be a finite number"),
])
def test_flags_reject_bad_values_with_the_fields_words(argv, msg):
    with pytest.raises(argparse.ArgumentError, match=None) as e:
        _parser().parse_args(argv)
    assert msg in str(e.value)


def test_help_shows_text_and_default():
    text = _parser().format_help()
    assert "a share (default 0.5)" in text and "--no-fuse" in text and "{x,y}" in text and "--hidden" not in text


def test_recipe_types_from_annotations():
    t = option_types(Cfg)
    assert t["rate"] == NUM and t["steps"] is int and t["kinds"] is list and t["fast"] is bool
    assert t["mode"] is str and "hidden" not in t


def test_check_fields_names_the_field():
    with pytest.raises(OptionError) as e:
        check_fields(Cfg(drop=1.0))
    assert e.value.name == "drop" and str(e.value) == "drop must be in [0, 1), got 1.0"
    with pytest.raises(OptionError, match="kinds must be a non-empty subset of a, b, c"):
        check_fields(Cfg(kinds=()))
    check_fields(Cfg())


def test_error_as_flags():
    e = OptionError("needs exactly one of target_flops, target_params", None, ("target_flops", "target_params"))
    assert e.as_flags() == "needs exactly one of --target-flops, --target-params"
    assert OptionError("lr must be in (0, 1), got 2", "lr").as_flags() == "--lr must be in (0, 1), got 2"
