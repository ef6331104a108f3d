"""Low-rank factorization: SVD factors reproduce the model at full energy, ranks meet the targets,
factorized models save and load (our format), bad ranks are refused."""

import pytest
import torch

from liteformer.compress.factorize import LowRankConfig, factorize_
from liteformer.errors import LiteformerError
from liteformer.models.checkpoint import load_model, save_model
from liteformer.models.cost import macs_per_example
from liteformer.models.transformer import LowRankLinear, TransformerConfig, TransformerForSequenceClassification
from tests.conftest import run_cli


def _model(**kw):
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(hidden_size=64, ffn_dim=256, vocab_size=300, **kw)
    return TransformerForSequenceClassification(cfg).eval()


X = torch.randint(5, 300, (3, 11))


def test_exact_on_low_rank_weights():
    """Weights of rank 16 factorized at rank 16: the SVD factors give the same function."""
    model = _model()
    with torch.no_grad():
        for name, m in model.named_modules():
            if name.endswith(("ffn.up", "ffn.down")) or name.endswith("embeddings.word"):
                w = m.weight
                m.weight.copy_(torch.randn(w.shape[0], 16) @ torch.randn(16, w.shape[1]) / 16)
    ref = model(X)
    report = factorize_(model, LowRankConfig(rank=16, targets=("ffn",), embedding_rank=16))
    assert isinstance(model.encoder.layers[0].ffn.up, LowRankLinear)
    assert set(report.ranks) == {"encoder.layers.0.ffn.up", "encoder.layers.0.ffn.down", "encoder.layers.1.ffn.up",
                                 "encoder.layers.1.ffn.down", "encoder.embeddings.word"}
    assert all(e == pytest.approx(1.0) for e in report.energy.values())
    assert torch.allclose(model(X), ref, atol=1e-4)


def test_ratio_energy_and_flops():
    model = _model()
    report = factorize_(model, LowRankConfig(ratio=0.5))
    assert report.params_after <= 0.5 * report.params_before
    assert report.params_after >= 0.4 * report.params_before  # the bisection uses the budget
    assert macs_per_example(model.config, 16) < macs_per_example(_model().config, 16)
    energy = factorize_(_model(), LowRankConfig(energy=0.5))
    assert all(e >= 0.5 for e in energy.energy.values())


def test_save_load_roundtrip(tokenizer, tmp_path):
    torch.manual_seed(0)
    model = TransformerForSequenceClassification(TransformerConfig.tiny(vocab_size=tokenizer.vocab_size)).eval()
    factorize_(model, LowRankConfig(energy=0.7, embedding_rank=8))
    save_model(model, tokenizer, tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert back.family == "liteformer" and back.model.config.low_rank == model.config.low_rank
    x = torch.randint(5, tokenizer.vocab_size, (2, 7))
    assert torch.equal(back.model(x), model(x))


@pytest.mark.parametrize("cfg, msg", [
    (LowRankConfig(rank=0), "rank must be > 0"),
    (LowRankConfig(rank=64), "not below the full rank"),
    (LowRankConfig(ratio=1.2), "ratio must be in"),
    (LowRankConfig(energy=0.5, rank=3), "exactly one of"),
    (LowRankConfig(rank=4, targets=("pooler",)), "targets must be"),
    (LowRankConfig(embedding_rank=64), "not below the full rank"),
])
def test_bad_ranks(cfg, msg):
    with pytest.raises(LiteformerError, match=msg):
        factorize_(_model(), cfg)


def test_cli_factorize(tiny_folder, tmp_path):
    r = run_cli("factorize", str(tiny_folder), "--out", str(tmp_path / "f"), "--ratio", "0.5", "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert load_model(tmp_path / "f").model.config.low_rank
    r = run_cli("factorize", str(tiny_folder), "--out", str(tmp_path / "bad"), "--rank", "500")
    assert r.returncode == 2 and "not below the full rank" in r.stderr and not (tmp_path / "bad").exists()


def test_factorize_a_light_model():
    """Low rank of a light student's attention and FFN Linears; the MACs follow the ranks."""
    torch.manual_seed(0)
    model = TransformerForSequenceClassification(TransformerConfig.tiny(conv_dim=16, ffn_type="inverted",
                                                                        conv_kernel=3)).eval()
    before = macs_per_example(model.config, 16)
    ids = torch.randint(1, 100, (2, 16))
    factorize_(model, LowRankConfig(rank=4, targets=("ffn",)))
    assert isinstance(model.encoder.layers[0].ffn.up, LowRankLinear) and model.config.low_rank
    assert macs_per_example(model.config, 16) < before and model(ids).shape == (2, 2)
