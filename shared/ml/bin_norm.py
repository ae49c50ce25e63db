"""Bilinear normalisation, BiN (Tran, Kanniainen, Gabbouj & Iosifidis 2021, "Data normalization
for bilinear structures in high-frequency financial time-series"): the input layer of TLOB, MLPLOB
and BiN-CTABL (shared/ml/zoo.py).

A window X (D features × T steps) is z-scored twice, each with learnt scale and shift: every
feature along time (scale and shift per feature), and every step across the features (per step).
The two are mixed by two learnt non-negative weights: 2·D + 2·T + 2 parameters.

Differences from the reference code (github.com/LeonardoBerti00/TLOB, models/bin.py), none of
which changes a value it computes on a window whose rows vary: a standard deviation below 1e-4
becomes 1 in both directions (the reference guards only the temporal one, so a constant row, such
as the loader's zero test window, gave NaN); the mixing weights are clamped at 0 in forward rather
than replaced by new parameters when negative (which an optimiser would not follow).
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Below this a deviation is a constant slice: divide by 1 (the reference's threshold).
MIN_STD = 1e-4


def _xavier_column(n: int) -> torch.Tensor:
    # The reference's xavier_normal_ on an (n, 1) tensor: std sqrt(2 / (n + 1)).
    return torch.randn(n) * math.sqrt(2.0 / (n + 1))


def _zscore(x: torch.Tensor, dim: int, min_std: float) -> torch.Tensor:
    mean = x.mean(dim=dim, keepdim=True)
    std = x.std(dim=dim, keepdim=True)  # unbiased, as the reference's torch.std
    return (x - mean) / torch.where(std < min_std, torch.ones_like(std), std)


class BiN(nn.Module):
    def __init__(self, features: int, steps: int) -> None:
        super().__init__()
        self.time_scale = nn.Parameter(_xavier_column(features))  # (D,): per feature, over time
        self.time_shift = nn.Parameter(torch.zeros(features))
        self.feature_scale = nn.Parameter(_xavier_column(steps))  # (T,): per step, over features
        self.feature_shift = nn.Parameter(torch.zeros(steps))
        self.mix = nn.Parameter(torch.full((2,), 0.5))  # (feature-wise, time-wise) weights
        self.min_std = MIN_STD  # an attribute: TorchScript reads no module-level floats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, D, T) → (B, D, T)."""
        over_time = (
            _zscore(x, 2, self.min_std) * self.time_scale[:, None] + self.time_shift[:, None]
        )
        over_features = _zscore(x, 1, self.min_std) * self.feature_scale + self.feature_shift
        mix = self.mix.clamp(min=0.0)
        return mix[0] * over_features + mix[1] * over_time
