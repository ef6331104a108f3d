"""liteformer's speech recognizer: raw 16 kHz audio → log-mel filterbanks → a convolutional 4×
subsampling front end → the own Transformer encoder (``transformer.Block``, pre-LN) → a CTC head
over characters (id 0 = the CTC blank).

Shapes: B = batch, N = audio samples, F = feature frames (10 ms each), M = mel bands, C = front-end
channels, T = encoder frames (F/4: 40 ms each), H = hidden, V = alphabet + blank.

The features are computed **inside the model**, so an exported graph takes raw audio and a phone app
only has to hand it 16 kHz mono float samples: the short-time Fourier transform is a ``conv1d`` with a
fixed (Hann-windowed) cosine/sine basis, the power spectrum goes through a fixed mel matrix and a
log — ops that every runtime converts (no ``stft``, no complex numbers). Frames are not centred:
frame f covers samples [f·hop, f·hop + n_fft).

Padding to a fixed length (the audio-length buckets of LiteRT) changes nothing: the input carries a
per-sample mask, a frame is real when its last sample is, each stride-2 convolution keeps every
other frame's mask, padded frames are zeroed before every
convolution (as the convolution's own zero padding would be) and are never attended to. The masks
go through the same strided windows as the features (one-hot ``conv1d`` kernels of the same size,
stride and padding), so their lengths are the features' by construction — no index arithmetic, no shape
guards, and the exported graph equals the unpadded model on the real frames.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from liteformer.models.transformer import Block, TransformerConfig, apply_low_rank, init_weights, sinusoids


@dataclass
class AudioConfig:
    sample_rate: int = 16_000
    n_fft: int = 400  # 25 ms windows
    hop: int = 160  # every 10 ms
    n_mels: int = 80
    f_min: float = 20.0
    f_max: float | None = None  # default: sample_rate / 2
    channels: int | None = None  # front-end convolution channels (default: hidden_size)
    # SpecAugment (training only): masks of up to *_width mel bands / feature frames
    freq_masks: int = 2
    freq_width: int = 15
    time_masks: int = 2
    time_width: int = 10

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "hop", "n_mels", "freq_masks", "freq_width", "time_masks",
                     "time_width"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0 or (v == 0 and name in (
                    "sample_rate", "n_fft", "hop", "n_mels")):
                raise ValueError(f"audio.{name} must be a positive integer, got {v!r}")
        if self.channels is not None and (not isinstance(self.channels, int) or self.channels <= 0):
            raise ValueError(f"audio.channels must be a positive integer, got {self.channels!r}")
        top = self.f_max if self.f_max is not None else self.sample_rate / 2
        if not 0 <= self.f_min < top <= self.sample_rate / 2:
            raise ValueError(f"audio needs 0 <= f_min < f_max <= sample_rate/2, got {self.f_min}, {top}")

    @classmethod
    def from_dict(cls, d: dict) -> AudioConfig:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown audio config keys {unknown}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    def frames(self, samples: int) -> int:
        """Feature frames of ``samples`` samples (0 when shorter than one window)."""
        return max(0, (samples - self.n_fft) // self.hop + 1)

    def encoder_frames(self, samples: int) -> int:
        """Encoder frames (CTC outputs) of ``samples`` samples: two stride-2 halvings, rounded up."""
        half = (self.frames(samples) + 1) // 2
        return (half + 1) // 2

    def min_samples(self) -> int:
        return self.n_fft

    @property
    def stride(self) -> int:
        """Samples per encoder frame (4 hops: 40 ms at 16 kHz)."""
        return 4 * self.hop

    def padded(self, samples: int) -> int:
        """The length an exported graph takes for a clip of ``samples``: n_fft + stride·k, k >= 1 (at least
        two encoder frames, and whole strides, so that every frame count divides exactly)."""
        k = max(1, -(-(samples - self.n_fft) // self.stride))
        return self.n_fft + self.stride * k

    def most_samples(self, max_positions: int) -> int:
        """The longest padded length whose encoder frames fit ``max_positions``."""
        return self.n_fft + self.stride * (max_positions - 1)


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int, f_min: float, f_max: float) -> torch.Tensor:
    """(n_freqs, n_mels) triangular filters on the HTK mel scale, evaluated at the FFT bins' frequencies
    (torchaudio's ``melscale_fbanks`` with ``norm=None``)."""
    def mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)
    bins = torch.linspace(0, sample_rate / 2, n_freqs, dtype=torch.float64)  # (K,)
    m = torch.linspace(mel(f_min), mel(f_max), n_mels + 2, dtype=torch.float64)
    hz = 700.0 * (10 ** (m / 2595.0) - 1.0)  # (M+2,) band edges
    lower = (bins[:, None] - hz[None, :-2]) / (hz[1:-1] - hz[:-2])[None, :]  # (K, M) rising slopes
    upper = (hz[None, 2:] - bins[:, None]) / (hz[2:] - hz[1:-1])[None, :]  # (K, M) falling slopes
    return torch.clamp(torch.minimum(lower, upper), min=0.0).float()


