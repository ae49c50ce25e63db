"""Training-time augmentation (shared/ml/augment.py): the mirrored book is exact, labels swap,
and a setting that cannot work is refused before any training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from shared.data.synth import synth_market
from shared.labels import DOWN, NEUTRAL, UP
from shared.ml.augment import Augment
from shared.scaler import Scaler
from shared.train_config import TrainConfig


def _mirrored_raw(raw: np.ndarray) -> np.ndarray:
    """The same books seen from the other side, built by hand: asks become bids at the same
    distance below each row's mid, and their sizes move with them."""
    raw = raw.astype(np.float64)
    mid = (raw[:, 0] + raw[:, 2]) / 2
    out = raw.copy()
    out[:, 0::4] = 2 * mid[:, None] - raw[:, 2::4]  # ask_px_i = mid + (mid - bid_px_i)
    out[:, 2::4] = 2 * mid[:, None] - raw[:, 0::4]
    out[:, 1::4], out[:, 3::4] = raw[:, 3::4], raw[:, 1::4]
    return out


def test_the_mirror_equals_the_scaled_mirrored_book_and_swaps_up_and_down() -> None:
    # Given a mid_bps scaler and one batch of identical windows labelled UP, NEUTRAL, DOWN in turn
    _, features = synth_market(600, seed=1)
    scaler = Scaler.fit(features, 0, 600, kind="mid_bps")
    window = scaler.transform(features[:100])
    x = torch.tensor(window)[None, None].repeat(96, 1, 1, 1)
    y = torch.tensor([UP, NEUTRAL, DOWN] * 32)
    augment = Augment.build(scaler, mirror=True, noise=0.0, device=torch.device("cpu"))
    assert augment is not None
    # When it is augmented
    xa, ya = augment(x, y, torch.Generator().manual_seed(0))
    flipped = (xa - x).abs().amax(dim=(1, 2, 3)) > 0
    # Then about half the windows are mirrored, each exactly the scaled hand-made mirror
    assert 30 <= int(flipped.sum()) <= 66
    expected = torch.tensor(scaler.transform(_mirrored_raw(features[:100])))
    torch.testing.assert_close(xa[flipped, 0], expected.expand(int(flipped.sum()), -1, -1))
    # and their UP and DOWN labels swap while NEUTRAL and the unmirrored windows keep theirs
    swap = {UP: DOWN, DOWN: UP, NEUTRAL: NEUTRAL}
    want = [swap[int(c)] if f else int(c) for c, f in zip(y, flipped, strict=True)]
    assert ya.tolist() == want
    # and the batch it was given is unchanged (the loader reuses that buffer)
    assert torch.equal(x[0, 0], torch.tensor(window))


def test_noise_only_and_no_augmentation() -> None:
    _, features = synth_market(300, seed=2)
    scaler = Scaler.fit(features, 0, 300, kind="zscore")
    cpu = torch.device("cpu")
    assert Augment.build(scaler, mirror=False, noise=0.0, device=cpu) is None
    noisy = Augment.build(scaler, mirror=False, noise=0.5, device=cpu)
    assert noisy is not None
    x = torch.zeros(64, 1, 100, 40)
    y = torch.full((64,), UP)
    xa, ya = noisy(x, y, torch.Generator().manual_seed(1))
    assert torch.equal(ya, y)
    assert abs(float(xa.std()) - 0.5) < 0.02
    with pytest.raises(ValueError, match="mirror needs norm mid_bps"):
        Augment.build(scaler, mirror=True, noise=0.0, device=cpu)


def test_mirror_with_the_paper_zscore_is_refused_by_the_settings() -> None:
    with pytest.raises(ValidationError, match="mirror needs norm 'mid_bps'"):
        TrainConfig(mirror=True, norm="zscore")
    with pytest.raises(ValidationError, match="noise"):
        TrainConfig(noise=-1)
