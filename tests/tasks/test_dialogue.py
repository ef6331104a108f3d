"""Dialogue: contexts cut from the left, perplexity by teacher forcing, the metrics report, export
verified by ROUGE-L, and the chat loop."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from liteformer.data.dialogsum import TurnDataset, read_turns
from liteformer.data.subword import train_subword
from liteformer.models.checkpoint import load_model, save_model
from liteformer.models.seq2seq import TransformerForSeq2SeqLM
from liteformer.models.transformer import TransformerConfig
from liteformer.tasks.dialogue import encode_contexts, evaluate, reference_perplexity
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def talker(tmp_path_factory):
    turns = read_turns("dialogsum:train")
    tok = train_subword(turns.sources[:300] + turns.targets[:300], 300)
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(vocab_size=tok.vocab_size, num_decoder_layers=1, type_vocab_size=0, pooler="none",
                                 norm_first=True, max_positions=64, task="dialogue")
    path = tmp_path_factory.mktemp("m") / "talker"
    save_model(TransformerForSeq2SeqLM(cfg).eval(), tok, path)
    return path


def test_contexts_keep_their_most_recent_pieces(talker, capsys):
    tok = load_model(talker).tokenizer
    long = "\n".join(f"#Person1#: turn number {i} here" for i in range(40)) + "\n#Person2#:"
    enc = encode_contexts(tok, [long, "#Person1#: hi\n#Person2#:"], 16)
    full = tok.encode([long], 10_000).ids[0]
    assert enc.ids[0] == full[-16:] and enc.truncated == 1  # the end (and </s>) kept
    assert "lost their oldest turns" in capsys.readouterr().err


def test_perplexity_is_teacher_forced_cross_entropy(talker):
    lm = load_model(talker)
    data = TurnDataset(["#Person1#: hi\n#Person2#:"], ["hello there"], "x", ["d"])
    ppl = reference_perplexity(lm.model, lm.tokenizer, data, 64)
    src = lm.tokenizer.encode(data.sources, 64).ids[0]
    tgt = lm.tokenizer.encode(data.targets, 64).ids[0]
    with torch.no_grad():
        logits = lm.model(torch.tensor([src]), torch.ones(1, len(src), dtype=torch.long),
                          torch.tensor([[lm.tokenizer.bos_id, *tgt[:-1]]]))
    assert ppl == pytest.approx(math.exp(F.cross_entropy(logits[0], torch.tensor(tgt)).item()), rel=1e-4)
    r = evaluate(lm.model, lm.tokenizer, TurnDataset(*(x[:6] for x in (data.sources * 6, data.targets * 6)), "x"))
    assert r.turns == 6 and r.perplexity == pytest.approx(ppl, rel=1e-4) and 0 <= r.distinct2 <= 1
    assert set(r.to_dict()) >= {"bleu2", "rougeL", "distinct1", "distinct2", "perplexity"}


def test_cli_exports_and_chats(talker, tmp_path):
    r = run_cli("export", str(talker), "--to", "onnx", "--out", str(tmp_path / "b"), "--verify-n", "4",
                "--max-target", "16", "--quantize", "int8-dynamic")
    assert r.returncode == 0 and "ROUGE-L" in r.stdout, r.stderr[-2000:]
    assert json.loads((tmp_path / "b" / "liteformer.json").read_text())["task"] == "dialogue"
    for target in (talker, tmp_path / "b"):
        r = run_cli("chat", str(target), input="Hello, how are you?\n/reset\nWhere is the bank?\n/quit\nignored\n")
        assert r.returncode == 0 and len(r.stdout.splitlines()) == 2, r.stderr[-2000:]
        r = run_cli("run", str(target), "--text", "Hello there", "--json")  # a typed turn, answered
        assert r.returncode == 0 and "response" in json.loads(r.stdout)["results"][0], r.stderr[-2000:]


def test_cli_trains_a_dialogue_model(tmp_path):
    cfg = tmp_path / "d.json"
    cfg.write_text(json.dumps({"hidden_size": 32, "num_layers": 1, "num_heads": 4, "ffn_dim": 64,
                               "num_decoder_layers": 1, "max_positions": 64, "dropout": 0.0}))
    r = run_cli("finetune", "--task", "dialogue", "--model-config", str(cfg), "--vocab-size", "300", "--train",
                "dialogsum:train", "--dev", "dialogsum:dev", "--dev-sentences", "8", "--max-steps", "2",
                "--eval-every", "2", "--max-tokens", "2000", "--out", str(tmp_path / "m"))
    assert r.returncode == 0 and "best dev perplexity" in r.stdout, r.stderr[-2000:]
    assert "lost their oldest turns" in r.stderr or "truncated" in r.stderr  # 64 positions: long contexts cut
    record = json.loads((tmp_path / "m" / "training.json").read_text())
    assert record["task"] == "dialogue" and "dev_perplexity" in record["history"][-1]


def test_cli_distills_a_dialogue_student(talker, tmp_path):
    from liteformer.data.text import BUNDLED
    few = tmp_path / "few.jsonl"
    few.write_text("".join((BUNDLED / "dialogsum" / "train.jsonl").read_text().splitlines(keepends=True)[:3]))
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"hidden_size": 16, "num_layers": 1, "num_heads": 2, "ffn_dim": 32,
                               "num_decoder_layers": 1, "max_positions": 64, "dropout": 0.0}))
    common = ["--student-config", str(cfg), "--train", str(few), "--dev", str(few), "--dev-sentences", "4",
              "--max-steps", "2", "--eval-every", "2", "--max-tokens", "2000"]
    r = run_cli("distill", "--task", "dialogue", "--teacher", str(talker), "--kd", "both", *common,
                "--out", str(tmp_path / "s"))
    assert r.returncode == 0 and "best dev perplexity" in r.stdout, r.stderr[-2000:]
    assert load_model(tmp_path / "s").task == "dialogue"
    assert len((tmp_path / "s.kd-targets.txt").read_text().splitlines()) == len(read_turns(str(few)))
    r = run_cli("distill", "--task", "summarization", "--teacher", str(talker), *common, "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "a dialogue model; --task summarization needs a summarization teacher" in r.stderr


def test_dialogue_bench_columns():
    from liteformer.bench.report import DIALOGUE_COLUMNS, SUMMARY_COLUMNS, columns
    from liteformer.bench.result import BenchResult, CandidateResult
    cand = lambda scores: CandidateResult(name="m", path="m", runtime="onnx", ok=True, metric="rougeL",  # noqa: E731
                                          quality=1.0, scores=scores)
    dialogue = BenchResult(candidates=[cand({"bleu2": 1.0, "distinct2": 0.5, "rougeL": 1.0})], settings={}, machine={},
                           baseline="m")
    assert columns(dialogue) is DIALOGUE_COLUMNS and ("BLEU-2", "bleu2", "{:.2f}") in DIALOGUE_COLUMNS
    assert columns(BenchResult(candidates=[cand({"rouge1": 1.0})], settings={}, machine={}, baseline="m")) is \
        SUMMARY_COLUMNS
