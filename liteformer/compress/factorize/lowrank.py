"""Low-rank factorization: ``factorize_(model, LowRankConfig(ratio=0.5))``.

A Linear weight W (out x in) is replaced by its truncated SVD W ≈ (U·√S)(√S·Vᵀ) — two Linears
in -> r -> out, r(in + out) weights instead of in·out. The rank of each matrix is chosen by an
energy threshold (the smallest r whose singular values keep that share of ΣS²), by a target share
of the factorized Linears' parameters (one energy threshold for all, found by bisection, so that
matrices with a fast-decaying spectrum get small ranks), or given outright. The word embedding can
be factorized the same way (V x H ≈ (V x r)(r x H), ALBERT-style). The chosen ranks go into
``config.low_rank``, so the model saves, loads and exports like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from liteformer.compress.api import CompressConfig, register
from liteformer.errors import LiteformerError
from liteformer.models.transformer import LowRankEmbedding, LowRankLinear
from liteformer.options import OPEN_UNIT, POSITIVE, OptionError, check_fields, opt

TARGETS = ("attn", "ffn")  # which Linears of each encoder layer may be factorized


@dataclass(frozen=True)
class LowRankConfig(CompressConfig):
    """Exactly one of ``energy`` (0 < e < 1), ``ratio`` (0 < p < 1: kept share of the targets'
    parameters) or ``rank`` (> 0, the same for every target)."""

    verb = "factorize"
    method = "low-rank"
    energy: float | None = opt(None, "keep this share of each matrix's sum of squared singular values, e.g. 0.9",
                               check=OPEN_UNIT)
    ratio: float | None = opt(None, "kept share of the factorized Linears' parameters", check=OPEN_UNIT)
    rank: int | None = opt(None, "one rank for every factorized Linear", check=POSITIVE)
    targets: tuple[str, ...] = opt(TARGETS, "which Linears of each layer: attn, ffn or both", choices=TARGETS)
    embedding_rank: int | None = opt(None, "factorize the word embedding to this rank too", check=POSITIVE)

    def validate(self, model_config=None) -> None:
        super().validate()
        check_fields(self)
        given = [x is not None for x in (self.energy, self.ratio, self.rank)]
        if sum(given) != 1 and not (sum(given) == 0 and self.embedding_rank):
            raise OptionError("give exactly one of energy, ratio or rank (or only embedding_rank, to factorize "
                              "the word embedding alone)", None, ("energy", "ratio", "rank", "embedding_rank"))


@dataclass
class FactorizeReport:
    ranks: dict[str, int]  # module -> chosen rank
    full: dict[str, int]  # module -> full rank min(in, out)
    params_before: int  # of the targeted matrices
    params_after: int
    energy: dict[str, float] = field(default_factory=dict)  # share of ΣS² kept per module

    def to_dict(self) -> dict:
        return {"ranks": self.ranks, "full_ranks": self.full, "params_before": self.params_before,
                "params_after": self.params_after, "energy_kept": {k: round(v, 4) for k, v in self.energy.items()}}


def _targets(model: nn.Module, targets: tuple[str, ...]) -> dict[str, nn.Linear]:
    return {name: m for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and ".layers." in name and name.split(".")[-2] in targets}


def _rank_for_energy(s: torch.Tensor, energy: float) -> int:
    cum = (s**2).cumsum(0) / (s**2).sum()
    return int((cum < energy).sum().item()) + 1


def _worth(r: int, n_in: int, n_out: int) -> bool:
    return r * (n_in + n_out) < n_in * n_out  # a factorization must hold fewer weights


def choose_ranks(spectra: dict[str, tuple[torch.Tensor, int, int]], cfg: LowRankConfig) -> dict[str, int]:
    """module -> rank (a module whose rank would not save weights is left out)."""
    if cfg.rank is not None:
        for name, (_, n_in, n_out) in spectra.items():
            if cfg.rank >= min(n_in, n_out):
                raise LiteformerError(f"rank {cfg.rank} is not below the full rank {min(n_in, n_out)} of {name}")
        return {n: cfg.rank for n, (s, i, o) in spectra.items() if _worth(cfg.rank, i, o)}

    def at(energy: float) -> dict[str, int]:
        ranks = {n: _rank_for_energy(s, energy) for n, (s, i, o) in spectra.items()}
        return {n: r for n, r in ranks.items() if _worth(r, *spectra[n][1:])}

    if cfg.energy is not None:
        return at(cfg.energy)
    total = sum(i * o for _, i, o in spectra.values())

    def params(ranks: dict[str, int]) -> int:
        return sum(ranks[n] * (i + o) if n in ranks else i * o for n, (_, i, o) in spectra.items())

    lo, hi = 0.0, 1.0  # bisection on the energy threshold: params grow with it
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if params(at(mid)) <= cfg.ratio * total else (lo, mid)
    ranks = at(lo)
    if params(ranks) > cfg.ratio * total:
        raise LiteformerError(f"no factorization keeps only {cfg.ratio:.0%} of the parameters "
                              f"(the smallest reaches {params(at(1e-9)) / total:.0%})")
    return ranks


@register(LowRankConfig)
@torch.no_grad()
def _low_rank(model: nn.Module, cfg: LowRankConfig) -> FactorizeReport:
    """Replace the chosen Linears (and the word embedding) by truncated-SVD factors, in place."""
    cfg.validate()
    lin = _targets(model, cfg.targets) if (cfg.energy or cfg.ratio or cfg.rank) else {}
    svd = {n: torch.linalg.svd(m.weight.double(), full_matrices=False) for n, m in lin.items()}
    spectra = {n: (svd[n][1], m.in_features, m.out_features) for n, m in lin.items()}
    ranks = choose_ranks(spectra, cfg) if lin else {}
    report = FactorizeReport({}, {}, 0, 0)
    for name, m in lin.items():
        full, size = min(m.in_features, m.out_features), m.in_features * m.out_features
        report.full[name] = full
        report.params_before += size
        if name not in ranks:
            report.params_after += size
            continue
        r = ranks[name]
        U, S, Vh = svd[name]
        root = S[:r].sqrt()
        new = LowRankLinear(m.in_features, m.out_features, r, bias=m.bias is not None)
        new.a.weight.copy_((root[:, None] * Vh[:r]).float())  # (r, in)
        new.b.weight.copy_((U[:, :r] * root[None]).float())  # (out, r)
        if m.bias is not None:
            new.b.bias.copy_(m.bias)
        _swap(model, name, new)
        report.ranks[name] = r
        report.params_after += r * (m.in_features + m.out_features)
        report.energy[name] = float((S[:r] ** 2).sum() / (S**2).sum())
    if cfg.embedding_rank:
        _factorize_embedding(model, cfg.embedding_rank, report)
    model.config.low_rank = {**model.config.low_rank, **report.ranks}
    return report


def _factorize_embedding(model: nn.Module, r: int, report: FactorizeReport) -> None:
    name = "encoder.embeddings.word"
    emb = model.get_submodule(name)
    if not isinstance(emb, nn.Embedding):
        raise LiteformerError(f"{name} is already factorized")
    V, H = emb.weight.shape
    if r >= min(V, H):
        raise LiteformerError(f"embedding rank {r} is not below the full rank {min(V, H)}")
    U, S, Vh = torch.linalg.svd(emb.weight.double(), full_matrices=False)
    new = LowRankEmbedding(V, H, r, emb.padding_idx)
    new.table.weight.copy_((U[:, :r] * S[:r]).float())  # (V, r)
    new.project.weight.copy_(Vh[:r].T.float())  # (H, r)
    _swap(model, name, new)
    report.ranks[name], report.full[name] = r, min(V, H)
    report.params_before += V * H
    report.params_after += r * (V + H)
    report.energy[name] = float((S[:r] ** 2).sum() / (S**2).sum())


def _swap(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent), child, new)
