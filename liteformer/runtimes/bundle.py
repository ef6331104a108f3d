"""Reading a deployable bundle: the artifact + ``liteformer.json`` (sidecar) + tokenizer files, so that
``run`` and ``bench`` (and a phone app) need nothing else."""

from __future__ import annotations

from pathlib import Path

from liteformer.errors import LiteformerError
from liteformer.fileio import read_json_object
from liteformer.runtimes.table import RUNTIMES

SIDECAR = "liteformer.json"


def find_sidecar(path: str | Path) -> Path | None:
    """The sidecar of a bundle folder, or of an artifact file inside one."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    side = folder / SIDECAR
    return side if side.exists() else None


def read_sidecar(path: str | Path, runtime: str | None = None) -> dict:
    """The bundle's sidecar, checked: a JSON object with the keys a runner needs, naming a known
    runtime (``runtime`` when given) whose artifact is in the folder."""
    side = find_sidecar(path)
    if side is None:
        raise LiteformerError(f"{path}: no {SIDECAR} beside the artifact (export it with liteformer export)")
    meta = read_json_object(side, "a liteformer bundle description (a JSON object)")
    for key in ("runtime", "artifact", "id2label", "max_length"):
        if key not in meta:
            raise LiteformerError(f"{side}: lacks {key!r}")
    if not isinstance(meta["runtime"], str) or meta["runtime"] not in RUNTIMES:
        raise LiteformerError(f"{side}: unknown runtime {meta['runtime']!r}")
    if runtime is not None and meta["runtime"] != runtime:
        raise LiteformerError(f"{side}: a {meta['runtime']} bundle, not {runtime}")
    if not isinstance(meta["artifact"], str) or Path(meta["artifact"]).name != meta["artifact"]:
        raise LiteformerError(f"{side}: 'artifact' must be a file name in the bundle, got {meta['artifact']!r}")
    suffix = RUNTIMES[meta["runtime"]].suffix
    if suffix and not meta["artifact"].endswith(suffix):
        raise LiteformerError(f"{side}: names runtime {meta['runtime']} but artifact {meta['artifact']!r} "
                              f"(a {meta['runtime']} artifact ends in {suffix})")
    if not isinstance(meta["id2label"], dict) or not isinstance(meta["max_length"], int):
        raise LiteformerError(f"{side}: 'id2label' must be a mapping and 'max_length' an integer")
    if not (side.parent / meta["artifact"]).exists():
        raise LiteformerError(f"{side.parent / meta['artifact']}: artifact missing from the bundle")
    return meta


def artifact_path(path: str | Path, meta: dict) -> Path:
    p = Path(path)
    return (p if p.is_dir() else p.parent) / meta["artifact"]


def bundle_files(path: str | Path) -> list[Path]:
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    return sorted(f for f in folder.iterdir() if f.is_file())
