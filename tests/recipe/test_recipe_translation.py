"""A translation recipe end to end on a tiny teacher: a student cut from it, distilled with word- and
sequence-level KD, exported int8 and verified by BLEU, benched on sacreBLEU, chosen under a budget;
and the options a translation recipe refuses."""

import json
import re

import pytest

from liteformer.data.parallel import read_parallel
from liteformer.errors import LiteformerError
from liteformer.recipe.runner import run_recipe
from liteformer.recipe.schema import load_recipe


@pytest.fixture(scope="module")
def recipe(nmt_folder, tmp_path_factory):
    root = tmp_path_factory.mktemp("nmt-recipe")
    (root / "student.json").write_text(json.dumps({
        "hidden_size": 32, "num_layers": 1, "num_heads": 4, "ffn_dim": 32, "num_decoder_layers": 1,
        "max_positions": 64, "norm_first": True, "positions": "learned", "activation": "gelu", "dropout": 0.0,
        "attention_dropout": 0.0}))
    for split, name, n in (("test", "multi30k:test", 6), ("train", "multi30k:val", 24)):
        d = read_parallel(name)
        (root / f"{split}.tsv").write_text("source\ttarget\n" + "".join(
            f"{s}\t{t}\n" for s, t in zip(d.sources[:n], d.targets[:n], strict=True)))
    path = root / "r.yaml"
    path.write_text(f"""name: nmt-tiny
task: translation
teacher: {nmt_folder}
data: {{train: {root / 'train.tsv'}, dev: {root / 'train.tsv'}, test: {root / 'test.tsv'}}}
budget: {{max_size_mb: 50}}
bench: {{reps: 1, timed_examples: 3}}
steps:
  - student: {{config: {root / 'student.json'}, init_from_teacher: true}}
  - distill: {{kd: both, max_steps: 4, eval_every: 2, max_tokens: 512, dev_sentences: 4}}
  - prune: {{method: vocab}}
  - export: {{to: [onnx], quantize: int8-dynamic, max_target: 12, max_length: 32}}
""")
    return path


def test_a_translation_recipe_runs_end_to_end(recipe, tmp_path):
    r = load_recipe(recipe)
    r.check_inputs()
    res = run_recipe(r, tmp_path / "w", log=lambda s: None)
    assert res.chosen is not None and res.chosen.metric == "bleu" and res.chosen.runtime == "onnx"
    side = json.loads((tmp_path / "w" / "best" / "liteformer.json").read_text())
    assert side["task"] == "translation" and side["verify"]["quantized"] and side["generation"]["layout"]
    assert "BLEU" in res.table and (tmp_path / "w" / "cache" / "teacher-outputs" / "kd-targets.txt").exists()
    again = run_recipe(r, tmp_path / "w", log=lambda s: None)
    assert again.steps_run == 0 and again.steps_cached == 4
    pruned = json.loads(next((tmp_path / "w" / "cache").glob("prune-*.done.json")).read_text())["report"]
    layout = side["generation"]["layout"]  # the output layer keeps the targets' pieces
    assert layout["logits"] == pruned["outputs_after"] < layout["vocab_size"] == 200


@pytest.mark.parametrize("step, msg", [
    ("  - finetune: {label_names: [a]}\n", "step finetune with label_names: not for a translation recipe"),
    ("  - finetune: {vocab_size: 100}\n", "trains from scratch: give model_config"),
    ("  - distill: {augment: 2}\n", "step distill with augment: not for"),
    ("  - student: {layers: [0]}\n", "step student with layers"),
])
def test_a_translation_recipe_refuses(tmp_path, step, msg):
    p = tmp_path / "r.yaml"
    p.write_text("task: translation\nteacher: t\ndata: {train: multi30k:train}\nsteps:\n" + step)
    with pytest.raises(LiteformerError, match=msg):
        load_recipe(p)


def test_translation_options_in_a_classification_recipe(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - distill: {kd: word}\n")
    with pytest.raises(LiteformerError, match="kd: translation or speech options"):
        load_recipe(p)
    p.write_text("task: summarize\nteacher: t\ndata: {train: sst2:train}\nsteps:\n  - distill: {}\n")
    with pytest.raises(LiteformerError, match="unknown task 'summarize'"):
        load_recipe(p)


@pytest.mark.parametrize("step, msg", [
    ("  - finetune: {base: minilm-l6}\n", "step finetune with base: not for a speech-recognition recipe"),
    ("  - finetune: {strings: 10}\n", "trains from scratch: give model_config (a JSON with an 'audio' section)"),
    ("  - prune: {method: magnitude, sparsity: 0.5}\n", "step prune: not for a speech-recognition recipe"),
    ("  - export: {buckets: [16]}\n", "step export with buckets: not for"),
    ("  - distill: {kd: word}\n", "step distill with kd: not for"),
])
def test_a_speech_recipe_refuses(tmp_path, step, msg):
    p = tmp_path / "r.yaml"
    p.write_text("task: speech-recognition\nteacher: t\ndata: {train: fsdd:train}\nsteps:\n" + step)
    with pytest.raises(LiteformerError, match=re.escape(msg)):
        load_recipe(p)


def test_speech_options_elsewhere_are_refused(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - distill: {pseudo_labels: true}\n")
    with pytest.raises(LiteformerError, match="pseudo_labels: translation or speech options"):
        load_recipe(p)
    p.write_text("task: translation\nteacher: t\ndata: {train: multi30k:train}\nsteps:\n  - distill: {strings: 3}\n")
    with pytest.raises(LiteformerError, match="step distill with strings: not for a translation recipe"):
        load_recipe(p)
    p.write_text("task: speech-recognition\nteacher: t\ndata: {train: /no/such/clips:train}\nsteps:\n"
                 "  - distill: {}\n")
    with pytest.raises(LiteformerError, match="data.train: /no/such/clips: no such file"):
        load_recipe(p).check_inputs()
