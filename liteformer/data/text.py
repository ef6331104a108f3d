"""Text-classification data: TSV / CSV / JSONL files with named text and label columns.

``sst2:train``, ``sst2:dev`` and ``sst2:test`` name the bundled SST-2 files (see
``liteformer/data/bundled/sst2/README.md``), so the demo and the tests need no download.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from liteformer.errors import LiteformerError

BUNDLED = Path(__file__).parent / "bundled"
TEXT_COLUMNS = ("sentence", "text", "content", "review", "document")
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a long document is data, not an error (default: 131,072)


@dataclass
class TextDataset:
    texts: list[str]
    labels: list[str]  # raw label values as strings; ``encode_labels`` maps them to ids
    path: str

    def __len__(self) -> int:
        return len(self.texts)


def resolve(path: str | Path) -> Path:
    """A file path, or a bundled name like ``sst2:test``."""
    s = str(path)
    if ":" in s and not Path(s).exists():
        name, split = s.split(":", 1)
        p = BUNDLED / name / f"{split}.tsv"
        if not p.exists():
            known = sorted(f"{d.name}:{f.stem}" for d in BUNDLED.iterdir() if d.is_dir() for f in d.glob("*.tsv"))
            raise LiteformerError(f"{s}: no such bundled data set (bundled: {', '.join(known)})")
        return p
    return Path(s)


def _rows(p: Path) -> tuple[list[str], list[dict], list[int]]:
    """(columns, rows, the file line each row starts on)."""
    try:
        raw = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise LiteformerError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise LiteformerError(f"{p}: is a folder, expected a data file") from None
    except UnicodeDecodeError as e:
        raise LiteformerError(f"{p}: not UTF-8 text (byte {e.start})") from None
    if raw.startswith("\ufeff"):
        raw = raw[1:]
    if not raw.strip():
        raise LiteformerError(f"{p}: empty file")
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows, lines = [], []
        for n, line in enumerate(raw.split("\n"), 1):  # "\n" only: str.splitlines also splits at U+2028
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError:
                    raise LiteformerError(f"{p}: line {n} is not JSON") from None
                if not isinstance(row, dict):
                    raise LiteformerError(f"{p}: line {n} is not a JSON object")
                rows.append(row)
                lines.append(n)
        columns = list(rows[0]) if rows else []
        return columns, rows, lines
    if suffix not in (".tsv", ".csv", ".txt"):
        raise LiteformerError(f"{p}: unknown data format {suffix!r} (use .tsv, .csv or .jsonl)")
    delim = "," if suffix == ".csv" else "\t"
    quoting = csv.QUOTE_MINIMAL if suffix == ".csv" else csv.QUOTE_NONE
    reader = csv.reader(io.StringIO(raw, newline=""), delimiter=delim, quoting=quoting)
    rows, lines = [], []
    try:
        header = next(reader)
        for r in reader:
            if not any(c.strip() for c in r):
                continue
            if len(r) > len(header):
                raise LiteformerError(f"{p}: line {reader.line_num} has {len(r)} fields, the header {len(header)} "
                                      f"(a {'comma' if delim == ',' else 'tab'} inside a field?)")
            rows.append(dict(zip(header, r, strict=False)))
            lines.append(reader.line_num)
    except csv.Error as e:
        raise LiteformerError(f"{p}: line {reader.line_num}: not valid {suffix[1:].upper()} ({e})") from None
    return header, rows, lines


def read_classification(path: str | Path | TextDataset, text_column: str | None = None,
                        label_column: str | None = "label") -> TextDataset:
    """Read texts and labels; ``label_column=None`` reads texts only (labels are empty strings). A split
    already read (a TextDataset) is passed through: a recipe reads each file once per run."""
    if isinstance(path, TextDataset):
        return path
    p = resolve(path)
    columns, rows, lines = _rows(p)
    if not rows:
        raise LiteformerError(f"{p}: no data rows")
    if text_column is None:
        text_column = next((c for c in TEXT_COLUMNS if c in columns), None)
        if text_column is None:
            raise LiteformerError(f"{p}: no text column found among {columns}; pass --text-column")
    for role, col in (("text", text_column), ("label", label_column)):
        if col is not None and col not in columns:
            raise LiteformerError(f"{p}: {role} column {col!r} not found (columns: {columns})")
    texts, labels = [], []
    for n, row in zip(lines, rows, strict=True):
        text, label = row.get(text_column), row.get(label_column, "") if label_column else ""
        if text is None or label is None or (label_column and str(label).strip() == ""):
            raise LiteformerError(f"{p}: row {n} lacks a {text_column!r} or {label_column!r} value")
        if isinstance(text, dict | list) or isinstance(label, dict | list):
            raise LiteformerError(f"{p}: line {n}: {text_column!r} and {label_column!r} must be text or numbers")
        texts.append(str(text).strip())
        labels.append(str(label).strip())
    return TextDataset(texts, labels, str(p))


def read_texts(path: str | Path, text_column: str | None = None) -> list[str]:
    """Unlabelled texts: a .txt file holds one a line (no header); a .tsv/.csv/.jsonl file is read
    by its text column, as ``read_classification`` does."""
    p = resolve(path)
    if p.suffix.lower() != ".txt":
        return read_classification(p, text_column, label_column=None).texts
    try:
        raw = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise LiteformerError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise LiteformerError(f"{p}: is a folder, expected a text file") from None
    except UnicodeDecodeError as e:
        raise LiteformerError(f"{p}: not UTF-8 text (byte {e.start})") from None
    texts = [line.strip() for line in raw.removeprefix("\ufeff").splitlines() if line.strip()]
    if not texts:
        raise LiteformerError(f"{p}: no text lines")
    return texts


def columns_of(path: str | Path) -> list[str]:
    return _rows(resolve(path))[0]


def encode_labels(ds: TextDataset, label2id: dict[str, int]) -> list[int]:
    """Map raw labels to ids by name ("positive") or by id ("1"); refuse labels the map lacks."""
    ids_as_text = {str(i): i for i in label2id.values()}
    out, unknown = [], set()
    for lab in ds.labels:
        if lab in label2id:
            out.append(label2id[lab])
        elif lab in ids_as_text:
            out.append(ids_as_text[lab])
        else:
            unknown.add(lab)
    if unknown:
        shown = sorted(unknown)[:5]
        raise LiteformerError(f"{ds.path}: labels {shown} are not in the model's label map "
                              f"{sorted(label2id)}")
    return out


def label_map_from_data(ds: TextDataset) -> dict[int, str]:
    """id2label for a new head: integer labels 0..n-1 keep their ids; names are sorted."""
    values = sorted(set(ds.labels))
    if len(values) < 2:
        raise LiteformerError(f"{ds.path}: needs at least 2 distinct labels, found {values}")
    if all(v.isdigit() for v in values):
        ints = sorted(int(v) for v in values)
        if ints == list(range(len(ints))):
            return {i: str(i) for i in ints}
    return dict(enumerate(values))
