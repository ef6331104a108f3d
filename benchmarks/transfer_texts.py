"""Unlabelled English sentences for distillation's transfer set, from the offline data in ../shared.

    python benchmarks/transfer_texts.py [--shared ../shared] [--out out/transfer.txt]

Writes one text a line: DialogSum training dialogues cut into their turns ("#Person1#:" dropped) and
their summaries, and the Multi30k English training captions. None of it is SST-2 or labelled for
sentiment; `liteformer distill --unlabelled` lets the teacher label it (soft targets and, with the
inner losses, hidden states and attentions). SST-2's own sentences are never included, so the test
set stays unseen. Duplicates and texts under 3 words are dropped.
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # liteformer from this checkout
TURN = re.compile(r"^#[^#]+#:\s*")


def _dialogsum(path: Path) -> list[str]:
    from liteformer.data.dialogsum import read_rows
    out = []
    for _, _, row in read_rows(path):
        out += [TURN.sub("", t).strip() for t in row["dialogue"].splitlines()]
        out.append(row["summary"].strip())
    return out


def transfer_texts(shared: Path) -> list[str]:
    texts = _dialogsum(shared / "datasets/dialogsum/dialogsum.train.jsonl")
    with gzip.open(shared / "datasets/multi30k/train.en.gz", "rt", encoding="utf-8") as f:
        texts += [line.strip() for line in f]
    seen, out = set(), []
    for t in texts:
        t = " ".join(t.split())
        if len(t.split()) >= 3 and t.lower() not in seen:
            seen.add(t.lower())
            out.append(t)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(HERE.parent.parent / "shared"))
    ap.add_argument("--out", default="out/transfer.txt")
    a = ap.parse_args()
    texts = transfer_texts(Path(a.shared))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(texts) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(f"{len(texts)} texts, {sum(len(t.split()) for t in texts) / len(texts):.1f} words each on average -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
