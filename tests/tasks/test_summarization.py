"""Summarization on the encoder-decoder stack: the task is saved with the model, summaries respect the
length settings, ROUGE against every reference, and an exported bundle verifies by ROUGE-L."""

import pytest
import torch

from liteformer.data.dialogsum import SummaryDataset, read_summaries
from liteformer.data.subword import train_subword
from liteformer.errors import LiteformerError
from liteformer.export.exporter import export_model
from liteformer.export.options import ExportOptions
from liteformer.models.checkpoint import folder_task, load_model, save_model
from liteformer.models.seq2seq import TransformerForSeq2SeqLM
from liteformer.models.transformer import TransformerConfig
from liteformer.tasks import get
from liteformer.tasks.summarization import evaluate, generation_config, summarize


@pytest.fixture(scope="module")
def summarizer(tmp_path_factory):
    train = read_summaries("dialogsum:train")
    tok = train_subword(train.sources[:200] + train.targets[:200], 300)
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(vocab_size=tok.vocab_size, num_decoder_layers=1, type_vocab_size=0, pooler="none",
                                 norm_first=True, max_positions=128, task="summarization")
    path = tmp_path_factory.mktemp("m") / "summarizer"
    save_model(TransformerForSeq2SeqLM(cfg).eval(), tok, path)
    return path


def test_the_task_travels_with_the_model(summarizer):
    lm = load_model(summarizer)
    assert lm.task == "summarization" and folder_task(summarizer) == "summarization"
    assert get("summarization").metric == "rougeL"
    with pytest.raises(ValueError, match="task 'poetry'"):
        TransformerConfig.tiny(num_decoder_layers=1, task="poetry")


def test_summaries_respect_the_length_settings_and_are_scored_against_every_reference(summarizer):
    lm = load_model(summarizer)
    data = read_summaries("dialogsum:test")
    small = SummaryDataset(data.sources[:4], data.targets[:4], "x", data.references[:4])
    cfg = generation_config(64, beam=2, min_length=6, max_len_b=12)
    outs = summarize(lm.model, lm.tokenizer, small.sources, cfg, max_length=128)
    ids = [lm.tokenizer.encode([o], 64).ids[0] for o in outs]
    assert all(len(x) >= 5 for x in ids)  # at least min_length pieces before </s> (re-encoding may merge one)
    r = evaluate(lm.model, lm.tokenizer, small, cfg, max_length=128)
    assert r.summaries == 4 and 0 <= r.rougeL <= 100 and r.rouge1_avg >= 0
    assert set(r.to_dict()) >= {"rouge1", "rouge2", "rougeL", "rougeL_avg"} and "first reference" in r.format()


def test_export_verifies_by_rouge(summarizer, tmp_path):
    lm = load_model(summarizer)
    data = read_summaries("dialogsum:dev")
    small = SummaryDataset(data.sources[:4], data.targets[:4], "x", data.references[:4])
    side = export_model(lm, "onnx", tmp_path / "fp32", ExportOptions(max_length=128, max_target=24), small, threads=1)
    v = side["verify"]
    assert side["task"] == "summarization" and v["identical_outputs"] == 1.0 and "rougeL" in v
    q = export_model(lm, "onnx", tmp_path / "int8", ExportOptions(max_length=128, max_target=24,
                                                                  quantize="int8-dynamic"), small, threads=1)
    assert q["verify"]["rougeL"] >= q["verify"]["rougeL_source"] - 0.5
    with pytest.raises(LiteformerError, match="references"):
        export_model(lm, "onnx", tmp_path / "x", ExportOptions(max_length=128, max_target=24,
                                                               quantize="int8-dynamic"), small.sources, threads=1)


def test_cli_trains_evaluates_exports_and_benches_a_summarizer(tmp_path):
    import json

    from tests.conftest import run_cli
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"hidden_size": 32, "num_layers": 1, "num_heads": 4, "ffn_dim": 64,
                               "num_decoder_layers": 1, "max_positions": 256, "dropout": 0.0}))
    r = run_cli("finetune", "--task", "summarization", "--model-config", str(cfg), "--vocab-size", "300", "--train",
                "dialogsum:train", "--dev", "dialogsum:dev", "--dev-sentences", "3", "--max-steps", "2",
                "--eval-every", "2", "--max-tokens", "2000", "--out", str(tmp_path / "m"))
    assert r.returncode == 0 and "best dev ROUGE-L" in r.stdout, r.stderr[-2000:]
    assert json.loads((tmp_path / "m" / "training.json").read_text())["task"] == "summarization"
    from liteformer.data.text import BUNDLED
    few = tmp_path / "few.jsonl"  # 3 test dialogues: an untrained model runs every summary to its length limit
    few.write_text("".join((BUNDLED / "dialogsum" / "test.jsonl").read_text().splitlines(keepends=True)[:3]))
    r = run_cli("eval", "--model", str(tmp_path / "m"), "--data", str(few), "--min-length", "3", "--max-len-b", "12",
                "--out", str(tmp_path / "e.json"))
    assert r.returncode == 0 and "ROUGE-1/2/L" in r.stdout and "beam 4" in r.stdout, r.stderr[-2000:]
    assert {"rouge1", "rougeL_avg"} <= set(json.loads((tmp_path / "e.json").read_text()))
    r = run_cli("export", str(tmp_path / "m"), "--to", "onnx", "--out", str(tmp_path / "b"), "--verify-n", "3",
                "--max-target", "24")
    assert r.returncode == 0 and "ROUGE-L" in r.stdout, r.stderr[-2000:]
    r = run_cli("bench", str(tmp_path / "m"), str(tmp_path / "b"), "--data", str(few), "--reps", "1",
                "--timed-examples", "2", "--out", str(tmp_path / "bench"))
    assert r.returncode == 0 and "ROUGE-L" in r.stdout, r.stderr[-2000:]
