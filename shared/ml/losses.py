"""Focal loss (Lin et al. 2017) from logits, with per-class alpha weights.

FL = −α_y · (1 − p_y)^γ · log p_y, with log p from log_softmax (never softmax then log).
The mean is weighted like torch's cross_entropy(weight=α): Σ FL / Σ α_y, so at γ = 0 this is
exactly cross-entropy, with or without α, and the loss scale does not depend on α's scale.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def inverse_frequency(labels: np.ndarray, classes: int = 3) -> np.ndarray:
    """α_c = n / (classes · n_c) over the non-IGNORE labels; a class never seen gets weight 0."""
    labels = labels[labels >= 0].astype(np.int64)
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    alpha = np.zeros(classes, dtype=np.float64)
    seen = counts > 0
    alpha[seen] = labels.shape[0] / (classes * counts[seen])
    return alpha


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float = 2.0,
    alpha: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """logits (B, C), target (B,) int64 → scalar (mean/sum) or (B,) (none)."""
    logp = F.log_softmax(logits.float(), dim=1)  # (B, C); fp32 even under autocast
    logp_y = logp.gather(1, target.unsqueeze(1)).squeeze(1)  # (B,)
    loss = -logp_y
    if gamma != 0:
        # 1 − p computed as −expm1(log p): accurate when p → 1; clamped so that the gradient
        # of x**γ stays finite at x = 0 for γ < 1.
        loss = loss * (-torch.expm1(logp_y)).clamp_min(1e-12).pow(gamma)
    weight = alpha.to(loss.dtype)[target] if alpha is not None else None
    if weight is not None:
        loss = loss * weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / (weight.sum() if weight is not None else loss.new_tensor(loss.shape[0]))


class FocalLoss(nn.Module):
    def __init__(self, gamma: float = 2.0, alpha: torch.Tensor | np.ndarray | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        a = None if alpha is None else torch.as_tensor(np.asarray(alpha), dtype=torch.float32)
        self.register_buffer("alpha", a)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits, target, gamma=self.gamma, alpha=self.alpha)
