"""What a model folder holds: parameters, layers, widths, vocabulary, size on disk."""

from __future__ import annotations

from pathlib import Path

from liteformer.models.checkpoint import load_model
from liteformer.models.light import light_blocks
from liteformer.models.sparse import prunable, sparsity_of
from liteformer.models.transformer import count_parameters


def describe(path: str | Path) -> dict:
    loaded = load_model(path)
    cfg = loaded.model.config
    folder = Path(path)
    files = [f for f in folder.iterdir() if f.is_file()]
    weights = [f for f in files if f.name in ("model.safetensors", "pytorch_model.bin")]
    return {
        "path": str(folder),
        "format": loaded.family,
        "parameters": count_parameters(loaded.model),
        "layers": cfg.num_layers,
        "hidden_size": cfg.hidden_size,
        "heads_per_layer": list(cfg.num_heads),
        "head_dim": cfg.head_dim,
        "ffn_per_layer": list(cfg.ffn_dim),
        "vocab_size": cfg.vocab_size,
        "tokenizer_vocab": loaded.tokenizer.vocab_size,
        "max_positions": cfg.max_positions,
        "task": loaded.task,
        "decoder_layers": cfg.num_decoder_layers,
        **({"decoder_heads_per_layer": list(cfg.decoder_num_heads), "cross_heads_per_layer":
            list(cfg.decoder_cross_heads), "decoder_ffn_per_layer": list(cfg.decoder_ffn_dim)}
           if cfg.num_decoder_layers else {}),
        "labels": None if loaded.is_generator or loaded.is_speech else {str(k): v for k, v in cfg.id2label.items()},
        **({"audio": loaded.model.audio.to_dict(), "alphabet": loaded.tokenizer.alphabet} if loaded.is_speech else {}),
        "new_head": bool(loaded.fresh),
        "size_bytes": sum(f.stat().st_size for f in files),
        "weights_bytes": sum(f.stat().st_size for f in weights),
        "low_rank": dict(cfg.low_rank),  # factorized module -> rank
        **({"light_blocks": light_blocks(cfg), "conv_dim_per_layer": list(cfg.conv_dim),
            "conv_kernel_per_layer": list(cfg.conv_kernel)} if cfg.light else {}),
        **({"decoder_conv_dim_per_layer": list(cfg.decoder_conv_dim)} if cfg.num_decoder_layers and
           any(cfg.decoder_conv_dim) else {}),
        "linear_sparsity": round(sparsity_of(prunable(loaded.model)), 4),  # share of zero Linear weights
    }
