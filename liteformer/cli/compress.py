"""``liteformer prune`` and ``liteformer factorize``: parsers and commands (recovery by distillation)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from liteformer.errors import LiteformerError

PRUNE_DESCRIPTION = """Prune a model folder; the result is a model folder (our format when its shape is
per-layer or its weights are stored sparse).

  magnitude   zero the smallest weights (global or per layer); stored compressed, so the file shrinks,
              but dense runtimes run no faster (for gradual pruning use finetune/distill --prune-sparsity)
  structured  remove attention heads, FFN neurons (and --drop-layers whole layers) chosen by Fisher /
              Taylor importance on --data, to a FLOPs, parameter or measured-latency target
  vocab       classifier: keep the token ids --data uses plus every single-character piece; rebuild the
              tokenizer. Encoder-decoder: the output layer keeps the pieces --data's targets use (ids
              renumbered so they come first; every text tokenizes as before)

--recover-epochs N then distills the pruned model from the unpruned one on --data."""

FACTORIZE_DESCRIPTION = """Low-rank factorization: each Linear W of the encoder layers becomes two
(W ≈ U·V, truncated SVD), with ranks from an energy threshold, a kept share of the parameters, or one
rank; --embedding-rank factorizes the word embedding (vocab x E, then E x hidden, ALBERT-style).
--recover-epochs N then distills the factorized model from the original on --data."""


def add_parsers(sub, pos_int, data_args, wants) -> None:
    from liteformer.options import add_flags
    from liteformer.verbs import PruneOptions
    p = sub.add_parser("prune", help="magnitude, structured (heads/neurons/layers) or vocabulary pruning",
                       description=PRUNE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    if wants("prune"):
        p.add_argument("model", help="model folder or alias")
        p.add_argument("--out", required=True, help="output model folder (written atomically)")
        add_flags(p, PruneOptions, ("method",), required=("method",))
        p.add_argument("--data", default=None, help="training data (structured, vocab, recovery)")
        g = p.add_argument_group("magnitude")
        add_flags(g, PruneOptions, ("sparsity", "scope"))
        g.add_argument("--dense-storage", action="store_true", help="store zeros densely (a Hugging Face folder)")
        g = p.add_argument_group("structured (one target)")
        add_flags(g, PruneOptions, ("target_flops", "target_params", "target_latency", "drop_layers", "importance",
                                    "importance_n", "length"))
        _recover_args(p, pos_int)
        data_args(p)

    p = sub.add_parser("factorize", help="low-rank (truncated SVD) factorization of Linear layers and embedding",
                       description=FACTORIZE_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    if wants("factorize"):
        from liteformer.compress.factorize import LowRankConfig
        p.add_argument("model", help="model folder or alias")
        p.add_argument("--out", required=True, help="output model folder (written atomically)")
        add_flags(p.add_argument_group("ranks (one of)"), LowRankConfig, ("energy", "ratio", "rank"))
        add_flags(p, LowRankConfig, ("targets", "embedding_rank"))
        p.add_argument("--data", default=None, help="training data for recovery")
        _recover_args(p, pos_int)
        data_args(p)


def _recover_args(p, pos_int) -> None:
    from liteformer.compress.distill import DistillConfig
    from liteformer.options import add_flags
    from liteformer.train.config import TrainConfig
    g = p.add_argument_group("recovery (distillation from the unpruned model)")
    g.add_argument("--recover-epochs", type=float, default=0.0, help="epochs of recovery on --data (default 0)")
    g.add_argument("--dev", default=None, help="dev data: the best recovery checkpoint is kept")
    add_flags(g, TrainConfig, ("lr", "batch_size", "max_length", "eval_every", "seed"))
    add_flags(g, DistillConfig, ("alpha", "temperature", "hidden_weight"))
    g.add_argument("--threads", type=pos_int, default=2, help="CPU threads (default 2)")


def cmd_prune(a: argparse.Namespace) -> int:
    import torch

    from liteformer.compress.prune import prune_
    from liteformer.models.checkpoint import load_model
    torch.set_num_threads(a.threads)
    _check_recovery(a)
    from liteformer.options import from_values
    from liteformer.verbs import PruneOptions, prune_config, prune_data
    options = from_values(PruneOptions, vars(a))
    options.validate()
    loaded = load_model(a.model)
    _check_recovery(a, loaded)
    data = None
    if a.data or a.method != "magnitude":
        if not a.data:
            raise LiteformerError(f"--method {a.method} needs --data (the task's training data)")
        if loaded.is_generator:  # its task's pairs (translation, DialogSum summaries or turns)
            from liteformer.train.translate import read_pairs
            ds = read_pairs(a.data, loaded.task)
        else:
            from liteformer.data.text import read_classification
            ds = read_classification(a.data, a.text_column, a.label_column if a.method == "structured" else None)
        data = prune_data(loaded, ds, options, progress=sys.stderr.isatty(), max_length=a.max_length)
    config = prune_config(options, data, a.threads)
    result = prune_(loaded.model, config, data)
    tok = result.tokenizer or loaded.tokenizer
    sparse = a.method == "magnitude" and not a.dense_storage and config.sparsity > 0
    report = {"method": a.method, "source": str(loaded.path), **result.report}
    _finish(a, loaded, tok, report, sparse, keep_sparsity=config.sparsity if a.method == "magnitude" else 0.0)
    return 0


def cmd_factorize(a: argparse.Namespace) -> int:
    import torch

    from liteformer.compress.factorize import LowRankConfig, factorize_
    from liteformer.models.checkpoint import load_model
    torch.set_num_threads(a.threads)
    _check_recovery(a)
    from liteformer.options import from_values
    cfg = from_values(LowRankConfig, vars(a))
    cfg.validate()
    loaded = load_model(a.model)
    _check_recovery(a, loaded)
    report = {"method": "low-rank", "source": str(loaded.path), **factorize_(loaded.model, cfg).to_dict()}
    _finish(a, loaded, loaded.tokenizer, report, sparse=False)
    return 0


def _check_recovery(a, loaded=None) -> None:
    if loaded is not None and a.recover_epochs and loaded.is_generator:
        raise LiteformerError("--recover-epochs distills classifiers; recover a translation model with "
                              "liteformer distill --task translation --teacher SOURCE --student PRUNED")
    if a.recover_epochs < 0:
        raise LiteformerError(f"--recover-epochs must be >= 0, got {a.recover_epochs}")
    if a.recover_epochs and not a.data:
        raise LiteformerError("--recover-epochs needs --data (the task's training data)")


def _finish(a, loaded, tok, report: dict, sparse: bool, keep_sparsity: float = 0.0) -> None:
    """Save the compressed model (and recover it by distillation from the source); print a summary."""
    from liteformer.fileio import write_json
    from liteformer.models.checkpoint import save_model
    from liteformer.models.transformer import count_parameters
    report["parameters"] = count_parameters(loaded.model)
    if not a.recover_epochs:
        save_model(loaded.model, tok, a.out, extra=report, sparse_storage=sparse)
        write_json(Path(a.out) / "compress.json", report)
        _summary(report, a.out)
        return
    from liteformer.compress.distill import DistillConfig, StudentSpec
    from liteformer.train.distill import distill
    from liteformer.verbs import train_config
    tmp = Path(tempfile.mkdtemp(prefix=".liteformer-pruned-", dir=Path(a.out).resolve().parent))
    try:
        save_model(loaded.model, tok, tmp / "model", extra=report)
        tcfg = train_config({"epochs": a.recover_epochs, "lr": a.lr, "batch_size": a.batch_size, "seed": a.seed,
                             "max_length": a.max_length, "eval_every": a.eval_every, "prune_sparsity": keep_sparsity})
        dcfg = DistillConfig(alpha=a.alpha, temperature=a.temperature, hidden_weight=a.hidden_weight)
        result = distill(str(loaded.path), StudentSpec(checkpoint=str(tmp / "model")), a.data, a.out, dcfg, tcfg,
                         a.dev, a.text_column, a.label_column, progress=sys.stderr.isatty())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["recovery"] = {"epochs": a.recover_epochs, "steps": result.steps, "seconds": round(result.seconds, 1),
                          "best_dev_accuracy": result.best.accuracy if result.best else None}
    write_json(Path(a.out) / "compress.json", report)
    _summary(report, a.out)


def _summary(report: dict, out: str) -> None:
    if int(os.environ.get("RANK", "0")):
        return
    keys = ("sparsity", "kept", "heads_after", "ffn_after", "decoder_heads_after", "cross_heads_after",
            "decoder_ffn_after", "dropped_layers", "latency_ratio", "vocab_after", "outputs_before", "outputs_after",
            "params_before", "params_after", "parameters")
    shown = {k: report[k] for k in keys if k in report}
    if "recovery" in report:
        shown["recovery_dev_accuracy"] = report["recovery"]["best_dev_accuracy"]
    print(f"{report['method']}: {json.dumps(shown)}")
    print(f"model: {out}")
