"""Output-vocabulary pruning of an encoder-decoder: its output layer keeps the pieces its targets use.

An encoder-decoder's joint vocabulary is also its output layer (one tied table), and every decoding
step multiplies the hidden state by all V rows: most of a small student's decoder MACs. A piece the
training targets never use is never a right output (Multi30k EN→DE with an 8,000-piece joint BPE: the
German side uses 5,475 pieces; 10 of the 13,715 pieces of its test references are outside them).

Kept as outputs: the four specials, every piece of the training targets and every single-character
piece (any word can still be spelled). The ids are renumbered so those N come first, in their old
order, and the source-only pieces after them; the tokenizer is the same model with renumbered ids (BPE
merges and unigram scores unchanged), so every text tokenizes into the same pieces as before; the
embedding's rows are permuted to match and ``config.output_vocab_size = N``: the logits, and an
exported decode graph's output projection, cover N rows; the inputs still cover all V. A model pruned
this way gives the same outputs as before wherever the old one chose a kept piece (tested); a
reference piece outside the N counts as ``<unk>`` in a loss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from tokenizers import Tokenizer
from torch import nn

from liteformer.compress.api import CompressConfig, register
from liteformer.compress.prune.data import PruneResult, need
from liteformer.data.subword import SPECIALS, SubwordTokenizer
from liteformer.errors import LiteformerError
from liteformer.models.transformer import LowRankEmbedding


@dataclass(frozen=True)
class OutputVocabConfig(CompressConfig):
    """An encoder-decoder's output layer keeps the pieces its training targets use (method ``vocab``)."""

    verb = "prune"
    method = "vocab"


@dataclass
class OutputVocabReport:
    vocab: int  # the input vocabulary (unchanged)
    outputs_before: int
    outputs_after: int
    used_by_targets: int  # distinct pieces of the targets
    output_macs_before: int  # per decoding step: the output projection
    output_macs_after: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def output_ids(tokenizer: SubwordTokenizer, targets: list[str], outputs: int) -> tuple[list[int], int]:
    """Sorted ids the output layer keeps (of the current ``outputs`` first ids), and how many distinct
    pieces ``targets`` use."""
    used: set[int] = set()
    for enc in tokenizer.tok.encode_batch(list(targets), add_special_tokens=False):
        used.update(enc.ids)
    chars = {i for t, i in tokenizer.tok.get_vocab().items() if len(t) == 1}
    keep = (used | chars | set(range(len(SPECIALS)))) & set(range(outputs))
    return sorted(keep), len(used)


def renumber(tokenizer: SubwordTokenizer, order: list[int]) -> SubwordTokenizer:
    """The same tokenizer with old id ``order[k]`` renumbered ``k`` (BPE or unigram)."""
    new_id = {old: new for new, old in enumerate(order)}
    j = json.loads(tokenizer.tok.to_str())
    model = j["model"]
    if model["type"] == "BPE":
        model["vocab"] = {t: new_id[i] for t, i in model["vocab"].items()}
    elif model["type"] == "Unigram":
        model["vocab"] = [model["vocab"][old] for old in order]
        if model.get("unk_id") is not None:
            model["unk_id"] = new_id[model["unk_id"]]
    else:
        raise LiteformerError(f"output-vocabulary pruning: a {model['type']} tokenizer is not supported (BPE, Unigram)")
    j["added_tokens"] = [{**t, "id": new_id[t["id"]]} for t in j.get("added_tokens", [])]
    return SubwordTokenizer(Tokenizer.from_str(json.dumps(j)))


@torch.no_grad()
def prune_output_vocabulary_(model: nn.Module, tokenizer: SubwordTokenizer,
                             targets: list[str]) -> tuple[SubwordTokenizer, OutputVocabReport]:
    """Shrink ``model``'s output layer in place to the pieces ``targets`` need; returns the renumbered
    tokenizer (the model's inputs are unchanged)."""
    cfg = model.config
    if not cfg.num_decoder_layers:
        raise LiteformerError("output-vocabulary pruning is for encoder-decoders")
    if not isinstance(tokenizer, SubwordTokenizer):
        raise LiteformerError("output-vocabulary pruning needs the model's subword tokenizer")
    if not targets:
        raise LiteformerError("output-vocabulary pruning needs target texts: the data has none")
    emb = model.encoder.embeddings
    table = emb.word.table if isinstance(emb.word, LowRankEmbedding) else emb.word
    V, E = table.weight.shape
    if tokenizer.vocab_size != V:
        raise LiteformerError(f"the tokenizer has {tokenizer.vocab_size} pieces, the embedding {V} rows")
    before = cfg.output_vocab_size or V
    keep, used = output_ids(tokenizer, targets, before)
    kept = set(keep)
    order = keep + [i for i in range(V) if i not in kept]  # outputs first, then the source-only pieces
    new_tok = renumber(tokenizer, order)
    table.weight.copy_(table.weight[torch.tensor(order)])  # tied: source, target and output rows alike
    cfg.output_vocab_size = len(keep)
    return new_tok, OutputVocabReport(V, before, len(keep), used, before * E, len(keep) * E)


@register(OutputVocabConfig)
def _output_vocab(model, config: OutputVocabConfig, data=None) -> PruneResult:
    data = need(data, "output-vocabulary pruning")
    tok, report = prune_output_vocabulary_(model, data.tokenizer, data.targets or [])
    return PruneResult(report.to_dict(), tok)
