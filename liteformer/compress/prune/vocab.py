"""Vocabulary pruning: keep the token ids a task's data uses, shrink the embedding to match.

Kept: every id the training texts tokenize to, the special tokens, and every single-character
piece (``a``, ``##a``, ...), so WordPiece can still spell any word it could before: a word whose
piece was dropped falls back to smaller pieces instead of [UNK]. The tokenizer is rebuilt on the
kept vocabulary (same normalizer and pre-tokenizer, ids renumbered in the old order) and the word
embedding keeps the matching rows. Words seen in training tokenize exactly as before, so their
predictions do not change; test sentences with unseen words may (measure them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from tokenizers import Tokenizer
from torch import nn

from liteformer.compress.api import CompressConfig, register
from liteformer.compress.prune.data import PruneResult, need
from liteformer.data.tokenizer import TextTokenizer
from liteformer.errors import LiteformerError
from liteformer.models.transformer import LowRankEmbedding


@dataclass(frozen=True)
class VocabConfig(CompressConfig):
    """Keep the ids the training texts use plus every single-character piece."""

    verb = "prune"
    method = "vocab"


@dataclass
class VocabReport:
    vocab_before: int
    vocab_after: int
    used_by_data: int  # distinct ids of the data
    embedding_bytes_before: int  # fp32
    embedding_bytes_after: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def kept_ids(tokenizer: TextTokenizer, texts: list[str]) -> tuple[list[int], int]:
    """Sorted ids to keep, and how many distinct ids the texts use."""
    if not texts:
        raise LiteformerError("vocabulary pruning needs texts: the data is empty")
    used = {i for enc in tokenizer.tok.encode_batch(list(texts)) for i in enc.ids}
    vocab = tokenizer.tok.get_vocab()
    special = {t.content for t in tokenizer.tok.get_added_tokens_decoder().values()}
    base = {i for t, i in vocab.items() if len(t) == 1 or (t.startswith("##") and len(t) == 3) or t in special}
    base |= {tokenizer.pad_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.unk_id}
    return sorted(used | base), len(used)


def rebuild_tokenizer(tokenizer: TextTokenizer, keep: list[int]) -> TextTokenizer:
    """The same tokenizer over the kept ids, renumbered 0..len(keep)-1 in the old order."""
    new_id = {old: new for new, old in enumerate(keep)}
    j = json.loads(tokenizer.tok.to_str())
    vocab = j["model"]["vocab"]
    j["model"]["vocab"] = {t: new_id[i] for t, i in vocab.items() if i in new_id}
    j["added_tokens"] = [{**t, "id": new_id[t["id"]]} for t in j.get("added_tokens", []) if t["id"] in new_id]
    pp = j.get("post_processor") or {}
    for spec in (pp.get("special_tokens") or {}).values():  # TemplateProcessing
        spec["ids"] = [new_id[i] for i in spec["ids"]]
    for key in ("cls", "sep"):  # BertProcessing / RobertaProcessing
        if isinstance(pp.get(key), list):
            pp[key] = [pp[key][0], new_id[pp[key][1]]]
    return TextTokenizer(Tokenizer.from_str(json.dumps(j)), tokenizer.lowercase)


@torch.no_grad()
def prune_vocabulary_(model: nn.Module, tokenizer: TextTokenizer,
                      texts: list[str]) -> tuple[TextTokenizer, VocabReport]:
    """Shrink ``model``'s word embedding in place to the ids ``texts`` need; returns the new tokenizer."""
    keep, used = kept_ids(tokenizer, texts)
    emb = model.encoder.embeddings
    table = emb.word.table if isinstance(emb.word, LowRankEmbedding) else emb.word
    before = table.weight.shape[0]
    if max(keep) >= before:
        raise LiteformerError(f"the tokenizer has ids up to {max(keep)}, the embedding only {before} rows")
    idx = torch.tensor(keep)
    new_tok = rebuild_tokenizer(tokenizer, keep)
    pad = new_tok.pad_id
    new_table = nn.Embedding(len(keep), table.weight.shape[1], padding_idx=pad)
    new_table.weight.copy_(table.weight[idx])
    if isinstance(emb.word, LowRankEmbedding):
        emb.word.table = new_table
    else:
        emb.word = new_table
    full_dim = model.config.embedding_dim or model.config.hidden_size
    model.config.vocab_size, model.config.pad_token_id = len(keep), pad
    width = table.weight.shape[1]
    report = VocabReport(before, len(keep), used, 4 * before * width, 4 * len(keep) * width)
    if isinstance(emb.word, LowRankEmbedding):  # the projection is shared by all rows
        report.embedding_bytes_before += 4 * width * full_dim
        report.embedding_bytes_after += 4 * width * full_dim
    return new_tok, report


@register(VocabConfig)
def _vocab(model, config: VocabConfig, data=None) -> PruneResult:
    data = need(data, "vocabulary pruning")
    tok, report = prune_vocabulary_(model, data.tokenizer, data.texts)
    return PruneResult(report.to_dict(), tok)
