"""MLPLOB (Berti & Kasneci 2025, "TLOB: A Novel Transformer Model with Dual Attention for Stock
Price Trend Prediction with Limit Order Book Data"): an MLP-Mixer for the order book.

BiN normalises the window; a linear layer embeds each snapshot's 40 features into `hidden`; then
each layer mixes across the hidden features of every step, then across the steps of every
feature. The last layer shrinks both by 4, and an MLP that divides its width by 4 until it is
at most 128 gives the logits. Layer for layer as the reference code
(github.com/LeonardoBerti00/TLOB, models/mlplob.py), without its LOBSTER order-type embedding
(we have no order types): 234,618 parameters at our window of 100 (tests/shared/test_zoo.py).

Input: (B, 1, T, 40) scaled snapshots; output: (B, 3) logits (DOWN, NEUTRAL, UP).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shared.ml.bin_norm import BiN

# The output MLP narrows by 4 per layer until it is this wide (the reference's constant).
HEAD_WIDTH = 128


@dataclass(frozen=True)
class MLPLOBConfig:
    window: int = 100  # T: snapshots per input (the paper: 384)
    features: int = 40  # 10 levels × (ask px, ask sz, bid px, bid sz)
    hidden: int = 40  # the reference's hidden_dim for 40 book features
    layers: int = 3  # the reference's num_layers
    classes: int = 3
    dropout_head: float = 0.0  # before the output MLP; none in the paper

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MLPLOBConfig:
        return cls(**data)


class MixerMLP(nn.Module):
    """Over the last dimension: linear up, GELU, linear down, + input (same width), LayerNorm,
    GELU. Shared with TLOB, whose reference uses this block after each attention."""

    def __init__(self, dim: int, hidden: int, out: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, out)
        self.norm = nn.LayerNorm(out)
        self.residual = dim == out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc2(F.gelu(self.fc1(x)))  # (..., out)
        if self.residual:
            y = y + x
        return F.gelu(self.norm(y))


def reducing_head(width: int, classes: int) -> nn.Sequential:
    """Linear layers dividing the width by 4 (GELU between) while above HEAD_WIDTH, then logits."""
    layers: list[nn.Module] = []
    while width > HEAD_WIDTH:
        layers += [nn.Linear(width, width // 4), nn.GELU()]
        width //= 4
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


class _MixerLayer(nn.Module):
    def __init__(self, hidden: int, steps: int, last: bool) -> None:
        super().__init__()
        # The last layer widens less (×2, not ×4) and shrinks its output by 4.
        grow, shrink = (2, 4) if last else (4, 1)
        self.features = MixerMLP(hidden, grow * hidden, hidden // shrink)
        self.time = MixerMLP(steps, grow * steps, steps // shrink)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H) → (B, T', H')."""
        x = self.features(x)  # (B, T, H'): mixes each step's features
        return self.time(x.transpose(1, 2)).transpose(1, 2)  # (B, T', H'): each feature's steps


class MLPLOB(nn.Module):
    def __init__(self, cfg: MLPLOBConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or MLPLOBConfig()
        self.norm = BiN(cfg.features, cfg.window)
        self.embed = nn.Linear(cfg.features, cfg.hidden)
        self.layers = nn.ModuleList(
            _MixerLayer(cfg.hidden, cfg.window, last=i == cfg.layers - 1) for i in range(cfg.layers)
        )
        self.drop_head = nn.Dropout(cfg.dropout_head) if cfg.dropout_head else nn.Identity()
        self.head = reducing_head((cfg.hidden // 4) * (cfg.window // 4), cfg.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, T, 40) → logits (B, classes)."""
        x = x[:, 0]  # (B, T, 40)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)  # (B, T, 40)
        x = F.gelu(self.embed(x))  # (B, T, H)
        for layer in self.layers:
            x = layer(x)  # (B, T, H), the last (B, T/4, H/4)
        x = x.flatten(1)  # (B, T/4 · H/4), step-major as the reference
        return self.head(self.drop_head(x))  # (B, classes)
