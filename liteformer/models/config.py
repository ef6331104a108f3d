"""The own Transformer's configuration: sizes, per-layer widths (lists after structured pruning), the
BERT/pre-LN layout switches, light blocks (``models/light.py``), low-rank factors, a speech front end and
an encoder-decoder's task. ``transformer.py`` builds the modules from it (and re-exports these names)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from torch import nn

from liteformer.models.light import LightSpec, validate_light

GENERATION_TASKS = ("", "translation", "summarization", "dialogue")
ACTIVATIONS = {"gelu": nn.GELU, "gelu_new": lambda: nn.GELU(approximate="tanh"), "relu": nn.ReLU}
POOLERS = ("tanh", "relu", "none")
POSITIONS = ("learned", "sinusoidal")


@dataclass
class TransformerConfig:
    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int | list[int] = 12  # one int for all layers, or one per layer
    head_dim: int | None = None  # default: hidden_size // num_heads (of a uniform model)
    ffn_dim: int | list[int] = 1536  # one int for all layers, or one per layer
    max_positions: int = 512
    positions: str = "learned"  # "learned" (BERT) or "sinusoidal" (fixed, Vaswani et al.)
    type_vocab_size: int = 2  # 0: no token-type embedding (DistilBERT)
    embedding_dim: int | None = None  # < hidden_size: factorized embedding (ALBERT-style)
    activation: str = "gelu"
    norm_eps: float = 1e-12
    norm_first: bool = False  # False: post-LN (BERT); True: pre-LN (GPT-2, T5-like)
    dropout: float = 0.1
    attention_dropout: float = 0.1
    pad_token_id: int = 0
    # sequence-classification head
    num_labels: int = 2
    pooler: str = "tanh"  # "tanh" (BERT pooler), "relu" (DistilBERT pre_classifier), "none"
    id2label: dict[int, str] = field(default_factory=dict)
    # decoder stack of an encoder-decoder (0 layers: encoder only)
    num_decoder_layers: int = 0
    decoder_num_heads: int | list[int] | None = None  # default: the encoder's first layer's
    decoder_ffn_dim: int | list[int] | None = None
    decoder_cross_heads: int | list[int] | None = None  # cross-attention heads (default: decoder_num_heads)
    # low-rank factorization: module name (e.g. "encoder.layers.0.ffn.up", "encoder.embeddings.word")
    # -> rank r; that Linear (out x in) becomes in -> r -> out, that Embedding V -> r -> H
    low_rank: dict[str, int] = field(default_factory=dict)
    # a speech model's front end (models/speech.py AudioConfig fields); empty for text models
    audio: dict = field(default_factory=dict)
    # light blocks (models/light.py); the per-layer ones take one value for all layers or a list
    conv_dim: int | list[int] = 0  # LSRA: channels of each layer's depthwise-convolution branch (0: none)
    conv_kernel: int | list[int] = 7  # the encoder's depthwise convolutions' kernel (odd)
    conv_module: bool | list[bool] = False  # a Conformer convolution module after the attention
    ffn_type: str = "dense"  # "dense" or "inverted" (MobileNetV2 inverted residual, depthwise conv inside)
    bottleneck_dim: int | None = None  # MobileBERT: layers work at this inner width, linear in and out
    ffn_stack: int = 1  # stacked feed-forwards per layer (MobileBERT: 4)
    norm: str = "layer"  # "layer" (LayerNorm) or "nonorm" (MobileBERT's element-wise affine)
    decoder_conv_dim: int | list[int] | None = None  # the decoder's LSRA branches (causal, cached)
    decoder_conv_kernel: int | list[int] | None = None
    # what an encoder-decoder was trained for (its task's data, metric and generation defaults)
    task: str = ""  # "" = translation, or one of GENERATION_TASKS
    # an encoder-decoder's output layer: the first N ids of the vocabulary (0: all of it; vocabulary
    # pruning puts the pieces its targets use first, compress/prune/output_vocab.py)
    output_vocab_size: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_layers", "num_decoder_layers", "vocab_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"{name} must be an integer, got {v!r}")
        self.num_heads = _per_layer(self.num_heads, self.num_layers, "num_heads")
        self.ffn_dim = _per_layer(self.ffn_dim, self.num_layers, "ffn_dim")
        self.conv_dim = _per_layer(self.conv_dim, self.num_layers, "conv_dim", minimum=0)
        self.conv_kernel = _per_layer(self.conv_kernel, self.num_layers, "conv_kernel")
        self.conv_module = _per_layer(self.conv_module, self.num_layers, "conv_module", kind=bool)
        if self.head_dim is None:  # the attention's width: the layer's (inner) width less its conv branch
            width = (self.bottleneck_dim or self.hidden_size) - (self.conv_dim[0] if self.num_layers else 0)
            if isinstance(width, int) and width > 0 and width % self.num_heads[0]:
                raise ValueError(f"the attention width {width} is not divisible by num_heads {self.num_heads[0]}"
                                 "; set head_dim")
            self.head_dim = width // self.num_heads[0] if isinstance(width, int) and width > 0 else 1  # else: below
        if self.num_decoder_layers:
            dh = self.num_heads[0] if self.decoder_num_heads is None else self.decoder_num_heads
            df = self.ffn_dim[0] if self.decoder_ffn_dim is None else self.decoder_ffn_dim
            self.decoder_num_heads = _per_layer(dh, self.num_decoder_layers, "decoder_num_heads")
            self.decoder_ffn_dim = _per_layer(df, self.num_decoder_layers, "decoder_ffn_dim")
            dc = self.decoder_num_heads if self.decoder_cross_heads is None else self.decoder_cross_heads
            self.decoder_cross_heads = _per_layer(dc, self.num_decoder_layers, "decoder_cross_heads")
            self.decoder_conv_dim = _per_layer(self.decoder_conv_dim or 0, self.num_decoder_layers,
                                               "decoder_conv_dim", minimum=0)
            k = 7 if self.decoder_conv_kernel is None else self.decoder_conv_kernel
            self.decoder_conv_kernel = _per_layer(k, self.num_decoder_layers, "decoder_conv_kernel")
        elif self.decoder_conv_dim not in (None, 0, []):
            raise ValueError("decoder_conv_dim (a causal convolution branch) needs a decoder: num_decoder_layers is 0")
        if not all(isinstance(x, dict) for x in (self.id2label, self.low_rank, self.audio)):
            raise ValueError("id2label, low_rank and audio must be mappings")
        try:
            self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
        except ValueError:
            raise ValueError(f"id2label keys must be integers, got {sorted(map(str, self.id2label))[:4]}") from None
        self.low_rank = {str(k): int(v) for k, v in self.low_rank.items()}
        if not self.id2label:
            self.id2label = {i: str(i) for i in range(self.num_labels)}
        self.validate()

    def validate(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_layers", "head_dim", "max_positions", "type_vocab_size",
                     "pad_token_id", "num_labels", "num_decoder_layers"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"{name} must be an integer, got {v!r}")
        for name in ("dropout", "attention_dropout"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0 <= v < 1:
                raise ValueError(f"{name} must be a number in [0, 1), got {v!r}")
        if not isinstance(self.norm_eps, int | float) or not 0 < self.norm_eps < 1:
            raise ValueError(f"norm_eps must be a number in (0, 1), got {self.norm_eps!r}")
        positive = ("vocab_size", "hidden_size", "head_dim", "max_positions", "num_labels")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.num_layers < 0 or self.num_decoder_layers < 0:
            raise ValueError("layer counts must be >= 0")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} not in {sorted(ACTIVATIONS)}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions {self.positions!r} not in {POSITIONS}")
        if self.pooler not in POOLERS:
            raise ValueError(f"pooler {self.pooler!r} not in {POOLERS}")
        if self.embedding_dim is not None and self.embedding_dim <= 0:
            raise ValueError(f"embedding_dim must be > 0, got {self.embedding_dim}")
        if len(self.id2label) != self.num_labels:
            raise ValueError(f"id2label has {len(self.id2label)} entries, num_labels is {self.num_labels}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"pad_token_id {self.pad_token_id} outside the vocabulary")
        bad_rank = {k: r for k, r in self.low_rank.items() if r <= 0}
        if bad_rank:
            raise ValueError(f"low_rank ranks must be > 0, got {bad_rank}")
        validate_light(self)
        n = self.output_vocab_size
        if not isinstance(n, int) or isinstance(n, bool) or not (n == 0 or 4 <= n <= self.vocab_size):
            raise ValueError(f"output_vocab_size must be 0 (the whole vocabulary) or 4..{self.vocab_size}, got {n!r}")
        if n and not self.num_decoder_layers:
            raise ValueError("output_vocab_size is an encoder-decoder's (its output layer); num_decoder_layers is 0")
        if self.task not in GENERATION_TASKS:
            raise ValueError(f"task {self.task!r} not in {GENERATION_TASKS} (an encoder-decoder's task; '' = "
                             "translation)")

    def light_spec(self, layer: int, decoder: bool = False) -> LightSpec:
        """The light switches of encoder (or decoder) layer ``layer``."""
        if decoder:
            return LightSpec(conv_dim=self.decoder_conv_dim[layer], kernel=self.decoder_conv_kernel[layer],
                             causal=True)
        return LightSpec(self.conv_dim[layer], self.conv_kernel[layer], self.conv_module[layer], self.ffn_type,
                         self.bottleneck_dim, self.ffn_stack)

    @property
    def light(self) -> bool:
        """True when some layer uses a light block (or NoNorm): a shape only the own format expresses."""
        decoder = self.num_decoder_layers and any(self.decoder_conv_dim)
        return self.norm != "layer" or decoder or not all(self.light_spec(i).plain for i in range(self.num_layers))

    @property
    def uniform(self) -> bool:
        """True when every layer has the same heads and FFN width (a plain BERT shape)."""
        return (
            len(set(self.num_heads)) <= 1
            and len(set(self.ffn_dim)) <= 1
            and self.num_heads[0] * self.head_dim == self.hidden_size
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["id2label"] = {str(k): v for k, v in self.id2label.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TransformerConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}")
        return cls(**d)

    @classmethod
    def tiny(cls, **kw) -> TransformerConfig:
        """A few-thousand-parameter model for tests."""
        base = dict(vocab_size=100, hidden_size=32, num_layers=2, num_heads=4, ffn_dim=64,
                    max_positions=64, dropout=0.0, attention_dropout=0.0)
        return cls(**{**base, **kw})


ENCODER_LAYER_FIELDS = ("num_heads", "ffn_dim", "conv_dim", "conv_kernel", "conv_module")
DECODER_LAYER_FIELDS = ("decoder_num_heads", "decoder_ffn_dim", "decoder_cross_heads", "decoder_conv_dim",
                        "decoder_conv_kernel")


def layers_subset(cfg: TransformerConfig, encoder: list[int], decoder: list[int] | None = None) -> dict:
    """The config dict of a model keeping the given encoder (and decoder) layers: every per-layer field
    subset, the layer counts set."""
    d = cfg.to_dict()
    d.update({f: [getattr(cfg, f)[i] for i in encoder] for f in ENCODER_LAYER_FIELDS}, num_layers=len(encoder))
    if decoder is not None:
        d.update({f: [getattr(cfg, f)[i] for i in decoder] for f in DECODER_LAYER_FIELDS},
                 num_decoder_layers=len(decoder))
    return d


def _per_layer(value, n: int, name: str, minimum: int = 1, kind: type = int) -> list:
    """One value for all ``n`` layers, or a list of ``n`` (integers >= ``minimum``, or booleans)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"layer count must be an integer >= 0, got {n!r}")
    ok = (lambda v: isinstance(v, bool)) if kind is bool else (lambda v: isinstance(v, int) and not isinstance(v, bool))
    what = "true/false" if kind is bool else "an integer"
    if not (ok(value) or (isinstance(value, list) and all(ok(v) for v in value))):
        raise ValueError(f"{name} must be {what} or a list of them, got {value!r}")
    values = [value] * n if not isinstance(value, list) else list(value)
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries for {n} layers")
    if kind is int and any(v < minimum for v in values):
        raise ValueError(f"{name} entries must be >= {minimum}, got {values}")
    return values
