"""Recipes: a YAML file naming a teacher (or a base to fine-tune), the task's data, a device budget,
an ordered list of steps and an optional search grid. Everything is checked before any work, and
an error names the file, the line and the field at fault.

    name: sst2-mobile
    teacher: ../shared/models/minilm-l6-sst2      # or a `finetune` first step with `base:`
    data: {train: sst2:train, dev: sst2:dev, test: sst2:test}
    budget: {max_size_mb: 5, max_latency_ms: 3}  # or relative to the teacher in the same bench:
                                                  # {min_x_smaller: 12, min_x_faster: 10, min_pct_accuracy: 98}
    steps:
      - student: {layers: [0, 2, 4]}
      - prune: {method: structured, target_flops: 0.5}
      - distill: {}                               # defaults chosen from the data size
      - export: {to: [onnx, litert], quantize: int8-dynamic}
    search:                                       # a grid: every combination is built and benched
      prune.target_flops: [1.0, 0.5]
      export.quantize: [none, int8-dynamic]
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from liteformer.errors import LiteformerError
from liteformer.options import NUM, OptionError, from_values, option_types

STEP_NAMES = ("finetune", "student", "prune", "factorize", "distill", "export")


@functools.cache
def step_options(name: str) -> dict[str, type | tuple]:
    """Option -> accepted YAML type(s) of step ``name``, from the fields of the configs it builds."""
    from liteformer.verbs import step_configs
    return {k: v for cls in step_configs(name) for k, v in option_types(cls).items()}


SECTIONS: dict[str, dict[str, type | tuple]] = {
    "data": {"train": str, "dev": str, "test": str, "text_column": str, "label_column": str},
    "budget": {"profile": str, "max_latency_ms": NUM, "max_size_mb": NUM, "max_memory_mb": NUM, "min_accuracy": NUM,
               "min_x_faster": NUM, "min_x_smaller": NUM, "min_pct_accuracy": NUM,  # min_x_*: against the teacher
               "min_quality": NUM, "min_pct_quality": NUM,  # the task's metric (accuracy, sacreBLEU)
               "max_error": NUM},  # an error-rate metric (speech: WER in %)
    "bench": {"reps": int, "timed_examples": int, "threads": int, "length": int},
}
TOP = {"name": str, "task": str, "teacher": str, "data": dict, "budget": dict, "bench": dict, "steps": list,
       "search": (dict, str)}
DEMO = Path(__file__).with_name("demo.yaml")  # the recipe `liteformer demo` runs
DEMOS = {task: Path(__file__).with_name(f"demo-{name}.yaml")  # `liteformer demo --task TASK`
         for task, name in (("translation", "translation"), ("speech-recognition", "speech"),
                            ("summarization", "summarization"), ("dialogue", "dialogue"))}
SPEECH_OPTIONS = ("strings", "augment_audio", "dev_strings", "pseudo_labels", "feature_clips")
# steps (or their options) a translation, summarization or dialogue recipe refuses: True = the whole step
# (finetune's base is there a trained encoder-decoder folder, e.g. a denoising pre-training)
TRANSLATION_REFUSED = {"finetune": ("label_names",),
                       "student": ("layers", "tokenizer", "vocab_size", "init_embeddings"),
                       "distill": ("hidden_weight", "attention_weight", "augment", "layer_map", "unlabelled"),
                       "export": ("max_accuracy_drop",)}
CLASSIFICATION_REFUSED = {"distill": ("kd", "max_tokens", "label_smoothing", "dev_sentences", *SPEECH_OPTIONS),
                          "finetune": ("model_config", "vocab_size", "max_tokens", "label_smoothing", "dev_sentences",
                                       *SPEECH_OPTIONS),
                          "export": ("max_target", "max_seconds", "audio_buckets")}
SPEECH_REFUSED = {"finetune": ("base", "label_names", "vocab_size", "max_tokens", "label_smoothing", "dev_sentences"),
                  "student": ("layers", "tokenizer", "vocab_size", "init_embeddings", "init_from_teacher"),
                  "distill": ("hidden_weight", "attention_weight", "augment", "layer_map", "unlabelled", "kd",
                              "max_tokens", "label_smoothing", "dev_sentences"),
                  "export": ("max_accuracy_drop", "max_target", "buckets", "max_length", "fuse"),
                  "prune": True, "factorize": True}


@dataclass
class Recipe:
    path: Path
    name: str
    teacher: str | None
    data: dict
    budget: dict
    bench: dict
    steps: list[tuple[str, dict]]  # (step name, options)
    search: dict[str, list] = field(default_factory=dict)
    step_lines: list[int] = field(default_factory=list)  # the recipe line of each step, for run-time errors
    input_lines: dict = field(default_factory=dict)  # the line of teacher and of each data entry
    task: str = "text-classification"  # translation: sentence pairs, sacreBLEU; speech-recognition: clips, WER
    auto: dict | None = None  # ``search: auto``: the budget search's options (liteformer.search); None: a grid

    def check_inputs(self) -> None:
        """The teacher and the data files exist (paths relative to where liteformer runs): checked by
        ``run`` and ``run --check`` before any work, not by loading (a recipe may name files of
        another machine)."""
        from liteformer.data.parallel import resolve_pair
        from liteformer.data.text import resolve
        from liteformer.models.checkpoint import ALIASES

        def fail(key, msg):
            line = self.input_lines.get(key)
            raise LiteformerError(f"{self.path}{f':{line}' if line else ''}: {msg}")

        for split in ("train", "dev", "test"):
            if split in self.data:
                try:
                    if self.task == "speech-recognition":
                        found = _speech_path(self.data[split])
                        if found.is_dir():
                            continue
                    elif self.task == "translation":
                        found = resolve_pair(self.data[split])
                    elif self.task in ("summarization", "dialogue"):
                        from liteformer.data.dialogsum import resolve_split
                        found = resolve_split(self.data[split])[0]
                    else:
                        found = resolve(self.data[split])
                except LiteformerError as e:
                    fail(split, f"data.{split}: {e}")
                for path in found if isinstance(found, tuple) else (found,):
                    if not path.is_file():
                        fail(split, f"data.{split}: {path}: no such file")
        if self.teacher is not None and self.teacher not in ALIASES and not Path(self.teacher).is_dir():
            fail("teacher", f"teacher {self.teacher}: no such model folder")

    def where(self, i: int) -> str:
        """``FILE:LINE`` of step ``i``."""
        line = self.step_lines[i] if i < len(self.step_lines) else None
        return f"{self.path}:{line}" if line else str(self.path)

    def variants(self) -> list[tuple[str, list[tuple[str, dict]]]]:
        """Every combination of the search grid: (label, steps with those values set)."""
        if not self.search:
            return [("base", self.steps)]
        keys = list(self.search)
        out = []
        for values in itertools.product(*(self.search[k] for k in keys)):
            steps = copy.deepcopy(self.steps)
            for key, value in zip(keys, values, strict=True):
                name, opt = key.split(".", 1)
                target_step(steps, name, opt)[opt] = value
            label = ",".join(f"{k.split('.', 1)[1]}={_short(v)}" for k, v in zip(keys, values, strict=True))
            out.append((label, steps))
        return out


def target_step(steps: list[tuple[str, dict]], name: str, opt: str) -> dict:
    """The options of the step a search key STEP.OPTION sets: the first STEP that has OPTION, else the first."""
    matches = [o for s, o in steps if s == name]
    return next((o for o in matches if opt in o), matches[0])


def _short(v) -> str:
    return "-".join(map(str, v)) if isinstance(v, list) else str(v)


class _Loader(yaml.SafeLoader):
    """Safe YAML that remembers the line of every mapping key (and of every list item)."""


def _construct_mapping(loader, node, deep=False):
    mapping = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                    key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        loader.lines[id(mapping), key] = key_node.start_mark.line + 1
    loader.lines[id(mapping), None] = node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_recipe(path: str | Path) -> Recipe:
    p = Path(path)
    if not p.is_file():
        raise LiteformerError(f"{p}: no such recipe file")
    try:
        text = p.read_text(encoding="utf-8")
        loader = _Loader(text)
        loader.lines = {}
        try:
            doc = loader.get_single_data()
        finally:
            loader.dispose()
    except UnicodeDecodeError:
        raise LiteformerError(f"{p}: not UTF-8 text") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise LiteformerError(f"{p}{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    return _validate(p, doc, loader.lines)


def _validate(p: Path, doc, lines: dict) -> Recipe:
    def fail(obj, key, msg):
        line = lines.get((id(obj), key)) or lines.get((id(obj), None))
        raise LiteformerError(f"{p}{f':{line}' if line else ''}: {msg}")

    def check(obj: dict, spec: dict, where: str):
        for k, v in obj.items():
            if k not in spec:
                fail(obj, k, f"unknown option {where}{k!r} (known: {', '.join(spec)})")
            if not isinstance(v, spec[k]) or (isinstance(v, bool) and spec[k] is not bool):
                fail(obj, k, f"{where}{k} must be {_type_name(spec[k])}, got {v!r}")

    if not isinstance(doc, dict):
        raise LiteformerError(f"{p}: a recipe is a YAML mapping (name, teacher, data, budget, steps, search)")
    check(doc, TOP, "")
    for sec, spec in SECTIONS.items():
        check(doc.get(sec) or {}, spec, f"{sec}.")
    data = doc.get("data") or {}
    if "train" not in data:
        fail(doc, "data", "data.train is required (the task's training data)")
    steps_raw = doc.get("steps") or []
    auto = _auto_options(doc, fail, check)
    if not steps_raw and auto is None:
        fail(doc, "steps", "steps is required: a list such as [- student: {layers: [0, 2, 4]}, - distill: {}] "
             "(or search: auto, which builds the student itself)")
    steps, step_lines = [], []
    for i, item in enumerate(steps_raw):
        if not isinstance(item, dict) or len(item) != 1:
            fail(doc, "steps", f"steps[{i}] must be one 'name: {{options}}' entry")
        (name, opts), = item.items()
        if name not in STEP_NAMES:
            fail(item, name, f"unknown step {name!r} (steps: {', '.join(STEP_NAMES)})")
        opts = {} if opts is None else opts
        if not isinstance(opts, dict):
            fail(item, name, f"steps[{i}].{name} options must be a mapping")
        check(opts, step_options(name), f"{name}.")
        _check_step(name, opts, lambda k, msg, o=opts: fail(o, k, msg))
        steps.append((name, opts))
        step_lines.append(lines.get((id(item), name)))
    names = [n for n, _ in steps]
    from liteformer.tasks import TASKS
    task = doc.get("task", "text-classification")
    if task not in TASKS:
        fail(doc, "task", f"unknown task {task!r} (tasks: {', '.join(TASKS)})")
    if task == "text-classification":
        for i, (name, opts) in enumerate(steps):
            bad = CLASSIFICATION_REFUSED.get(name)
            if bad and any(k in opts for k in bad):
                fail(steps_raw[i], name, f"step {name}: {', '.join(k for k in bad if k in opts)}: translation or "
                     "speech options (this recipe's task is text classification)")
    else:
        refused, example = {"translation": (TRANSLATION_REFUSED, "recipes/multi30k-mobile.yaml"),
                            "summarization": (TRANSLATION_REFUSED, "recipes/dialogsum-mobile.yaml"),
                            "dialogue": (TRANSLATION_REFUSED, "recipes/dialogue-mobile.yaml"),
                            "speech-recognition": (SPEECH_REFUSED, "recipes/fsdd-mobile.yaml")}[task]
        for i, (name, opts) in enumerate(steps):
            bad = refused.get(name)
            if refused is TRANSLATION_REFUSED and any(k in opts for k in SPEECH_OPTIONS):
                bad = tuple(k for k in SPEECH_OPTIONS if k in opts)
            if bad and (bad is True or any(k in opts for k in bad)):
                given = "" if bad is True else " with " + ", ".join(k for k in bad if k in opts)
                fail(steps_raw[i], name, f"step {name}{given}: not for a {task} recipe (see {example})")
            if name == "finetune" and "model_config" not in opts and (refused is SPEECH_REFUSED or "base" not in opts):
                what = "num_decoder_layers > 0" if refused is TRANSLATION_REFUSED else "an 'audio' section"
                also = " or base (a trained encoder-decoder folder)" if refused is TRANSLATION_REFUSED else ""
                fail(steps_raw[i], name, f"step finetune of a {task} recipe trains from scratch: give "
                     f"model_config (a JSON with {what}){also}")
    if auto is not None:
        if task != "text-classification":
            fail(doc, "search", f"search: auto builds text-classification students; this recipe's task is {task}")
        if names and (names != ["finetune"]):
            fail(doc, "steps", "with search: auto the only step is an optional finetune (the teacher); the search "
                 "chooses the student, its training and its export itself")
    if doc.get("teacher") is None and (not names or names[0] != "finetune"):
        fail(doc, "steps", "give a teacher (a model folder), or make the first step `finetune: {base: ...}`")
    if doc.get("teacher") is not None and "finetune" in names:
        fail(doc, "teacher", "give either a teacher or a finetune step, not both")
    search = doc.get("search") if auto is None else None
    search = search or {}
    for key, values in search.items():
        name, _, opt = str(key).partition(".")
        if name not in names or opt not in step_options(name):
            fail(search, key, f"search key {key!r} must be STEP.OPTION of a step in this recipe")
        if not isinstance(values, list) or not values:
            fail(search, key, f"search {key} must be a non-empty list of values")
        for v in values:
            opts = {**target_step(steps, name, opt), opt: v}
            check({opt: v}, step_options(name), f"{name}.")
            _check_step(name, opts, lambda k, msg, s=search, kk=key: fail(s, kk, msg))
    from liteformer.bench.select import PROFILES, UPPER_BOUNDS
    budget = doc.get("budget") or {}
    if "profile" in budget:
        if budget["profile"] not in PROFILES:
            fail(budget, "profile", f"unknown profile {budget['profile']!r} (profiles: {', '.join(PROFILES)})")
    for k, v in budget.items():
        if k != "profile" and not (math.isfinite(v) and v > 0):
            fail(budget, k, f"budget.{k} must be > 0, got {v}")
    for k, (top, _) in UPPER_BOUNDS.items():
        if budget.get(k, 0) > top:
            fail(budget, k, f"budget.{k} must be at most {top}, got {budget[k]}")
    input_lines = {k: lines.get((id(data), k)) for k in data}
    input_lines["teacher"] = lines.get((id(doc), "teacher"))
    return Recipe(p, str(doc.get("name") or p.stem), doc.get("teacher"), data, budget, doc.get("bench") or {},
                  steps, search, step_lines, input_lines, task, auto)


def _auto_options(doc: dict, fail, check) -> dict | None:
    """``search: auto`` (defaults) or ``search: {auto: {OPTION: VALUE}}``: the budget search's options,
    checked; None for a grid search (or none)."""
    search = doc.get("search")
    if isinstance(search, str):
        if search != "auto":
            fail(doc, "search", f"search must be 'auto' or a mapping of STEP.OPTION grids, got {search!r}")
        return {}
    if not isinstance(search, dict) or "auto" not in search:
        return None
    opts = search["auto"] or {}
    if len(search) > 1 or not isinstance(opts, dict):
        fail(search, "auto", "search: {auto: {...}} takes the search's options only (levels, augment, "
             "max_minutes, ...), no grid keys beside it")
    from liteformer.search.space import SearchOptions
    check(opts, option_types(SearchOptions), "search.auto.")
    try:
        from_values(SearchOptions, opts).validate()
    except OptionError as e:
        fail(opts, e.name if e.name in opts else None, f"search.auto.{e}")
    except LiteformerError as e:
        fail(opts, None, f"search.auto: {e}")
    return dict(opts)


def _speech_path(spec: str) -> Path:
    """The folder or TSV file a speech split names (options after the colon set aside)."""
    from liteformer.data.speech import BUNDLED_FSDD, parse_spec
    path, _ = parse_spec(spec)
    return BUNDLED_FSDD / "recordings" if path == "fsdd" and not Path(path).exists() else Path(path)


def _type_name(t) -> str:
    names = {str: "a string", int: "an integer", list: "a list", dict: "a mapping", bool: "true or false"}
    if t == NUM:
        return "a number"
    return " or ".join(names[x] for x in t) if isinstance(t, tuple) else names[t]


def _check_step(name: str, opts: dict, fail) -> None:
    """Values that types alone do not catch (ranges, choices, exactly-one-of), checked by the configs
    the step builds."""
    from liteformer.verbs import check_step
    try:
        check_step(name, opts)
    except OptionError as e:
        fail(e.name if e.name in opts else next(iter(opts), None), f"{name}.{e}" if e.name else f"{name}: {e}")
