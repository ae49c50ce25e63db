"""Import order-book files as a dataset: detect the format, check every row, write atomically.

lob data import ../shared/data/binance-spot-btcusdt/*.gz --name btc

Formats: canonical CSV / CSV.GZ and Parquet (shared.data.canonical), LOBSTER orderbook+message
pairs (shared.data.lobster), Binance depth captures (shared.data.binance_capture).

Every problem is a one-line DataError naming the file, the row (the line number in a text file,
header = line 1; the 1-based row in Parquet) and what is wrong; the dataset directory is staged
and renamed only on success, so a failed import leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from shared import atomic
from shared.data import binance_capture, canonical, lobster
from shared.data.checks import Block, RowSink
from shared.data.store import dataset_dir, dataset_writer, validate_name
from shared.data.textfile import first_line, is_gzip
from shared.errors import BadConfig, Conflict, DataError

Format = Literal["auto", "csv", "parquet", "lobster", "binance"]
FORMATS: tuple[str, ...] = ("auto", "csv", "parquet", "lobster", "binance")
Progress = Callable[[int, int, int], None]  # (bytes done, bytes total, rows so far)


def detect_format(path: Path) -> str:
    """csv, parquet, lobster or binance, from the name and the first bytes/line."""
    if lobster.is_lobster_name(path):
        return "lobster"
    if path.stat().st_size == 0:
        raise DataError("empty file", file=str(path))
    if canonical.is_parquet(path):
        return "parquet"
    head = first_line(path)
    if not head.strip():
        raise DataError("empty file", file=str(path))
    if binance_capture.looks_like_capture(path):
        return "binance"
    if "," in head:
        # The canonical reader says precisely what is wrong with a header, or its absence.
        return "csv"
    kind = "gzip-compressed " if is_gzip(path) else ""
    raise DataError(
        f"cannot tell the format of this {kind}file from its first line; "
        "pass --format csv|parquet|lobster|binance",
        file=str(path),
        row=1,
    )


def _family(fmt: str) -> str:
    return "canonical" if fmt in ("csv", "parquet") else fmt


def _blocks(
    paths: list[Path], formats: list[str], *, symbol: str | None, info: dict[str, Any]
) -> Iterator[tuple[int, Block]]:
    """(index of the source file, block) in import order."""
    family = _family(formats[0])
    if family == "binance":
        index = {str(p): i for i, p in enumerate(paths)}
        for block in binance_capture.read_captures(paths, symbol=symbol, info=info):
            yield index.get(block.file, 0), block
    elif family == "lobster":
        pairs = lobster.pair_files(paths)
        index = {p: i for i, p in enumerate(paths)}
        info["timezone"] = str(lobster.EXCHANGE_TZ)
        info["empty_level"] = "price of the level above, size 0"
        info["pairs"] = [[p.orderbook.name, p.message.name] for p in pairs]
        for pair in pairs:
            i = index.get(pair.orderbook, index.get(pair.message, 0))
            for block in lobster.read_pair(pair, symbol=symbol):
                yield i, block
    else:
        for i, (path, fmt) in enumerate(zip(paths, formats, strict=True)):
            reader = canonical.read_parquet if fmt == "parquet" else canonical.read_canonical_csv
            for block in reader(path, symbol=symbol):
                yield i, block


def import_sources(
    srcs: list[Path],
    *,
    name: str,
    fmt: str = "auto",
    symbol: str | None = None,
    force: bool = False,
    home: Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Import `srcs` as dataset `name`; returns the dataset directory.

    Raises DataError (bad input or name), Conflict (name taken and not `force`), BadConfig
    (unknown format, or formats that cannot be mixed in one dataset).
    """
    validate_name(name)
    if fmt not in FORMATS:
        raise BadConfig(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    paths = [Path(s) for s in srcs]
    if not paths:
        raise BadConfig("no source files given")
    for path in paths:
        if not path.exists():
            raise DataError("no such file", file=str(path))
        if not path.is_file():
            raise DataError("not a regular file", file=str(path))
    if dataset_dir(name, home).exists() and not force:
        raise Conflict(f"dataset {name!r} already exists (use --force to replace it)")
    sym = symbol.strip().upper() if symbol is not None else None
    if sym is not None and not sym:
        raise BadConfig("--symbol must not be empty")

    formats = [detect_format(p) if fmt == "auto" else fmt for p in paths]
    families = sorted({_family(f) for f in formats})
    if len(families) > 1:
        raise BadConfig(
            f"cannot mix formats in one dataset ({', '.join(sorted(set(formats)))}); "
            "import them separately"
        )
    if families[0] == "canonical":
        for path, f in zip(paths, formats, strict=True):
            if path.stat().st_size == 0:
                raise DataError("empty file", file=str(path))
            if f == "csv" and canonical.is_parquet(path):
                raise DataError("this is a Parquet file; use --format parquet", file=str(path))

    total = sum(p.stat().st_size for p in paths)
    offsets = [0]
    for p in paths:
        offsets.append(offsets[-1] + p.stat().st_size)
    info: dict[str, Any] = {}
    # Hash the sources on a thread while they are parsed (hashlib releases the GIL).
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as pool,
        dataset_writer(name, force=force, home=home) as writer,
    ):
        digests = [pool.submit(atomic.sha256_file, p) for p in paths]
        sink = RowSink(writer)
        for i, block in _blocks(paths, formats, symbol=sym, info=info):
            sink.add(block)
            if progress is not None:
                done = offsets[i] + (block.pos if block.pos is not None else 0)
                progress(min(done, total), total, sink.rows)
        if sink.rows == 0:
            raise DataError("no rows to import", file=str(paths[0]))
        sources = [
            {
                "path": str(p.resolve()),
                "name": p.name,
                "bytes": p.stat().st_size,
                "format": f,
                "sha256": digest.result(),
            }
            for p, f, digest in zip(paths, formats, digests, strict=True)
        ]
        settings = {"format": fmt, "formats": sorted(set(formats)), "symbol": sym, **info}
        writer.finish(symbols=sink.symbols, sources=sources, settings=settings)
    if progress is not None:
        progress(total, total, sink.rows)
    return dataset_dir(name, home)
