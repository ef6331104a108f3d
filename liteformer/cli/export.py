"""CLI commands that produce and run artifacts: export, quantize, run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from liteformer.errors import LiteformerError


def _options(a: argparse.Namespace, loaded, quantize: str | None, keep_float: tuple[str, ...]):
    """ExportOptions from the shared flags: --max-length, --buckets, --calibration-data/-n."""
    from liteformer.verbs import export_options
    return export_options(loaded, max_length=a.max_length, buckets=a.buckets,
                          quantize=quantize, keep_float=keep_float, calibration_data=a.calibration_data,
                          calibration_n=a.calibration_n, text_column=a.text_column, label_column=a.label_column,
                          fuse=a.fuse, max_target=a.max_target, max_seconds=a.max_seconds,
                          audio_buckets=a.audio_buckets)


def verify_inputs(a: argparse.Namespace, loaded, n: int):
    """The export check's inputs: texts for a classifier, sentence pairs (references) for a translation model,
    clips with transcripts for a speech model (default: 200 digit strings from the bundled FSDD dev clips)."""
    if loaded.is_speech:
        from liteformer.data.speech import SpeechDataset, read_speech
        d = read_speech(a.verify_data or f"fsdd:dev,strings={n}")
        return SpeechDataset(d.audio[:n], d.texts[:n], d.speakers[:n], d.names[:n], d.path)
    from liteformer.tasks import DEV_DATA
    if loaded.is_generator:
        from liteformer.train.translate import read_pairs
        return read_pairs(a.verify_data or DEV_DATA[loaded.task], loaded.task).head(n)
    from liteformer.data.text import read_classification
    return read_classification(a.verify_data or DEV_DATA[loaded.task], a.text_column, a.label_column).texts[:n]


def verify_text(v: dict | None) -> str:
    """One phrase for an export check's result."""
    if not v:
        return "not verified"
    if "identical_transcripts" in v:
        wer = f", WER {v['wer']:.2f} % (source {v['wer_source']:.2f} %)" if "wer" in v else ""
        diff = f", max |diff| {v['max_abs_diff']:.1e}" if v.get("max_abs_diff") is not None else ""
        return f"verified on {v['inputs']} clips: transcripts identical on {v['identical_transcripts']:.0%}{diff}{wer}"
    if "identical_outputs" in v:
        bleu = f", sacreBLEU {v['bleu']:.2f} (source {v['bleu_source']:.2f})" if "bleu" in v else ""
        if "rougeL" in v:
            bleu = f", ROUGE-L {v['rougeL']:.2f} (source {v['rougeL_source']:.2f})"
        return (f"verified on {v['inputs']} sentences: greedy outputs identical on {v['identical_outputs']:.0%}, "
                f"first-step max |diff| {v['max_abs_diff_first_steps']:.1e}{bleu}")
    return (f"verified on {v['inputs']} inputs: max |diff| {v['max_abs_diff']:.1e}, labels agree "
            f"{v['label_agreement']:.0%}")


def cmd_export(a: argparse.Namespace) -> int:
    from liteformer import runtimes
    from liteformer.models.checkpoint import load_model
    from liteformer.verbs import export_bundle
    targets = [t.strip() for t in a.to.split(",") if t.strip()]
    for t in targets:
        runtimes.exporter(t)  # unknown target or missing runtime: fail before any work
    loaded = load_model(a.model)
    keep = tuple(x.strip() for x in a.keep_float.split(",") if x.strip()) if a.keep_float else ()
    opts = _options(a, loaded, a.quantize, keep)
    opts.check_model(loaded.model.config)
    for t in targets:
        opts.check_quantize(t)
    n = a.verify_n or (200 if loaded.is_generator or loaded.is_speech else 32)
    texts = None if a.no_verify else verify_inputs(a, loaded, n)
    for t in targets:
        out = Path(a.out) / t if len(targets) > 1 else Path(a.out)
        print(f"exporting {loaded.path} to {t} ...", file=sys.stderr)
        meta = export_bundle(loaded, t, out, opts, texts, a.threads)
        size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
        check = verify_text(meta.get("verify"))
        print(f"{t:<11} {out / meta['artifact']}  bundle {size / 1e6:.1f} MB  {check}  "
              f"({meta['export']['seconds']:.0f} s)")
    return 0


