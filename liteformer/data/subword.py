"""A joint subword vocabulary for generation tasks (source and target languages share it, so the
source, target and output embeddings can be one tied matrix).

BPE or unigram (the ``tokenizers`` library), trained on the task's text with a chosen size;
SentencePiece-style whitespace handling (a ``▁`` marks a word start), so ``decode`` gives back
detokenized text. Special ids are fixed: 0 ``<pad>``, 1 ``<s>``, 2 ``</s>``, 3 ``<unk>``. Saved as a
Hugging Face ``tokenizer.json`` with ``tokenizer_config.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from liteformer.errors import LiteformerError

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
PAD, BOS, EOS, UNK = range(4)
KINDS = ("bpe", "unigram")


@dataclass
class Pieces:
    ids: list[list[int]]  # per text: its pieces then </s>
    truncated: int  # how many texts were cut to max_length


class SubwordTokenizer:
    """Encode to piece ids ending in ``</s>`` (cut to ``max_length`` with a count), decode to text."""

    pad_id, bos_id, eos_id, unk_id = PAD, BOS, EOS, UNK

    def __init__(self, tok: Tokenizer) -> None:
        got = [tok.token_to_id(t) for t in SPECIALS]
        if got != list(range(4)):
            raise LiteformerError(f"not a liteformer subword tokenizer: the ids of {', '.join(SPECIALS)} are {got}, "
                                  "expected 0, 1, 2, 3")
        self.tok = tok
        self.tok.no_truncation()
        self.tok.no_padding()

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, texts: Sequence[str], max_length: int, keep: str = "start") -> Pieces:
        """Piece ids + ``</s>``; a text longer than ``max_length`` keeps its first pieces and ``</s>``
        (``keep="end"``: its last pieces — a dialogue context keeps its most recent turns)."""
        if max_length < 2:
            raise LiteformerError(f"max_length must be >= 2, got {max_length}")
        out, cut = [], 0
        for enc in self.tok.encode_batch(list(texts), add_special_tokens=False):
            ids = enc.ids
            if len(ids) + 1 > max_length:
                ids = ids[len(ids) - max_length + 1:] if keep == "end" else ids[: max_length - 1]
                cut += 1
            out.append([*ids, EOS])
        return Pieces(out, cut)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of the pieces up to the first ``</s>`` (``<s>`` and ``<pad>`` skipped)."""
        ids = list(ids)
        if EOS in ids:
            ids = ids[: ids.index(EOS)]
        return self.tok.decode([i for i in ids if i >= UNK], skip_special_tokens=False).strip()

    def decode_batch(self, batch: Iterable[Sequence[int]]) -> list[str]:
        return [self.decode(x) for x in batch]

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.tok.save(str(folder / "tokenizer.json"))
        config = {"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<pad>", "bos_token": "<s>",
                  "eos_token": "</s>", "unk_token": "<unk>", "liteformer_subword": True}
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def train_subword(texts: Iterable[str], vocab_size: int = 8000, kind: str = "bpe") -> SubwordTokenizer:
    """A joint vocabulary of ``vocab_size`` pieces (specials included) learned from ``texts``."""
    if kind not in KINDS:
        raise LiteformerError(f"subword kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if vocab_size < 16:
        raise LiteformerError(f"vocab_size must be >= 16, got {vocab_size}")
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise LiteformerError("no text to learn a vocabulary from")
    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False)
    else:
        tok = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS), unk_token="<unk>",
                                          show_progress=False)
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(texts, trainer=trainer)
    return SubwordTokenizer(tok)


def load_subword(folder: str | Path) -> SubwordTokenizer:
    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise LiteformerError(f"{folder}: no tokenizer.json")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # the library's parse errors
        raise LiteformerError(f"{path}: not a tokenizer file ({str(e).splitlines()[0][:120]})") from None
    try:
        return SubwordTokenizer(tok)
    except LiteformerError as e:
        raise LiteformerError(f"{path}: {e}") from None
