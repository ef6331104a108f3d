"""Recipes: every shipped recipe validates; bad recipes are refused before any work with the line and
field at fault; a tiny recipe runs its grid, caches its steps, resumes, and picks under a budget."""

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liteformer.errors import LiteformerError
from liteformer.recipe.runner import run_recipe
from liteformer.recipe.schema import DEMO, DEMOS, load_recipe
from liteformer.recipe.steps import auto_epochs
from tests.compress.test_quantize import trained  # noqa: F401  (a trained toy teacher)
from tests.conftest import ROOT, run_cli

SHIPPED = sorted((ROOT / "recipes").glob("*.yaml")) + [DEMO, *DEMOS.values()]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_recipe_validates(path):
    recipe = load_recipe(path)
    assert recipe.steps and recipe.variants()
    assert len({label for label, _ in recipe.variants()}) == len(recipe.variants())


def test_search_sets_the_step_that_has_the_option():
    recipe = load_recipe(ROOT / "recipes" / "sst2-mobile-pruned.yaml")
    for _, steps in recipe.variants():
        prunes = [o for n, o in steps if n == "prune"]
        assert prunes[0] == {"method": "vocab"} and "target_flops" in prunes[1]
    factorize = [o for n, o in steps if n == "factorize"]
    assert factorize == [{"embedding_rank": 192}]  # the word embedding alone may be factorized
    recovery = [o for n, o in steps if n == "distill"][-1]
    assert recovery["augment"] == 1 and recovery["cache_gb"] > 4  # both copies' hidden states cached


BAD = [
    ("steps:\n  - distill: {}\n", "data.train is required"),
    ("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - distil: {}\n", ":4: unknown step 'distil'"),
    ("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - distill:\n      alpha: 2\n", ":5: distill.alpha must be"),
    ("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - distill: {epoch: 2}\n", "unknown option distill.'epoch'"),
    ("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - export: {to: [tflite]}\n", "export.to must list"),
    ("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - prune: {method: structured}\n", "exactly one of target"),
    ("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - factorize: {rank: 0}\n", "factorize.rank must be > 0"),
    ("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - factorize: {}\n", "or only embedding_rank"),
    ("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - factorize: {rank: 8, ratio: 0.5}\n", "exactly one of"),
    ("teacher: t\ndata: {train: sst2:train}\nbudget: {max_size_mb: -1}\nsteps:\n  - distill: {}\n", ":3: budget."),
    ("teacher: t\ndata: {train: sst2:train}\nbudget: {min_pct_accuracy: 980}\nsteps:\n  - distill: {}\n",
     ":3: budget.min_pct_accuracy must be at most 100"),
    ("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - distill: {}\nsearch:\n  distill.lr: 3\n", "non-empty list"),
    ("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - distill: {}\nsearch:\n  prune.sparsity: [0.5]\n",
     ":6: search key 'prune.sparsity'"),
    ("data: {train: sst2:train}\nsteps:\n  - distill: {}\n", "give a teacher"),
    ("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - export: {to: [onnx], max_accuracy_drop: 2}\n",
     "export.max_accuracy_drop must be in [0, 1)"),
    ("teacher: t\ndata: {train: sst2:train}\nsteps:\n  - export: {to: [onnx], fuse: 1}\n",
     "export.fuse must be true or false"),
    ("teacher: t\ndata: {train: sst2:train}\nsteps: [\n", "not valid YAML"),
    ("teacher: t\ndata: {train: sst2:train}\ncolour: red\nsteps:\n  - distill: {}\n", ":3: unknown option 'colour'"),
]


@pytest.mark.parametrize("text, msg", BAD)
def test_bad_recipes_name_line_and_field(tmp_path, text, msg):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    with pytest.raises(LiteformerError, match=None) as e:
        load_recipe(p)
    assert msg in str(e.value), str(e.value)


def test_auto_epochs_follow_the_data_size():
    assert auto_epochs(67000) == 2 and auto_epochs(8000) == 16 and auto_epochs(500) == 20
    assert auto_epochs(10**7) == 1


