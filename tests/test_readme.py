"""The README's commands stay true: every CLI line parses, the API snippet runs (on a tiny model)."""

import re
import shlex

from liteformer.cli import build_parser
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def _cli_lines():
    for block in _blocks("bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("liteformer ") or " -m liteformer " in line:
                yield shlex.split(line.split(" -m liteformer ", 1)[-1] if " -m " in line else line[len("liteformer "):])


def test_every_readme_cli_line_parses():
    lines = list(_cli_lines())
    assert len(lines) >= 5
    parser = build_parser()
    for argv in lines:
        parser.parse_args(argv)


def test_readme_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"^make (\w+)", README, flags=re.M):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_model_config_example_exists():
    for path in re.findall(r"--model-config (\S+)", "".join(_blocks("bash"))):
        assert (ROOT / path).exists(), path


def test_readme_python_snippet_runs(tiny_folder, tmp_path, monkeypatch):
    code = "\n".join(_blocks("python"))  # the blocks build on each other
    code = code.replace("ExportOptions(max_length=128)", "ExportOptions(max_length=32)")
    code = code.replace('export_model(lm, "litert"', 'export_model(lm, "onnx"')
    code = code.replace('"../shared/models/minilm-l6-sst2"', repr(str(tiny_folder)))
    code = code.replace("hidden_size=384", "hidden_size=32, max_positions=64").replace("[1536, 512]", "[32, 16]")
    code = code.replace("head_dim=32", "head_dim=8").replace("[12, 6]", "[4, 2]")
    tiny_asr = tmp_path / "asr.json"  # the speech snippet on a tiny model, 2 steps
    tiny_asr.write_text('{"hidden_size": 16, "num_layers": 1, "num_heads": 2, "ffn_dim": 32, "audio": {"n_mels": 16}}')
    code = code.replace('"examples/asr-student.json"', repr(str(tiny_asr)))
    code = code.replace("TrainConfig(max_steps=2000, lr=2e-3, batch_size=16), SpeechConfig(strings=500)",
                        "TrainConfig(max_steps=2, lr=2e-3, batch_size=4), SpeechConfig(strings=2, dev_strings=2)")
    code = code.replace("strings=200", "strings=4").replace("strings=50", "strings=4")
    monkeypatch.chdir(tmp_path)
    from liteformer.search import auto  # the search itself runs in tests/search; here its call must fit

    def search(teacher, data, budget, opts, work, **kw):
        auto.AutoSearch(teacher, data, budget, opts, work)
        return auto.RecipeResult(work, [], None, "", report={"search_md": "search.md"})
    monkeypatch.setattr(auto, "run_search", search)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "pruned-shape" / "model.safetensors").exists()
    assert (tmp_path / "bundles" / "litert" / "liteformer.json").exists()
    assert (tmp_path / "compressed" / "config.json").exists()
    assert (tmp_path / "asr-onnx" / "liteformer.json").exists()
