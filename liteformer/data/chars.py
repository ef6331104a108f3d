"""Characters as a speech recognizer's vocabulary: id 0 is the CTC blank, ids 1.. the alphabet
(default: space, apostrophe and a–z). Transcripts are lowercased and their whitespace collapsed; a
character outside the alphabet is refused, naming it.

``normalize_for_scoring`` is the one text normalization under every WER/CER that liteformer reports,
for its own models and for the Whisper anchor alike: lowercase, numerals spelled digit by digit
("7" → "seven", "42" → "four two"), punctuation dropped, whitespace collapsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from liteformer.errors import LiteformerError

ALPHABET = " '" + "abcdefghijklmnopqrstuvwxyz"
BLANK = 0
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def normalize(text: str) -> str:
    """Lowercase, whitespace collapsed to single spaces, stripped."""
    return " ".join(text.lower().split())


def normalize_for_scoring(text: str) -> str:
    t = text.lower().replace("-", " ")
    t = re.sub(r"\d", lambda m: f" {DIGITS[int(m.group())]} ", t)
    t = re.sub(r"[^\w' ]+", " ", t)  # punctuation (but not apostrophes) → space
    return " ".join(t.split())


class CharTokenizer:
    """Transcripts ↔ ids over a fixed alphabet, blank = 0."""

    def __init__(self, alphabet: str = ALPHABET) -> None:
        if not alphabet or len(set(alphabet)) != len(alphabet):
            raise LiteformerError(f"alphabet must be non-empty without repeated characters, got {alphabet!r}")
        self.alphabet = alphabet
        self.index = {c: i + 1 for i, c in enumerate(alphabet)}
        self.pad_id = BLANK

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet) + 1

    def unknown(self, text: str) -> list[str]:
        """The characters of normalized ``text`` that are outside the alphabet."""
        return sorted({c for c in normalize(text) if c not in self.index})

    def encode_one(self, text: str, where: str = "transcript") -> list[int]:
        t = normalize(text)
        bad = [c for c in dict.fromkeys(t) if c not in self.index]
        if bad:
            shown = ", ".join(repr(c) for c in bad[:5])
            raise LiteformerError(f"{where}: characters outside the model's alphabet ({shown}) in {text[:60]!r}")
        return [self.index[c] for c in t]

    def encode(self, texts: Sequence[str], where: Sequence[str] | None = None) -> list[list[int]]:
        return [self.encode_one(t, where[i] if where else f"transcript {i + 1}") for i, t in enumerate(texts)]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids (no blanks expected; any are skipped) → text."""
        n = len(self.alphabet)
        return "".join(self.alphabet[i - 1] for i in ids if 0 < i <= n)

    def save(self, folder: str | Path) -> None:
        cfg = {"tokenizer_class": "liteformer.CharTokenizer", "liteformer_chars": True, "alphabet": self.alphabet,
               "blank_id": BLANK}
        (Path(folder) / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")


def load_chars(folder: str | Path) -> CharTokenizer:
    p = Path(folder) / "tokenizer_config.json"
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise LiteformerError(f"{p}: cannot be read ({e})") from None
    alphabet = d.get("alphabet") if isinstance(d, dict) else None
    if not isinstance(alphabet, str):
        raise LiteformerError(f"{p}: lacks the alphabet (a string)")
    return CharTokenizer(alphabet)


def ctc_collapse(ids: Sequence[int], blank: int = BLANK) -> list[int]:
    """Greedy CTC's rule: merge repeated ids, then drop blanks."""
    out, prev = [], None
    for i in ids:
        i = int(i)
        if i != prev and i != blank:
            out.append(i)
        prev = i
    return out
