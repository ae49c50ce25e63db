"""Tardis.dev CSV downloads (https://docs.tardis.dev/downloadable-csv-files), plain or gzip.

lob data import binance-futures_book_snapshot_25_2024-05-01_BTCUSDT.csv.gz --name btc
lob data import deribit_incremental_book_L2_2024-05-01_BTC-PERPETUAL.csv.gz --name deribit

Two kinds of file, told apart by their header (the first four columns are always
`exchange,symbol,timestamp,local_timestamp`):

- `book_snapshot_N` (N = 5, 25, ...): then `asks[i].price, asks[i].amount, bids[i].price,
  bids[i].amount` for i = 0..N-1. One row is one book; the top `--levels` (default 10) levels are
  taken. A file with fewer levels than that is refused, unless `--levels` asks for no more than
  it has, in which case levels past it are padded like LOBSTER's empty levels
  (shared.data.rebuild). An empty cell is an empty level.
- `incremental_book_L2`: then `is_snapshot, side, price, amount`. `amount` is the new absolute
  size at `price` on `side` (bid/ask), 0 removes the level; a run of `is_snapshot=true` rows
  starts a new book from nothing. Rows that share a `local_timestamp` (and symbol) came in one
  message: one snapshot is emitted per message, once both sides have `--levels` levels.

Timestamps are µs since the epoch. Rows are stamped with `local_timestamp`, Tardis's receive
time: the files are sorted by it and messages are grouped by it, whereas the exchange
`timestamp` may step back between messages (and some exchanges send none).

Books whose best ask is at or below the best bid, or that lack a side, are skipped and counted
in meta.json's settings rather than refused, since a vendor's book can cross for a moment.
Several files are one recording: an incremental book carries over from file to file.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from shared.data.binance_book import BinanceBook
from shared.data.checks import Block
from shared.data.prefetch import prefetched
from shared.data.rebuild import Rows, Skipped, SymbolChoice, pad_levels
from shared.data.schema import LEVELS
from shared.data.textfile import (
    Kind,
    RowsToBytes,
    arrow_failure,
    find_bad_line,
    first_line,
    line_of_data_row,
    open_arrow_stream,
    split_header,
    to_numpy,
)
from shared.errors import DataError

PREFIX = ("exchange", "symbol", "timestamp", "local_timestamp")
INCREMENTAL = (*PREFIX, "is_snapshot", "side", "price", "amount")
SNAPSHOT_FIELDS = (("asks", "price"), ("asks", "amount"), ("bids", "price"), ("bids", "amount"))
LEVEL_RE = re.compile(r"^(asks|bids)\[(\d+)\]\.(price|amount)$")
US = 1_000  # ns per µs
BLOCK_BYTES = 8 << 20
UNKNOWN = (
    "unknown Tardis.dev column set: after exchange,symbol,timestamp,local_timestamp a "
    "book_snapshot_N file has asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,... and "
    "an incremental_book_L2 file has is_snapshot,side,price,amount"
)


def looks_like_tardis(header: str) -> bool:
    return tuple(split_header(header)[:4]) == PREFIX


@dataclass(frozen=True)
class Layout:
    kind: str  # "book_snapshot" or "incremental_book_L2"
    depth: int  # levels a side in a book_snapshot file (0 for incremental)
    names: list[str]


def snapshot_columns(depth: int) -> list[str]:
    return [f"{side}[{i}].{what}" for i in range(depth) for side, what in SNAPSHOT_FIELDS]


def read_layout(path: Path) -> Layout:
    """The kind of Tardis file from its header; a DataError names the first column that fits
    neither kind."""
    file = str(path)
    head = first_line(path)
    if not head.strip():
        raise DataError("empty file", file=file)
    names = split_header(head)
    for i, want in enumerate(PREFIX):
        got = names[i] if i < len(names) else None
        if got != want:
            raise DataError(
                f"not a Tardis.dev CSV: expected column {want!r} here, got "
                f"{got!r}" + (" (is this another format? see --format)" if i == 0 else ""),
                file=file,
                row=1,
                column=got or want,
            )
    rest = names[len(PREFIX) :]
    if rest[:1] == ["is_snapshot"]:
        for want, got in zip(INCREMENTAL, [*names, None], strict=False):
            if got != want:
                raise DataError(UNKNOWN, file=file, row=1, column=got or want)
        if len(names) > len(INCREMENTAL):
            raise DataError(UNKNOWN, file=file, row=1, column=names[len(INCREMENTAL)])
        return Layout("incremental_book_L2", 0, names)
    depth = 0
    for name in rest:
        m = LEVEL_RE.match(name)
        depth = max(depth, int(m[2]) + 1) if m else depth
    expected = snapshot_columns(depth)
    if depth == 0 or sorted(rest) != sorted(expected) or len(set(rest)) != len(rest):
        unexpected = [n for n in rest if n not in expected or rest.count(n) > 1]
        missing = [n for n in expected if n not in rest]
        raise DataError(UNKNOWN, file=file, row=1, column=(unexpected or missing or [""])[0])
    return Layout("book_snapshot", depth, names)


def _types(layout: Layout) -> dict[str, pa.DataType]:
    text = pa.dictionary(pa.int32(), pa.string())
    types: dict[str, pa.DataType] = {
        "exchange": text,
        "symbol": text,
        "timestamp": pa.int64(),
        "local_timestamp": pa.int64(),
    }
    if layout.kind == "incremental_book_L2":
        types.update(is_snapshot=text, side=text, price=pa.float64(), amount=pa.float64())
    else:
        types.update(dict.fromkeys(snapshot_columns(layout.depth), pa.float64()))
    return types


def _kinds(layout: Layout) -> list[Kind]:
    ints = ("timestamp", "local_timestamp")
    texts = ("exchange", "symbol", "is_snapshot", "side")
    return ["int" if n in ints else "str" if n in texts else "float" for n in layout.names]


def _codes(column: pa.Array) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(dictionary values, int codes, null mask) of a dictionary-encoded text column."""
    if not isinstance(column, pa.DictionaryArray):
        column = column.dictionary_encode()
    valid = np.asarray(column.is_valid())
    codes = to_numpy(column.indices.fill_null(0))
    return [str(v) for v in column.dictionary.to_pylist()], codes, ~valid


