"""Pruning: magnitude (one-shot, gradual, compressed storage), structured removal, importance, vocabulary."""

import copy
import json

import pytest
import torch

from liteformer.compress.prune import StructuredConfig, TaskData, VocabConfig, prune_
from liteformer.compress.prune.importance import unit_importance
from liteformer.compress.prune.magnitude import GradualPruner, MagnitudeConfig, cubic_sparsity, prunable, sparsity_of
from liteformer.compress.prune.structured import keep_heads, keep_layers, keep_neurons
from liteformer.errors import LiteformerError
from liteformer.models.checkpoint import load_model, save_model
from liteformer.models.cost import macs_per_example
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification
from tests.conftest import run_cli


def _model(tokenizer, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = TransformerConfig.tiny(vocab_size=tokenizer.vocab_size, id2label={0: "0", 1: "1"}, **kw)
    return TransformerForSequenceClassification(cfg).eval()


def _logits(model, tokenizer, texts):
    from liteformer.data.batching import pad_batch
    ids, mask = pad_batch(tokenizer.encode(texts, 32).ids, tokenizer.pad_id)
    with torch.no_grad():
        return model(ids, mask)


@pytest.fixture(scope="module")
def data(tokenizer, sst2_small):
    return TaskData(tokenizer, sst2_small.texts[:300], [int(x) for x in sst2_small.labels[:300]], max_length=32,
                    progress=False)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_magnitude_sparsity_and_compressed_storage(tokenizer, tmp_path, sst2_small, scope):
    model = _model(tokenizer)
    report = prune_(model, MagnitudeConfig(0.75, scope)).report
    assert report["sparsity"] == pytest.approx(0.75, abs=0.01) and "no faster" in report["note"]
    if scope == "layer":
        assert all(s == pytest.approx(0.75, abs=0.02) for s in report["per_weight"].values())
    save_model(model, tokenizer, tmp_path / "dense")
    save_model(model, tokenizer, tmp_path / "sparse", sparse_storage=True)
    dense, packed = ((tmp_path / d / "model.safetensors").stat().st_size for d in ("dense", "sparse"))
    linear_bytes = sum(4 * w.numel() for w in prunable(model).values())
    assert dense - packed >= 0.6 * linear_bytes  # at 75 %: 1/4 of the values + a 1-bit map
    back = load_model(tmp_path / "sparse").model
    texts = sst2_small.texts[:5]
    assert torch.equal(_logits(back, tokenizer, texts), _logits(model, tokenizer, texts))
    assert sparsity_of(prunable(back)) == pytest.approx(report["sparsity"], abs=1e-4)


def test_magnitude_bad_sparsity():
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(LiteformerError, match=r"sparsity must be in \[0, 1\)"):
            MagnitudeConfig(bad).validate()


def test_cubic_schedule_and_gradual_pruner_keep_zeros(tokenizer):
    assert cubic_sparsity(0, 100, 0.8) == 0 and cubic_sparsity(70, 100, 0.8) == pytest.approx(0.8)
    assert cubic_sparsity(35, 100, 0.8) > 0.8 / 2  # cubic: fast early, slow late
    model = _model(tokenizer)
    pruner = GradualPruner(model, 0.6, total=20, every=5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(1, 21):
        model(torch.randint(5, 50, (2, 6))).sum().backward()
        opt.step()
        opt.zero_grad()
        pruner.after_step(step)
        assert sparsity_of(prunable(model)) >= cubic_sparsity(step - step % 5, 20, 0.6) - 0.01
    assert pruner.reached(20) and sparsity_of(prunable(model)) == pytest.approx(0.6, abs=0.01)


def test_removing_dead_heads_and_neurons_keeps_logits(tokenizer, sst2_small):
    """A head whose output projection is zero and neurons whose down-projection is zero contribute
    nothing; removing them physically must leave the logits unchanged."""
    model = _model(tokenizer)
    d = model.config.head_dim
    with torch.no_grad():
        model.encoder.layers[0].attn.out.weight[:, d : 2 * d] = 0  # head 1 of layer 0
        model.encoder.layers[1].ffn.down.weight[:, :10] = 0  # neurons 0..9 of layer 1
    texts = sst2_small.texts[:6]
    ref = _logits(model, tokenizer, texts)
    keep_heads(model, 0, [0, 2, 3])
    keep_neurons(model, 1, list(range(10, 64)))
    assert model.config.num_heads == [3, 4] and model.config.ffn_dim == [64, 54]
    assert torch.allclose(_logits(model, tokenizer, texts), ref, atol=1e-5)
    with pytest.raises(LiteformerError, match="every head of layer 1"):
        keep_heads(model, 1, [])
    with pytest.raises(LiteformerError, match="every layer"):
        keep_layers(model, [])


def test_importance_scores(tokenizer, data):
    model = _model(tokenizer)
    with torch.no_grad():
        model.encoder.layers[1].attn.out.weight[:, :8] = 0  # head 0 of layer 1 is dead
    ids = tokenizer.encode(data.texts[:64], 32).ids
    imp = unit_importance(model, ids, data.labels[:64], tokenizer.pad_id, progress=False)
    assert [h.shape[0] for h in imp.heads] == [4, 4] and [f.shape[0] for f in imp.neurons] == [64, 64]
    assert imp.heads[1][0] == 0 and (imp.heads[1][1:] > 0).all() and imp.examples == 64
    assert imp.layers.shape == (2,)
    taylor = unit_importance(model, ids, data.labels[:64], tokenizer.pad_id, layers=False, progress=False,
                               method="taylor")
    assert taylor.layers is None and taylor.heads[1][0] == 0
    with pytest.raises(LiteformerError, match="data is empty"):
        unit_importance(model, [], [], tokenizer.pad_id, progress=False)


@pytest.mark.parametrize("by", ["flops", "params"])
def test_structured_prune_reaches_target_and_survives_save_load(tokenizer, data, tmp_path, by):
    model = _model(tokenizer, num_layers=3, ffn_dim=128)
    before = macs_per_example(model.config, 16)
    report = prune_(model, StructuredConfig(0.5, by=by, length=16, drop_layers=1, min_neurons=8), data).report
    assert report["kept"] <= 0.5 and report["kept"] >= 0.4 and len(report["dropped_layers"]) == 1
    assert model.config.num_layers == 2 and len(model.encoder.layers) == 2
    if by == "flops":
        assert macs_per_example(model.config, 16) <= 0.5 * before
    save_model(model, tokenizer, tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert back.family == "liteformer" and back.model.config.num_heads == model.config.num_heads
    assert torch.equal(_logits(back.model, tokenizer, data.texts[:4]), _logits(model, tokenizer, data.texts[:4]))


def test_structured_prune_bad_targets(tokenizer, data):
    model = _model(tokenizer)
    with pytest.raises(LiteformerError, match="below what one head"):
        prune_(model, StructuredConfig(0.01, length=16), data)
    with pytest.raises(LiteformerError, match="at least one layer must stay"):
        prune_(model, StructuredConfig(0.5, drop_layers=2), data)
    with pytest.raises(LiteformerError, match=r"target must be in \(0, 1\]"):
        prune_(model, StructuredConfig(1.5), data)
    with pytest.raises(LiteformerError, match="data is empty"):
        prune_(model, StructuredConfig(0.5), TaskData(tokenizer, [], []))
    assert model.config.num_heads == [4, 4]  # nothing changed


def test_vocabulary_pruning(tokenizer, data, sst2_small, tmp_path):
    model = _model(tokenizer)
    ref = copy.deepcopy(model)
    train = data.texts[:100]
    result = prune_(model, VocabConfig(), TaskData(tokenizer, train))
    new = result.tokenizer
    assert new.vocab_size < tokenizer.vocab_size == result.report["vocab_before"]
    assert model.config.vocab_size == new.vocab_size == result.report["vocab_after"]
    old_v = {i: t for t, i in tokenizer.tok.get_vocab().items()}
    new_v = {i: t for t, i in new.tok.get_vocab().items()}
    # training sentences tokenize to the same pieces and give the same logits
    for a, b in zip(tokenizer.encode(train, 64).ids, new.encode(train, 64).ids, strict=True):
        assert [old_v[i] for i in a] == [new_v[i] for i in b]
    assert torch.allclose(_logits(model, new, train), _logits(ref, tokenizer, train), atol=1e-5)
    # unseen words fall back to smaller pieces, never to [UNK] more often than before
    unseen = sst2_small.texts[1000:1200]
    unk = sum(x.count(tokenizer.unk_id) for x in tokenizer.encode(unseen, 64).ids)
    assert sum(x.count(new.unk_id) for x in new.encode(unseen, 64).ids) == unk
    save_model(model, new, tmp_path / "v")
    back = load_model(tmp_path / "v")
    assert back.tokenizer.vocab_size == new.vocab_size
    assert json.loads((tmp_path / "v" / "config.json").read_text())["vocab_size"] == new.vocab_size


def test_cli_prune_and_bad_input(tiny_folder, tmp_path):
    r = run_cli("prune", str(tiny_folder), "--out", str(tmp_path / "s"), "--method", "structured", "--data",
                "sst2:dev", "--target-flops", "0.6", "--importance-n", "64", "--threads", "1")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "s" / "compress.json").read_text())
    assert report["kept"] <= 0.6 and load_model(tmp_path / "s").model.config.num_layers == 2
    r = run_cli("prune", str(tiny_folder), "--out", str(tmp_path / "m"), "--method", "magnitude", "--sparsity",
                "0.5", "--recover-epochs", "0.05", "--data", "sst2:dev", "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert sparsity_of(prunable(load_model(tmp_path / "m").model)) >= 0.49  # recovery keeps the zeros
    bad = [(["--method", "magnitude", "--sparsity", "1.2"], "sparsity must be in [0, 1)"),
           (["--method", "structured", "--data", "sst2:dev"], "exactly one of --target-flops"),
           (["--method", "structured", "--data", "sst2:dev", "--target-flops", "0.01"], "below what one head"),
           (["--method", "vocab"], "needs --data"),
           (["--method", "structured", "--data", str(tmp_path / "nope.tsv"), "--target-flops", ".5"], "nope.tsv")]
    for args, msg in bad:
        r = run_cli("prune", str(tiny_folder), "--out", str(tmp_path / "bad"), *args)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()


def test_latency_target_bisects_on_measured_latency(tokenizer, data, monkeypatch):
    """Latency is measured in-process; here a stand-in clock proportional to MACs makes it exact."""
    from liteformer.compress.prune import LatencyTarget
    from liteformer.compress.prune import latency as prune_mod
    monkeypatch.setattr(prune_mod, "torch_latency_ms", lambda m, length, threads: 1 + macs_per_example(m.config, 16))
    model = _model(tokenizer, ffn_dim=128)
    report = prune_(model, LatencyTarget(0.7, length=16), data).report
    assert report["latency_ratio"] <= 0.7 and len(report["trials"]) >= 1
    assert macs_per_example(model.config, 16) < macs_per_example(_model(tokenizer, ffn_dim=128).config, 16)
    with pytest.raises(LiteformerError, match="no pruning reached"):
        monkeypatch.setattr(prune_mod, "torch_latency_ms", lambda m, length, threads: 1.0)  # never faster
        prune_(_model(tokenizer), LatencyTarget(0.5, length=16), data)


@pytest.mark.parametrize(("light", "kind"), [({"conv_dim": 16}, "LSRA convolution branches"),
                                             ({"ffn_type": "inverted"}, "inverted-residual FFNs"),
                                             ({"bottleneck_dim": 16, "num_heads": 2}, "bottlenecks")])
def test_structured_pruning_refuses_light_blocks_by_type(light, kind):
    model = TransformerForSequenceClassification(TransformerConfig.tiny(**light))
    with pytest.raises(LiteformerError, match=f"this model has {kind}: distill a smaller light student"):
        prune_(model, StructuredConfig(0.5))


def test_magnitude_pruning_and_layer_subsets_cover_light_models():
    from liteformer.models.transformer import layers_subset
    model = TransformerForSequenceClassification(TransformerConfig.tiny(conv_dim=[16, 8], conv_kernel=[3, 5],
                                                                        conv_module=[True, False]))
    prune_(model, MagnitudeConfig(sparsity=0.5))
    assert sparsity_of(prunable(model)) > 0.4
    sub = TransformerConfig.from_dict(layers_subset(model.config, [1]))
    assert sub.conv_dim == [8] and sub.conv_kernel == [5] and sub.conv_module == [False]
