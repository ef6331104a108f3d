"""``liteformer chat MODEL|BUNDLE``: a small interactive loop over a dialogue model. Each line typed is
the user's turn (``#Person1#``), the model answers as ``#Person2#``; the conversation so far is the
next context (its most recent turns kept when it outgrows the model's input). A bundle answers in its
own runtime, greedily, one step at a time, as the phone app would. ``/reset`` starts over, ``/quit``
(or the end of input) ends; reading from a pipe answers each line and exits."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from liteformer.errors import LiteformerError

USER, BOT = "#Person1#", "#Person2#"


def add_parser(sub) -> None:
    p = sub.add_parser("chat", help="talk to a dialogue model or bundle (one line a turn; /reset, /quit)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a dialogue model folder (PyTorch) or an exported dialogue bundle")
    p.add_argument("--threads", type=int, default=2, help="threads (default 2)")


def responder(path: Path, threads: int):
    """A function context → reply for a dialogue model folder or bundle."""
    from liteformer import runtimes
    from liteformer.tasks import dialogue
    if not path.exists():
        raise LiteformerError(f"{path}: no such model folder or bundle")
    runtime = runtimes.detect(path)
    if runtime == "torch":
        import torch

        from liteformer.models.checkpoint import load_model
        torch.set_num_threads(threads)
        loaded = load_model(path)
        if loaded.task != "dialogue":
            raise LiteformerError(f"{path}: a {loaded.task} model; chat needs a dialogue model (finetune --task "
                                  "dialogue)")
        cfg = dialogue.generation_config(min(128, loaded.model.config.max_positions))
        return lambda context: dialogue.respond(loaded.model, loaded.tokenizer, [context], cfg)[0]
    runner = runtimes.load(runtime, path, None, threads)
    if getattr(runner, "task", None) != "dialogue":
        raise LiteformerError(f"{path}: a {getattr(runner, 'task', 'classification')} bundle; chat needs a dialogue "
                              "bundle")
    limit = int(runner.meta.get("max_length") or 128)
    cfg = dialogue.runtime_config(runner)

    def reply(context: str) -> str:
        ids = dialogue.encode_contexts(runner.tokenizer, [context], limit).ids[0]
        return runner.tokenizer.decode(dialogue.seq2seq.run_sentence(runner, ids, cfg).ids)
    return reply


def cmd_chat(a: argparse.Namespace) -> int:
    reply = responder(Path(a.model), a.threads)
    interactive = sys.stdin.isatty()
    history: list[str] = []
    while True:
        if interactive:
            print("you> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line or line.strip() == "/quit":
            return 0
        text = line.strip()
        if not text:
            continue
        if text == "/reset":
            history = []
            continue
        history.append(f"{USER}: {text}")
        answer = reply("\n".join(history) + f"\n{BOT}:")
        history.append(f"{BOT}: {answer}")
        print(f"bot> {answer}" if interactive else answer, flush=True)
