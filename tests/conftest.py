"""Shared tiny fixtures: a WordPiece tokenizer trained on bundled text, tiny model folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(1)

from liteformer.data.text import read_classification  # noqa: E402
from liteformer.data.tokenizer import train_wordpiece  # noqa: E402
from liteformer.models.checkpoint import save_model  # noqa: E402
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def run_cli(*args: str, env: dict | None = None, input: str | None = None, fresh: bool = False):
    """Run `liteformer ARGS` (``input``: its stdin); returns a CompletedProcess.

    In this process through ``liteformer.cli.main`` (the runtimes and converters stay imported between
    calls: a third of the suite's time went to starting Python, torch and ExecuTorch again), with the
    file descriptors, stdin, environment, working folder, warnings, signal handlers and torch's
    thread count as a fresh process would see them and restored afterwards; an uncaught exception
    becomes exit code 1 with its traceback on stderr, as in a process. ``fresh=True`` (or
    LITEFORMER_TEST_FRESH=1 for the whole suite) runs `python -m liteformer` in a new process."""
    if fresh or os.environ.get("LITEFORMER_TEST_FRESH", "") not in ("", "0"):
        import subprocess
        e = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        return subprocess.run([sys.executable, "-m", "liteformer", *args], capture_output=True, text=True,
                              env=e, cwd=ROOT, timeout=600, input=input)
    return _run_in_process(list(args), env, input)


def _run_in_process(args: list[str], env: dict | None, input: str | None):
    import io
    import signal
    import subprocess
    import tempfile
    import traceback
    import warnings

    from liteformer.cli import main
    from liteformer.quiet import fds_to
    saved_env, saved_cwd, saved_threads = dict(os.environ), os.getcwd(), torch.get_num_threads()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    os.environ.update({"PYTHONPATH": str(ROOT), **(env or {})})
    os.chdir(ROOT)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, warnings.catch_warnings():
        with fds_to(out.fileno(), err.fileno()):
            sys.stdin = io.StringIO(input or "")
            sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 (fd 1 itself: children share it)
            sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
            try:
                code = main(args)
            except SystemExit as e:  # argparse: --help, usage errors
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if e.code is not None and not isinstance(e.code, int):
                    print(e.code, file=sys.stderr)
            except BaseException:  # noqa: BLE001 (what a process would die of: exit 1 and the traceback)
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                sys.stdin, sys.stdout, sys.stderr = saved_streams
                os.environ.clear()
                os.environ.update(saved_env)
                os.chdir(saved_cwd)
                torch.set_num_threads(saved_threads)
                torch.set_flush_denormal(False)
                for s, h in saved_signals.items():
                    signal.signal(s, h)
        out.seek(0)
        err.seek(0)
        text = [f.read().decode("utf-8", "replace") for f in (out, err)]
    return subprocess.CompletedProcess(["liteformer", *args], code, *text)


@pytest.fixture(scope="session")
def sst2_small():
    return read_classification("sst2:train")


@pytest.fixture(scope="session")
def tokenizer(sst2_small):
    return train_wordpiece(sst2_small.texts[:2000], vocab_size=300)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory, tokenizer):
    """A tiny BERT-shaped liteformer model saved as a Hugging Face folder."""
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(vocab_size=tokenizer.vocab_size, id2label={0: "0", 1: "1"})
    model = TransformerForSequenceClassification(cfg).eval()
    path = tmp_path_factory.mktemp("models") / "tiny"
    save_model(model, tokenizer, path)
    return path


@pytest.fixture(scope="session")
def nmt_folder(tmp_path_factory):
    """A tiny random encoder-decoder (decoder layers of 4 and 2 heads) with a 200-piece joint
    vocabulary from multi30k:val, saved as a model folder."""
    from liteformer.data.parallel import read_parallel
    from liteformer.data.subword import train_subword
    from liteformer.models.seq2seq import TransformerForSeq2SeqLM
    pairs = read_parallel("multi30k:val")
    tok = train_subword(pairs.sources + pairs.targets, 200)
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=tok.vocab_size, hidden_size=32, num_layers=2, num_heads=4, ffn_dim=64,
                            num_decoder_layers=2, decoder_num_heads=[4, 2], max_positions=64, type_vocab_size=0,
                            pooler="none", norm_first=True, positions="learned", dropout=0.0,
                            attention_dropout=0.0)
    model = TransformerForSeq2SeqLM(cfg).eval()
    path = tmp_path_factory.mktemp("models") / "nmt"
    save_model(model, tok, path)
    return path
