"""Checkpoint averaging: the mean of the last N evaluations' weights, kept when it scores at least as well."""

import json

import torch

from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification
from liteformer.train.average import AverageKeeper
from liteformer.train.config import TrainConfig, TranslationConfig
from liteformer.train.translate import prepare, train_translation
from tests.train.test_translate import TINY


def test_keeper_averages_the_last_n(tmp_path):
    torch.manual_seed(0)
    model = TransformerForSequenceClassification(TransformerConfig.tiny())
    keeper = AverageKeeper(tmp_path / "avg", 2)
    w = "encoder.layers.0.ffn.up.weight"
    assert keeper.average(model) is None
    seen = []
    for step in (1, 2, 3):
        with torch.no_grad():
            model.encoder.layers[0].ffn.up.weight.fill_(float(step))
        keeper.add(model, step)
        seen.append(model.state_dict()[w].clone())
    assert [f.name for f in keeper.files()] == ["step-000000002.pt", "step-000000003.pt"]
    avg = keeper.average(model)
    assert torch.allclose(avg.state_dict()[w], torch.full_like(seen[0], 2.5))
    assert torch.equal(model.state_dict()[w], seen[-1])  # the model itself is untouched


def test_a_translation_run_averages_its_last_evaluations(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps(TINY))
    prep = prepare("multi30k:test", str(tmp_path / "m.json"), vocab_size=200, dev="multi30k:val")
    cfg = TrainConfig(max_steps=6, lr=3e-3, eval_every=2, average_last=3)
    result = train_translation(prep, tmp_path / "nmt", cfg, TranslationConfig(max_tokens=400, dev_sentences=8),
                               progress=False)
    record = json.loads((tmp_path / "nmt" / "training.json").read_text())
    assert record["averaged"]["checkpoints"] == 3 and result.averaged == record["averaged"]
    if record["averaged"]["kept"]:
        assert record["best"]["bleu"] == round(record["averaged"]["score"], 2)
    assert not (tmp_path / "nmt.ckpt").exists()
