"""Atomic writes (outputs appear whole or not at all), the output-path policy and checked JSON reads.

Output policy (``check_output``, run by the CLI before any work): an output path that exists is
replaced only when liteformer wrote it (a model folder, bundle, bench report, recipe work folder or
JSON report of its own) or with ``--overwrite``; an output under a file, or where nothing can be
written, is refused at once rather than after the work."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from liteformer.errors import LiteformerError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temp folder beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        replace_dir(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(src: str | Path, dst: str | Path) -> None:
    """Put folder ``src`` at ``dst`` (same file system), replacing what is there: the old one is
    moved aside first and removed only after the new one is in place."""
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not (dst.exists() or dst.is_symlink()):
        os.replace(src, dst)
        return
    old = dst.with_name(f".{dst.name}.old")
    _remove(old)
    os.replace(dst, old)
    os.replace(src, dst)
    _remove(old)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink(missing_ok=True)


def clean_stale(folder: str | Path, prefix: str) -> None:
    """Remove temp files and folders a killed run left in ``folder`` (names ``.{prefix}*.tmp``/``.old``)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for x in folder.glob(f".{prefix}*"):
        if x.name.endswith((".tmp", ".old")):
            _remove(x)


# what marks a path as liteformer's own output (checked by content, not by name)
_OURS_FILES = ("liteformer.json", "bench.json", "recipe-result.json")


def is_ours(path: str | Path) -> bool:
    """True when ``path`` is something liteformer wrote: a model folder (config.json with
    ``liteformer_info`` or liteformer's own model type), a bundle (liteformer.json), a bench report
    (bench.json), a recipe work folder (recipe-result.json or cache/), a folder of bundles, or a JSON
    report of ``eval``."""
    p = Path(path)
    if p.is_file():
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return False
        return isinstance(d, dict) and {"model", "data", "accuracy"} <= set(d)
    if not p.is_dir():
        return False
    if any((p / f).is_file() for f in _OURS_FILES) or (p / "cache").is_dir():
        return True
    cfg = p / "config.json"
    if cfg.is_file():
        try:
            d = json.loads(cfg.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return False
        return isinstance(d, dict) and ("liteformer_info" in d or d.get("model_type") == "liteformer")
    subs = [x for x in p.iterdir() if not x.name.startswith(".")]
    return bool(subs) and all(x.is_dir() and (x / "liteformer.json").is_file() for x in subs)


def check_output(path: str | Path, overwrite: bool = False, flag: str = "--out") -> Path:
    """Before any work: refuse an output that exists and is not liteformer's (unless ``overwrite``),
    an output under a file, and a location where nothing can be written. Creates nothing."""
    p = Path(path)
    if p.exists() and not overwrite and not is_ours(p):
        if p.is_file() or any(p.iterdir()):
            kind = "a file" if p.is_file() else "a folder with files liteformer did not write"
            raise LiteformerError(f"{flag} {p}: exists and is {kind}; choose another {flag} or pass --overwrite "
                                  "to replace it")
    ancestor = p if p.exists() and p.is_dir() else p.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise LiteformerError(f"{flag} {p}: {ancestor} is a file, not a folder")
    try:  # the only way to know: make (and remove) a temp folder there
        probe = tempfile.mkdtemp(prefix=".liteformer-probe-", dir=ancestor)
        os.rmdir(probe)
    except OSError as e:
        raise LiteformerError(f"{flag} {p}: cannot write in {ancestor} ({e.strerror or e})") from None
    return p


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json_object(path: str | Path, what: str = "a JSON object") -> dict:
    """A JSON file that must hold an object; anything else is one error line naming the file."""
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise LiteformerError(f"{path}: not valid JSON ({e})") from None
    except FileNotFoundError:
        raise LiteformerError(f"{path}: no such file") from None
    except OSError as e:
        raise LiteformerError(f"{path}: cannot be read ({e.strerror or e})") from None
    if not isinstance(d, dict):
        raise LiteformerError(f"{path}: not {what}")
    return d
