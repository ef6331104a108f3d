"""The joint subword vocabulary: round trips, fixed special ids, truncation, saving and loading."""

import unicodedata

import pytest

from liteformer.data.parallel import read_parallel
from liteformer.data.subword import BOS, EOS, PAD, UNK, load_subword, train_subword
from liteformer.errors import LiteformerError


@pytest.fixture(scope="module")
def pairs():
    return read_parallel("multi30k:val")


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_round_trip_and_specials(pairs, kind, tmp_path):
    tok = train_subword(pairs.sources + pairs.targets, 600, kind)
    assert tok.vocab_size <= 600 and (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    enc = tok.encode(pairs.sources[:20] + pairs.targets[:20], 128)
    assert enc.truncated == 0 and all(ids[-1] == EOS and EOS not in ids[:-1] for ids in enc.ids)
    texts = [unicodedata.normalize("NFKC", t) for t in pairs.sources[:20] + pairs.targets[:20]]
    assert tok.decode_batch(enc.ids) == texts  # detokenized exactly (after NFKC: a no-break space is a space)
    assert tok.decode([BOS, *enc.ids[0], PAD, PAD]) == pairs.sources[0]  # stops at </s>, skips <s>/<pad>
    tok.save(tmp_path)
    assert load_subword(tmp_path).encode(pairs.targets[:5], 128).ids == tok.encode(pairs.targets[:5], 128).ids


def test_truncation_keeps_eos(pairs):
    tok = train_subword(pairs.sources, 300)
    enc = tok.encode([pairs.sources[0]], 4)
    assert enc.truncated == 1 and len(enc.ids[0]) == 4 and enc.ids[0][-1] == EOS


def test_bad_input(tmp_path):
    with pytest.raises(LiteformerError, match="kind must be one of"):
        train_subword(["a"], 100, "wordpiece")
    with pytest.raises(LiteformerError, match="no text"):
        train_subword(["", " "], 100)
    with pytest.raises(LiteformerError, match="no tokenizer.json"):
        load_subword(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{oops")
    with pytest.raises(LiteformerError, match="not a tokenizer file"):
        load_subword(tmp_path)
