"""Hugging Face BERT-family checkpoints ⇄ liteformer's own Transformer.

Supported in: ``bert`` (BertModel, BertForSequenceClassification; MiniLM is a BERT) and
``distilbert`` (DistilBertModel, DistilBertForSequenceClassification). Names are mapped with one
table per family; any missing, unexpected or mis-shaped tensor is an error that names it.
Out: a model whose shape a family can express (uniform layers, no factorized embedding) is written
back in that family's layout, so transformers loads it; anything else uses liteformer's own format.
"""

from __future__ import annotations

import torch

from liteformer.errors import LiteformerError
from liteformer.models.transformer import TransformerConfig

# own name -> HF name; "{i}" is the layer index. Prefix (bert./distilbert.) is handled separately.
_BERT = {
    "embeddings.word.weight": "embeddings.word_embeddings.weight",
    "embeddings.position.weight": "embeddings.position_embeddings.weight",
    "embeddings.token_type.weight": "embeddings.token_type_embeddings.weight",
    "embeddings.norm.weight": "embeddings.LayerNorm.weight",
    "embeddings.norm.bias": "embeddings.LayerNorm.bias",
}
_BERT_LAYER = {
    "attn.q": "attention.self.query",
    "attn.k": "attention.self.key",
    "attn.v": "attention.self.value",
    "attn.out": "attention.output.dense",
    "attn_norm": "attention.output.LayerNorm",
    "ffn.up": "intermediate.dense",
    "ffn.down": "output.dense",
    "ffn_norm": "output.LayerNorm",
}
_DISTIL = {
    "embeddings.word.weight": "embeddings.word_embeddings.weight",
    "embeddings.position.weight": "embeddings.position_embeddings.weight",
    "embeddings.norm.weight": "embeddings.LayerNorm.weight",
    "embeddings.norm.bias": "embeddings.LayerNorm.bias",
}
_DISTIL_LAYER = {
    "attn.q": "attention.q_lin",
    "attn.k": "attention.k_lin",
    "attn.v": "attention.v_lin",
    "attn.out": "attention.out_lin",
    "attn_norm": "sa_layer_norm",
    "ffn.up": "ffn.lin1",
    "ffn.down": "ffn.lin2",
    "ffn_norm": "output_layer_norm",
}
FAMILIES = {
    # family: (body prefix, embeddings table, layer prefix, layer table, pooler, head)
    "bert": ("bert.", _BERT, "encoder.layer.{i}.", _BERT_LAYER, "pooler.dense", "classifier"),
    "distilbert": ("distilbert.", _DISTIL, "transformer.layer.{i}.", _DISTIL_LAYER,
                   "pre_classifier", "classifier"),
}
_IGNORED = ("embeddings.position_ids", "embeddings.token_type_ids")


def config_from_hf(hf: dict, num_labels: int | None = None,
                   id2label: dict[int, str] | None = None) -> tuple[TransformerConfig, str]:
    """Translate a transformers config.json dict into (TransformerConfig, family)."""
    family = hf.get("model_type")
    if family not in FAMILIES:
        raise LiteformerError(f"model_type {family!r} is not supported (supported: {sorted(FAMILIES)})")
    if id2label is None and "id2label" in hf:
        try:
            id2label = {int(k): v for k, v in hf["id2label"].items()}
        except (ValueError, TypeError, AttributeError):
            raise LiteformerError(f"config.json: id2label keys must be integers, got {hf['id2label']!r:.80}") from None
    if id2label:
        num_labels = len(id2label)
    num_labels = num_labels or 2
    g = hf.get
    try:
        if family == "bert":
            if g("position_embedding_type", "absolute") != "absolute":
                raise LiteformerError(f"position_embedding_type {g('position_embedding_type')!r} is not supported")
            kw = dict(vocab_size=hf["vocab_size"], hidden_size=hf["hidden_size"],
                      num_layers=hf["num_hidden_layers"], num_heads=hf["num_attention_heads"],
                      ffn_dim=hf["intermediate_size"], max_positions=g("max_position_embeddings", 512),
                      type_vocab_size=g("type_vocab_size", 2), activation=g("hidden_act", "gelu"),
                      norm_eps=g("layer_norm_eps", 1e-12), dropout=g("hidden_dropout_prob", 0.1),
                      attention_dropout=g("attention_probs_dropout_prob", 0.1), pooler="tanh")
        else:
            kw = dict(vocab_size=hf["vocab_size"], hidden_size=hf["dim"], num_layers=hf["n_layers"],
                      num_heads=hf["n_heads"], ffn_dim=hf["hidden_dim"],
                      max_positions=g("max_position_embeddings", 512), type_vocab_size=0,
                      activation=g("activation", "gelu"), norm_eps=1e-12, dropout=g("dropout", 0.1),
                      attention_dropout=g("attention_dropout", 0.1), pooler="relu")
        cfg = TransformerConfig(**kw, pad_token_id=g("pad_token_id") or 0, num_labels=num_labels,
                                id2label=id2label or {})
    except KeyError as e:
        raise LiteformerError(f"config.json lacks {e.args[0]!r} for model_type {family!r}") from None
    except (ValueError, TypeError) as e:
        raise LiteformerError(f"config.json: {e}") from None
    return cfg, family


