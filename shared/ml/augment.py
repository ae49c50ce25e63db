"""Training-time augmentation of scaled windows: what keeps DeepLOB from memorising a small market.

Consecutive windows share 99 of their 100 rows, and heavy-tailed queue sizes make each row a
near-unique fingerprint, so on a few thousand rows DeepLOB learns the rows rather than the book
(training accuracy far above validation after one epoch). Two label-preserving transforms make
the rows it sees differ every epoch:

- `mirror`: the book seen from the other side. Under `mid_bps` a row's features are prices as bps
  from its own mid and log1p sizes, so the mirror image of a row is exact and linear: ask level i
  becomes bid level i with its bps distance negated, and UP and DOWN swap. Half of each batch is
  mirrored. Only `mid_bps` has this form (a z-scored raw price has no mirror that keeps the mid's
  path), and only a market without a standing direction should be mirrored; it is a setting.
- `noise`: Gaussian noise of standard deviation `noise` added to the scaled inputs, which blurs
  the fingerprints and leaves the book's shape.

Both return new tensors on the batch's device (the batch buffer is reused by the next gather);
evaluation never sees them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from shared.data.schema import N_FEATURES
from shared.labels import DOWN, UP
from shared.scaler import Scaler

# Column c of a mirrored row comes from column SOURCE[c]: ask_px_i <-> bid_px_i, ask_sz_i <->
# bid_sz_i (the canonical layout is ask_px, ask_sz, bid_px, bid_sz per level).
SOURCE = np.arange(N_FEATURES).reshape(-1, 2, 2)[:, ::-1, :].reshape(-1)
SIGN = np.where(np.arange(N_FEATURES) % 2 == 0, -1.0, 1.0)  # prices negate, sizes keep


@dataclass
class Augment:
    noise: float
    # The mirror in scaled space, x'[c] = x[SOURCE[c]] * scale[c] + shift[c]; None: no mirror.
    scale: torch.Tensor | None = None
    shift: torch.Tensor | None = None

    @classmethod
    def build(
        cls, scaler: Scaler, *, mirror: bool, noise: float, device: torch.device
    ) -> Augment | None:
        if not mirror and noise <= 0:
            return None
        if not mirror:
            return cls(noise)
        if scaler.kind != "mid_bps":
            raise ValueError(f"augment mirror needs norm mid_bps, not {scaler.kind!r}")
        # f = x * std + mean;  f'[c] = SIGN[c] * f[SOURCE[c]];  x' = (f' - mean) / std.
        std_src, mean_src = scaler.std[SOURCE], scaler.mean[SOURCE]
        scale = SIGN * std_src / scaler.std
        shift = (SIGN * mean_src - scaler.mean) / scaler.std
        as_t = {"dtype": torch.float32, "device": device}
        return cls(noise, torch.tensor(scale, **as_t), torch.tensor(shift, **as_t))

    def __call__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator,
        groups: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, T, 40) inputs and their labels → augmented copies.

        `groups[i]`: the input that label i belongs to, where inputs are segments of several
        windows (shared/ml/segments.py); None: one label per input. A segment mirrors whole.
        """
        if self.scale is not None and self.shift is not None:
            flip = torch.rand(x.shape[0], generator=generator, device="cpu") < 0.5
            flip = flip.to(x.device)
            src = torch.as_tensor(SOURCE, device=x.device)
            mirrored = x.index_select(-1, src) * self.scale + self.shift
            x = torch.where(flip[:, None, None, None], mirrored, x)
            swapped = torch.where(y == UP, DOWN, torch.where(y == DOWN, UP, y))
            y = torch.where(flip if groups is None else flip[groups], swapped, y)
        if self.noise > 0:
            noise = torch.randn(x.shape, generator=generator, device="cpu").to(x.device)
            x = x + self.noise * noise
        return x, y
