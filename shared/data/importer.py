"""Import order-book files as a dataset: detect the format, check every row, write atomically.

lob data import ../shared/data/binance-spot-btcusdt/*.gz --name btc

Formats: canonical CSV / CSV.GZ and Parquet (shared.data.canonical), LOBSTER orderbook+message
pairs (shared.data.lobster), Binance depth captures (shared.data.binance_capture), Tardis.dev
CSV downloads (shared.data.tardis) and Databento DBN files (shared.data.databento).

`import_split` makes one dataset per symbol of the sources (`lob data import --split-symbols`).

Every problem is a one-line DataError naming the file, the row (the line number in a text file,
header = line 1; the 1-based row in Parquet) and what is wrong; the dataset directory is staged
and renamed only on success, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shared import atomic
from shared.data import binance_capture, canonical, databento, lobster, tardis
from shared.data.checks import Block, RowSink
from shared.data.rebuild import check_levels
from shared.data.schema import LEVELS
from shared.data.store import DatasetWriter, dataset_dir, dataset_writer, validate_name
from shared.data.textfile import first_line, is_gzip
from shared.errors import BadConfig, Conflict, DataError

Format = Literal["auto", "csv", "parquet", "lobster", "binance", "tardis", "databento"]
FORMATS: tuple[str, ...] = (
    "auto",
    "csv",
    "parquet",
    "lobster",
    "binance",
    "tardis",
    "databento",
)
REBUILT = ("tardis", "databento")  # formats that honour --levels and may hold many symbols
Progress = Callable[[int, int, int], None]  # (bytes done, bytes total, rows so far)


def detect_format(path: Path) -> str:
    """csv, parquet, lobster, binance, tardis or databento, from the name and the first
    bytes/line."""
    if lobster.is_lobster_name(path):
        return "lobster"
    if path.stat().st_size == 0:
        raise DataError("empty file", file=str(path))
    if canonical.is_parquet(path):
        return "parquet"
    if databento.looks_like_dbn(path):
        return "databento"
    with open(path, "rb") as fh:
        if databento.is_zstd(fh.read(4)):
            raise DataError(
                "a zstd-compressed file that is not Databento DBN; decompress it first",
                file=str(path),
            )
    head = first_line(path)
    if not head.strip():
        raise DataError("empty file", file=str(path))
    if binance_capture.looks_like_capture(path):
        return "binance"
    if tardis.looks_like_tardis(head):
        return "tardis"
    if "," in head:
        # The canonical reader says precisely what is wrong with a header, or its absence.
        return "csv"
    kind = "gzip-compressed " if is_gzip(path) else ""
    raise DataError(
        f"cannot tell the format of this {kind}file from its first line; "
        f"pass --format {'|'.join(FORMATS[1:])}",
        file=str(path),
        row=1,
    )


def _check_given_format(path: Path, fmt: str) -> None:
    """A format forced with --format that the file plainly is not (as told for the formats
    whose files carry their own mark: Tardis's header, DBN's metadata): say what it is."""
    if fmt == "auto":
        return
    try:
        actual = detect_format(path)
    except DataError:
        return  # the reader names what is wrong
    # "csv" is also the fallback for any text with a comma in its first line: no evidence.
    if actual == "csv" or _family(actual) == _family(fmt) or not {fmt, actual} & set(REBUILT):
        return
    column = None
    if actual == "tardis":  # a header: name its first column
        column = next(iter(first_line(path).split(",")), "").strip()[:40] or None
    raise DataError(
        f"not a {fmt} file: it looks like {actual} (use --format {actual})",
        file=str(path),
        row=1,
        column=column,
    )


def _family(fmt: str) -> str:
    return "canonical" if fmt in ("csv", "parquet") else fmt


def _blocks(
    paths: list[Path],
    formats: list[str],
    *,
    symbol: str | None,
    info: dict[str, Any],
    levels: int = LEVELS,
    many: bool = False,
) -> Iterator[tuple[int, Block]]:
    """(index of the source file, block) in import order."""
    family = _family(formats[0])
    if family in REBUILT:
        index = {str(p): i for i, p in enumerate(paths)}
        read = tardis.read_tardis if family == "tardis" else databento.read_dbn
        for block in read(paths, symbol=symbol, levels=levels, many=many, info=info):
            yield index.get(block.file, 0), block
    elif family == "binance":
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


@dataclass
class _Plan:
    paths: list[Path]
    formats: list[str]
    symbol: str | None
    offsets: list[int]

    @property
    def total(self) -> int:
        return self.offsets[-1]

    def done(self, i: int, block: Block) -> int:
        return min(self.offsets[i] + (block.pos if block.pos is not None else 0), self.total)

    def sources(self, digests: list[Any]) -> list[dict[str, Any]]:
        return [
            {
                "path": str(p.resolve()),
                "name": p.name,
                "bytes": p.stat().st_size,
                "format": f,
                "sha256": digest.result(),
            }
            for p, f, digest in zip(self.paths, self.formats, digests, strict=True)
        ]


def _plan(
    srcs: list[Path],
    *,
    fmt: str,
    symbol: str | None,
    levels: int,
    target: Path | None = None,
    force: bool = False,
) -> _Plan:
    """Check the sources and options (and that dataset `target` is free) before anything is
    written."""
    if fmt not in FORMATS:
        raise BadConfig(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    check_levels(levels)
    paths = [Path(s) for s in srcs]
    if not paths:
        raise BadConfig("no source files given")
    for path in paths:
        if not path.exists():
            raise DataError("no such file", file=str(path))
        if not path.is_file():
            raise DataError("not a regular file", file=str(path))
    if target is not None and target.exists() and not force:
        raise Conflict(f"dataset {target.name!r} already exists (use --force to replace it)")
    sym = symbol.strip().upper() if symbol is not None else None
    if sym is not None and not sym:
        raise BadConfig("--symbol must not be empty")

    for path in paths:
        _check_given_format(path, fmt)
    formats = [detect_format(p) if fmt == "auto" else fmt for p in paths]
    families = sorted({_family(f) for f in formats})
    if len(families) > 1:
        raise BadConfig(
            f"cannot mix formats in one dataset ({', '.join(sorted(set(formats)))}); "
            "import them separately"
        )
    if levels != LEVELS and families[0] not in REBUILT:
        raise BadConfig(f"--levels applies to {' and '.join(REBUILT)} files only")
    if families[0] == "canonical":
        for path, f in zip(paths, formats, strict=True):
            if path.stat().st_size == 0:
                raise DataError("empty file", file=str(path))
            if f == "csv" and canonical.is_parquet(path):
                raise DataError("this is a Parquet file; use --format parquet", file=str(path))
    offsets = [0]
    for p in paths:
        offsets.append(offsets[-1] + p.stat().st_size)
    return _Plan(paths, formats, sym, offsets)


def _settings(plan: _Plan, fmt: str, info: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "format": fmt,
        "formats": sorted(set(plan.formats)),
        "symbol": plan.symbol,
        **extra,
        **info,
    }


def import_sources(
    srcs: list[Path],
    *,
    name: str,
    fmt: str = "auto",
    symbol: str | None = None,
    levels: int = LEVELS,
    force: bool = False,
    home: Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Import `srcs` as dataset `name`; returns the dataset directory.

    `symbol`: the symbol to record (for Tardis and Databento files, the one symbol to import).
    `levels` (Tardis and Databento): book depth to take, padding the rest like LOBSTER's.

    Raises DataError (bad input or name), Conflict (name taken and not `force`), BadConfig
    (unknown format, or formats that cannot be mixed in one dataset).
    """
    validate_name(name)
    plan = _plan(
        srcs, fmt=fmt, symbol=symbol, levels=levels, target=dataset_dir(name, home), force=force
    )
    info: dict[str, Any] = {}
    # Hash the sources on a thread while they are parsed (hashlib releases the GIL).
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as pool,
        dataset_writer(name, force=force, home=home) as writer,
    ):
        digests = [pool.submit(atomic.sha256_file, p) for p in plan.paths]
        sink = RowSink(writer)
        blocks = _blocks(plan.paths, plan.formats, symbol=plan.symbol, info=info, levels=levels)
        for i, block in blocks:
            sink.add(block)
            if progress is not None:
                progress(plan.done(i, block), plan.total, sink.rows)
        if sink.rows == 0:
            raise DataError(_nothing(info, levels), file=str(plan.paths[0]))
        writer.finish(
            symbols=sink.symbols,
            sources=plan.sources(digests),
            settings=_settings(plan, fmt, info),
        )
    if progress is not None:
        progress(plan.total, plan.total, sink.rows)
    return dataset_dir(name, home)