class _File:
    """One Tardis file being read: its name, layout, and data-row -> line numbers."""

    def __init__(self, path: Path, layout: Layout) -> None:
        self.path = path
        self.file = str(path)
        self.layout = layout

    def line(self, k: int) -> int:
        return line_of_data_row(self.path, skip_lines=1, row=k)

    def fail(self, problem: str, k: int, column: str | None) -> DataError:
        return DataError(problem, file=self.file, row=self.line(k), column=column)

    def batches(self) -> Iterator[tuple[int, pa.RecordBatch]]:
        """(data row of the batch's first row, batch); a parse failure names its line."""
        names = self.layout.names
        rows = 0
        stream = open_arrow_stream(self.path)
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    skip_rows=1, column_names=names, block_size=BLOCK_BYTES
                ),
                convert_options=pacsv.ConvertOptions(column_types=_types(self.layout)),
            )
            with contextlib.closing(prefetched(iter(reader))) as batches:
                for batch in batches:
                    if batch.num_rows:
                        yield rows, batch
                        rows += batch.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            located = find_bad_line(
                self.path, skip_lines=1, names=names, kinds=_kinds(self.layout), start_row=rows
            )
            raise arrow_failure(self.path, exc, located=located) from exc
        finally:
            stream.close()
        if rows == 0:
            raise DataError("no data rows after the header", file=self.file)

    def symbols(
        self, batch: pa.RecordBatch, first: int, choice: SymbolChoice
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(symbol names, per-row code, per-code keep flag) of a batch, asking `choice` about each
        symbol at its first row."""
        names, codes, null = _codes(batch.column(batch.schema.get_field_index("symbol")))
        if null.any():
            raise self.fail("empty symbol", first + int(np.argmax(null)), "symbol")
        names = [n.strip().upper() for n in names]
        keep = np.zeros(len(names), dtype=bool)
        used, at = np.unique(codes, return_index=True)
        for code, k in sorted(zip(used.tolist(), at.tolist(), strict=True), key=lambda c: c[1]):
            keep[code] = choice.keep(
                names[code], file=self.file, row=lambda k=first + k: self.line(k)
            )
        return names, codes, keep

    def local_ts(self, batch: pa.RecordBatch, first: int) -> np.ndarray:
        col = batch.column(batch.schema.get_field_index("local_timestamp"))
        if col.null_count:
            k = first + int(np.argmax(~np.asarray(col.is_valid())))
            raise self.fail("missing timestamp", k, "local_timestamp")
        return np.asarray(to_numpy(col), dtype=np.int64)


def _first_bad(bad: np.ndarray) -> int | None:
    return int(np.argmax(bad)) if bad.any() else None


def _snapshot_blocks(
    f: _File, *, choice: SymbolChoice, levels: int, skipped: Skipped
) -> Iterator[Block]:
    """One Block per parsed batch of a book_snapshot_N file."""
    progress = RowsToBytes(f.path)
    for first, batch in f.batches():
        n = batch.num_rows
        names, codes, keep = f.symbols(batch, first, choice)
        local = f.local_ts(batch, first)
        book = np.empty((n, levels, 4))
        for i in range(levels):
            for j, (side, what) in enumerate(SNAPSHOT_FIELDS):
                column = f"{side}[{i}].{what}"
                book[:, i, j] = to_numpy(batch.column(batch.schema.get_field_index(column)))
        _check_snapshot_cells(f, book, first)
        px = book[:, :, 0::2]  # (n, L, ask/bid)
        one_sided = np.isnan(px[:, 0, :]).any(axis=1)
        crossed = ~one_sided & (px[:, 0, 0] <= px[:, 0, 1])
        wanted = keep[codes]
        skipped.one_sided += int((one_sided & wanted).sum())
        skipped.crossed += int((crossed & wanted).sum())
        rows = np.flatnonzero(wanted & ~one_sided & ~crossed)
        if rows.size == 0:
            continue
        used = sorted(set(codes[rows].tolist()))
        remap = np.zeros(len(names), dtype=np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        yield Block(
            file=f.file,
            ts=local[rows] * US,
            features=pad_levels(book[rows].reshape(rows.size, 4 * levels)),
            symbols=[names[c] for c in used],
            symbol_idx=remap[codes[rows]],
            row_of=lambda i, rows=rows, first=first: f.line(first + int(rows[i])),
            pos=progress(first + n),
        )


def _check_snapshot_cells(f: _File, book: np.ndarray, first: int) -> None:
    """A level has both a price and an amount or neither; prices are > 0, amounts >= 0."""
    px, amount = book[:, :, 0::2], book[:, :, 1::2]
    problems = (
        (np.isnan(px) & ~np.isnan(amount), "amount without a price", 0),
        (~np.isnan(px) & np.isnan(amount), "price without an amount", 1),
        (~np.isnan(px) & ~(np.isfinite(px) & (px > 0)), "price is not a positive number", 0),
        (~np.isnan(amount) & ~(np.isfinite(amount) & (amount >= 0)), "negative amount", 1),
    )
    for bad, what, field in problems:
        k = _first_bad(bad.any(axis=(1, 2)))
        if k is not None:
            level, side = (int(v) for v in np.argwhere(bad[k])[0])
            column = f"{('asks', 'bids')[side]}[{level}].{('price', 'amount')[field]}"
            raise f.fail(what, first + k, column)


@dataclass
class _Book:
    book: BinanceBook  # used as a plain price-level book: its sides, top() and crossed
    in_snapshot: bool = False


def _incremental_rows(
    f: _File,
    *,
    choice: SymbolChoice,
    levels: int,
    skipped: Skipped,
    books: dict[str, _Book],
    rows: Rows,
) -> Iterator[Block]:
    """Rebuild books from an incremental_book_L2 file, yielding full Blocks as they fill."""
    progress = RowsToBytes(f.path)
    pending: tuple[str, int, int] | None = None  # (symbol, local ts, data row) of the message

    def emit(symbol: str, local: int, k: int) -> None:
        state = books[symbol].book
        if len(state.bids) < levels or len(state.asks) < levels:
            skipped.shallow += 1
        elif state.crossed:
            skipped.crossed += 1
        else:
            rows.add(local * US, symbol, state.top(levels), f.file, k)

    for first, batch in f.batches():
        names, codes, keep = f.symbols(batch, first, choice)
        local = f.local_ts(batch, first)
        col = batch.schema.get_field_index
        snap_names, snap_codes, snap_null = _codes(batch.column(col("is_snapshot")))
        side_names, side_codes, side_null = _codes(batch.column(col("side")))
        price = to_numpy(batch.column(col("price"))).astype(np.float64)
        amount = to_numpy(batch.column(col("amount"))).astype(np.float64)
        is_true = np.array([s.strip().lower() == "true" for s in snap_names] or [False])
        is_flag = np.array([s.strip().lower() in ("true", "false") for s in snap_names] or [False])
        is_bid = np.array([s.strip().lower() == "bid" for s in side_names] or [False])
        is_side = np.array([s.strip().lower() in ("bid", "ask") for s in side_names] or [False])
        for bad, what, column in (
            (snap_null | ~is_flag[snap_codes], "is_snapshot must be true or false", "is_snapshot"),
            (side_null | ~is_side[side_codes], "side must be bid or ask", "side"),
            (~(np.isfinite(price) & (price > 0)), "price is not a positive number", "price"),
            (~(np.isfinite(amount) & (amount >= 0)), "amount is not a number >= 0", "amount"),
        ):
            k = _first_bad(bad & keep[codes])
            if k is not None:
                raise f.fail(what, first + k, column)
        snapshot = is_true[snap_codes].tolist()
        bid = is_bid[side_codes].tolist()
        code_list, local_list = codes.tolist(), local.tolist()
        price_list, amount_list = price.tolist(), amount.tolist()
        kept = keep.tolist()
        for i in range(batch.num_rows):
            code = code_list[i]
            if not kept[code]:
                continue
            symbol, ts = names[code], local_list[i]
            if pending is not None and (pending[0] != symbol or pending[1] != ts):
                emit(*pending)
                if rows.full():
                    yield rows.block(progress(first + i))
            pending = (symbol, ts, first + i)
            state = books.get(symbol)
            if state is None:
                state = books[symbol] = _Book(BinanceBook("TARDIS"))
            if snapshot[i]:
                if not state.in_snapshot:  # a new snapshot: the book starts from nothing
                    state.book.bids.clear()
                    state.book.asks.clear()
                    state.in_snapshot = True
            else:
                state.in_snapshot = False
            (state.book.bids if bid[i] else state.book.asks).set(price_list[i], amount_list[i])
    if pending is not None:
        emit(*pending)


def read_tardis(
    paths: list[Path],
    *,
    symbol: str | None = None,
    levels: int = LEVELS,
    many: bool = False,
    info: dict[str, Any] | None = None,
) -> Iterator[Block]:
    """Yield Blocks of snapshots from Tardis.dev CSV files, all of one kind, in the given order.

    `symbol`: keep only that symbol. `many`: a file may hold several symbols (otherwise that
    is an error naming the row where the second one appears). `info` receives the kind and the
    counts of skipped book states.
    """
    info = info if info is not None else {}
    files = [_File(p, read_layout(p)) for p in paths]
    kinds = sorted({f.layout.kind for f in files})
    if len(kinds) > 1:
        raise DataError(
            f"cannot mix Tardis {' and '.join(kinds)} files in one import", file=files[-1].file
        )
    for f in files:
        if f.layout.kind == "book_snapshot" and f.layout.depth < levels:
            d = f.layout.depth
            raise DataError(
                f"book_snapshot_{d} has {d} levels a side, {levels} are asked for: pass "
                f"--levels {d} to pad levels {d + 1}-{LEVELS} with empty levels",
                file=f.file,
                row=1,
                column=f"asks[{d}].price",
            )
    choice = SymbolChoice(symbol, many=many)
    skipped = Skipped()
    if kinds == ["book_snapshot"]:
        for f in files:
            yield from _snapshot_blocks(f, choice=choice, levels=levels, skipped=skipped)
    else:
        by_file = {f.file: f for f in files}
        rows = Rows(row_of=lambda file, k: by_file[file].line(k))
        books: dict[str, _Book] = {}
        for f in files:
            yield from _incremental_rows(
                f, choice=choice, levels=levels, skipped=skipped, books=books, rows=rows
            )
        if len(rows):
            yield rows.block()
    choice.finish(files[0].file)
    info.update(
        tardis_kind=kinds[0],
        ts="Tardis local_timestamp (µs) as ns",
        book_levels=levels,
        **skipped.settings(),
    )
