"""Summarization and dialogue recipes on tiny models: a summarizer trained by the recipe's own finetune
step, cut, distilled (word + sequence KD), exported int8 and verified by ROUGE-L, benched on ROUGE and
chosen; the DialogSum split rules of a recipe (a hash split of one file, missing files); the options
these recipes refuse."""

import json
import re

import pytest

from liteformer.data.dialogsum import read_dialogues, write_dialogues
from liteformer.errors import LiteformerError
from liteformer.recipe.runner import run_recipe
from liteformer.recipe.schema import load_recipe

TINY = {"hidden_size": 32, "num_layers": 1, "num_heads": 4, "ffn_dim": 64, "num_decoder_layers": 1,
        "max_positions": 128, "norm_first": True, "positions": "learned", "dropout": 0.0, "attention_dropout": 0.0}


def test_a_summarization_recipe_trains_cuts_distills_exports_and_benches(tmp_path):
    write_dialogues(read_dialogues("dialogsum:train")[:24], tmp_path / "train.jsonl")
    write_dialogues(read_dialogues("dialogsum:test")[:4], tmp_path / "test.jsonl")
    (tmp_path / "t.json").write_text(json.dumps(TINY))
    (tmp_path / "s.json").write_text(json.dumps({**TINY, "hidden_size": 16, "num_heads": 2, "ffn_dim": 32}))
    path = tmp_path / "r.yaml"
    path.write_text(f"""name: sum-tiny
task: summarization
data: {{train: {tmp_path / 'train.jsonl'}, dev: {tmp_path / 'test.jsonl'}, test: {tmp_path / 'test.jsonl'}}}
budget: {{max_size_mb: 50}}
bench: {{reps: 1, timed_examples: 2}}
steps:
  - finetune: {{model_config: {tmp_path / 't.json'}, vocab_size: 200, max_steps: 2, eval_every: 2,
               max_tokens: 1024, dev_sentences: 2}}
  - student: {{config: {tmp_path / 's.json'}, init_from_teacher: true}}
  - distill: {{kd: both, max_steps: 2, eval_every: 2, max_tokens: 1024, dev_sentences: 2}}
  - export: {{to: [onnx], quantize: int8-dynamic, max_target: 8, max_length: 128}}
""")
    r = load_recipe(path)
    r.check_inputs()
    res = run_recipe(r, tmp_path / "w", log=lambda s: None)
    steps = {json.loads(p.read_text())["step"]: json.loads(p.read_text())["report"]
             for p in (tmp_path / "w" / "cache").glob("*.done.json")}
    assert "dev_rougeL" in steps["finetune"] and "dev_rougeL" in steps["distill"]
    assert steps["export"]["bundles"]["onnx"].get("verify", {}).get("rougeL_source") is not None, steps["export"]
    assert res.chosen is not None and res.chosen.metric == "rougeL" and "ROUGE-1" in res.table
    side = json.loads((tmp_path / "w" / "best" / "liteformer.json").read_text())
    assert side["task"] == "summarization" and side["verify"]["quantized"]


def test_a_dialogue_recipe_reads_a_hash_split_of_one_file(tmp_path):
    f = tmp_path / "all.jsonl"
    write_dialogues(read_dialogues("dialogsum:train", need_summary=False), f)
    p = tmp_path / "r.yaml"
    p.write_text(f"task: dialogue\nteacher: {tmp_path}\ndata: {{train: '{f}:train', dev: '{f}:dev'}}\n"
                 "steps:\n  - distill: {kd: word}\n")
    load_recipe(p).check_inputs()
    p.write_text(f"task: dialogue\nteacher: {tmp_path}\ndata: {{train: /no/such.jsonl:train}}\nsteps:\n"
                 "  - distill: {}\n")
    with pytest.raises(LiteformerError, match=re.escape("data.train: /no/such.jsonl: no such file")):
        load_recipe(p).check_inputs()


@pytest.mark.parametrize("task, step, msg", [
    ("summarization", "  - finetune: {vocab_size: 100}\n", "give model_config (a JSON with num_decoder_layers > 0) "
                                                           "or base"),
    ("summarization", "  - finetune: {label_names: [a]}\n", "not for a summarization recipe (see "
                                                            "recipes/dialogsum-mobile.yaml)"),
    ("dialogue", "  - distill: {strings: 3}\n", "step distill with strings: not for a dialogue recipe"),
    ("dialogue", "  - export: {max_accuracy_drop: 0.01}\n", "recipes/dialogue-mobile.yaml"),
])
def test_summarization_and_dialogue_recipes_refuse(tmp_path, task, step, msg):
    p = tmp_path / "r.yaml"
    p.write_text(f"task: {task}\nteacher: t\ndata: {{train: dialogsum:train}}\nsteps:\n" + step)
    with pytest.raises(LiteformerError, match=re.escape(msg)):
        load_recipe(p)
