"""Per-feature z-score scaling, fitted on a fold's training rows only. numpy only.

Saved as `scaler_params.json`; that file alone rebuilds the scaler (training and inference use
the same `Scaler.load`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared import atomic
from shared.data.schema import FEATURE_COLUMNS, N_FEATURES
from shared.errors import BadConfig

FILE_NAME = "scaler_params.json"
_FIT_CHUNK = 1 << 18  # rows per pass: bounded memory on a 3.7M-row memory map


@dataclass(frozen=True)
class Scaler:
    mean: np.ndarray  # float64 (40,)
    std: np.ndarray  # float64 (40,), constant columns get 1 so they scale to 0
    rows: tuple[int, int]  # [first, last) dataset rows the statistics came from

    @classmethod
    def fit(cls, features: np.ndarray, first: int, last: int) -> Scaler:
        """Mean and std of features[first:last] (float64 accumulation, chunked)."""
        if not 0 <= first < last <= features.shape[0]:
            raise BadConfig(f"scaler rows [{first}, {last}) outside the dataset")
        total = np.zeros(N_FEATURES, dtype=np.float64)
        count = last - first
        for s in range(first, last, _FIT_CHUNK):
            total += np.asarray(features[s : min(s + _FIT_CHUNK, last)], dtype=np.float64).sum(0)
        mean = total / count
        # Second pass around the mean: no catastrophic cancellation on prices ~1e4..1e5.
        sq = np.zeros(N_FEATURES, dtype=np.float64)
        for s in range(first, last, _FIT_CHUNK):
            block = np.asarray(features[s : min(s + _FIT_CHUNK, last)], dtype=np.float64) - mean
            sq += np.einsum("ij,ij->j", block, block)
        std = np.sqrt(sq / count)
        std[~(std > 0)] = 1.0
        return cls(mean=mean, std=std, rows=(int(first), int(last)))

    @classmethod
    def fit_windows(cls, features: np.ndarray, ends: np.ndarray, window: int) -> Scaler:
        """Fit on every row that the windows ending at `ends` cover (a contiguous span here)."""
        return cls.fit(features, int(ends.min()) - window + 1, int(ends.max()) + 1)

    def transform(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(..., 40) → float32 z-scores; `out` may be `x` itself for an in-place transform."""
        mean = self.mean.astype(np.float32)
        inv = (1.0 / self.std).astype(np.float32)
        out = np.subtract(x, mean, out=out, dtype=np.float32)
        out *= inv
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "zscore",
            "features": list(FEATURE_COLUMNS),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "rows": list(self.rows),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        mean = np.asarray(data["mean"], dtype=np.float64)
        std = np.asarray(data["std"], dtype=np.float64)
        if data.get("kind") != "zscore" or mean.shape != (N_FEATURES,) or std.shape != mean.shape:
            raise ValueError("not a 40-feature z-score scaler")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise ValueError("scaler parameters must be finite with std > 0")
        first, last = data["rows"]
        return cls(mean=mean, std=std, rows=(int(first), int(last)))

    def save(self, path: Path) -> Path:
        """Write to `path` (a directory, or any path not ending in .json, gets
        scaler_params.json inside), atomically."""
        path = Path(path)
        if path.is_dir() or path.suffix != ".json":
            path = path / FILE_NAME
        atomic.write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, path: Path) -> Scaler:
        path = Path(path)
        if path.is_dir():
            path = path / FILE_NAME
        return cls.from_dict(json.loads(path.read_text()))
