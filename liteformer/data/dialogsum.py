"""Dialogues with summaries (DialogSum and files like it) for two generation tasks:

- **summarization**: the whole dialogue (speaker tags kept, one turn a line) → its summary; every
  reference summary is kept (DialogSum's test has three: ``summary1..3``) so ROUGE can be scored
  against the first one and averaged over all;
- **dialogue**: next-turn response generation — for every turn after the first, the context is the
  preceding turns (speaker tags kept) followed by the next speaker's tag, the target is that turn's
  text. Examples are built per dialogue, so a split of dialogues is a split of examples: no dialogue
  is in two splits. A file given without a split is divided by a hash of each dialogue's id
  (``FILE:train`` 90 %, ``FILE:dev`` 5 %, ``FILE:test`` 5 %), the same way every time.

A split is a JSONL file (one dialogue a line with ``dialogue`` and ``summary`` or ``summary1``… fields;
lines that are Python dict literals — DialogSum's train file — are read too), optionally with a
``:train``/``:dev``/``:test`` suffix for the hash split, or the bundled ``dialogsum:train`` /
``dialogsum:dev`` / ``dialogsum:test`` slice (``liteformer/data/bundled/dialogsum/README.md``).
A dialogue with no turns, a missing summary, a line that is neither JSON nor a dict literal and text
that is not UTF-8 are refused with one line naming the file and the line.

Context length is limited at encoding time (in tokens, by the task): a longer context keeps its most
recent turns (truncated from the left, with a warning).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from liteformer.data.parallel import ParallelDataset, _lines
from liteformer.data.text import BUNDLED
from liteformer.errors import LiteformerError

SPLITS = {"train": (0, 90), "dev": (90, 95), "test": (95, 100)}  # hash buckets of a dialogue id, of 100
_TURN = re.compile(r"^\s*(#[^#\s][^#]*#)\s*:\s*(.*)$")  # "#Person1#: text"


@dataclass
class Dialogue:
    id: str
    turns: list[tuple[str, str]]  # (speaker tag, text)
    summaries: list[str]  # every reference (may be empty for dialogue-only files)

    def text(self) -> str:
        """The dialogue as one string: ``#Person1#: …`` turns, one a line."""
        return "\n".join(f"{s}: {t}" for s, t in self.turns)


@dataclass
class SummaryDataset(ParallelDataset):
    """Dialogues (``sources``) and their first summaries (``targets``); ``references`` holds every summary."""

    references: list[list[str]] = field(default_factory=list)


@dataclass
class TurnDataset(ParallelDataset):
    """Contexts (``sources``) and next turns (``targets``); ``dialogue`` is each example's dialogue id."""

    dialogue: list[str] = field(default_factory=list)


