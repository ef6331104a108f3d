"""Parallel text for translation: sentence pairs (source, target).

A split is given as
- two aligned files joined by a comma, ``train.en.gz,train.de.gz`` (plain or gzip, one sentence a
  line; line i of one translates line i of the other);
- one ``.tsv``/``.csv``/``.jsonl`` file with ``source`` and ``target`` columns (other names with
  ``source_column``/``target_column``);
- a bundled name, ``multi30k:train`` / ``multi30k:val`` / ``multi30k:test`` (EN→DE; see
  ``liteformer/data/bundled/multi30k/README.md``).

Misaligned files, an empty sentence on either side, and text that is not UTF-8 are refused with
one line naming the file and the line.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, fields, replace
from pathlib import Path

from liteformer.data.text import BUNDLED, _rows
from liteformer.errors import LiteformerError

PAIRS = {"multi30k": ("en", "de")}  # bundled parallel sets: name -> (source, target) language


@dataclass
class ParallelDataset:
    sources: list[str]
    targets: list[str]
    path: str  # how the split was named

    def __len__(self) -> int:
        return len(self.sources)

    def head(self, n: int):
        """The first ``n`` examples (every per-example list cut, e.g. a summary's references too)."""
        return replace(self, **{f.name: getattr(self, f.name)[:n] for f in fields(self)
                                if isinstance(getattr(self, f.name), list)})


def _lines(p: Path) -> list[str]:
    """The lines of a plain or gzip text file (``\\n`` only: U+2028 inside a sentence is text)."""
    try:
        raw = p.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise LiteformerError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise LiteformerError(f"{p}: is a folder, expected a text file") from None
    except (OSError, EOFError) as e:  # a damaged gzip stream
        raise LiteformerError(f"{p}: cannot be read ({e})") from None
    except UnicodeDecodeError as e:
        raise LiteformerError(f"{p}: not UTF-8 text (byte {e.start})") from None
    lines = text.removeprefix("\ufeff").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [x.rstrip("\r") for x in lines]


def resolve_pair(spec: str) -> tuple[Path, Path] | Path:
    """(source file, target file) for two files or a bundled name; one Path for a column file."""
    if "," in spec:
        a, b = spec.split(",", 1)
        return Path(a), Path(b)
    if ":" in spec and not Path(spec).exists():
        name, split = spec.split(":", 1)
        if name not in PAIRS:
            raise LiteformerError(f"{spec}: no such bundled parallel set (bundled: "
                                  + ", ".join(f"{n}:train/val/test" for n in PAIRS) + ")")
        src, tgt = PAIRS[name]
        a, b = BUNDLED / name / f"{split}.{src}.gz", BUNDLED / name / f"{split}.{tgt}.gz"
        if not a.exists():
            raise LiteformerError(f"{spec}: no such bundled split (splits: train, val, test)")
        return a, b
    return Path(spec)


def read_parallel(spec: str | ParallelDataset, source_column: str = "source",
                  target_column: str = "target") -> ParallelDataset:
    """Read a split of sentence pairs (see the module docstring); a split already read passes through."""
    if isinstance(spec, ParallelDataset):
        return spec
    where = resolve_pair(str(spec))
    if isinstance(where, tuple):
        src, tgt = (_lines(p) for p in where)
        if len(src) != len(tgt):
            raise LiteformerError(f"{where[0]} has {len(src)} lines but {where[1]} has {len(tgt)}: the files "
                                  "are not aligned")
        pairs = list(zip(src, tgt, strict=True))
        lines = range(1, len(pairs) + 1)
        names = (str(where[0]), str(where[1]))
    else:
        columns, rows, lines = _rows(where)
        for col in (source_column, target_column):
            if col not in columns:
                raise LiteformerError(f"{where}: column {col!r} not found (columns: {columns})")
        pairs = []
        for n, r in zip(lines, rows, strict=True):
            s, t = r.get(source_column), r.get(target_column)
            if isinstance(s, dict | list) or isinstance(t, dict | list):
                raise LiteformerError(f"{where}: line {n}: {source_column!r} and {target_column!r} must be text")
            pairs.append(("" if s is None else str(s), "" if t is None else str(t)))
        names = (str(where), str(where))
    if not pairs:
        raise LiteformerError(f"{names[0]}: no sentence pairs")
    for n, (s, t) in zip(lines, pairs, strict=True):
        if not s.strip() or not t.strip():
            side = names[0] if not s.strip() else names[1]
            raise LiteformerError(f"{side}: line {n} is empty (every sentence needs its translation)")
    return ParallelDataset([s.strip() for s, _ in pairs], [t.strip() for _, t in pairs], str(spec))