def cmd_quantize(a: argparse.Namespace) -> int:
    from liteformer import runtimes
    from liteformer.data.text import read_classification
    from liteformer.models.checkpoint import load_model
    from liteformer.verbs import export_bundle
    runtimes.exporter(a.to)
    if a.max_accuracy_drop is not None and not a.eval_data:
        raise LiteformerError("--max-accuracy-drop needs --eval-data (the split the budget is measured on)")
    loaded = load_model(a.model)
    opts = _options(a, loaded, a.method, ())
    opts.check_quantize(a.to)
    if loaded.is_generator and a.max_accuracy_drop is not None:
        raise LiteformerError("--max-accuracy-drop: the mixed-precision search is for classifiers; a generation "
                              "model's int8 export is checked by BLEU (within 0.5 of the float model) instead")
    eval_data = read_classification(a.eval_data, a.text_column, a.label_column) if a.eval_data else None
    verify = verify_inputs(a, loaded, a.verify_n)
    meta = export_bundle(loaded, a.to, a.out, opts, verify, a.threads, a.max_accuracy_drop, eval_data,
                         progress=sys.stderr.isatty())
    size = sum(f.stat().st_size for f in Path(a.out).iterdir() if f.is_file())
    v = meta["verify"]
    if loaded.is_generator:
        print(f"{a.to} {a.method}: {Path(a.out) / meta['artifact']}  bundle {size / 1e6:.1f} MB  {verify_text(v)}")
        return 0
    print(f"{a.to} {a.method}: {Path(a.out) / meta['artifact']}  bundle {size / 1e6:.1f} MB  labels agree with "
          f"the float model on {v['label_agreement']:.1%} of {v['inputs']} inputs")
    mixed = meta.get("mixed_precision")
    if mixed:
        print(f"accuracy on {a.eval_data}: float {mixed['float_accuracy']:.4f}, all quantized "
              f"{mixed['all_quantized_accuracy']:.4f}, final {mixed['final_accuracy']:.4f}")
        if mixed["keep_float"]:
            for g in mixed["keep_float"]:
                print(f"  kept in float: {g:<14} (+{100 * mixed['sensitivity'][g]:.2f} points when float alone)")
        else:
            print("  every group quantized: the drop is within budget")
    return 0


def cmd_run(a: argparse.Namespace) -> int:
    import numpy as np

    from liteformer import runtimes
    from liteformer.data.tokenizer import DEFAULT_MAX_LENGTH, default_max_length
    from liteformer.tasks.classification import run_each
    path = Path(a.artifact)
    if path.suffix in (".yaml", ".yml"):
        return _run_recipe(a, path)
    if not a.text and not a.audio:
        raise LiteformerError("give --text TEXT to classify or translate, --audio WAV to transcribe (or a "
                              "RECIPE.yaml to run)")
    if not path.exists():
        raise LiteformerError(f"{path}: no such file or folder")
    runtime = runtimes.detect(path)
    if a.audio:
        return _transcribe(a, path, runtime)
    if runtime == "torch" and _is_seq2seq(path):
        return _translate(a, path)
    runner = runtimes.load(runtime, path, None, a.threads)
    if getattr(runner, "task", None) in ("translation", "summarization", "dialogue"):
        return _translate_bundle(a, runner, runtime)
    cfg = runner.describe().get("config") or {}
    enc = runner.tokenizer.encode(a.text, default_max_length(cfg.get("max_positions", DEFAULT_MAX_LENGTH)))
    rows = []
    for text, logits in zip(a.text, run_each(runner, enc.ids), strict=True):
        p = np.exp(logits - logits.max())
        p /= p.sum()
        k = int(p.argmax())
        rows.append({"text": text, "label": runner.id2label[k], "probability": float(p[k]),
                     "probabilities": {runner.id2label[i]: float(v) for i, v in enumerate(p)}})
    if a.json:
        print(json.dumps({"runtime": runtime, "results": rows}, indent=2))
    else:
        for r in rows:
            print(f"{r['label']}\t{r['probability']:.3f}\t{r['text']}")
    return 0


def _transcribe(a: argparse.Namespace, path: Path, runtime: str) -> int:
    """Transcribe ``--audio`` files with a speech model or bundle in its runtime, clip by clip."""
    from liteformer.data.audio import load_audio
    from liteformer.tasks.speech import MIN_SAMPLES, run_clip
    if a.text:
        raise LiteformerError("give --text or --audio, not both")
    runner = runtimes_load(runtime, path, a.threads)
    if getattr(runner, "task", None) != "speech-recognition":
        raise LiteformerError(f"{path}: not a speech model (--audio needs one; --text for text models)")
    rows = []
    for f in a.audio:
        clip = load_audio(f, runner.sample_rate)
        if len(clip) < MIN_SAMPLES:
            raise LiteformerError(f"{f}: clip of {len(clip)} samples is too short (one 25 ms window at least)")
        if len(clip) > runner.max_samples:
            raise LiteformerError(f"{f}: {len(clip) / runner.sample_rate:.2f} s of audio is longer than the model "
                                  f"takes ({runner.max_samples / runner.sample_rate:.2f} s); split it")
        rows.append({"audio": f, "seconds": round(len(clip) / runner.sample_rate, 3),
                     "transcript": run_clip(runner, clip)[1]})
    if a.json:
        print(json.dumps({"runtime": runtime, "results": rows}, indent=2))
    else:
        for r in rows:
            print(f"{r['transcript']}\t{r['audio']}")
    return 0


