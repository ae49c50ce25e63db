"""Where a replay reads snapshots from: a dataset, a canonical file, a Binance capture, Tardis.dev
CSV files or Databento DBN files.

Each source yields (ts ns, symbol, book (40,)) in time order. Binance captures go through the same
book builder (and sync rules) as the importer and the live connector; Tardis and DBN files
through the importer's readers (shared.data.tardis, shared.data.databento), every symbol of
them unless `symbol` picks one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from shared.data.checks import Block, check_block
from shared.data.schema import LEVELS
from shared.data.store import open_dataset
from shared.errors import BadConfig, DataError, NotFound
from shared.feed.snapshot import normalize_symbol
from shared.feed.stream import Record

CAPTURE_LINE = re.compile(rb"^\d+ \{")
DATASET_CHUNK = 4096  # rows copied out of the memory map at a time


def is_binance_capture(path: Path) -> bool:
    """`<local ns> <json>` lines (plain or gzip) as recorded from Binance's streams."""
    import gzip

    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as fh:
        head = fh.readline(4096)
    return bool(CAPTURE_LINE.match(head))


def vendor_format(path: Path) -> str | None:
    """ "tardis" or "databento" for a file of theirs, else None."""
    from shared.data.databento import looks_like_dbn
    from shared.data.tardis import looks_like_tardis
    from shared.data.textfile import first_line

    if looks_like_dbn(path):
        return "databento"
    try:
        return "tardis" if looks_like_tardis(first_line(path)) else None
    except DataError:
        return None


def open_source(srcs: list[str], symbol: str | None, levels: int = LEVELS) -> Iterator[Record]:
    """One iterator over the given sources, in the order given. `levels` applies to Tardis and
    Databento files (book depth to take, the rest padded)."""
    paths = [Path(s) for s in srcs]
    existing = [p for p in paths if p.is_file()]
    if existing and len(existing) != len(paths):
        missing = [str(p) for p in paths if not p.is_file()]
        raise NotFound(f"no such file: {', '.join(missing)}")
    if not existing:
        if len(srcs) != 1:
            raise NotFound(f"no such files: {', '.join(srcs)}")
        return dataset_records(srcs[0], symbol)
    vendors = [vendor_format(p) for p in paths]
    if any(vendors):
        if len(set(vendors)) > 1:
            raise DataError("mixing Tardis, Databento and other files in one replay")
        return vendor_records(paths, vendors[0] or "", symbol, levels)
    if levels != LEVELS:
        raise BadConfig("--levels applies to Tardis and Databento files only")
    captures = [p for p in paths if is_binance_capture(p)]
    if captures and len(captures) != len(paths):
        raise DataError("mixing Binance captures and canonical files in one replay")
    if captures:
        from shared.feed.binance import capture_records

        return capture_records(captures, symbol)
    return _chain(canonical_records(p, symbol) for p in paths)


def _chain(parts: Iterator[Iterator[Record]]) -> Iterator[Record]:
    for part in parts:
        yield from part


def dataset_records(name: str, symbol: str | None) -> Iterator[Record]:
    ds = open_dataset(name)
    names = [normalize_symbol(s) for s in ds.symbols]
    wanted: int | None = None
    rename: str | None = None
    if symbol is not None:
        sym = normalize_symbol(symbol)
        if len(names) > 1:
            if sym not in names:
                raise DataError(f"dataset {name!r} has no symbol {sym} (it has {', '.join(names)})")
            wanted = names.index(sym)
        else:
            rename = sym
    return _dataset_rows(ds.features, ds.ts, ds.symbol_idx, names, wanted, rename)


def _dataset_rows(
    features: np.ndarray,
    ts: np.ndarray,
    symbol_idx: np.ndarray,
    names: list[str],
    wanted: int | None,
    rename: str | None,
) -> Iterator[Record]:
    for start in range(0, features.shape[0], DATASET_CHUNK):
        stop = start + DATASET_CHUNK
        f = np.asarray(features[start:stop], dtype=np.float64)
        t = np.asarray(ts[start:stop])
        k = np.asarray(symbol_idx[start:stop])
        for i in range(f.shape[0]):
            if wanted is not None and k[i] != wanted:
                continue
            yield int(t[i]), rename or names[int(k[i])], f[i]


def block_records(blocks: Iterator[Block], symbol: str | None = None) -> Iterator[Record]:
    """The rows of importer Blocks as records; `symbol` renames a one-symbol block and picks
    that symbol out of a block of several."""
    rename = normalize_symbol(symbol) if symbol else None
    prev_ts: int | None = None
    for block in blocks:
        # The importer's checks: a replay refuses, with file, row and column, what an import does.
        check_block(block, prev_ts)
        if len(block):
            prev_ts = int(block.ts[-1])
        names = []
        for k, s in enumerate(block.symbols):
            try:
                names.append(normalize_symbol(s))
            except DataError as exc:
                used = np.flatnonzero(block.symbol_idx == k)
                row = block.row_of(int(used[0])) if used.size else None
                raise DataError(exc.problem, file=block.file, row=row, column="symbol") from None
        f = block.features.astype(np.float64)
        for i in range(len(block)):
            sym = names[int(block.symbol_idx[i])]
            if rename and len(names) > 1 and sym != rename:
                continue
            yield int(block.ts[i]), rename or sym, f[i]


def canonical_records(path: Path, symbol: str | None) -> Iterator[Record]:
    from shared.data.canonical import is_parquet, read_canonical_csv, read_parquet

    return block_records(
        read_parquet(path) if is_parquet(path) else read_canonical_csv(path), symbol
    )


def vendor_records(
    paths: list[Path], fmt: str, symbol: str | None, levels: int = LEVELS
) -> Iterator[Record]:
    """Tardis or DBN files as the importer reads them; `symbol` keeps only that symbol (under
    the name the file gives it)."""
    from shared.data.databento import read_dbn
    from shared.data.tardis import read_tardis

    read = read_tardis if fmt == "tardis" else read_dbn
    return block_records(read(paths, symbol=symbol, levels=levels, many=symbol is None))