def int8_rows(w: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 codes of ``w`` with one scale per slice along ``dim`` (an all-zero slice gets
    scale 1): w ≈ codes · scale."""
    scale = w.abs().amax(dim=dim, keepdim=True) / 127.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return torch.round(w / scale).clamp(-127, 127).to(torch.int8), scale.float()


class LogMel(nn.Module):
    """(B, N) samples → (B, F, M) log mel power, F = 1 + (N − n_fft) // hop.

    The fixed matrices are *defined* by int8 codes with a float scale per row (DFT) or per band (mel):
    an exported graph stores 1 byte per coefficient (the float DFT basis alone would be 4·2K·n_fft
    bytes, ~640 KB at n_fft 400, more than a small student's weights) and computes exactly what the
    PyTorch model computes, in float. The coefficients' rounding adds a noise floor ~65 dB below a
    bin's peak, far under the spread of speech spectra; a model trains with it."""

    def __init__(self, a: AudioConfig) -> None:
        super().__init__()
        self.hop = a.hop
        k = a.n_fft // 2 + 1
        n = torch.arange(a.n_fft, dtype=torch.float64)
        f = torch.arange(k, dtype=torch.float64)
        window = 0.5 - 0.5 * torch.cos(2 * math.pi * n / a.n_fft)  # periodic Hann
        angle = 2 * math.pi * f[:, None] * n[None, :] / a.n_fft  # (K, n_fft)
        basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window  # (2K, n_fft)
        codes, scale = int8_rows(basis[:, None, :])
        self.register_buffer("basis_codes", codes, persistent=False)  # (2K, 1, n_fft) int8
        self.register_buffer("basis_scale", scale, persistent=False)  # (2K, 1, 1)
        fb = mel_filterbank(k, a.n_mels, a.sample_rate, a.f_min, a.f_max or a.sample_rate / 2).double()
        codes, scale = int8_rows(torch.cat([fb, fb]), dim=0)  # (2K, M): for re² and im²
        self.register_buffer("mel_codes", codes, persistent=False)  # (2K, M) int8
        self.register_buffer("mel_scale", scale, persistent=False)  # (1, M)

        self.folded = False

    def fold(self) -> None:
        """Keep the dequantized matrices as float constants (the same values): for runtimes whose fast
        kernels need constant weights (LiteRT and ExecuTorch run a convolution whose weight is computed
        in the graph ~10-70x slower); their exporters store them compactly again where they can."""
        self.register_buffer("basis", self.basis_codes.float() * self.basis_scale, persistent=False)
        self.register_buffer("mel", self.mel_codes.float() * self.mel_scale, persistent=False)
        for name in ("basis_codes", "basis_scale", "mel_codes", "mel_scale"):
            delattr(self, name)
        self.folded = True

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if self.folded:
            basis, mel = self.basis, self.mel
        else:
            basis = self.basis_codes.to(audio.dtype) * self.basis_scale  # (2K, 1, n_fft)
            mel = self.mel_codes.to(audio.dtype) * self.mel_scale  # (2K, M)
        spec = F.conv1d(audio[:, None, :], basis, stride=self.hop)  # (B, 2K, F): real and imaginary parts
        # |X_k|² = re_k² + im_k², so the mel energies are one product of the squares with [mel; mel]
        return torch.log((spec * spec).transpose(1, 2) @ mel + 1e-6)  # (B, F, 2K) @ (2K, M) -> (B, F, M)


def spec_augment(x: torch.Tensor, a: AudioConfig) -> torch.Tensor:
    """SpecAugment's frequency and time masks on normalized features (B, F, M): masked cells become 0
    (the features' mean). Random per example; training only."""
    B, Fr, M = x.shape
    keep = torch.ones(B, Fr, M, dtype=torch.bool, device=x.device)
    for axis, count, width, size in ((2, a.freq_masks, a.freq_width, M), (1, a.time_masks, a.time_width, Fr)):
        for _ in range(count):
            w = torch.randint(0, min(width, size) + 1, (B,), device=x.device)  # (B,)
            start = (torch.rand(B, device=x.device) * (size - w + 1).float()).long()  # (B,)
            pos = torch.arange(size, device=x.device)[None, :]  # (1, size)
            hit = (pos >= start[:, None]) & (pos < (start + w)[:, None])  # (B, size)
            keep &= ~(hit[:, None, :] if axis == 2 else hit[:, :, None])
    return x * keep


def exportable(model: nn.Module, fold_features: bool = False) -> nn.Module:
    """A copy of ``model`` for torch.export: its fixed buffers (DFT basis, mel matrix, sinusoid codes) made
    persistent, since the edge-program verifier refuses non-persistent buffers in a state dict;
    ``fold_features``: the feature matrices as float constants (``LogMel.fold``)."""
    out = copy.deepcopy(model).eval()
    if fold_features:
        out.features.fold()
    for m in out.modules():
        m._non_persistent_buffers_set.clear()
    return out


class TransformerForCTC(nn.Module):
    """Audio (B, N) + sample mask (B, N) → CTC logits (B, T, V) and the encoder frames' mask (B, T).

    ``config``: a TransformerConfig (the encoder: hidden size, layers, heads, FFN widths, positions,
    ``vocab_size`` = alphabet + blank, ``max_positions`` = the most encoder frames) whose ``audio``
    field holds the AudioConfig of the front end."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.config = cfg
        self.audio = a = AudioConfig.from_dict(cfg.audio)
        H = cfg.hidden_size
        C = a.channels or H
        self.features = LogMel(a)
        # per-band statistics of the training features (set by the trainer; identity until then)
        self.register_buffer("feature_mean", torch.zeros(a.n_mels))
        self.register_buffer("feature_std", torch.ones(a.n_mels))
        last = torch.zeros(1, 1, a.n_fft)
        last[..., -1] = 1.0
        self.register_buffer("last_sample", last, persistent=False)  # (1, 1, n_fft)
        self.register_buffer("centre", torch.tensor([[[0.0, 1.0, 0.0]]]), persistent=False)  # (1, 1, 3)
        self.conv1 = nn.Conv1d(a.n_mels, C, 3, stride=2, padding=1)
        self.conv2 = nn.Conv1d(C, C, 3, stride=2, padding=1)
        self.project = nn.Linear(C, H)
        if cfg.positions == "learned":
            self.position = nn.Embedding(cfg.max_positions, H)
        else:
            self.position = None
            # fixed sinusoids defined by int8 codes (a row scale each), as the features' matrices: 1 byte a value
            codes, scale = int8_rows(sinusoids(cfg.max_positions, H).double())
            self.register_buffer("sinusoid_codes", codes, persistent=False)  # (P, H) int8
            self.register_buffer("sinusoid_scale", scale, persistent=False)  # (P, 1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(Block(cfg, n, f, light=cfg.light_spec(i))
                                    for i, (n, f) in enumerate(zip(cfg.num_heads, cfg.ffn_dim, strict=True)))
        self.final_norm = nn.LayerNorm(H, eps=cfg.norm_eps) if cfg.norm_first else None
        self.ctc = nn.Linear(H, cfg.vocab_size)
        apply_low_rank(self, cfg.low_rank)
        self.apply(init_weights)

    def encode(self, audio: torch.Tensor, audio_mask: torch.Tensor | None = None,
               output_hidden_states: bool = False) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(last hidden (B, T, H), frame mask (B, T) float, every layer's hidden states if asked)."""
        a = self.audio
        if audio_mask is None:
            audio_mask = torch.ones_like(audio)
        x = (self.features(audio) - self.feature_mean) / self.feature_std  # (B, F, M)
        # a frame is real when its last sample is: the mask through a one-hot window of the same stride
        m = F.conv1d(audio_mask.to(x.dtype)[:, None, :], self.last_sample, stride=a.hop)  # (B, 1, F)
        if self.training and (a.freq_masks or a.time_masks):
            x = spec_augment(x, a)
        x = x.transpose(1, 2) * m  # (B, M, F)
        x = F.gelu(self.conv1(x))  # (B, C, F/2)
        m = F.conv1d(m, self.centre, stride=2, padding=1)  # every other frame's mask, shaped as conv1's output
        x = F.gelu(self.conv2(x * m))  # (B, C, T)
        m = F.conv1d(m, self.centre, stride=2, padding=1)[:, 0]  # (B, T)
        x = self.project(x.transpose(1, 2).contiguous())  # (B, T, H)
        T = x.shape[1]
        if self.position is not None:
            pos = self.position.weight[:T]  # (T, H)
        else:
            pos = self.sinusoid_codes[:T].to(x.dtype) * self.sinusoid_scale[:T]  # (T, H)
        x = self.dropout(x + pos[None])
        mask = m.bool()[:, None, None, :]  # (B, 1, 1, T)
        hidden = [x]
        for layer in self.layers:
            x, _ = layer(x, mask, keep=m[:, :, None])  # keep: padded frames zeroed before convolutions
            hidden.append(x)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x, m, hidden if output_hidden_states else []

    def forward(self, audio: torch.Tensor, audio_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x, m, _ = self.encode(audio, audio_mask)
        return self.ctc(x), m  # (B, T, V), (B, T)
