"""Datasets on disk: `$LOB_HOME/datasets/<name>/` holding memory-mappable arrays and meta.json.

Files:
  features.npy   float32 (N, 40), opened with mmap_mode="r"
  ts.npy         int64 (N,) ns since epoch, UTC, non-decreasing
  symbol.npy     uint16 (N,) index into meta["symbols"]
  meta.json      rows, symbols, time range, sources (+sha256), levels, import settings

A dataset appears atomically (staged in a hidden directory, then renamed). Importers stream rows
in through `dataset_writer`, so a multi-gigabyte source never needs its whole array in memory.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
import struct
from collections.abc import Iterator
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


# Every .npy this module writes has a fixed 128-byte header, so the arrays can be streamed to disk
# before their row count is known and the header patched in at the end (NPY format 1.0: magic,
# version, uint16 header length, a Python-literal dict padded with spaces and ending in a newline).
NPY_HEADER_BYTES = 128


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    fields = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    text = repr(fields).encode("latin1")
    pad = NPY_HEADER_BYTES - 10 - len(text) - 1
    if pad < 0:
        raise ValueError(f"shape {shape} does not fit the npy header")
    return (
        b"\x93NUMPY\x01\x00" + struct.pack("<H", NPY_HEADER_BYTES - 10) + text + b" " * pad + b"\n"
    )


class _NpyAppender:
    """Append rows of one dtype/width to an .npy file; the header is written on close."""

    def __init__(self, path: Path, dtype: np.dtype, width: int | None) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.width = width
        self.rows = 0
        self._fh = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._fh.write(b"\0" * NPY_HEADER_BYTES)

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        self._fh.write(block.data)
        self.rows += block.shape[0]

    def close(self) -> None:
        shape = (self.rows,) if self.width is None else (self.rows, self.width)
        self._fh.seek(0)
        self._fh.write(_npy_header(self.dtype, shape))
        self._fh.close()

    def abort(self) -> None:
        self._fh.close()


class DatasetWriter:
    """Rows streamed into a staging directory; see `dataset_writer`."""

    def __init__(self, name: str, staging: Path) -> None:
        self.name = name
        self.staging = staging
        self._features = _NpyAppender(staging / "features.npy", np.dtype(np.float32), N_FEATURES)
        self._ts = _NpyAppender(staging / "ts.npy", np.dtype(np.int64), None)
        self._symbol = _NpyAppender(staging / "symbol.npy", np.dtype(np.uint16), None)
        self.ts_start: int | None = None
        self.ts_end: int | None = None
        self.finished = False

    @property
    def rows(self) -> int:
        return self._ts.rows

    def append(self, ts: np.ndarray, features: np.ndarray, symbol_idx: np.ndarray) -> None:
        """Append a block of rows (already validated by the caller)."""
        n = ts.shape[0]
        if features.shape != (n, N_FEATURES) or symbol_idx.shape != (n,):
            raise DataError(
                f"block shapes disagree: ts {ts.shape}, features {features.shape}, "
                f"symbol {symbol_idx.shape}"
            )
        if n == 0:
            return
        self._ts.append(ts)
        self._features.append(features)
        self._symbol.append(symbol_idx)
        if self.ts_start is None:
            self.ts_start = int(ts[0])
        self.ts_end = int(ts[-1])

    def finish(
        self,
        *,
        symbols: list[str],
        sources: list[dict[str, Any]] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write the headers and meta.json; the directory is renamed into place when the
        `dataset_writer` block exits."""
        if self.rows == 0:
            raise DataError("no rows to write")
        for appender in (self._features, self._ts, self._symbol):
            appender.close()
        meta = {
            "name": self.name,
            "rows": self.rows,
            "levels": N_FEATURES // 4,
            "symbols": list(symbols),
            "ts_start": self.ts_start,
            "ts_end": self.ts_end,
            "sources": sources or [],
            "settings": settings or {},
            "sha256": atomic.sha256_file(self.staging / "features.npy"),
            "created_at": datetime.now(UTC).isoformat(),
        }
        atomic.write_json(self.staging / "meta.json", meta)
        self.finished = True
        return meta

    def abort(self) -> None:
        for appender in (self._features, self._ts, self._symbol):
            appender.abort()


@contextlib.contextmanager
def dataset_writer(
    name: str, *, force: bool = False, home: Path | None = None
) -> Iterator[DatasetWriter]:
    """Stream a dataset into place: `append` blocks, then `finish`; the directory appears atomically
    when the block exits, and nothing is left behind if it raises (or never calls `finish`)."""
    final = dataset_dir(name, home)
    if final.exists() and not force:
        raise Conflict(f"dataset {name!r} already exists (use --force to replace it)")
    try:
        with atomic.staging_dir(final, replace=force) as tmp:
            writer = DatasetWriter(name, tmp)
            try:
                yield writer
            except BaseException:
                writer.abort()
                raise
            if not writer.finished:
                writer.abort()
                raise DataError(f"dataset {name!r} was not finished; nothing written")
    except OSError as exc:
        # Another import of the same name won the race to the final rename.
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) and final.exists():
            raise Conflict(f"dataset {name!r} already exists (use --force to replace it)") from exc
        raise


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
    features = np.asarray(features)
    ts = np.asarray(ts)
    if features.ndim != 2 or features.shape[1] != N_FEATURES:
        raise DataError(f"features must be (N, {N_FEATURES}), got {features.shape}")
    if ts.shape[0] != features.shape[0]:
        raise DataError("ts and features differ in length")
    if features.shape[0] == 0:
        raise DataError("no rows to write")
    if symbol_idx is None:
        symbol_idx = np.zeros(features.shape[0], dtype=np.uint16)
    with dataset_writer(name, force=force, home=home) as writer:
        # Blocks of 1M rows keep the float32 conversion copy small for float64 input.
        step = 1 << 20
        for start in range(0, features.shape[0], step):
            stop = start + step
            writer.append(ts[start:stop], features[start:stop], symbol_idx[start:stop])
        writer.finish(symbols=symbols, sources=sources, settings=settings)
    return dataset_dir(name, home)


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