def runtimes_load(runtime: str, path: Path, threads: int):
    from liteformer import runtimes
    return runtimes.load(runtime, path, None, threads)


OUTPUT_KEY = {"summarization": "summary", "dialogue": "response"}  # run --json: the output's name per task


def as_turn(text: str) -> str:
    """A typed line as a dialogue context: the user's turn, then the model's speaker tag."""
    return f"#Person1#: {text}\n#Person2#:"


def _is_seq2seq(path: Path) -> bool:
    from liteformer.models.checkpoint import architecture, read_config, resolve_model
    return architecture(read_config(resolve_model(path))).__name__ == "TransformerForSeq2SeqLM"


def _translate(a: argparse.Namespace, path: Path) -> int:
    import torch

    from liteformer.models.checkpoint import load_model
    from liteformer.models.generation import GenerationConfig
    from liteformer.tasks.translation import translate
    torch.set_num_threads(a.threads)
    loaded = load_model(path)
    L = min(128, loaded.model.config.max_positions)
    if loaded.task == "summarization":
        from liteformer.tasks.summarization import summarize
        outputs = summarize(loaded.model, loaded.tokenizer, a.text)
    elif loaded.task == "dialogue":  # the text is the user's turn; the model answers it
        from liteformer.tasks.dialogue import respond
        outputs = respond(loaded.model, loaded.tokenizer, [as_turn(t) for t in a.text])
    else:
        outputs = translate(loaded.model, loaded.tokenizer, a.text, GenerationConfig(beam=5, max_target=L))
    if a.json:
        key = OUTPUT_KEY.get(loaded.task, "translation")
        print(json.dumps({"model": str(path), "results": [{"text": t, key: o}
                                                          for t, o in zip(a.text, outputs, strict=True)]}, indent=2))
    else:
        for o in outputs:
            print(o)
    return 0


def _translate_bundle(a: argparse.Namespace, runner, runtime: str) -> int:
    """Translate (summarize, answer) ``--text`` with a generation bundle in its runtime: greedy, batch 1,
    the app's loop with the task's length settings."""
    from liteformer.data.parallel import ParallelDataset
    from liteformer.tasks.translation import encode_pairs, run_sentence
    cfg = None
    texts = list(a.text)
    if runner.task == "summarization":
        from liteformer.tasks.summarization import runtime_config
        cfg = runtime_config(runner)
    elif runner.task == "dialogue":
        from liteformer.tasks.dialogue import runtime_config
        cfg, texts = runtime_config(runner), [as_turn(t) for t in texts]
    keep = "end" if runner.task == "dialogue" else "start"
    if keep == "end":
        from liteformer.tasks.dialogue import encode_contexts
        enc = encode_contexts(runner.tokenizer, texts, int(runner.meta.get("max_length") or 128))
    else:
        _, enc = encode_pairs(runner, ParallelDataset(texts, texts, "--text"), what="bundle")
    outputs = [runner.tokenizer.decode(run_sentence(runner, ids, cfg).ids) for ids in enc.ids]
    if a.json:
        key = OUTPUT_KEY.get(runner.task, "translation")
        print(json.dumps({"runtime": runtime, "results": [{"text": t, key: o}
                                                          for t, o in zip(a.text, outputs, strict=True)]}, indent=2))
    else:
        for o in outputs:
            print(o)
    return 0


def _run_recipe(a: argparse.Namespace, path: Path) -> int:
    from liteformer.recipe.runner import print_result, run_recipe
    from liteformer.recipe.schema import load_recipe
    recipe = load_recipe(path)
    recipe.check_inputs()
    if a.check:
        if recipe.auto is not None:
            opts = ", ".join(f"{k}={v}" for k, v in recipe.auto.items()) or "defaults"
            print(f"{path}: valid; " + " -> ".join([n for n, _ in recipe.steps] + [f"search: auto ({opts})"]))
            return 0
        variants = recipe.variants()
        print(f"{path}: valid; {len(recipe.steps)} steps, {len(variants)} variant(s)")
        for label, steps in variants:
            print(f"  {label}: " + " -> ".join(name for name, _ in steps))
        return 0
    res = run_recipe(recipe, a.work, progress=sys.stderr.isatty())
    print_result(res)
    if not res.chosen:
        from liteformer.bench.select import miss_text
        near = f"; closest: {res.closest[0][0].name} (misses by {miss_text(res.closest[0][1])})" if res.closest else ""
        raise LiteformerError(f"{path}: nothing fits the budget: {res.reason}{near}")
    return 0