def _parse(line: str, where: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        try:
            row = ast.literal_eval(line)  # DialogSum's train file: Python dict literals
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise LiteformerError(f"{where}: neither JSON nor a Python dict literal") from None
    if not isinstance(row, dict):
        raise LiteformerError(f"{where}: expected an object with 'dialogue' and 'summary' fields")
    return row


def split_turns(text: str, where: str) -> list[tuple[str, str]]:
    """``#Person1#: …`` lines → (speaker, text) turns; a line without a tag continues the previous turn."""
    turns: list[tuple[str, str]] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        if not raw.strip():
            continue
        m = _TURN.match(raw)
        if m:
            turns.append((m.group(1), m.group(2).strip()))
        elif turns:
            turns[-1] = (turns[-1][0], f"{turns[-1][1]} {raw.strip()}".strip())
        else:
            raise LiteformerError(f"{where}: the dialogue does not start with a speaker tag like '#Person1#:'")
    turns = [(s, t) for s, t in turns if t]
    if not turns:
        raise LiteformerError(f"{where}: the dialogue has no turns")
    return turns


def resolve_split(spec: str) -> tuple[Path, str | None]:
    """(file, hash split or None) of a split spec."""
    name, _, split = spec.rpartition(":")
    if name == "dialogsum" and not Path(spec).exists():
        p = BUNDLED / "dialogsum" / f"{split}.jsonl"
        if not p.exists():
            raise LiteformerError(f"{spec}: no such bundled split (splits: dialogsum:train, dialogsum:dev, "
                                  "dialogsum:test)")
        return p, None
    if name and split in SPLITS and not Path(spec).exists():
        return Path(name), split
    return Path(spec), None


def in_split(dialogue_id: str, split: str) -> bool:
    """Whether a dialogue falls in ``split`` of a hash-divided file (stable across runs and machines)."""
    lo, hi = SPLITS[split]
    bucket = int.from_bytes(hashlib.sha1(dialogue_id.encode()).digest()[:4], "big") % 100
    return lo <= bucket < hi


def read_rows(path: str | Path) -> Iterator[tuple[int, str, dict]]:
    """(line number, "FILE: line N", fields) of each non-empty line of a DialogSum-style file: JSON objects
    or Python dict literals (DialogSum's train file), plain or gzip, UTF-8."""
    path = Path(path)
    for n, line in enumerate(_lines(path), 1):
        if line.strip():
            where = f"{path}: line {n}"
            yield n, where, _parse(line, where)


def read_dialogues(spec: str, need_summary: bool = True) -> list[Dialogue]:
    """The dialogues of a split (see the module docstring)."""
    path, split = resolve_split(str(spec))
    out = []
    for n, where, row in read_rows(path):
        if not isinstance(row.get("dialogue"), str):
            raise LiteformerError(f"{where}: no 'dialogue' text")
        keys = ["summary"] + [f"summary{i}" for i in range(1, 10)]
        summaries = [row[k].strip() for k in keys if isinstance(row.get(k), str) and row[k].strip()]
        if need_summary and not summaries:
            raise LiteformerError(f"{where}: no 'summary' (or 'summary1') text")
        did = str(row.get("fname") or row.get("id") or f"{path.name}:{n}")
        if split is not None and not in_split(did, split):
            continue
        out.append(Dialogue(did, split_turns(row["dialogue"], where), summaries))
    if not out:
        raise LiteformerError(f"{spec}: no dialogues")
    return out


def write_dialogues(dialogues: list[Dialogue], path: str | Path) -> None:
    """Dialogues as JSON lines in DialogSum's own fields (``fname``, ``dialogue``, ``summary``,
    ``summary2``…), readable back by ``read_dialogues``."""
    rows = []
    for d in dialogues:
        row = {"fname": d.id, "dialogue": d.text()}
        row.update({("summary" if i == 0 else f"summary{i + 1}"): s for i, s in enumerate(d.summaries)})
        rows.append(json.dumps(row, ensure_ascii=False))
    Path(path).write_text("".join(r + "\n" for r in rows), encoding="utf-8")


def read_summaries(spec: str | SummaryDataset) -> SummaryDataset:
    """Dialogue → summary pairs, every reference kept."""
    if isinstance(spec, SummaryDataset):
        return spec
    dialogues = read_dialogues(str(spec))
    return SummaryDataset([d.text() for d in dialogues], [d.summaries[0] for d in dialogues], str(spec),
                          [d.summaries for d in dialogues])


def read_turns(spec: str | TurnDataset) -> TurnDataset:
    """Context → next turn pairs: every turn after the first of every dialogue."""
    if isinstance(spec, TurnDataset):
        return spec
    sources, targets, ids = [], [], []
    for d in read_dialogues(str(spec), need_summary=False):
        for i in range(1, len(d.turns)):
            speaker, text = d.turns[i]
            sources.append("\n".join(f"{s}: {t}" for s, t in d.turns[:i]) + f"\n{speaker}:")
            targets.append(text)
            ids.append(d.id)
    if not sources:
        raise LiteformerError(f"{spec}: no dialogue has two turns")
    return TurnDataset(sources, targets, str(spec), ids)


def context_turns(context: str) -> list[str]:
    """A context's lines (turns and the closing speaker tag), for truncating it from the left."""
    return context.split("\n")
