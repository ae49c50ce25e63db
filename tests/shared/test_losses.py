"""Focal loss from logits: cross-entropy at gamma 0 (with and without alpha), the focal term."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from shared.ml.losses import FocalLoss, focal_loss, inverse_frequency


def sample(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g) * 3, torch.randint(0, 3, (n,), generator=g)


def test_gamma_zero_is_cross_entropy():
    logits, y = sample()
    torch.testing.assert_close(focal_loss(logits, y, gamma=0.0), F.cross_entropy(logits, y))


def test_gamma_zero_with_alpha_is_weighted_cross_entropy():
    logits, y = sample()
    alpha = torch.tensor([2.0, 0.5, 1.3])
    torch.testing.assert_close(
        focal_loss(logits, y, gamma=0.0, alpha=alpha), F.cross_entropy(logits, y, weight=alpha)
    )
    torch.testing.assert_close(
        FocalLoss(0.0, alpha.numpy())(logits, y), F.cross_entropy(logits, y, weight=alpha)
    )


def test_focal_term_matches_its_formula_and_gradients_agree():
    logits, y = sample()
    logits.requires_grad_(True)
    alpha = torch.tensor([1.0, 0.4, 2.0])
    got = focal_loss(logits, y, gamma=2.0, alpha=alpha)
    p = torch.softmax(logits.double(), 1).gather(1, y[:, None]).squeeze(1)
    w = alpha.double()[y]
    want = (-(w * (1 - p) ** 2 * torch.log(p))).sum() / w.sum()
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)
    (g1,) = torch.autograd.grad(got, logits)
    (g2,) = torch.autograd.grad(want, logits)
    torch.testing.assert_close(g1.double(), g2.double(), rtol=1e-4, atol=1e-6)
    # Well-classified samples weigh less than under cross-entropy.
    assert got < focal_loss(logits, y, gamma=0.0, alpha=alpha)


def test_confident_logits_and_bf16_stay_finite():
    logits = torch.tensor([[50.0, -50.0, -50.0], [0.0, 0.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 2])
    for gamma in (0.5, 2.0):
        loss = focal_loss(logits, y, gamma=gamma)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert torch.isfinite(focal_loss(logits.detach().bfloat16(), y)).all()


def test_inverse_frequency_alpha():
    labels = np.array([0, 1, 1, 1, 2, 2, -1, -1], dtype=np.int8)
    alpha = inverse_frequency(labels)
    np.testing.assert_allclose(alpha, [6 / 3, 6 / 9, 6 / 6])
    assert inverse_frequency(np.array([1, 1, 2]))[0] == 0.0  # a class never seen weighs 0
