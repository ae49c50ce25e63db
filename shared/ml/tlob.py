"""TLOB (Berti & Kasneci 2025, "TLOB: A Novel Transformer Model with Dual Attention for Stock
Price Trend Prediction with Limit Order Book Data"): a transformer with dual attention.

BiN normalises the window; a linear layer embeds each snapshot's 40 features into `hidden`, plus
a sinusoidal position. Each layer is two transformer blocks: one attends across time (the steps
are the tokens), the next across features (the hidden features are the tokens, each a series of
T steps). The last pair shrinks both by 4, and the same narrowing MLP as MLPLOB gives the logits.
Layer for layer as the reference code (github.com/LeonardoBerti00/TLOB, models/tlob.py), which
projects q, k, v with its own linear layers before nn.MultiheadAttention's own projections, and
adds the block's input again after its MLP. Without the reference's LOBSTER order-type embedding
(we have no order types): 734,478 parameters at our window of 100 (tests/shared/test_zoo.py).

Input: (B, 1, T, 40) scaled snapshots; output: (B, 3) logits (DOWN, NEUTRAL, UP).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from shared.ml.bin_norm import BiN
from shared.ml.mlplob import MixerMLP, reducing_head


@dataclass(frozen=True)
class TLOBConfig:
    window: int = 100  # T: snapshots per input (the paper: 128)
    features: int = 40  # 10 levels × (ask px, ask sz, bid px, bid sz)
    hidden: int = 40  # the reference's hidden_dim for 40 book features
    layers: int = 4  # pairs of (time, feature) attention blocks
    heads: int = 1
    sin_embedding: bool = True  # else a learnt position embedding
    classes: int = 3
    dropout_head: float = 0.0  # before the output MLP; none in the paper

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TLOBConfig:
        return cls(**data)


def sinusoidal_embedding(steps: int, dim: int, base: float = 10_000.0) -> torch.Tensor:
    """(steps, dim): sin at even, cos at odd columns (Vaswani et al. 2017)."""
    if dim % 2:
        raise ValueError(f"a sinusoidal embedding needs an even width, got {dim}")
    position = torch.arange(steps, dtype=torch.float32)[:, None]  # (steps, 1)
    freq = base ** (2 * torch.arange(dim // 2, dtype=torch.float32) / dim)  # (dim/2,)
    out = torch.zeros(steps, dim)
    out[:, 0::2] = torch.sin(position / freq)
    out[:, 1::2] = torch.cos(position / freq)
    return out


class _Block(nn.Module):
    """Attention over the tokens of (B, N, dim), add and LayerNorm, then MixerMLP to `out`."""

    def __init__(self, dim: int, heads: int, out: int) -> None:
        super().__init__()
        width = dim * heads
        self.q = nn.Linear(dim, width)
        self.k = nn.Linear(dim, width)
        self.v = nn.Linear(dim, width)
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.w0 = nn.Linear(width, dim)
        self.norm = nn.LayerNorm(dim)
        self.mlp = MixerMLP(dim, 4 * dim, out)
        self.residual = dim == out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, dim) → (B, N, out)."""
        y, _ = self.attention(self.q(x), self.k(x), self.v(x), need_weights=False)  # (B, N, w)
        y = self.mlp(self.norm(self.w0(y) + x))  # (B, N, out)
        return y + x if self.residual else y


class _DualAttention(nn.Module):
    def __init__(self, hidden: int, steps: int, heads: int, last: bool) -> None:
        super().__init__()
        shrink = 4 if last else 1
        self.over_time = _Block(hidden, heads, hidden // shrink)
        self.over_features = _Block(steps, heads, steps // shrink)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H) → (B, T', H')."""
        x = self.over_time(x)  # (B, T, H'): the steps attend to each other
        return self.over_features(x.transpose(1, 2)).transpose(1, 2)  # (B, T', H'): features


class TLOB(nn.Module):
    def __init__(self, cfg: TLOBConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or TLOBConfig()
        self.norm = BiN(cfg.features, cfg.window)
        self.embed = nn.Linear(cfg.features, cfg.hidden)
        if cfg.sin_embedding:
            # Recomputed from the config, so it stays out of the state_dict.
            position = sinusoidal_embedding(cfg.window, cfg.hidden)
            self.register_buffer("position", position, persistent=False)
        else:
            self.position = nn.Parameter(torch.randn(cfg.window, cfg.hidden))
        self.layers = nn.ModuleList(
            _DualAttention(cfg.hidden, cfg.window, cfg.heads, last=i == cfg.layers - 1)
            for i in range(cfg.layers)
        )
        self.drop_head = nn.Dropout(cfg.dropout_head) if cfg.dropout_head else nn.Identity()
        self.head = reducing_head((cfg.hidden // 4) * (cfg.window // 4), cfg.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, T, 40) → logits (B, classes)."""
        x = x[:, 0]  # (B, T, 40)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)  # (B, T, 40)
        x = self.embed(x) + self.position  # (B, T, H)
        for layer in self.layers:
            x = layer(x)  # (B, T, H), the last (B, T/4, H/4)
        x = x.transpose(1, 2).flatten(1)  # (B, H/4 · T/4), feature-major as the reference
        return self.head(self.drop_head(x))  # (B, classes)
