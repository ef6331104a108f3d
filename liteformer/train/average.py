"""Checkpoint averaging (Vaswani et al. 2017; fairseq's average_checkpoints): the weights at the last
N evaluations of a run, averaged into one model, which often scores above any single one of them.

The loop keeps each evaluation's weights in ``OUT.ckpt/average/`` (the last N only, so a resumed run
averages the same checkpoints as an uninterrupted one) and, at the end, evaluates their average and
keeps it when it scores at least as well as the best single checkpoint.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from liteformer.fileio import atomic_path


class AverageKeeper:
    """The weights of the last ``n`` evaluations, in ``folder``."""

    def __init__(self, folder: Path, n: int) -> None:
        self.folder, self.n = Path(folder), n

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("step-*.pt"))

    def add(self, model: nn.Module, step: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.folder / f"step-{step:09d}.pt") as tmp:
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
        for old in self.files()[: -self.n]:
            old.unlink()

    def average(self, model: nn.Module) -> nn.Module | None:
        """A copy of ``model`` holding the mean of the kept weights (None with fewer than two)."""
        files = self.files()
        if len(files) < 2:
            return None
        total: dict[str, torch.Tensor] = {}
        dtypes = {k: v.dtype for k, v in model.state_dict().items()}
        for f in files:
            state = torch.load(f, map_location="cpu", weights_only=True)
            for k, v in state.items():
                if v.is_floating_point():
                    total[k] = total[k] + v.double() if k in total else v.double()
                else:  # integer buffers: the last checkpoint's
                    total[k] = v
        avg = copy.deepcopy(model)
        device = next(model.parameters()).device
        avg.load_state_dict({k: (v / len(files)).to(dtypes[k]) if v.is_floating_point() else v
                             for k, v in total.items()})
        return avg.to(device)
