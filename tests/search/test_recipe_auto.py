"""``search: auto`` in a recipe: the teacher comes from the recipe's finetune step (cached), the search's
options and budget reach the search, and the recipe checker refuses what does not fit."""

import json
import re

import pytest

from liteformer.errors import LiteformerError
from liteformer.recipe.runner import RecipeResult, run_recipe
from liteformer.recipe.schema import load_recipe
from tests.conftest import run_cli
from tests.train.test_finetune import _toy


def test_the_finetune_step_makes_the_teacher_of_the_search(tiny_folder, tmp_path, monkeypatch):
    train, dev = _toy(tmp_path / "train.tsv", 80, 0), _toy(tmp_path / "dev.tsv", 20, 1)
    p = tmp_path / "r.yaml"
    p.write_text(f"""name: auto
data: {{train: {train}, dev: {dev}}}
budget: {{profile: phone-low, min_pct_accuracy: 97}}
steps:
  - finetune: {{base: {tiny_folder}, max_steps: 2}}
search:
  auto: {{levels: [0.5], augment: [0], max_minutes: 5}}
""")
    seen = {}

    def fake(teacher, data, budget, opts, work, progress=False, log=print):
        seen.update(teacher=teacher, budget=budget, opts=opts, work=work)
        return RecipeResult(work, [("teacher", teacher)], None, "nothing fits")
    monkeypatch.setattr("liteformer.search.auto.run_search", fake)
    res = run_recipe(load_recipe(p), tmp_path / "w", log=lambda s: None)
    assert (tmp_path / "w" / "cache").is_dir() and res.steps_run == 1
    assert json.loads((__import__("pathlib").Path(seen["teacher"]) / "training.json").read_text())["steps"] == 2
    assert seen["opts"].levels == [0.5] and seen["opts"].max_minutes == 5 and seen["work"] == tmp_path / "w"
    assert seen["budget"].min_pct_accuracy == 97 and seen["budget"].max_size_mb == 10  # the profile, overridden
    again = run_recipe(load_recipe(p), tmp_path / "w", log=lambda s: None)
    assert again.steps_run == 0 and again.steps_cached == 1
    assert json.loads((tmp_path / "w" / "recipe-result.json").read_text())["search"] is True
    r = run_cli("run", str(p), "--check")
    assert r.returncode == 0 and "finetune -> search: auto (levels=[0.5], augment=[0], max_minutes=5)" in r.stdout


@pytest.mark.parametrize("tail, msg", [
    ("search: grid\n", "search must be 'auto' or a mapping"),
    ("search: {auto: {levels: [2]}}\n", "search.auto.levels"),
    ("search: {auto: {speed: 3}}\n", "unknown option search.auto.'speed'"),
    ("search: {auto: {}, distill.epochs: [1]}\n", "takes the search's options only"),
    ("steps:\n  - distill: {}\nsearch: auto\n", "the only step is an optional finetune"),
    ("task: translation\nsearch: auto\n", "search: auto builds text-classification students"),
])
def test_the_recipe_checker_refuses(tmp_path, tail, msg):
    p = tmp_path / "r.yaml"
    p.write_text("teacher: t\ndata: {train: sst2:train, dev: sst2:dev}\n" + tail)
    with pytest.raises(LiteformerError, match=re.escape(msg)):
        load_recipe(p)