def _tiny_recipe(tmp_path: Path, teacher: Path, budget: str = "{max_size_mb: 50}") -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(f"""name: tiny
teacher: {teacher}
data: {{train: sst2:dev, dev: sst2:dev, test: sst2:dev}}
budget: {budget}
bench: {{reps: 1, timed_examples: 10, length: 32}}
steps:
  - student: {{layers: [0]}}
  - prune: {{method: vocab}}
  - prune: {{method: structured, target_flops: 0.8, importance_n: 64}}
  - factorize: {{ratio: 0.8}}
  - distill: {{max_steps: 3}}
  - export: {{to: [onnx]}}
search:
  prune.target_flops: [0.9, 0.8]
""")
    return p


def test_recipe_grid_cache_resume_and_budget(tiny_folder, tmp_path):
    recipe = load_recipe(_tiny_recipe(tmp_path, tiny_folder))
    work = tmp_path / "work"
    res = run_recipe(recipe, work, log=lambda s: None)
    # 2 variants share student + vocab prune: 2 + 2 * 4 steps run
    assert res.steps_run == 10 and res.steps_cached == 2
    assert [n for n, _ in res.candidates] == ["teacher", "target_flops=0.9 onnx", "target_flops=0.8 onnx"]
    assert res.chosen and (work / "best" / "liteformer.json").exists()
    assert json.loads((work / "recipe-result.json").read_text())["chosen"]["path"] == str(work / "best")
    # a killed run: the last step's finish marker is missing -> only that step runs again
    marker = sorted((work / "cache").glob("export-*.done.json"))[0]
    marker.unlink()
    res = run_recipe(recipe, work, log=lambda s: None)
    assert res.steps_run == 1 and res.steps_cached == 11


def test_cli_recipe_check_and_impossible_budget(tiny_folder, tmp_path):
    p = _tiny_recipe(tmp_path, tiny_folder, budget="{max_latency_ms: 0.00001}")
    r = run_cli("run", str(p), "--check")
    assert r.returncode == 0 and "2 variant(s)" in r.stdout
    r = run_cli("run", str(p), "--work", str(tmp_path / "w"))
    assert r.returncode == 2 and "nothing fits the budget" in r.stderr and "closest" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert len(list((tmp_path / "w" / "cache").glob("*.done.json"))) == 10  # earlier steps' outputs kept
    missing = tmp_path / "m.yaml"
    missing.write_text(p.read_text().replace(str(tiny_folder), str(tmp_path / "nope")))
    r = run_cli("run", str(missing), "--work", str(tmp_path / "w2"))
    assert r.returncode == 2 and "nope" in r.stderr and not list((tmp_path / "w2").glob("cache/*.done.json"))


def test_disk_full_mid_run_keeps_the_cache(tiny_folder, tmp_path, monkeypatch):
    import errno

    from liteformer.recipe import cached
    real, calls = cached.run_step, []

    def filling(name, ctx, opts, out):
        calls.append(name)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(name, ctx, opts, out)
    monkeypatch.setattr(cached, "run_step", filling)
    recipe = load_recipe(_tiny_recipe(tmp_path, tiny_folder))
    with pytest.raises(LiteformerError, match="disk full during step prune"):
        run_recipe(recipe, tmp_path / "w", log=lambda s: None)
    done = sorted(p.name.split("-")[0] for p in (tmp_path / "w" / "cache").glob("*.done.json"))
    assert done == ["prune", "student"]  # the two finished steps stay cached


def test_a_bundle_that_fails_verification_drops_out(tiny_folder, tmp_path, monkeypatch):
    from liteformer.export import exporter as api
    real = api.export_model

    def failing(lm, runtime, out, opts, *args, **kw):
        if runtime == "litert":
            raise LiteformerError("verify failed: predicted labels agree on 190/200 inputs (< 99%)")
        return real(lm, runtime, out, opts, *args, **kw)
    monkeypatch.setattr(api, "export_model", failing)
    p = _tiny_recipe(tmp_path, tiny_folder)
    p.write_text(p.read_text().replace("to: [onnx]", "to: [onnx, litert]"))
    res = run_recipe(load_recipe(p), tmp_path / "w", log=lambda s: None)
    assert [n for n, _ in res.candidates] == ["teacher", "target_flops=0.9 onnx", "target_flops=0.8 onnx"]
    assert {x["runtime"] for x in res.left_out} == {"litert"} and len(res.left_out) == 2
    assert res.chosen is not None


