"""``export_model``: a model folder → one bundle per runtime, verified before it is put in place.

The runtime's exporter module comes from the runtimes table (``convert`` for a classifier,
``convert_seq2seq`` for an encoder-decoder: encode and decode graphs with a fixed-size cache;
``convert_speech`` for a speech recognizer: raw audio in, features inside, audio-length buckets); the
exported artifact is loaded back through the same ``Runner`` that ``run`` and ``bench`` use and
checked by the model's task (``tasks``: for a classifier, fp32 logits within 1e-4, labels agreeing on
≥ 99 %; for translation, identical greedy outputs and BLEU within 0.5 when quantized; for speech,
identical greedy transcripts and logits within 1e-4, or error rates within 0.3 points when quantized)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from liteformer import runtimes, tasks
from liteformer.errors import LiteformerError
from liteformer.export.options import ExportOptions
from liteformer.fileio import atomic_dir
from liteformer.models.checkpoint import LoadedModel, file_sha256
from liteformer.models.transformer import count_parameters
from liteformer.quiet import quiet
from liteformer.runtimes.bundle import SIDECAR

# What a phone app runs for a generation bundle (the sidecar's generation.loop)
LOOP = ("tokenize the source (pieces + </s>, at most max_length; LiteRT: pad to the smallest bucket, mask 0); "
        "cross_k, cross_v = encode(input_ids, attention_mask); self_k = self_v = zeros(self_cache); token = bos_id; "
        "for position in 0 .. limit-1: logits, self_k, self_v = decode(token, [position], attention_mask, self_k, "
        "self_v, cross_k, cross_v); token = argmax(logits); stop at eos_id; limit = min(max_target - 1, "
        "ceil(max_len_a * source_tokens + max_len_b)); detokenize the pieces. With generation.layout.conv_cache "
        "(a long-short-range-attention decoder): also conv = zeros(conv_cache), passed after cross_v and "
        "replaced by decode's fourth output at each step")


SPEECH_LOOP = ("read the clip as 16 kHz mono float32 samples in [-1, 1]; pad it with zeros to a length the artifact "
               "takes (n_fft + stride*k samples; LiteRT: the smallest bucket), audio_mask 1 on the clip and 0 on the "
               "padding; logits, frame_mask = the graph(audio, audio_mask); over the frames with frame_mask 1 take "
               "argmax(logits), merge repeats, drop blank_id; id i is alphabet[i-1]")


def export_model(loaded: LoadedModel, runtime: str, out: str | Path, opts: ExportOptions,
                 verify_texts=None, threads: int = 2, extra: dict | None = None) -> dict:
    """Write a bundle for ``runtime`` at ``out`` (atomically); verify it unless no inputs are given
    (``verify_texts``: texts, for translation a ``ParallelDataset`` whose targets are references, for speech
    a ``SpeechDataset``)."""
    model = loaded.model.eval()
    generator, speech = loaded.is_generator, loaded.is_speech
    opts.check_model(model.config)
    opts.check_quantize(runtime)
    if (generator or speech) and opts.quantize is not None and opts.quantize.static:
        raise LiteformerError(f"{opts.method}: static quantization of a {'speech' if speech else 'generation'} "
                              "model is not supported (use int8-dynamic)")
    generation = None
    if generator:
        from liteformer.models.generation import GenerationConfig
        d = GenerationConfig()
        tok = loaded.tokenizer
        generation = {"bos_id": tok.bos_id, "eos_id": tok.eos_id, "pad_id": tok.pad_id,
                      "max_len_a": d.max_len_a, "max_len_b": d.max_len_b, "loop": LOOP}
    if opts.keep_float:
        from liteformer.compress.quantize.groups import check_groups
        check_groups(opts.keep_float, model.config)
    be = runtimes.exporter(runtime)
    task = tasks.get(loaded.task)
    t0 = time.time()
    with atomic_dir(out) as tmp:
        with quiet():  # the converters' own progress output (see liteformer.quiet)
            if speech:
                meta = be.convert_speech(model, tmp, opts)
            else:
                meta = be.convert_seq2seq(model, tmp, opts) if generator else be.convert(model, tmp, opts)
        if generator:
            meta["generation"] = {**generation, **meta["generation"]}
        if speech:
            a = model.audio
            meta["speech"] = {"sample_rate": a.sample_rate, "n_fft": a.n_fft, "hop": a.hop, "stride": a.stride,
                              "min_samples": a.padded(0), "max_samples": meta.pop("max_samples"),
                              "alphabet": loaded.tokenizer.alphabet, "blank_id": 0, "loop": SPEECH_LOOP}
        loaded.tokenizer.save(tmp)
        src = loaded.path / "model.safetensors"
        sidecar = {
            "format": "liteformer-bundle", "version": 1, "runtime": runtime, **meta,
            "max_length": opts.max_length, "task": task.name,
            "id2label": {} if generator or speech else {str(k): v for k, v in model.config.id2label.items()},
            "parameters": count_parameters(model), "config": model.config.to_dict(),
            "source": {"path": str(loaded.path), "sha256": file_sha256(src) if src.exists() else None},
            "export": {"quantization": opts.method, "keep_float": list(opts.keep_float),
                       "calibration_inputs": len(opts.calibration or []), "seconds": None},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **(extra or {}),
        }
        _write(tmp, sidecar)
        if verify_texts:
            runner = runtimes.load(runtime, tmp, None, threads, trusted=True)
            with quiet():  # a runtime's first run prints its own lines (LiteRT's XNNPACK delegate)
                sidecar["verify"] = task.verify(runner, model, loaded.tokenizer, verify_texts, opts.max_length,
                                                quantized=opts.quantize is not None)
            del runner
        sidecar["export"]["seconds"] = round(time.time() - t0, 1)
        _write(tmp, sidecar)
    return sidecar


def _write(folder: Path, sidecar: dict) -> None:
    (folder / SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
