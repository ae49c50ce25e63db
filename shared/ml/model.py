"""DeepLOB (Zhang, Zohren & Roberts 2019) exactly as published: 143,907 parameters.

Input: a (B, 1, 100, 40) window of scaled snapshots (time × per-level ask px, ask sz, bid px,
bid sz). Output: (B, 3) logits for DOWN, NEUTRAL, UP. No softmax here: the loss takes logits
(public notebooks softmax twice by feeding a softmax output to CrossEntropyLoss).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class DeepLOBConfig:
    window: int = 100  # T: snapshots per input
    features: int = 40  # 10 levels × (ask px, ask sz, bid px, bid sz)
    channels: int = 32  # conv blocks
    inception: int = 64  # channels per inception branch
    lstm_hidden: int = 64
    classes: int = 3
    leaky_slope: float = 0.01
    # Regularisation, off in the paper: dropout on the LSTM's inputs and on its last output.
    # Dropout has no weights, so the parameter count stays 143,907 whatever these are.
    dropout_lstm: float = 0.0
    dropout_head: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeepLOBConfig:
        return cls(**data)


def _conv_block(
    cfg: DeepLOBConfig, in_ch: int, first: tuple[int, int], stride: tuple[int, int], act: str
) -> nn.Sequential:
    """One published conv block: a spatial conv, then two 4×1 temporal convs; act then BN each."""

    def activation() -> nn.Module:
        return nn.Tanh() if act == "tanh" else nn.LeakyReLU(cfg.leaky_slope)

    c = cfg.channels
    return nn.Sequential(
        nn.Conv2d(in_ch, c, kernel_size=first, stride=stride),
        activation(),
        nn.BatchNorm2d(c),
        nn.Conv2d(c, c, kernel_size=(4, 1)),
        activation(),
        nn.BatchNorm2d(c),
        nn.Conv2d(c, c, kernel_size=(4, 1)),
        activation(),
        nn.BatchNorm2d(c),
    )


def _branch(cfg: DeepLOBConfig, temporal: int | None, pool: bool = False) -> nn.Sequential:
    """An inception branch: [3×1 max-pool,] 1×1 conv, then a `temporal`×1 'same' conv if given.

    Layer order matches the published code, so its state_dict keys (e.g. inp3.1.weight) load.
    """
    c, n = cfg.channels, cfg.inception
    layers: list[nn.Module] = [nn.MaxPool2d((3, 1), stride=(1, 1), padding=(1, 0))] if pool else []
    layers += [
        nn.Conv2d(c, n, kernel_size=(1, 1)),
        nn.LeakyReLU(cfg.leaky_slope),
        nn.BatchNorm2d(n),
    ]
    if temporal is not None:
        layers += [
            nn.Conv2d(n, n, kernel_size=(temporal, 1), padding=(temporal // 2, 0)),
            nn.LeakyReLU(cfg.leaky_slope),
            nn.BatchNorm2d(n),
        ]
    return nn.Sequential(*layers)


class DeepLOB(nn.Module):
    def __init__(self, cfg: DeepLOBConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or DeepLOBConfig()
        c = cfg.channels
        # 40 features → 20 (pairs px/sz) → 10 (pairs ask/bid) → 1 (all levels).
        self.conv1 = _conv_block(cfg, 1, (1, 2), (1, 2), "leaky")
        self.conv2 = _conv_block(cfg, c, (1, 2), (1, 2), "tanh")
        self.conv3 = _conv_block(cfg, c, (1, cfg.features // 4), (1, 1), "leaky")
        self.inp1 = _branch(cfg, 3)
        self.inp2 = _branch(cfg, 5)
        self.inp3 = _branch(cfg, None, pool=True)
        self.lstm = nn.LSTM(
            input_size=3 * cfg.inception, hidden_size=cfg.lstm_hidden, batch_first=True
        )
        self.fc1 = nn.Linear(cfg.lstm_hidden, cfg.classes)
        self.drop_lstm = nn.Dropout(cfg.dropout_lstm) if cfg.dropout_lstm else nn.Identity()
        self.drop_head = nn.Dropout(cfg.dropout_head) if cfg.dropout_head else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, T, 40) → logits (B, classes)."""
        return self.head(self.encode(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The three conv blocks: (B, 1, T, 40) → (B, 32, T-18, 1).

        No padding in time, so output row j depends on input rows j..j+18 only: windows that
        overlap can share this work (shared/ml/segments.py, shared/ml/fastpath.py).
        """
        x = self.conv1(x)  # (B, 32, T-6, 20)
        x = self.conv2(x)  # (B, 32, T-12, 10)
        return self.conv3(x)  # (B, 32, T-18, 1)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Inception, LSTM and output layer: (B, 32, T-18, 1) → logits (B, classes)."""
        return self.tail(torch.cat((self.inp1(x), self.inp2(x), self.inp3(x)), dim=1))

    def tail(self, x: torch.Tensor) -> torch.Tensor:
        """LSTM and output layer: inception output (B, 192, T-18, 1) → logits (B, classes)."""
        return self.recur(x.squeeze(3).transpose(1, 2))

    def recur(self, x: torch.Tensor) -> torch.Tensor:
        """LSTM and output layer: inception output as a sequence (B, T-18, 192) → logits."""
        x, _ = self.lstm(self.drop_lstm(x))  # (B, T-18, 64); zero initial state, as published
        return self.fc1(self.drop_head(x[:, -1, :]))  # (B, classes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
