"""Parity with transformers on tiny random configs (no download), and folder round trips."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from liteformer.errors import LiteformerError  # noqa: E402
from liteformer.models.checkpoint import load_model, save_model  # noqa: E402
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification  # noqa: E402


def _inputs(V, B=3, T=11):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    ids[mask == 0] = 0
    return ids, mask


def _bert(tokenizer, cls=None, **kw):
    cls = cls or transformers.BertForSequenceClassification
    cfg = transformers.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=4, intermediate_size=48, max_position_embeddings=64,
                                  id2label={0: "neg", 1: "pos", 2: "neu"}, **kw)
    torch.manual_seed(0)
    return cls(cfg).eval()


def _save_hf(model, tokenizer, path):
    model.save_pretrained(path)
    tokenizer.save(path)
    return path


@pytest.mark.parametrize("kw", [{}, {"hidden_act": "relu"}, {"type_vocab_size": 1}])
def test_bert_classifier_parity(tmp_path, tokenizer, kw):
    ref = _bert(tokenizer, **kw)
    lm = load_model(_save_hf(ref, tokenizer, tmp_path / "bert"))
    assert lm.family == "bert" and lm.fresh == []
    assert lm.model.config.id2label == {0: "neg", 1: "pos", 2: "neu"}
    ids, mask = _inputs(tokenizer.vocab_size)
    with torch.no_grad():
        diff = (lm.model(ids, mask) - ref(input_ids=ids, attention_mask=mask).logits).abs().max()
    assert diff <= 1e-4


def test_bert_body_parity_and_fresh_head(tmp_path, tokenizer):
    ref = _bert(tokenizer, cls=transformers.BertModel)
    lm = load_model(_save_hf(ref, tokenizer, tmp_path / "body"))
    assert set(lm.fresh) == {"classifier.weight", "classifier.bias"}
    ids, mask = _inputs(tokenizer.vocab_size)
    with torch.no_grad():
        out = ref(input_ids=ids, attention_mask=mask)
        ours = lm.model.encoder(ids, mask).last_hidden
    assert (ours - out.last_hidden_state).abs().max() <= 1e-4
    pooled = torch.tanh(lm.model.pooler(ours[:, 0]))
    assert (pooled - out.pooler_output).abs().max() <= 1e-4


def test_distilbert_parity(tmp_path, tokenizer):
    cfg = transformers.DistilBertConfig(vocab_size=tokenizer.vocab_size, dim=32, n_layers=2, n_heads=4,
                                        hidden_dim=48, max_position_embeddings=64)
    torch.manual_seed(0)
    ref = transformers.DistilBertForSequenceClassification(cfg).eval()
    lm = load_model(_save_hf(ref, tokenizer, tmp_path / "distil"))
    assert lm.family == "distilbert"
    ids, mask = _inputs(tokenizer.vocab_size)
    with torch.no_grad():
        diff = (lm.model(ids, mask) - ref(input_ids=ids, attention_mask=mask).logits).abs().max()
    assert diff <= 1e-4
    # and back out: transformers loads our DistilBERT folder with the same logits
    save_model(lm.model, lm.tokenizer, tmp_path / "distil_out")
    again = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "distil_out").eval()
    with torch.no_grad():
        expected = ref(input_ids=ids, attention_mask=mask).logits
        assert (again(input_ids=ids, attention_mask=mask).logits - expected).abs().max() <= 1e-5


def test_save_as_hf_folder_loads_in_transformers(tmp_path, tokenizer):
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(vocab_size=tokenizer.vocab_size, id2label={0: "a", 1: "b"})
    model = TransformerForSequenceClassification(cfg).eval()
    assert save_model(model, tokenizer, tmp_path / "out") == "bert"
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json"} <= files
    ref = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "out").eval()
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "out")
    text = ["a charming and often affecting journey", "bleak"]
    assert hf_tok(text)["input_ids"] == tokenizer.encode(text, 64).ids
    ids, mask = _inputs(tokenizer.vocab_size)
    with torch.no_grad():
        assert (model(ids, mask) - ref(input_ids=ids, attention_mask=mask).logits).abs().max() <= 1e-4
    assert ref.config.id2label == {0: "a", 1: "b"}


def test_heterogeneous_model_uses_own_format(tmp_path, tokenizer):
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(vocab_size=tokenizer.vocab_size, num_heads=[4, 1], ffn_dim=[64, 8], head_dim=8)
    model = TransformerForSequenceClassification(cfg).eval()
    assert save_model(model, tokenizer, tmp_path / "het") == "liteformer"
    assert json.loads((tmp_path / "het" / "config.json").read_text())["model_type"] == "liteformer"
    lm = load_model(tmp_path / "het")
    assert lm.model.config.num_heads == [4, 1]
    ids, mask = _inputs(tokenizer.vocab_size)
    with torch.no_grad():
        torch.testing.assert_close(lm.model(ids, mask), model(ids, mask))


def test_config_not_matching_weights(tmp_path, tokenizer):
    path = _save_hf(_bert(tokenizer), tokenizer, tmp_path / "m")
    cfg = json.loads((path / "config.json").read_text())
    cfg["intermediate_size"] = 40
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(LiteformerError, match="has shape"):
        load_model(path)
    cfg["intermediate_size"], cfg["num_hidden_layers"] = 48, 1
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(LiteformerError, match="does not describe"):
        load_model(path)
    cfg["num_hidden_layers"], cfg["model_type"] = 2, "gpt2"
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(LiteformerError, match="not supported"):
        load_model(path)


def test_pytorch_bin_loads_with_weights_only(tmp_path, tokenizer):
    ref = _bert(tokenizer)
    path = _save_hf(ref, tokenizer, tmp_path / "bin")
    from safetensors.torch import load_file
    sd = load_file(str(path / "model.safetensors"))
    (path / "model.safetensors").unlink()
    torch.save(sd, path / "pytorch_model.bin")
    lm = load_model(path)
    ids, mask = _inputs(tokenizer.vocab_size)
    with torch.no_grad():
        assert (lm.model(ids, mask) - ref(input_ids=ids, attention_mask=mask).logits).abs().max() <= 1e-4
    # a pickle that is not plain tensors is refused, not executed
    torch.save({"x": object()}, path / "pytorch_model.bin")
    with pytest.raises(LiteformerError, match="cannot be loaded safely"):
        load_model(path)