def _name_map(cfg: TransformerConfig, family: str) -> dict[str, str]:
    """own state-dict name -> HF name in the task-model layout (body tensors carry the body prefix;
    BERT's pooler belongs to the body, DistilBERT's pre_classifier and every classifier do not)."""
    prefix, emb, layer_prefix, layer, pooler, head = FAMILIES[family]
    m = {"encoder." + k: prefix + v for k, v in emb.items() if cfg.type_vocab_size or "token_type" not in k}
    for i in range(cfg.num_layers):
        for own, theirs in layer.items():
            for p in ("weight", "bias"):
                m[f"encoder.layers.{i}.{own}.{p}"] = prefix + layer_prefix.format(i=i) + f"{theirs}.{p}"
    pool_prefix = prefix if family == "bert" else ""
    for p in ("weight", "bias"):
        m[f"pooler.{p}"] = f"{pool_prefix}{pooler}.{p}"
        m[f"classifier.{p}"] = f"{head}.{p}"
    return m


def state_dict_from_hf(hf_sd: dict[str, torch.Tensor], cfg: TransformerConfig, family: str,
                       own_sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename HF tensors to ours. Returns (state dict, own names left at their fresh init)."""
    prefix = FAMILIES[family][0]
    # A bare body (BertModel) has no prefix; a task model prefixes the body only.
    has_prefix = any(k.startswith(prefix) for k in hf_sd)
    out, fresh, used = {}, [], set()
    for own, theirs in _name_map(cfg, family).items():
        key = theirs if has_prefix else theirs.removeprefix(prefix)
        if key not in hf_sd:
            if own.startswith(("pooler.", "classifier.")):
                fresh.append(own)  # a bare body gets a freshly initialised task head
                continue
            raise LiteformerError(f"weights lack tensor {key!r} that the config implies")
        t = hf_sd[key]
        if tuple(t.shape) != tuple(own_sd[own].shape):
            raise LiteformerError(f"tensor {key!r} has shape {tuple(t.shape)}, the config implies "
                                  f"{tuple(own_sd[own].shape)}")
        out[own] = t.to(own_sd[own].dtype)
        used.add(key)
    extra = [k for k in hf_sd if k not in used and not k.endswith(_IGNORED)]
    if extra:
        raise LiteformerError(f"weights hold {len(extra)} tensors the config does not describe, "
                              f"e.g. {extra[0]!r}")
    return out, fresh


def hf_family_for(cfg: TransformerConfig) -> str | None:
    """The HF family that can express this model exactly, or None (own format)."""
    if not cfg.uniform or cfg.embedding_dim not in (None, cfg.hidden_size) or cfg.norm_first or cfg.low_rank:
        return None
    if cfg.light:
        return None
    if cfg.num_decoder_layers or cfg.audio:
        return None
    if cfg.pooler == "tanh" and cfg.type_vocab_size > 0:
        return "bert"
    if cfg.pooler == "relu" and cfg.type_vocab_size == 0 and cfg.activation in ("gelu", "relu"):
        return "distilbert"
    return None


def config_to_hf(cfg: TransformerConfig, family: str) -> dict:
    labels = {str(k): v for k, v in cfg.id2label.items()}
    common = dict(model_type=family, vocab_size=cfg.vocab_size,
                  max_position_embeddings=cfg.max_positions, pad_token_id=cfg.pad_token_id,
                  id2label=labels, label2id={v: int(k) for k, v in labels.items()})
    if family == "bert":
        return dict(common, architectures=["BertForSequenceClassification"],
                    hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
                    num_attention_heads=cfg.num_heads[0], intermediate_size=cfg.ffn_dim[0],
                    type_vocab_size=cfg.type_vocab_size, hidden_act=cfg.activation,
                    layer_norm_eps=cfg.norm_eps, hidden_dropout_prob=cfg.dropout,
                    attention_probs_dropout_prob=cfg.attention_dropout,
                    position_embedding_type="absolute")
    return dict(common, architectures=["DistilBertForSequenceClassification"], dim=cfg.hidden_size,
                n_layers=cfg.num_layers, n_heads=cfg.num_heads[0], hidden_dim=cfg.ffn_dim[0],
                activation=cfg.activation, dropout=cfg.dropout,
                attention_dropout=cfg.attention_dropout, seq_classif_dropout=cfg.dropout,
                sinusoidal_pos_embds=False, tie_weights_=True)


def state_dict_to_hf(sd: dict[str, torch.Tensor], cfg: TransformerConfig, family: str) -> dict[str, torch.Tensor]:
    return {theirs: sd[own].contiguous() for own, theirs in _name_map(cfg, family).items()}