def test_export_step_accuracy_aware(trained, tmp_path):  # noqa: F811
    """export.max_accuracy_drop: ONNX keeps in float the fewest groups that hold the accuracy."""
    from liteformer.recipe.steps import Context, export
    path, train, dev = trained
    ctx = Context(str(path), str(path), {"train": train, "dev": dev, "label_column": "label"}, threads=1)
    rep = export(ctx, {"to": ["onnx"], "quantize": "int8-dynamic", "max_accuracy_drop": 0.02}, tmp_path / "e")
    bundle = rep["bundles"]["onnx"]
    assert "error" not in bundle and isinstance(bundle["keep_float"], list)
    mixed = json.loads((tmp_path / "e" / "onnx" / "liteformer.json").read_text())["mixed_precision"]
    assert mixed["final_accuracy"] >= mixed["float_accuracy"] - 0.02


def test_student_step_cut_from_the_teacher_keeps_its_channel_note(trained, tmp_path):  # noqa: F811
    """student: {config, init_from_teacher}: the folder remembers the kept channels for the distill step."""
    from liteformer.compress.distill import StudentSpec, build_student
    from liteformer.models.checkpoint import load_model, read_config
    from liteformer.recipe.steps import Context, student
    path, train, dev = trained
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"hidden_size": 64, "num_layers": 1, "num_heads": 2, "head_dim": 32,
                               "ffn_dim": 128, "max_positions": 64}))
    ctx = Context(str(path), str(path), {"train": train, "dev": dev, "label_column": "label"}, threads=1)
    rep = student(ctx, {"config": str(cfg), "init_from_teacher": True}, tmp_path / "s")
    kept = read_config(tmp_path / "s")["liteformer_info"]["teacher_channels"]
    assert rep["hidden"] == 64 and rep["init_from_teacher"]["hidden_channels"] == kept and len(kept) == 64
    teacher = load_model(path)
    _, _, notes = build_student(StudentSpec(checkpoint=str(tmp_path / "s")), teacher.model, teacher.tokenizer, [])
    assert notes == {"teacher_channels": kept}


# property-based: any YAML-ish text is a Recipe or one LiteformerError naming the file

_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6),
                                 st.floats(allow_nan=True, allow_subnormal=False), st.text(max_size=8)),
                       lambda inner: st.one_of(st.lists(inner, max_size=3),
                                               st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                       max_leaves=8)
_STEP = st.fixed_dictionaries({}, optional={k: _VALUES for k in (
    "layers", "config", "method", "target_flops", "sparsity", "rank", "ratio", "epochs", "lr", "alpha", "to",
    "quantize", "buckets", "fuse", "max_accuracy_drop")})
_DOC = st.fixed_dictionaries({"teacher": st.just("t"), "data": st.just({"train": "sst2:train"})}, optional={
    "steps": st.lists(st.dictionaries(st.sampled_from(["student", "prune", "factorize", "distill", "export", "x"]),
                                      _STEP, min_size=1, max_size=1), max_size=3),
    "budget": st.dictionaries(st.sampled_from(["max_size_mb", "min_accuracy", "profile", "y"]), _VALUES, max_size=2),
    "search": st.dictionaries(st.sampled_from(["prune.target_flops", "export.quantize", "z"]), _VALUES, max_size=1)})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.one_of(_DOC, _VALUES))
def test_recipe_checker_never_fails_other_than_cleanly(tmp_path, doc):
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(doc))
    try:
        load_recipe(p)
    except LiteformerError as e:
        assert str(e).startswith(str(p)) and "\n" not in str(e)
