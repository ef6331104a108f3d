"""Output-vocabulary pruning of an encoder-decoder: the renumbered tokenizer segments every text as before,
the pruned model's logits are the old ones at the kept pieces, the width travels through save/load, the
losses, distillation, the cost model, every runtime's decode graph and the CLI."""

import json

import pytest
import torch

from liteformer.compress.prune import OutputVocabConfig, TaskData, prune_
from liteformer.compress.prune.output_vocab import renumber
from liteformer.data.batching import pad_batch
from liteformer.data.parallel import ParallelDataset, read_parallel
from liteformer.data.subword import train_subword
from liteformer.errors import LiteformerError
from liteformer.export.exporter import export_model
from liteformer.export.options import ExportOptions
from liteformer.models.checkpoint import load_model, save_model
from liteformer.models.cost import macs_per_sentence
from liteformer.models.generation import GenerationConfig, generate, model_calls
from liteformer.models.transformer import TransformerConfig
from liteformer.tasks import translation
from liteformer.tasks.translation import label_smoothed_loss
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def pairs():
    return read_parallel("multi30k:val")


@pytest.fixture(scope="module")
def pruned(nmt_folder, pairs):
    """The tiny model of nmt_folder with its output layer cut to the pieces of 40 German targets."""
    loaded = load_model(nmt_folder)
    before = load_model(nmt_folder)
    data = TaskData(loaded.tokenizer, pairs.sources[:40], None, 32, progress=False, targets=pairs.targets[:40])
    result = prune_(loaded.model, OutputVocabConfig(), data)
    return before, loaded.model, result


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_renumbered_tokenizer_segments_as_before(pairs, kind):
    tok = train_subword(pairs.sources + pairs.targets, 300, kind)
    V = tok.vocab_size
    order = [0, 1, 2, 3, *range(V - 1, 3, -1)]  # specials first, the rest reversed
    new = renumber(tok, order)
    texts = pairs.sources[:20] + pairs.targets[:20] + ["Zoë's naïve café, 42 %!"]
    for a, b in zip(tok.encode(texts, 64).ids, new.encode(texts, 64).ids, strict=True):
        assert [order[i] for i in b] == a  # the same pieces under their new ids
    assert new.decode(new.encode(texts[:3], 64).ids[0]) == tok.decode(tok.encode(texts[:3], 64).ids[0])


def test_pruned_logits_are_the_old_ones_at_the_kept_pieces(pruned, pairs):
    before, model, result = pruned
    r, tok = result.report, result.tokenizer
    V, N = r["vocab"], r["outputs_after"]
    assert model.config.output_vocab_size == N and r["outputs_before"] == V == tok.vocab_size == 200
    assert r["used_by_targets"] <= N < V and r["output_macs_after"] < r["output_macs_before"]
    old_tok = before.tokenizer
    order = [old_tok.tok.token_to_id(tok.tok.id_to_token(i)) for i in range(V)]  # new id -> old id
    texts, targets = pairs.sources[:6], pairs.targets[:6]
    src, sm = pad_batch(tok.encode(texts, 32).ids, 0)
    dec, dm = pad_batch([[1, *t[:-1]] for t in tok.encode(targets, 32).ids], 0)
    old = lambda x: torch.tensor([[order[i] for i in row] for row in x.tolist()])  # noqa: E731
    with torch.no_grad():
        got = model(src, sm, dec, dm)  # (B, T, N)
        want = before.model(old(src), sm, old(dec), dm)[..., order[:N]]  # the old logits of the kept pieces
    assert got.shape[-1] == N and torch.allclose(got, want, atol=1e-5)
    # greedy decoding over the kept pieces is the old model's decoding restricted to them
    cfg = GenerationConfig(max_target=10)
    outs = generate(*model_calls(model, 10), src[:2], sm[:2], cfg, 1, 2)
    assert all(i < N for o in outs for i in o)
    # a reference piece outside the output layer counts as <unk> in the loss
    loss = label_smoothed_loss(got[0], torch.tensor([5, N + 3, *[0] * (got.shape[1] - 2)]), 0)
    assert torch.isfinite(loss)


def test_width_survives_save_load_cost_and_distillation_checks(pruned, tmp_path, pairs):
    before, model, result = pruned
    save_model(model, result.tokenizer, tmp_path / "p")
    back = load_model(tmp_path / "p")
    assert back.model.config.output_vocab_size == model.config.output_vocab_size
    assert macs_per_sentence(back.model.config, 10, 10) < macs_per_sentence(before.model.config, 10, 10)
    from liteformer.verbs_translation import Seq2SeqDistill, cut_student, distill_translation
    student_cfg = tmp_path / "s.json"
    student_cfg.write_text(json.dumps({"hidden_size": 32, "num_layers": 1, "num_heads": 4, "ffn_dim": 32,
                                       "num_decoder_layers": 1, "max_positions": 64, "norm_first": True}))
    small = ParallelDataset(pairs.sources[:8], pairs.targets[:8], "val")
    prep, _ = cut_student(back, small, str(student_cfg), init_from_teacher=False)
    assert prep.model.config.output_vocab_size == model.config.output_vocab_size  # the teacher's width
    prep.model.config.output_vocab_size = 0
    with pytest.raises(LiteformerError, match="one output layer"):
        distill_translation(back, prep, tmp_path / "s", None, None, Seq2SeqDistill(kd="word"))


def test_config_checks():
    with pytest.raises(ValueError, match="encoder-decoder"):
        TransformerConfig.tiny(output_vocab_size=10)
    with pytest.raises(ValueError, match="output_vocab_size must be"):
        TransformerConfig.tiny(num_decoder_layers=1, output_vocab_size=10**6)


@pytest.mark.parametrize("rt,q", [("onnx", None), ("litert", None), ("executorch", "int8-dynamic")])
def test_pruned_output_layer_in_each_runtime(pruned, tmp_path, pairs, rt, q):
    from liteformer import runtimes
    from liteformer.compress.quantize import quantize_config
    _, model, result = pruned
    save_model(model, result.tokenizer, tmp_path / "p")
    loaded = load_model(tmp_path / "p")
    check = ParallelDataset(pairs.sources[:8], pairs.targets[:8], "val")
    opts = ExportOptions(max_length=32, buckets=(32,), max_target=10, quantize=quantize_config(q) if q else None)
    side = export_model(loaded, rt, tmp_path / rt, opts, check, threads=1)
    assert side["generation"]["layout"]["logits"] == model.config.output_vocab_size
    if q is None:
        assert side["verify"]["identical_outputs"] == 1.0
    runner = runtimes.load(rt, tmp_path / rt, None, 1)
    ids = runner.tokenizer.encode(pairs.sources[:1], 32).ids[0]
    out = translation.run_sentence(runner, ids, translation.runtime_config(runner))
    assert all(i < model.config.output_vocab_size for i in out.ids)


def test_cli_prunes_an_encoder_decoder(nmt_folder, tmp_path):
    r = run_cli("prune", str(nmt_folder), "--method", "vocab", "--data", "multi30k:val", "--out", str(tmp_path / "p"))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "p" / "compress.json").read_text())
    assert report["outputs_after"] < report["outputs_before"] == 200
    assert load_model(tmp_path / "p").model.config.output_vocab_size == report["outputs_after"]
