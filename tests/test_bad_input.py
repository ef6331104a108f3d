"""Bad input, table-driven, across every command: each case must end with exit code 2, one line on
stderr that names the input, no traceback, and no new file anywhere (the inputs untouched too).

The cases run in this process through ``liteformer.cli.main`` (a traceback would fail the test as an
uncaught exception); ``test_every_command_is_covered`` makes sure a new command cannot skip the table.
Inputs are made once per module in ``fx``: corrupt model folders, corrupt bundles per runtime, bad
data files, bad recipes, bad bench reports, and paths where no output can go.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from liteformer.cli import COMMANDS, main

pytestmark = pytest.mark.filterwarnings("ignore")


# ----------------------------------------------------------------------------------------------
# the inputs


def _model(fx: Path, tiny: Path, name: str, config=None, drop=(), edit=None) -> str:
    """A copy of the tiny model with its config replaced/edited or files dropped."""
    p = fx / name
    shutil.copytree(tiny, p)
    for f in drop:
        (p / f).unlink()
    if edit is not None:
        cfg = json.loads((p / "config.json").read_text())
        edit(cfg)
        config = json.dumps(cfg)
    if config is not None:
        (p / "config.json").write_text(config)
    return str(p)


def _bundle(fx: Path, tiny: Path, name: str, artifact: str, data: bytes, sidecar=None) -> str:
    p = fx / name
    p.mkdir()
    for f in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(tiny / f, p / f)
    (p / artifact).write_bytes(data)
    runtime = {".onnx": "onnx", ".tflite": "litert", ".pte": "executorch"}.get(Path(artifact).suffix, "onnx")
    meta = {"runtime": runtime, "artifact": artifact, "id2label": {"0": "0", "1": "1"}, "max_length": 64}
    side = sidecar(meta) if callable(sidecar) else (meta if sidecar is None else sidecar)
    (p / "liteformer.json").write_text(side if isinstance(side, str) else json.dumps(side))
    return str(p)


def _translation_model(root: Path) -> str:
    from liteformer.data.parallel import read_parallel
    from liteformer.data.subword import train_subword
    from liteformer.models.checkpoint import save_model
    from liteformer.models.seq2seq import TransformerForSeq2SeqLM
    from liteformer.models.transformer import TransformerConfig
    pairs = read_parallel("multi30k:val")
    tok = train_subword(pairs.sources + pairs.targets, 200)
    cfg = TransformerConfig.tiny(vocab_size=tok.vocab_size, num_decoder_layers=1, type_vocab_size=0, pooler="none")
    save_model(TransformerForSeq2SeqLM(cfg), tok, root / "nmt")
    other = train_subword(pairs.sources + pairs.targets, 150)  # a translation model of another vocabulary
    cfg = TransformerConfig.tiny(vocab_size=other.vocab_size, num_decoder_layers=1, type_vocab_size=0, pooler="none")
    save_model(TransformerForSeq2SeqLM(cfg), other, root / "nmt-other")
    (root / "nmt.json").write_text(json.dumps({"hidden_size": 32, "num_layers": 1, "num_heads": 4, "ffn_dim": 64,
                                               "num_decoder_layers": 1, "max_positions": 64}))
    for name, extra in (("even", {"conv_dim": 16, "conv_kernel": 4}), ("split", {"conv_dim": 40}),
                        ("causal", {"decoder_conv_dim": 8}), ("kernel", {"conv_dim": 16, "conv_kernel": 15})):
        (root / f"light-{name}.json").write_text(json.dumps({"hidden_size": 32, "num_layers": 1, "num_heads": 4,
                                                              "ffn_dim": 64, "max_positions": 64, **extra}))
    return str(root / "nmt")


def _speech_inputs(root: Path, w: dict) -> None:
    """A tiny speech model, an exported bundle of at most 1 s, and bad clips and transcripts."""
    import numpy as np

    from liteformer.data.audio import write_wav
    from liteformer.data.chars import CharTokenizer
    from liteformer.export.exporter import export_model
    from liteformer.export.options import ExportOptions
    from liteformer.models.checkpoint import load_model, save_model
    from tests.export.test_speech_export import tiny_asr
    save_model(tiny_asr(), CharTokenizer(), root / "asr")
    export_model(load_model(root / "asr"), "onnx", root / "asr-onnx", ExportOptions(max_seconds=1.0))
    a = root / "audio"
    a.mkdir()
    rng = np.random.default_rng(0)
    write_wav(a / "ok.wav", 0.1 * rng.standard_normal(8000), 8000)
    write_wav(a / "long.wav", 0.1 * rng.standard_normal(48000), 16000)
    write_wav(a / "tiny.wav", 0.1 * rng.standard_normal(100), 16000)
    (a / "text.wav").write_text("not audio")
    raw = (a / "ok.wav").read_bytes()
    (a / "cut.wav").write_bytes(raw[: len(raw) // 2])
    with __import__("wave").open(str(a / "empty.wav"), "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(16000), f.writeframes(b"")
    (a / "chars.tsv").write_text("path\ttext\nok.wav\tcaf\u00e9\n", encoding="utf-8")
    (a / "empty.tsv").write_text("path\ttext\nempty.wav\tyes\n")
    (a / "long.tsv").write_text("path\ttext\nlong.wav\tyes\n")
    (root / "asr.json").write_text(json.dumps({"hidden_size": 32, "num_layers": 1, "num_heads": 4, "ffn_dim": 64,
                                               "audio": {"n_mels": 16}}))
    w.update(asr=str(root / "asr"), asr_onnx=str(root / "asr-onnx"), **{f"w_{f.stem}_{f.suffix[1:]}": str(f)
                                                                         for f in a.iterdir()})


@pytest.fixture(scope="module")
def fx(tmp_path_factory, tiny_folder) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad-inputs")
    t = tiny_folder
    w: dict[str, str] = {"root": str(root), "tiny": str(t)}
    # models
    w["m_missing"] = str(root / "no-such-model")
    (root / "a-file").write_text("x")
    w["m_file"] = str(root / "a-file")
    w["m_noconfig"] = _model(root, t, "m-noconfig", drop=["config.json"])
    w["m_notjson"] = _model(root, t, "m-notjson", config="{not json")
    w["m_list"] = _model(root, t, "m-list", config="[1, 2]")
    w["m_floatwidth"] = _model(root, t, "m-floatwidth", edit=lambda c: c.update(hidden_size=32.5))
    w["m_dropout"] = _model(root, t, "m-dropout", edit=lambda c: c.update(hidden_dropout_prob=2.0))
    w["m_labels"] = _model(root, t, "m-labels", edit=lambda c: c.update(id2label={"a": "x", "b": "y"}))
    w["m_vocab"] = _model(root, t, "m-vocab", edit=lambda c: c.update(vocab_size=10**13))
    w["m_layers"] = _model(root, t, "m-layers", edit=lambda c: c.update(num_hidden_layers="two"))
    w["m_type"] = _model(root, t, "m-type", edit=lambda c: c.update(model_type="gpt2"))
    w["m_own"] = _model(root, t, "m-own", config=json.dumps({"model_type": "liteformer", "liteformer": 5}))
    w["m_cfgdir"] = _model(root, t, "m-cfgdir", drop=["config.json"])
    (Path(w["m_cfgdir"]) / "config.json").mkdir()
    w["m_trunc"] = _model(root, t, "m-trunc")
    st = Path(w["m_trunc"]) / "model.safetensors"
    st.write_bytes(st.read_bytes()[: st.stat().st_size // 3])
    w["m_noweights"] = _model(root, t, "m-noweights", drop=["model.safetensors"])
    w["m_pickle"] = _model(root, t, "m-pickle", drop=["model.safetensors"])
    (Path(w["m_pickle"]) / "pytorch_model.bin").write_bytes(
        b"\x80\x04\x95\x1e\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94.")
    w["m_shape"] = _model(root, t, "m-shape")
    save_file({"bert.embeddings.word_embeddings.weight": torch.zeros(300, 16)},
              str(Path(w["m_shape"]) / "model.safetensors"))
    w["m_notok"] = _model(root, t, "m-notok", drop=["tokenizer.json", "vocab.txt"])
    # bundles
    w["a_onnx_trunc"] = _bundle(root, t, "a-onnx-trunc", "model.onnx", b"\x08\x08\x12\x18onnxrun")
    w["a_tflite_junk"] = _bundle(root, t, "a-tflite-junk", "model.tflite", b"\x00" * 64)
    w["a_tflite_magic"] = _bundle(root, t, "a-tflite-magic", "model.tflite", b"\x1c\x00\x00\x00TFL3" + b"\xff" * 200)
    w["a_pte_junk"] = _bundle(root, t, "a-pte-junk", "model.pte", b"garbage, not a program" * 10)
    w["a_pte_magic"] = _bundle(root, t, "a-pte-magic", "model.pte", b"<\x00\x00\x00ET12eh00" + os.urandom(400))
    w["a_side_num"] = _bundle(root, t, "a-side-num", "model.onnx", b"\x08\x08", sidecar="42")
    w["a_side_json"] = _bundle(root, t, "a-side-json", "model.onnx", b"\x08\x08", sidecar="{oops")
    w["a_side_wrong"] = _bundle(root, t, "a-side-wrong", "model.onnx", b"\x08\x08",
                                sidecar=lambda m: {**m, "runtime": "litert"})
    w["a_side_keys"] = _bundle(root, t, "a-side-keys", "model.onnx", b"\x08\x08", sidecar={"runtime": "onnx"})
    w["a_side_rt"] = _bundle(root, t, "a-side-rt", "model.onnx", b"\x08\x08",
                             sidecar=lambda m: {**m, "runtime": "coreml"})
    w["a_side_labels"] = _bundle(root, t, "a-side-labels", "model.onnx", b"\x08\x08",
                                 sidecar=lambda m: {**m, "id2label": ["a", "b"]})
    w["a_side_path"] = _bundle(root, t, "a-side-path", "model.onnx", b"\x08\x08",
                               sidecar=lambda m: {**m, "artifact": "../a-file"})
    w["a_missing"] = _bundle(root, t, "a-missing", "model.onnx", b"\x08\x08")
    (Path(w["a_missing"]) / "model.onnx").unlink()
    (root / "lone.onnx").write_bytes(b"\x08\x08")
    w["a_lone"] = str(root / "lone.onnx")
    (root / "model.bin").write_bytes(b"\x00")
    w["a_suffix"] = str(root / "model.bin")
    # data
    d = root / "data"
    d.mkdir()
    files = {
        "empty.tsv": b"", "latin1.tsv": "sentence\tlabel\ncaf\xe9\t1\n".encode("latin-1"),
        "extra.csv": b"sentence,label\ngood,1,oops\n", "badline.jsonl": b'{"text": "a", "label": 1}\n\n{oops\n',
        "nonobj.jsonl": b'{"text": "a", "label": 1}\n[1]\n', "data.xlsx": b"x", "notext.tsv": b"words\tlabel\na\t1\n",
        "nolabel.tsv": b"sentence\tstars\na\t1\n", "labels.tsv": b"sentence\tlabel\ngood\tpositive\n",
        "header.tsv": b"sentence\tlabel\n", "dict.jsonl": b'{"text": {"a": 1}, "label": 1}\n',
        "blank.tsv": b"sentence\tlabel\nsome text\t\n",
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
        w["d_" + name.replace(".", "_")] = str(d / name)
    (d / "folder.tsv").mkdir()
    w["d_folder"] = str(d / "folder.tsv")
    w["d_missing"] = str(d / "missing.tsv")
    (d / "a.en").write_text("a dog\na cat\n")
    (d / "a.de").write_text("ein Hund\n")
    (d / "gap.de").write_text("ein Hund\n\n")
    w["p_misaligned"] = f"{d / 'a.en'},{d / 'a.de'}"
    w["p_gap"] = f"{d / 'a.en'},{d / 'gap.de'}"
    w["nmt"] = _translation_model(root)
    from liteformer.models.checkpoint import load_model, save_model
    from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification
    tok = load_model(t).tokenizer
    light = TransformerConfig.tiny(vocab_size=tok.vocab_size, conv_dim=16, conv_kernel=15)
    save_model(TransformerForSequenceClassification(light), tok, root / "light-kernel")
    w["light_kernel"] = str(root / "light-kernel")
    _speech_inputs(root, w)
    for name, content in (("noturns", '{"dialogue": "", "summary": "x"}\n'),
                          ("nosummary", '{"dialogue": "#Person1#: hi"}\n'),
                          ("oneturn", '{"dialogue": "#Person1#: hi"}\n{"dialogue": "#Person2#: yes"}\n'),
                          ("garbage", "{not a dialogue\n")):
        (root / f"ds-{name}.jsonl").write_text(content)
    (root / "ds-latin.jsonl").write_bytes(b'{"dialogue": "#Person1#: caf\xe9", "summary": "x"}\n')
    # recipes
    r = root / "recipes"
    r.mkdir()
    head = "teacher: {tiny}\ndata: {{train: sst2:train}}\n"
    recipes = {
        "teacher.yaml": "teacher: /no/such/teacher\ndata: {{train: sst2:train}}\nsteps:\n  - distill: {{}}\n",
        "nodata.yaml": "teacher: {tiny}\ndata: {{train: /no/such.tsv}}\nsteps:\n  - distill: {{}}\n",
        "layers.yaml": head + "steps:\n  - student: {{layers: [zero]}}\n",
        "buckets.yaml": head + "steps:\n  - export: {{to: [litert], buckets: [big]}}\n",
        "unhashable.yaml": head + "steps:\n  - distill: {{[a, b]: 1}}\n",
        "notyaml.yaml": head + "steps: [\n", "tag.yaml": "!!python/object/apply:os.system [id]\n",
        "list.yaml": "- a\n- b\n", "empty.yaml": "", "epochs.yaml": head + "steps:\n  - distill: {{epochs: .inf}}\n",
        "step.yaml": head + "steps:\n  - distil: {{}}\n",
        "corrupt.yaml": "teacher: {trunc}\ndata: {{train: sst2:dev}}\nsteps:\n  - student: {{layers: [0]}}\n",
        "budget.yaml": head + "budget: {{max_size_mb: 0}}\nsteps:\n  - distill: {{}}\n",
    }
    for name, text in recipes.items():
        (r / name).write_text(text.format(tiny=t, trunc=w["m_trunc"]))
        w["r_" + name.replace(".", "_")] = str(r / name)
    w["r_missing"] = str(r / "missing.yaml")
    # bench reports
    b = root / "reports"
    b.mkdir()
    good = {"name": "a", "path": "p", "runtime": "torch", "ok": True}
    reports = {"keys.json": {"settings": {}, "machine": {}, "candidates": [good]}, "list.json": [1],
               "nocands.json": {"settings": {}, "machine": {}}, "notjson.json": "{"}
    for name, rep in reports.items():
        (b / name).write_text(rep if isinstance(rep, str) else json.dumps(rep))
        w["b_" + name.replace(".", "_")] = str(b / name)
    (b / "empty-folder").mkdir()
    w["b_folder"] = str(b / "empty-folder")
    # outputs that must be refused
    user = root / "user-folder"
    user.mkdir()
    (user / "thesis.txt").write_text("years of work")
    w["o_user"] = str(user)
    w["o_userfile"] = str(root / "a-file")
    w["o_underfile"] = str(root / "a-file" / "out")
    w["o_proc"] = "/proc/liteformer-out"
    return w


# ----------------------------------------------------------------------------------------------
# the table: (command line, text the error line must contain); {key} is an input of `fx`

T = "{tiny}"
MODELS = {  # a bad model folder -> what the error says
    "m_missing": "no-such-model", "m_file": "a-file", "m_noconfig": "no config.json", "m_notjson": "not valid JSON",
    "m_list": "m-list", "m_floatwidth": "hidden_size must be an integer", "m_dropout": "dropout must be",
    "m_labels": "id2label keys must be integers", "m_vocab": "do not match", "m_layers": "m-layers",
    "m_type": "m-type", "m_own": "liteformer", "m_cfgdir": "config.json", "m_trunc": "corrupt safetensors",
    "m_noweights": "no weights", "m_pickle": "cannot be loaded safely", "m_shape": "m-shape",
    "m_notok": "m-notok",
}
ARTIFACTS = {  # a bad bundle -> what the error says
    "a_onnx_trunc": "a-onnx-trunc", "a_tflite_junk": "not a litert file", "a_tflite_magic": "a-tflite-magic",
    "a_pte_junk": "not a executorch file", "a_pte_magic": "a-pte-magic", "a_side_num": "liteformer.json",
    "a_side_json": "not valid JSON", "a_side_wrong": "a litert artifact ends in .tflite",
    "a_side_keys": "lacks 'artifact'", "a_side_rt": "unknown runtime 'coreml'", "a_side_labels": "id2label",
    "a_side_path": "must be a file name", "a_missing": "artifact missing", "a_lone": "no liteformer.json",
    "a_suffix": "unknown artifact type",
}
DATA = {  # a bad data file -> what the error says
    "d_empty_tsv": "empty file", "d_latin1_tsv": "not UTF-8", "d_extra_csv": "line 2 has 3 fields",
    "d_badline_jsonl": "line 3 is not JSON", "d_nonobj_jsonl": "line 2 is not a JSON object",
    "d_data_xlsx": "unknown data format", "d_notext_tsv": "no text column", "d_nolabel_tsv": "label column 'label'",
    "d_header_tsv": "no data rows", "d_dict_jsonl": "must be text or numbers", "d_blank_tsv": "row 2 lacks",
    "d_folder": "is a folder", "d_missing": "missing.tsv: no such file",
}

CASES: list[tuple[str, list[str], str]] = []
for key, msg in MODELS.items():
    CASES.append((f"info-{key}", ["info", f"{{{key}}}"], msg))
    CASES.append((f"eval-{key}", ["eval", "--model", f"{{{key}}}", "--data", "sst2:dev"], msg))
for key in ("m_trunc", "m_vocab", "m_labels", "m_missing"):
    CASES.append((f"export-{key}", ["export", f"{{{key}}}", "--to", "onnx", "--out", "{root}/x"], MODELS[key]))
    CASES.append((f"run-{key}", ["run", f"{{{key}}}", "--text", "hello"], MODELS[key]))
    CASES.append((f"finetune-{key}", ["finetune", "--base", f"{{{key}}}", "--train", "sst2:dev", "--out",
                                      "{root}/x", "--max-steps", "1"], MODELS[key]))
for key, msg in ARTIFACTS.items():
    CASES.append((f"run-{key}", ["run", f"{{{key}}}", "--text", "hello"], msg))
    CASES.append((f"eval-{key}", ["eval", "--model", f"{{{key}}}", "--data", "sst2:dev"], msg))
for key, msg in DATA.items():
    CASES.append((f"eval-{key}", ["eval", "--model", T, "--data", f"{{{key}}}"], msg))
    CASES.append((f"finetune-{key}", ["finetune", "--base", T, "--train", f"{{{key}}}", "--out", "{root}/x",
                                      "--max-steps", "1"], msg))
CASES += [("eval-labels", ["eval", "--model", T, "--data", "{d_labels_tsv}"], "not in the model's label map"),
          ("distill-data", ["distill", "--teacher", T, "--student-layers", "0", "--train", "{d_extra_csv}",
                            "--out", "{root}/x"], "line 2 has 3 fields"),
          ("export-verify-data", ["export", T, "--to", "onnx", "--out", "{root}/x", "--verify-data",
                                  "{d_latin1_tsv}"], "not UTF-8"),
          ("bench-data", ["bench", T, "--data", "{d_missing}", "--out", "{root}/x"], "missing.tsv"),
          ("prune-data", ["prune", T, "--method", "vocab", "--data", "{d_header_tsv}", "--out", "{root}/x"],
           "no data rows")]
FT = ["finetune", "--base", T, "--train", "sst2:dev", "--out", "{root}/x"]
DI = ["distill", "--teacher", T, "--train", "sst2:dev", "--out", "{root}/x"]
FLAGS = [  # (command line, error text)
    (FT + ["--epochs", "inf"], "epochs must be a finite"),
    (FT + ["--lr", "nan"], "lr must be a finite"),
    (FT + ["--lr", "-1"], "lr must be in (0, 1)"),
    (FT + ["--batch-size", "0"], "batch_size must"),
    (FT + ["--warmup", "1"], "warmup must be"),
    (FT + ["--max-steps", "x"], "max_steps must be"),
    (["finetune", "--train", "sst2:dev", "--out", "{root}/x"], "exactly one of --base"),
    (DI + ["--student-layers", "0", "--cache-gb", "nan"], "cache_gb must be a finite"),
    (DI + ["--student-layers", "0", "--alpha", "2"], "alpha must be in [0, 1]"),
    (DI + ["--student-layers", "x"], "expected comma-separated integers"),
    (DI + ["--student-layers", "7"], "must be teacher layers"),
    (["distill", "--teacher", "{m_missing}", "--student-layers", "0", "--train", "sst2:dev", "--out", "{root}/x"],
     "no-such-model"),
    (["prune", T, "--method", "magnitude", "--sparsity", "1.5", "--out", "{root}/x"], "sparsity must be in [0, 1)"),
    (["prune", T, "--method", "structured", "--target-flops", "0", "--data", "sst2:dev", "--out", "{root}/x"],
     "target_flops must be in (0, 1]"),
    (["prune", T, "--method", "structured", "--data", "sst2:dev", "--out", "{root}/x"], "exactly one of --target"),
    (["prune", T, "--method", "cut", "--out", "{root}/x"], "method must be one of"),
    (["factorize", T, "--rank", "0", "--out", "{root}/x"], "rank must be > 0"),
    (["factorize", T, "--energy", "1", "--out", "{root}/x"], "energy must be in (0, 1)"),
    (["factorize", T, "--out", "{root}/x"], "exactly one of --energy"),
    (["export", T, "--to", "onnx", "--out", "{root}/x", "--max-length", "0"], "max_length must be > 0"),
    (["export", T, "--to", "onnx", "--out", "{root}/x", "--buckets", "8,x"], "expected comma-separated integers"),
    (["export", T, "--to", "coreml", "--out", "{root}/x"], "unknown export target"),
    (["export", T, "--to", "onnx", "--out", "{root}/x", "--quantize", "int3"], "int3"),
    (["quantize", T, "--to", "onnx", "--out", "{root}/x", "--max-accuracy-drop", "0.01"], "--eval-data"),
    (["bench", T, "--reps", "0", "--out", "{root}/x"], "must be > 0"),
    (["select", "{b_keys_json}", "--max-latency-ms", "-1"], "must be > 0"),
    (["run", T], "give --text"),
]
CASES += [(f"flag-{i}-{argv[0]}", argv, msg) for i, (argv, msg) in enumerate(FLAGS)]
CASES += [
    ("recipe-teacher", ["run", "{r_teacher_yaml}", "--check"], "no such model folder"),
    ("recipe-data", ["run", "{r_nodata_yaml}", "--check"], "/no/such.tsv: no such file"),
    ("recipe-layers", ["run", "{r_layers_yaml}", "--check"], "student.layers must be a list of integers"),
    ("recipe-buckets", ["run", "{r_buckets_yaml}", "--check"], "export.buckets must be a list of integers"),
    ("recipe-unhashable", ["run", "{r_unhashable_yaml}", "--check"], "unhashable.yaml:4"),
    ("recipe-notyaml", ["run", "{r_notyaml_yaml}", "--check"], "not valid YAML"),
    ("recipe-tag", ["run", "{r_tag_yaml}", "--check"], "tag.yaml"),
    ("recipe-list", ["run", "{r_list_yaml}", "--check"], "a recipe is a YAML mapping"),
    ("recipe-empty", ["run", "{r_empty_yaml}", "--check"], "a recipe is a YAML mapping"),
    ("recipe-epochs", ["run", "{r_epochs_yaml}", "--check"], "distill.epochs must be a finite"),
    ("recipe-step", ["run", "{r_step_yaml}", "--check"], "unknown step 'distil'"),
    ("recipe-budget", ["run", "{r_budget_yaml}", "--check"], "budget.max_size_mb must be > 0"),
    ("recipe-missing", ["run", "{r_missing}", "--check"], "no such recipe file"),
    ("recipe-runtime", ["run", "{r_corrupt_yaml}", "--work", "{root}/work"], "corrupt.yaml:4: step student"),
    ("select-keys", ["select", "{b_keys_json}"], "lacks"),
    ("select-list", ["select", "{b_list_json}"], "not a liteformer bench JSON report"),
    ("select-nocands", ["select", "{b_nocands_json}"], "not a liteformer bench JSON report"),
    ("select-notjson", ["select", "{b_notjson_json}"], "not a liteformer bench JSON report"),
    ("select-folder", ["select", "{b_folder}"], "no such file"),
    ("out-underfile", ["finetune", "--base", T, "--train", "sst2:dev", "--out", "{o_underfile}"], "is a file"),
    ("out-user", ["finetune", "--base", T, "--train", "sst2:dev", "--out", "{o_user}"], "--overwrite"),
    ("out-userfile-prune", ["prune", T, "--method", "magnitude", "--sparsity", "0.5", "--out", "{o_userfile}"],
     "--overwrite"),
    ("out-proc", ["export", T, "--to", "onnx", "--out", "{o_proc}"], "cannot write"),
    ("out-eval-user", ["eval", "--model", T, "--data", "sst2:dev", "--out", "{o_userfile}"], "--overwrite"),
    ("out-bench-user", ["bench", T, "--out", "{o_user}"], "--overwrite"),
    ("out-work-user", ["run", "{r_step_yaml}", "--work", "{o_user}"], "--overwrite"),
    ("out-distill-underfile", ["distill", "--teacher", T, "--student-layers", "0", "--train", "sst2:dev",
                               "--out", "{o_underfile}"], "is a file"),
    ("out-factorize-user", ["factorize", T, "--rank", "4", "--out", "{o_user}"], "--overwrite"),
    ("out-quantize-proc", ["quantize", T, "--to", "onnx", "--out", "{o_proc}"], "cannot write"),
    ("out-demo-user", ["demo", "--out", "{o_user}"], "--overwrite"),
    ("nmt-prune-structured", ["prune", "{nmt}", "--method", "structured", "--target-flops", "0.5", "--data",
                              "sst2:dev", "--out", "{root}/x"], "no such bundled parallel set"),
    ("nmt-prune-drop", ["prune", "{nmt}", "--method", "structured", "--target-flops", "0.5", "--drop-layers", "1",
                        "--data", "multi30k:val", "--out", "{root}/x"], "encoder-only"),
    ("nmt-prune-recover", ["prune", "{nmt}", "--method", "magnitude", "--sparsity", "0.5", "--recover-epochs", "1",
                           "--data", "multi30k:val", "--out", "{root}/x"], "--recover-epochs distills classifiers"),
    ("nmt-student-embeddings", ["distill", "--task", "translation", "--teacher", "{nmt}", "--student-config",
                                "{root}/nmt.json", "--student-init-embeddings", "--train", "multi30k:val", "--out",
                                "{root}/x"], "not for translation students"),
    ("nmt-student-cut-alone", ["distill", "--task", "translation", "--teacher", "{nmt}", "--keep-layers", "0:0",
                               "--student-init-from-teacher", "--train", "multi30k:val", "--out", "{root}/x"],
     "goes with --student-config"),
    ("nmt-student-classifier", ["distill", "--task", "translation", "--teacher", "{nmt}", "--student", T,
                                "--train", "multi30k:val", "--out", "{root}/x"], "not a translation model"),
    ("nmt-student-vocab", ["distill", "--task", "translation", "--teacher", "{nmt}", "--student",
                           "{root}/nmt-other", "--train", "multi30k:val", "--out", "{root}/x"],
     "its vocabulary differs from the teacher's"),
    ("nmt-export-target", ["export", "{nmt}", "--to", "onnx", "--out", "{root}/x", "--max-target", "0"],
     "max_target must be > 0"),
    ("nmt-export-long-target", ["export", "{nmt}", "--to", "onnx", "--out", "{root}/x", "--max-target", "999"],
     "max-target 999 must be in [2, "),
    ("nmt-export-static", ["export", "{nmt}", "--to", "onnx", "--quantize", "int8-static", "--calibration-data",
                           "sst2:dev", "--out", "{root}/x"], "static quantization of a generation model"),
    ("nmt-export-verify", ["export", "{nmt}", "--to", "onnx", "--out", "{root}/x", "--verify-data", "sst2:dev"],
     "no such bundled parallel set"),
    ("nmt-quantize-drop", ["quantize", "{nmt}", "--to", "onnx", "--out", "{root}/x", "--max-accuracy-drop", "0.01",
                           "--eval-data", "sst2:dev"], "mixed-precision search is for classifiers"),
    ("nmt-distill-classifier", ["distill", "--teacher", "{nmt}", "--student-layers", "0", "--train", "sst2:dev",
                                "--out", "{root}/x"], "a translation model"),
    ("nmt-finetune-base", ["finetune", "--base", "{nmt}", "--train", "sst2:dev", "--out", "{root}/x"],
     "a translation model"),
    ("nmt-keep-layers", ["distill", "--task", "translation", "--teacher", "{nmt}", "--keep-layers", "0,3:0",
                         "--train", "multi30k:val", "--out", "{root}/x"], "must be teacher encoder layers"),
    ("nmt-keep-layers-form", ["distill", "--task", "translation", "--teacher", "{nmt}", "--keep-layers", "0",
                              "--train", "multi30k:val", "--out", "{root}/x"], "expected ENC:DEC"),
    ("nmt-two-students", ["distill", "--task", "translation", "--teacher", "{nmt}", "--keep-layers", "0:0",
                          "--student-config", "{root}/nmt.json", "--train", "multi30k:val", "--out", "{root}/x"],
     "needs one student"),
    ("nmt-eval-misaligned", ["eval", "--model", "{nmt}", "--data", "{p_misaligned}"], "are not aligned"),
    ("nmt-eval-gap", ["eval", "--model", "{nmt}", "--data", "{p_gap}"], "line 2 is empty"),
    ("nmt-eval-beam", ["eval", "--model", "{nmt}", "--data", "multi30k:test", "--beam", "0"], "beam must be > 0"),
    ("nmt-eval-missing", ["eval", "--model", "{nmt}", "--data", "{d_missing},{d_missing}"], "missing.tsv: no such"),
    ("nmt-eval-bundled", ["eval", "--model", "{nmt}", "--data", "wmt:test"], "no such bundled parallel set"),
    ("nmt-train-misaligned", ["finetune", "--task", "translation", "--model-config", "{root}/nmt.json", "--train",
                              "{p_misaligned}", "--out", "{root}/x"], "are not aligned"),
    ("nmt-train-noconfig", ["finetune", "--task", "translation", "--model-config", "{root}/none.json", "--train",
                            "multi30k:val", "--out", "{root}/x"], "none.json: no such file"),
    ("nmt-train-base", ["finetune", "--task", "translation", "--base", T, "--train", "multi30k:val", "--out",
                        "{root}/x"], "not an encoder-decoder"),
    ("nmt-train-neither", ["finetune", "--task", "translation", "--train", "multi30k:val", "--out", "{root}/x"],
     "needs --model-config"),
    ("nmt-train-tokens", ["finetune", "--task", "translation", "--model-config", "{root}/nmt.json", "--train",
                          "multi30k:val", "--max-tokens", "0", "--out", "{root}/x"], "max_tokens must be > 0"),
    *[(f"light-{name}", ["finetune", "--model-config", f"{{root}}/light-{name}.json", "--vocab-size", "200", "--train",
                         "sst2:dev", "--out", "{root}/x"], msg)
      for name, msg in (("even", "kernels must be odd"), ("split", "takes 0 .. 31 of the layer's 32 channels"),
                        ("causal", "needs a decoder"))],
    *[(f"summ-{name}", ["finetune", "--task", "summarization", "--model-config", "{root}/nmt.json", "--train",
                        f"{{root}}/ds-{name}.jsonl", "--out", "{root}/x"], msg)
      for name, msg in (("noturns", "the dialogue has no turns"), ("nosummary", "no 'summary'"),
                        ("garbage", "neither JSON nor a Python dict literal"), ("latin", "not UTF-8"))],
    *[(f"dlg-{name}", ["finetune", "--task", "dialogue", "--model-config", "{root}/nmt.json", "--train",
                       f"{{root}}/ds-{name}.jsonl", "--out", "{root}/x"], msg)
      for name, msg in (("noturns", "the dialogue has no turns"), ("oneturn", "no dialogue has two turns"),
                        ("latin", "not UTF-8"))],
    *[(f"compress-{name}", ["compress", teacher, "--train", "sst2:dev", "--dev", "sst2:dev", *flags, "--out",
                            "{root}/x"], msg)
      for name, teacher, flags, msg in (
          ("time", T, ["--max-minutes", "0"], "max_minutes must be > 0"),
          ("tokenizer", T, ["--max-size-mb", "0.000001"], "the tokenizer files alone take"),
          ("levels", T, ["--levels", "0,0.5"], "levels values must be in (0, 1]"),
          ("decoder", "{nmt}", [], "the budget search (text classification)"))],
    ("verify-missing", ["verify", "{root}/nope"], "not a bundle folder (no liteformer.json)"),
    ("verify-n", ["verify", "{asr_onnx}", "--n", "0"], "--n must be > 0"),
    ("chat-missing", ["chat", "{m_missing}"], "no such model folder or bundle"),
    ("chat-translation", ["chat", "{nmt}"], "a translation model; chat needs a dialogue model"),
    ("light-kernel-bucket", ["export", "{light_kernel}", "--to", "onnx", "--max-length", "8", "--out", "{root}/x"],
     "convolution kernel 15 is longer than the longest input (8 tokens)"),
]
ASR_TRAIN = ["finetune", "--task", "speech-recognition", "--model-config", "{root}/asr.json", "--out", "{root}/x",
             "--max-steps", "1", "--train"]
CASES += [
    ("asr-run-notwav", ["run", "{asr_onnx}", "--audio", "{w_text_wav}"], "text.wav: not a PCM WAV file"),
    ("asr-run-truncated", ["run", "{asr_onnx}", "--audio", "{w_cut_wav}"], "cut.wav: truncated WAV file"),
    ("asr-run-empty", ["run", "{asr_onnx}", "--audio", "{w_empty_wav}"], "empty.wav: empty audio"),
    ("asr-run-long", ["run", "{asr_onnx}", "--audio", "{w_long_wav}"], "long.wav: 3.00 s of audio is longer than"),
    ("asr-run-short", ["run", "{asr}", "--audio", "{w_tiny_wav}"], "tiny.wav: clip of 100 samples is too short"),
    ("asr-run-text-model", ["run", T, "--audio", "{w_ok_wav}"], "not a speech model"),
    ("asr-eval-long", ["eval", "--model", "{asr_onnx}", "--data", "{w_long_tsv}"], "long.wav: 3.00 s of audio"),
    ("asr-eval-empty", ["eval", "--model", "{asr}", "--data", "{w_empty_tsv}"], "empty.wav: empty audio"),
    ("asr-train-chars", ASR_TRAIN + ["{w_chars_tsv}"], "ok.wav: characters outside the model's alphabet ('é')"),
    ("asr-train-split", ASR_TRAIN + ["fsdd:holdout"], "unknown split 'holdout'"),
    ("asr-train-speaker", ASR_TRAIN + ["fsdd:train,held_out=nobody"], "held_out speaker 'nobody'"),
    ("asr-train-base", ["finetune", "--task", "speech-recognition", "--base", T, "--train", "fsdd:dev", "--out",
                        "{root}/x"], "trains from scratch"),
    ("asr-export-static", ["export", "{asr}", "--to", "onnx", "--quantize", "int8-static", "--out", "{root}/x"],
     "static quantization of a speech model"),
    ("asr-export-seconds", ["export", "{asr}", "--to", "onnx", "--max-seconds", "99", "--out", "{root}/x"],
     "max-seconds 99 must be in"),
    ("asr-export-buckets", ["export", "{asr}", "--to", "litert", "--buckets", "16", "--out", "{root}/x"],
     "not for speech models"),
    ("asr-distill-student", ["distill", "--task", "speech-recognition", "--teacher", "{asr}", "--student-layers",
                             "0", "--train", "fsdd:dev", "--out", "{root}/x"], "takes --student-config"),
    ("asr-distill-teacher", ["distill", "--task", "speech-recognition", "--teacher", T, "--student-config",
                             "{root}/asr.json", "--train", "fsdd:dev", "--out", "{root}/x"], "not a speech recognizer"),
    ("asr-select-quality", ["select", "{b_keys_json}", "--max-error", "-1"], "must be > 0"),
]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.mark.parametrize("argv,expect", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, expect, fx, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)  # anything written relative to the working folder lands here
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    args = [a.format(**fx) for a in argv]
    before = _snapshot(Path(fx["root"]))
    try:
        code = main(args)
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    out, err = capfd.readouterr()
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2, (code, out[-500:], err[-2000:])
    assert len(lines) == 1, err[-2000:]
    assert "Traceback" not in err and expect in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == []
    assert _snapshot(Path(fx["root"])) == before  # nothing new beside the inputs, the inputs untouched


def test_the_table_is_large_and_covers_every_command():
    assert len(CASES) >= 100
    covered = {argv[0] for _, argv, _ in CASES}
    assert covered == set(COMMANDS), set(COMMANDS) - covered
