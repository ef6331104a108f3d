"""``liteformer demo``: a packaged recipe per task on bundled data, and ``--quick``, its smoke run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from liteformer.errors import LiteformerError


def cmd_demo(a: argparse.Namespace) -> int:
    import torch

    from liteformer.recipe.runner import print_result, run_recipe
    from liteformer.recipe.schema import DEMO, DEMOS, load_recipe
    torch.set_num_threads(a.threads)
    recipe = load_recipe(DEMOS.get(a.task, DEMO))
    recipe = packaged_paths(recipe)
    out = Path(a.out)
    if a.quick:
        recipe = quick(recipe, out)
    print(f"demo: {recipe.path.name}: " + " -> ".join(n for n, _ in recipe.steps) + " -> bench -> select")
    res = run_recipe(recipe, out, progress=sys.stderr.isatty())
    print_result(res)
    if not res.chosen:
        raise LiteformerError(f"nothing fits the demo budget: {res.reason}")
    return 0


def packaged_paths(recipe):
    """A packaged recipe's model configs named relative to its own file."""
    from dataclasses import replace
    folder = recipe.path.parent
    steps = [(n, {k: str(folder / v) if k in ("config", "model_config") and (folder / str(v)).is_file() else v
                  for k, v in o.items()}) for n, o in recipe.steps]
    return replace(recipe, steps=steps)


def quick(recipe, out: Path):
    """The demo cut to a smoke run: 300 training and 200 dev/test sentences, 2 steps per training step,
    fp32 exports (one LiteRT length for classification), 1 bench repetition."""
    from dataclasses import replace

    from liteformer.data.text import resolve
    out.mkdir(parents=True, exist_ok=True)
    data = dict(recipe.data)
    if recipe.task == "speech-recognition":  # the bundled clips are few already: fewer steps and strings only
        quick_opts = {"finetune": {"max_steps": 2, "eval_every": 2, "strings": 4, "dev_strings": 2},
                      "distill": {"max_steps": 2, "eval_every": 2, "strings": 4, "dev_strings": 2},
                      "export": {"quantize": "none"}}
        steps = [(n, {**o, **quick_opts.get(n, {})}) for n, o in recipe.steps]
        return replace(recipe, data={**data, "test": "fsdd:heldout,strings=8"}, steps=steps, budget={},
                       bench={**recipe.bench, "reps": 1, "timed_examples": 8})
    if recipe.task == "translation":
        from liteformer.data.parallel import read_parallel
        for split, n in (("train", 300), ("dev", 20), ("test", 20)):
            d = read_parallel(recipe.data[split])
            (out / f"quick-{split}.tsv").write_text("source\ttarget\n" + "".join(
                f"{s}\t{t}\n" for s, t in zip(d.sources[:n], d.targets[:n], strict=True)), encoding="utf-8")
            data[split] = str(out / f"quick-{split}.tsv")
    if recipe.task in ("summarization", "dialogue"):  # the first dialogues of each split, as JSON lines
        from liteformer.data.dialogsum import read_dialogues, write_dialogues
        for split, n in (("train", 60), ("dev", 8), ("test", 8)):
            dialogues = read_dialogues(recipe.data[split], need_summary=recipe.task == "summarization")[:n]
            write_dialogues(dialogues, out / f"quick-{split}.jsonl")
            data[split] = str(out / f"quick-{split}.jsonl")
    for split, n in (("train", 300), ("dev", 200), ("test", 200)) if recipe.task == "text-classification" else ():
        lines = resolve(recipe.data[split]).read_text(encoding="utf-8").splitlines()
        (out / f"quick-{split}.tsv").write_text("\n".join(lines[: n + 1]) + "\n", encoding="utf-8")
        data[split] = str(out / f"quick-{split}.tsv")
    # 2 training steps leave logits near the decision boundary, where int8 flips labels and fails the
    # export check: the smoke run exports fp32 (the quantized path is the full demo's)
    quick_opts = {"finetune": {"max_steps": 2, "eval_every": 2}, "distill": {"max_steps": 2, "eval_every": 2},
                  "export": {"quantize": "none"}}
    if recipe.task == "text-classification":  # one LiteRT length (128, the bench's fixed length) instead of four
        quick_opts["export"].update(buckets=[128])
    else:  # encoder-decoders: a small vocabulary, few dev examples, short outputs
        quick_opts["finetune"].update(vocab_size=300, dev_sentences=8)
        quick_opts["distill"].update(dev_sentences=8)
        quick_opts["export"].update(max_target=16)
    steps = [(n, {**o, **quick_opts.get(n, {})}) for n, o in recipe.steps]
    return replace(recipe, data=data, steps=steps, budget={},  # fp32 files are bigger than the budget
                   bench={**recipe.bench, "reps": 1, "timed_examples": 20})
