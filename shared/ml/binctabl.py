"""BiN-CTABL (Tran, Kanniainen, Gabbouj & Iosifidis 2021, "Data normalization for bilinear
structures in high-frequency financial time-series"): BiN in front of C(TABL), the temporal
attention augmented bilinear network (Tran, Iosifidis, Kanniainen & Gabbouj 2019).

The window is a matrix X (40 features × T steps). A bilinear layer maps it to
ReLU(W1 · X · W2 + B), mixing features on the left and steps on the right; C(TABL) is two such
layers (to 60×10, then 120×5) and a TABL layer (to 3×1) whose attention over the steps weighs each
step before the last temporal mapping. Shapes and initialisation as the reference code
(github.com/LeonardoBerti00/TLOB, models/binctabl.py, as its utils/utils_model.py builds it:
BiN_CTABL(60, 40, T, 10, 120, 5, 3, 1)), with our T = 100: 12,526 parameters
(tests/shared/test_zoo.py).

Differences from the reference, none of which changes a forward value: the max-norm bound on
each weight matrix (Frobenius norm at most 10) is applied in forward as a rescaled copy, where
the reference rescales the stored weights in place before each forward; the attention weight λ
is clamped to [0, 1] in forward rather than replaced by a new parameter; the output is the
logits (the reference returns a softmax, which its cross-entropy then softmaxes again).

Input: (B, 1, T, 40) scaled snapshots; output: (B, 3) logits (DOWN, NEUTRAL, UP).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from shared.ml.bin_norm import BiN


@dataclass(frozen=True)
class BiNCTABLConfig:
    window: int = 100  # T: snapshots per input (the papers: 10)
    features: int = 40  # 10 levels × (ask px, ask sz, bid px, bid sz)
    bl1_features: int = 60  # first bilinear layer's output: 60 × 10
    bl1_steps: int = 10
    bl2_features: int = 120  # second: 120 × 5
    bl2_steps: int = 5
    classes: int = 3  # the TABL layer's output: classes × 1
    dropout: float = 0.1  # after each bilinear layer, as the reference
    max_norm: float = 10.0  # bound on each weight matrix's Frobenius norm, as the reference

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BiNCTABLConfig:
        return cls(**data)


def _kaiming(rows: int, cols: int) -> nn.Parameter:
    w = torch.empty(rows, cols)
    nn.init.kaiming_uniform_(w, nonlinearity="relu")  # the reference's initialisation
    return nn.Parameter(w)


def _bounded(w: torch.Tensor, bound: float) -> torch.Tensor:
    """w scaled down to Frobenius norm `bound` if above it (the reference's max_norm_)."""
    return w * torch.clamp(bound / (w.norm() + 1e-8), max=1.0)


class Bilinear(nn.Module):
    """BL: (B, D, T) → ReLU(W1 · X · W2 + B): (B, D', T')."""

    def __init__(self, features: int, steps: int, out_features: int, out_steps: int, bound: float):
        super().__init__()
        self.w1 = _kaiming(out_features, features)  # (D', D)
        self.w2 = _kaiming(steps, out_steps)  # (T, T')
        self.bias = nn.Parameter(torch.zeros(out_features, out_steps))
        self.bound = bound

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w1, w2 = _bounded(self.w1, self.bound), _bounded(self.w2, self.bound)
        return torch.relu(w1 @ x @ w2 + self.bias)  # (B, D', T')


class TABL(nn.Module):
    """Temporal attention bilinear layer: (B, D, T) → (B, D', T'), no activation (logits)."""

    def __init__(self, features: int, steps: int, out_features: int, out_steps: int, bound: float):
        super().__init__()
        self.w1 = _kaiming(out_features, features)  # (D', D)
        self.w = nn.Parameter(torch.full((steps, steps), 1.0 / steps))  # (T, T): step to step
        self.w2 = _kaiming(steps, out_steps)  # (T, T')
        self.bias = nn.Parameter(torch.zeros(out_features, out_steps))
        self.lam = nn.Parameter(torch.full((1,), 0.5))  # plain vs attended mix
        self.register_buffer("eye", torch.eye(steps), persistent=False)
        self.bound = bound
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _bounded(self.w1, self.bound) @ x  # (B, D', T): mixes features, steps kept
        w = _bounded(self.w, self.bound)
        w = w - w * self.eye + self.eye / self.steps  # diagonal fixed at 1/T (the paper's)
        attention = torch.softmax(x @ w, dim=-1)  # (B, D', T): each step's weight
        lam = self.lam.clamp(0.0, 1.0)
        x = lam * x + (1.0 - lam) * x * attention  # (B, D', T)
        return x @ _bounded(self.w2, self.bound) + self.bias  # (B, D', T')


class BiNCTABL(nn.Module):
    def __init__(self, cfg: BiNCTABLConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or BiNCTABLConfig()
        self.norm = BiN(cfg.features, cfg.window)
        self.bl1 = Bilinear(cfg.features, cfg.window, cfg.bl1_features, cfg.bl1_steps, cfg.max_norm)
        self.bl2 = Bilinear(
            cfg.bl1_features, cfg.bl1_steps, cfg.bl2_features, cfg.bl2_steps, cfg.max_norm
        )
        self.tabl = TABL(cfg.bl2_features, cfg.bl2_steps, cfg.classes, 1, cfg.max_norm)
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, T, 40) → logits (B, classes)."""
        x = self.norm(x[:, 0].transpose(1, 2))  # (B, 40, T)
        x = self.drop(self.bl1(x))  # (B, 60, 10)
        x = self.drop(self.bl2(x))  # (B, 120, 5)
        return self.tabl(x)[:, :, 0]  # (B, classes)
