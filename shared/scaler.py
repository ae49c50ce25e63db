"""Input normalisation, fitted on a fold's training rows only. numpy only.

Two kinds, both per row (a row's transform never looks at other rows, so inference's incremental
fast path and the training windows see identical inputs):

- `zscore`: the paper's per-feature z-score of the raw 40 features. Prices outside the training
  range (any trending day) land far outside what the model saw.
- `mid_bps`: invariant to the price level. Each price becomes its distance from the row's own mid
  in basis points, (p - mid) / mid * 1e4, and each size log1p(size); then both are z-scored on the
  training rows.

Saved as JSON with its `kind` (a fold's `scaler_params.json`, shared/rundir.py); that file alone
rebuilds the scaler (training and inference use the same `Scaler.load`), so a checkpoint keeps the
transform it was trained with.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared import atomic
from shared.data.schema import ASK_PX_1, BID_PX_1, FEATURE_COLUMNS, N_FEATURES
from shared.errors import BadConfig

KINDS = ("zscore", "mid_bps")
PRICES = np.arange(0, N_FEATURES, 2)  # ask_px_i, bid_px_i
SIZES = np.arange(1, N_FEATURES, 2)
_FIT_CHUNK = 1 << 18  # rows per pass: bounded memory on a 3.7M-row memory map


@dataclass(frozen=True)
class Scaler:
    mean: np.ndarray  # float64 (40,)
    std: np.ndarray  # float64 (40,), constant columns get 1 so they scale to 0
    rows: tuple[int, int]  # [first, last) dataset rows the statistics came from
    kind: str = "zscore"  # one of KINDS

    @classmethod
    def fit(cls, features: np.ndarray, first: int, last: int, kind: str = "zscore") -> Scaler:
        """Mean and std of the kind's features over rows [first, last) (float64, chunked)."""
        if kind not in KINDS:
            raise BadConfig(f"unknown normalisation {kind!r}; use one of {', '.join(KINDS)}")
        if not 0 <= first < last <= features.shape[0]:
            raise BadConfig(f"scaler rows [{first}, {last}) outside the dataset")

        def chunks() -> Iterator[np.ndarray]:
            for s in range(first, last, _FIT_CHUNK):
                raw = np.asarray(features[s : min(s + _FIT_CHUNK, last)], dtype=np.float64)
                yield raw if kind == "zscore" else _level_free(raw)

        total = np.zeros(N_FEATURES, dtype=np.float64)
        count = last - first
        for block in chunks():
            total += block.sum(0)
        mean = total / count
        # Second pass around the mean: no catastrophic cancellation on prices ~1e4..1e5.
        sq = np.zeros(N_FEATURES, dtype=np.float64)
        for block in chunks():
            block = block - mean  # a new array: `features` may be float64 already
            sq += np.einsum("ij,ij->j", block, block)
        std = np.sqrt(sq / count)
        std[~(std > 0)] = 1.0
        return cls(mean=mean, std=std, rows=(int(first), int(last)), kind=kind)

    @classmethod
    def fit_windows(
        cls, features: np.ndarray, ends: np.ndarray, window: int, kind: str = "zscore"
    ) -> Scaler:
        """Fit on every row that the windows ending at `ends` cover (a contiguous span here)."""
        return cls.fit(features, int(ends.min()) - window + 1, int(ends.max()) + 1, kind)

    def transform(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(..., 40) → float32 model inputs; `out` may be `x` itself for an in-place transform."""
        mean = self.mean.astype(np.float32)
        inv = (1.0 / self.std).astype(np.float32)
        if self.kind == "mid_bps":
            x = _level_free(np.asarray(x, dtype=np.float64))
        out = np.subtract(x, mean, out=out, dtype=np.float32)
        out *= inv
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "features": list(FEATURE_COLUMNS),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "rows": list(self.rows),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        mean = np.asarray(data["mean"], dtype=np.float64)
        std = np.asarray(data["std"], dtype=np.float64)
        kind = data.get("kind")
        if kind not in KINDS:
            raise ValueError(
                f"unknown scaler kind {kind!r} (this version reads {', '.join(KINDS)})"
            )
        if mean.shape != (N_FEATURES,) or std.shape != mean.shape:
            raise ValueError(f"not a 40-feature {kind} scaler")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise ValueError("scaler parameters must be finite with std > 0")
        first, last = data["rows"]
        return cls(mean=mean, std=std, rows=(int(first), int(last)), kind=str(kind))

    def save(self, path: Path) -> Path:
        """Write the file `path`, atomically."""
        atomic.write_json(Path(path), self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> Scaler:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _level_free(raw: np.ndarray) -> np.ndarray:
    """(..., 40) float64 → prices as bps from the row's own mid, sizes as log1p (a new array)."""
    mid = (raw[..., ASK_PX_1] + raw[..., BID_PX_1]) / 2.0
    out = np.empty_like(raw)
    out[..., PRICES] = (raw[..., PRICES] - mid[..., None]) / mid[..., None] * 1e4
    out[..., SIZES] = np.log1p(np.maximum(raw[..., SIZES], 0.0))
    return out