def split_name(name: str, symbol: str) -> str:
    """The dataset a symbol of `import_split` goes to: `<name>-<symbol>`, with characters a
    dataset name cannot hold replaced by '_'."""
    return validate_name(f"{name}-{re.sub(r'[^A-Za-z0-9_.-]', '_', symbol)}"[:64])


def import_split(
    srcs: list[Path],
    *,
    name: str,
    fmt: str = "auto",
    levels: int = LEVELS,
    force: bool = False,
    home: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Import `srcs` as one dataset per symbol, `<name>-<SYMBOL>` (see `split_name`); returns
    symbol -> dataset directory. All of them appear, or (on any error) none.
    """
    validate_name(name)
    plan = _plan(srcs, fmt=fmt, symbol=None, levels=levels)
    info: dict[str, Any] = {}
    sinks: dict[str, RowSink] = {}
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as pool,
        contextlib.ExitStack() as stack,
    ):
        digests = [pool.submit(atomic.sha256_file, p) for p in plan.paths]

        def sink_of(symbol: str) -> RowSink:
            if symbol not in sinks:
                target = split_name(name, symbol)
                writer: DatasetWriter = stack.enter_context(
                    dataset_writer(target, force=force, home=home)
                )
                sinks[symbol] = RowSink(writer)
            return sinks[symbol]

        blocks = _blocks(plan.paths, plan.formats, symbol=None, info=info, levels=levels, many=True)
        for i, block in blocks:
            for k, symbol in enumerate(block.symbols):
                rows = np.flatnonzero(block.symbol_idx == k)
                if rows.size:
                    sink_of(symbol).add(_take(block, rows, symbol))
            if progress is not None:
                progress(plan.done(i, block), plan.total, sum(s.rows for s in sinks.values()))
        if not sinks:
            raise DataError(_nothing(info, levels), file=str(plan.paths[0]))
        for symbol, sink in sinks.items():
            sink.writer.finish(
                symbols=sink.symbols,
                sources=plan.sources(digests),
                settings=_settings(plan, fmt, info, split_of=name, symbol=symbol),
            )
    if progress is not None:
        progress(plan.total, plan.total, sum(s.rows for s in sinks.values()))
    return {symbol: dataset_dir(split_name(name, symbol), home) for symbol in sinks}


def _nothing(info: dict[str, Any], levels: int) -> str:
    """'no rows to import', with what the rebuilding readers skipped and why."""
    why = [
        f"{info[key]} {what}"
        for key, what in (
            ("shallow_skipped", f"book state(s) with fewer than {levels} levels a side"),
            ("one_sided_skipped", "one-sided book state(s)"),
            ("crossed_skipped", "crossed book state(s)"),
        )
        if info.get(key)
    ]
    hint = " (a smaller --levels pads the rest)" if info.get("shallow_skipped") else ""
    return "no rows to import" + (f": skipped {', '.join(why)}{hint}" if why else "")


def _take(block: Block, rows: np.ndarray, symbol: str) -> Block:
    """The given rows of a block, all of `symbol`, keeping their file and row numbers."""
    return Block(
        file=block.where(int(rows[0])),
        ts=block.ts[rows],
        features=block.features[rows],
        symbols=[symbol],
        symbol_idx=np.zeros(rows.size, dtype=np.int32),
        row_of=lambda i: block.row_of(int(rows[i])),
        file_of=lambda i: block.where(int(rows[i])),
        pos=block.pos,
    )
