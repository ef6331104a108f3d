import pytest

from liteformer.data.tokenizer import load_tokenizer, train_wordpiece
from liteformer.errors import LiteformerError


def test_trained_vocabulary_is_small_and_round_trips(tmp_path, tokenizer):
    assert tokenizer.vocab_size <= 300
    assert (tokenizer.pad_id, tokenizer.cls_id, tokenizer.sep_id) == (0, 2, 3)
    enc = tokenizer.encode(["A Charming journey", "bleak"], 64)
    assert enc.ids[0][0] == tokenizer.cls_id and enc.ids[0][-1] == tokenizer.sep_id
    tokenizer.save(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.encode(["A Charming journey", "bleak"], 64).ids == enc.ids


def test_truncation_keeps_sep_and_counts(tokenizer):
    enc = tokenizer.encode(["word " * 50, "short"], 8)
    assert len(enc.ids[0]) == 8 and enc.ids[0][-1] == tokenizer.sep_id
    assert enc.truncated == 1


def test_vocab_txt_only_folder(tmp_path, tokenizer):
    tokenizer.save(tmp_path)
    (tmp_path / "tokenizer.json").unlink()
    assert load_tokenizer(tmp_path).encode(["bleak"], 16).ids == tokenizer.encode(["bleak"], 16).ids


def test_bad_tokenizers(tmp_path):
    with pytest.raises(LiteformerError, match="no tokenizer"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(LiteformerError, match="cannot be read"):
        load_tokenizer(tmp_path)
    with pytest.raises(LiteformerError, match="too small"):
        train_wordpiece(["a b c"], vocab_size=10)
