"""Datasets on disk: `$LOB_HOME/datasets/<name>/` holding memory-mappable arrays and meta.json.

Files:
  features.npy   float32 (N, 40), opened with mmap_mode="r"
  ts.npy         int64 (N,) ns since epoch, UTC, non-decreasing
  symbol.npy     uint16 (N,) index into meta["symbols"]
  meta.json      rows, symbols, time range, sources (+sha256), levels, import settings

A dataset appears atomically (staged in a hidden directory, then renamed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from shared import atomic
from shared.config import get_settings
from shared.data.schema import N_FEATURES
from shared.errors import Conflict, DataError, NotFound

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_name(name: str) -> str:
    """A dataset name is a plain identifier, never a path."""
    if not NAME_RE.fullmatch(name) or ".." in name:
        raise DataError(
            f"invalid dataset name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (names are never paths)"
        )
    return name


def datasets_root(home: Path | None = None) -> Path:
    return (home or get_settings().storage.home) / "datasets"


def dataset_dir(name: str, home: Path | None = None) -> Path:
    return datasets_root(home) / validate_name(name)


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    features: np.ndarray  # float32 (N, 40), memory-mapped read-only
    ts: np.ndarray  # int64 (N,)
    symbol_idx: np.ndarray  # uint16 (N,)
    meta: dict[str, Any]

    @property
    def rows(self) -> int:
        return int(self.features.shape[0])

    @property
    def symbols(self) -> list[str]:
        return list(self.meta["symbols"])

    @property
    def sha256(self) -> str:
        return str(self.meta["sha256"])


def write_dataset(
    name: str,
    *,
    ts: np.ndarray,
    features: np.ndarray,
    symbols: list[str],
    symbol_idx: np.ndarray | None = None,
    sources: list[dict[str, Any]] | None = None,
    settings: dict[str, Any] | None = None,
    force: bool = False,
    home: Path | None = None,
) -> Path:
    """Write arrays as dataset `name` atomically and return its directory."""
    final = dataset_dir(name, home)
    if final.exists() and not force:
        raise Conflict(f"dataset {name!r} already exists (use --force to replace it)")
    features = np.ascontiguousarray(features, dtype=np.float32)
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    if features.ndim != 2 or features.shape[1] != N_FEATURES:
        raise DataError(f"features must be (N, {N_FEATURES}), got {features.shape}")
    if ts.shape[0] != features.shape[0]:
        raise DataError("ts and features differ in length")
    if features.shape[0] == 0:
        raise DataError("no rows to write")
    if symbol_idx is None:
        symbol_idx = np.zeros(features.shape[0], dtype=np.uint16)
    with atomic.staging_dir(final, replace=force) as tmp:
        np.save(tmp / "features.npy", features)
        np.save(tmp / "ts.npy", ts)
        np.save(tmp / "symbol.npy", np.ascontiguousarray(symbol_idx, dtype=np.uint16))
        digest = atomic.sha256_file(tmp / "features.npy")
        meta = {
            "name": name,
            "rows": int(features.shape[0]),
            "levels": N_FEATURES // 4,
            "symbols": list(symbols),
            "ts_start": int(ts[0]),
            "ts_end": int(ts[-1]),
            "sources": sources or [],
            "settings": settings or {},
            "sha256": digest,
            "created_at": datetime.now(UTC).isoformat(),
        }
        atomic.write_json(tmp / "meta.json", meta)
    return final


def open_dataset(name: str, home: Path | None = None) -> Dataset:
    """Open a dataset memory-mapped (no copy of the feature array is made)."""
    path = dataset_dir(name, home)
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        raise NotFound(f"unknown dataset {name!r} (see `lob data list`)")
    meta = json.loads(meta_path.read_text())
    return Dataset(
        name=name,
        path=path,
        features=np.load(path / "features.npy", mmap_mode="r"),
        ts=np.load(path / "ts.npy", mmap_mode="r"),
        symbol_idx=np.load(path / "symbol.npy", mmap_mode="r"),
        meta=meta,
    )


def list_datasets(home: Path | None = None) -> list[dict[str, Any]]:
    root = datasets_root(home)
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        meta = d / "meta.json"
        if d.name.startswith(".") or not meta.is_file():
            continue
        out.append(json.loads(meta.read_text()))
    return out
