"""Fast WordPiece tokenization (the `tokenizers` library), loading, saving and training.

A liteformer tokenizer folder is a Hugging Face one: tokenizer.json + vocab.txt +
tokenizer_config.json + special_tokens_map.json, so transformers' AutoTokenizer loads it too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, processors
from tokenizers.implementations import BertWordPieceTokenizer

from liteformer.errors import LiteformerError

DEFAULT_MAX_LENGTH = 128  # tokens per input when none is given (capped by the model's positions)


def default_max_length(max_positions: int) -> int:
    return min(DEFAULT_MAX_LENGTH, max_positions)


SPECIAL = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]",
           "sep_token": "[SEP]", "mask_token": "[MASK]"}


@dataclass
class Encoded:
    ids: list[list[int]]  # one list of token ids per text, [CLS] ... [SEP]
    truncated: int  # how many texts were cut to max_length


class TextTokenizer:
    """A thin wrapper that truncates explicitly (keeping [SEP]) and counts what it cut."""

    def __init__(self, tok: Tokenizer, lowercase: bool = True) -> None:
        self.tok = tok
        self.lowercase = lowercase
        ids = {name: tok.token_to_id(token) for name, token in SPECIAL.items()}
        missing = [SPECIAL[n] for n in ("pad_token", "cls_token", "sep_token", "unk_token") if ids[n] is None]
        if missing:
            raise LiteformerError(f"tokenizer lacks special tokens {missing}")
        self.pad_id, self.cls_id, self.sep_id = ids["pad_token"], ids["cls_token"], ids["sep_token"]
        self.unk_id = ids["unk_token"]
        self.tok.no_truncation()
        self.tok.no_padding()

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, texts: Sequence[str], max_length: int) -> Encoded:
        if max_length < 2:
            raise LiteformerError(f"max_length must be >= 2, got {max_length}")
        out, cut = [], 0
        for enc in self.tok.encode_batch(list(texts)):
            ids = enc.ids
            if len(ids) > max_length:
                ids = ids[: max_length - 1] + [self.sep_id]
                cut += 1
            out.append(ids)
        return Encoded(out, cut)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.tok.save(str(folder / "tokenizer.json"))
        vocab = sorted(self.tok.get_vocab().items(), key=lambda kv: kv[1])
        (folder / "vocab.txt").write_text("".join(t + "\n" for t, _ in vocab), encoding="utf-8")
        config = {"tokenizer_class": "BertTokenizer", "do_lower_case": self.lowercase,
                  "model_max_length": 512, **SPECIAL}
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        (folder / "special_tokens_map.json").write_text(json.dumps(SPECIAL, indent=2), encoding="utf-8")


def load_any_tokenizer(folder: str | Path):
    """The folder's tokenizer: a joint subword vocabulary (generation tasks), characters (speech) or
    WordPiece."""
    folder = Path(folder)
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file():
        try:
            d = json.loads(cfg.read_text(encoding="utf-8"))
            subword, chars = bool(d.get("liteformer_subword")), bool(d.get("liteformer_chars"))
        except (ValueError, UnicodeDecodeError, AttributeError):
            subword = chars = False
        if chars:
            from liteformer.data.chars import load_chars
            return load_chars(folder)
        if subword:
            from liteformer.data.subword import load_subword
            return load_subword(folder)
    return load_tokenizer(folder)


def load_tokenizer(folder: str | Path) -> TextTokenizer:
    folder = Path(folder)
    lowercase = True
    cfg_file = folder / "tokenizer_config.json"
    if cfg_file.exists():
        try:
            lowercase = bool(json.loads(cfg_file.read_text(encoding="utf-8")).get("do_lower_case", True))
        except (ValueError, UnicodeDecodeError) as e:
            raise LiteformerError(f"{cfg_file}: not valid JSON ({e})") from None
    if (folder / "tokenizer.json").exists():
        try:
            tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as e:  # the Rust library raises plain Exceptions
            raise LiteformerError(f"{folder / 'tokenizer.json'}: cannot be read ({str(e).splitlines()[0]})") from None
    elif (folder / "vocab.txt").exists():
        try:
            tok = BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=lowercase)._tokenizer
        except Exception as e:
            raise LiteformerError(f"{folder / 'vocab.txt'}: cannot be read ({str(e).splitlines()[0]})") from None
    else:
        raise LiteformerError(f"{folder}: no tokenizer (tokenizer.json or vocab.txt)")
    return TextTokenizer(tok, lowercase)


def train_wordpiece(texts: Iterable[str], vocab_size: int, lowercase: bool = True,
                    min_frequency: int = 2) -> TextTokenizer:
    """Train a new WordPiece vocabulary on task text (special tokens first: [PAD] is id 0)."""
    if vocab_size < 100:
        raise LiteformerError(f"vocab_size {vocab_size} is too small (>= 100)")
    bert = BertWordPieceTokenizer(lowercase=lowercase)
    order = ["pad_token", "unk_token", "cls_token", "sep_token", "mask_token"]
    bert.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=min_frequency,
                             special_tokens=[SPECIAL[n] for n in order], show_progress=False)
    tok = bert._tokenizer
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                                   ("[CLS]", tok.token_to_id("[CLS]")))
    return TextTokenizer(tok, lowercase)
