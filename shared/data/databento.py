"""Databento DBN files (https://databento.com/docs/standards-and-conventions/databento-binary-encoding),
plain (`.dbn`) or zstd-compressed (`.dbn.zst`), decoded by the official `databento-dbn` package.

lob data import ../shared/data/databento-es-mbo/orderbooks_mbo_*.dbn.zst --name es

Schemas:
- `mbp-10`: one snapshot per record whose flags include F_LAST (128), from its ten
  bid/ask levels; an UNDEF_PRICE level is empty and padded like LOBSTER's (shared.data.rebuild).
  `mbp-1` has one level and is taken only with `--levels 1`.
- `mbo`: the book is rebuilt per instrument from its orders. A adds an order; C cancels all or
  part of one; M changes its price and size (an unknown order id is added, as Databento's own
  book does); R clears the book. T, F and N leave it alone (a fill also arrives as a cancel).
  A snapshot is emitted after each record with F_LAST, once both sides have `--levels` levels
  and the book is not crossed.
- anything else (trades, OHLCV, definitions, ...) is refused, naming the schema.

Prices are int64 in units of 1e-9. Rows are stamped with `ts_recv`, the capture time by which
Databento orders its records (`ts_event` of a snapshot's records is the orders' original entry
time). The symbol is the raw symbol of the file's metadata mappings (instrument id -> symbol);
`--symbol` matches either. Row numbers in errors count records after the metadata header, from 1.

A file cut short is refused: a zstd stream whose last frame is incomplete (checked from the
frame headers before any record is read), or a record cut in half. (An uncompressed file cut
exactly between two records cannot be told from a shorter file: DBN has no trailer.)
Several files are one recording: MBO books carry over from file to file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import databento_dbn as dbn

from shared.data.binance_book import BinanceBook
from shared.data.checks import Block
from shared.data.rebuild import Rows, Skipped, SymbolChoice
from shared.data.schema import LEVELS
from shared.errors import DataError

DBN_MAGIC = b"DBN"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK_BYTES = 1 << 18
PRICE_SCALE = 1e9  # prices are int64 units of 1e-9
NAN = float("nan")
BOOK_SCHEMAS = {"mbo": 0, "mbp-10": 10, "mbp-1": 1}  # schema -> levels it carries (0: rebuilt)


def is_zstd(head: bytes) -> bool:
    return head[:4] == ZSTD_MAGIC


def looks_like_dbn(path: Path) -> bool:
    """A DBN stream, plain or zstd-compressed (whose first chunk must decode to DBN metadata)."""
    with open(path, "rb") as fh:
        head = fh.read(CHUNK_BYTES)
    if head[:3] == DBN_MAGIC:
        return True
    if not is_zstd(head):
        return False
    try:
        records = dbn.DBNDecoder(compression=dbn.Compression.ZSTD).write_and_decode(head)
    except dbn.DBNError:
        return False
    return bool(records) and isinstance(records[0], dbn.Metadata)


def zstd_cut_at(path: Path) -> int | None:
    """Walk the zstd frames (RFC 8878 section 3.1) by their headers alone; the byte offset at
    which the stream ends inside a frame, or None when every frame is complete."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        pos = 0
        while pos < size:
            fh.seek(pos)
            magic = fh.read(4)
            if len(magic) < 4:
                return pos
            (value,) = struct.unpack("<I", magic)
            if value & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame: 4-byte length, then data
                length = fh.read(4)
                if len(length) < 4:
                    return pos
                pos += 8 + struct.unpack("<I", length)[0]
                if pos > size:
                    return size
                continue
            if magic != ZSTD_MAGIC:
                return pos
            descriptor = fh.read(1)
            if not descriptor:
                return pos
            fhd = descriptor[0]
            single_segment = bool(fhd & 0x20)
            checksum = 4 if fhd & 0x04 else 0
            dict_id = (0, 1, 2, 4)[fhd & 0x03]
            fcs = (1 if single_segment else 0, 2, 4, 8)[fhd >> 6]
            pos += 5 + (0 if single_segment else 1) + dict_id + fcs
            while True:
                fh.seek(pos)
                header = fh.read(3)
                if len(header) < 3:
                    return size
                bits = int.from_bytes(header, "little")
                last, kind, block_size = bits & 1, (bits >> 1) & 3, bits >> 3
                pos += 3 + (1 if kind == 1 else block_size)
                if pos > size:
                    return size
                if last:
                    break
            pos += checksum
            if pos > size:
                return size
    return None


def _decoder(path: Path) -> tuple[dbn.DBNDecoder, bool]:
    with open(path, "rb") as fh:
        zstd = is_zstd(fh.read(4))
    compression = dbn.Compression.ZSTD if zstd else dbn.Compression.NONE
    return dbn.DBNDecoder(compression=compression), zstd


def _records(path: Path) -> Iterator[Any]:
    """The metadata, then every record of one file; a DBN decoding error or a cut-off file is
    a DataError naming the record."""
    file = str(path)
    decoder, zstd = _decoder(path)
    count = -1  # the metadata is not a record
    if zstd and zstd_cut_at(path) is not None:
        for _ in _decode(decoder, path):
            count += 1
        raise DataError(
            f"truncated DBN file: the zstd stream stops inside a frame after record {max(count, 0)}",
            file=file,
            row=max(count, 0) + 1,
        )
    for record in _decode(decoder, path):
        count += 1
        yield record
    left = len(decoder.buffer())
    if count < 0:
        raise DataError("truncated or not a DBN file: no complete metadata header", file=file)
    if left:
        raise DataError(
            f"truncated DBN file: record {count + 1} is cut short ({left} bytes)",
            file=file,
            row=count + 1,
        )


def _decode(decoder: dbn.DBNDecoder, path: Path) -> Iterator[Any]:
    done = 0  # the metadata, then records: after it, `done` is the number of the next record
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            try:
                records = decoder.write_and_decode(chunk)
            except dbn.DBNError as exc:
                raise DataError(
                    f"unreadable DBN data ({str(exc).strip()})",
                    file=str(path),
                    row=done or None,
                ) from None
            done += len(records)
            yield from records


def _schema(metadata: Any, file: str, levels: int) -> str:
    schema = str(metadata.schema) if metadata.schema is not None else "mixed"
    if schema not in BOOK_SCHEMAS:
        raise DataError(
            f"Databento schema {schema!r} is not an order book: import mbo or mbp-10 "
            "(or mbp-1 with --levels 1)",
            file=file,
            column="schema",
        )
    have = BOOK_SCHEMAS[schema]
    if have and have < levels:
        raise DataError(
            f"Databento schema {schema!r} has {have} level(s) a side and {levels} are asked for: "
            f"use mbp-10 or mbo (or pass --levels {have})",
            file=file,
            column="schema",
        )
    return schema


def _instrument_names(metadata: Any) -> dict[int, str]:
    """Instrument id -> raw symbol, from the metadata's symbology mappings (either direction)."""
    out: dict[int, str] = {}
    for raw, intervals in (metadata.mappings or {}).items():
        for interval in intervals:
            mapped = str(interval["symbol"])
            if mapped.isdigit() and not raw.isdigit():
                out[int(mapped)] = raw
            elif raw.isdigit() and mapped and not mapped.isdigit():
                out[int(raw)] = mapped
    return out


@dataclass
class _MboBook:
    """One instrument's book rebuilt from its orders: order id -> (is_bid, price, size), and
    the size per price level on a BinanceBook's sides (used as a plain price-level book)."""

    publisher: int
    levels: BinanceBook = field(default_factory=lambda: BinanceBook("DBN"))
    orders: dict[int, tuple[bool, int, int]] = field(default_factory=dict)

    def _level(self, is_bid: bool, price: int, delta: int) -> None:
        side = self.levels.bids if is_bid else self.levels.asks
        side.set(price, side.qty.get(price, 0) + delta)

    def add(self, order_id: int, is_bid: bool, price: int, size: int) -> str | None:
        if order_id in self.orders:
            return f"order id {order_id} is added twice"
        self.orders[order_id] = (is_bid, price, size)
        self._level(is_bid, price, size)
        return None

    def cancel(self, order_id: int, size: int) -> str | None:
        order = self.orders.get(order_id)
        if order is None:
            return (
                f"cancel of unknown order id {order_id} (does the file start without a book "
                "snapshot?)"
            )
        is_bid, price, resting = order
        if size > resting:
            return f"cancel of {size} from order id {order_id}, which has only {resting}"
        if size == resting:
            del self.orders[order_id]
        else:
            self.orders[order_id] = (is_bid, price, resting - size)
        self._level(is_bid, price, -size)
        return None

    def modify(self, order_id: int, is_bid: bool, price: int, size: int) -> str | None:
        order = self.orders.pop(order_id, None)
        if order is not None:
            self._level(order[0], order[1], -order[2])
        if size:
            self.orders[order_id] = (is_bid, price, size)
            self._level(is_bid, price, size)
        return None

    def clear(self) -> None:
        self.orders.clear()
        self.levels.bids.clear()
        self.levels.asks.clear()


class _Reader:
    """State across the files of one import: the schema, symbol names and MBO books."""

    def __init__(self, *, symbol: str | None, levels: int, many: bool) -> None:
        self.choice = SymbolChoice(symbol, many=many)
        self.levels = levels
        self.schema: str | None = None
        self.names: dict[int, str] = {}
        self.kept: dict[int, bool] = {}
        self.books: dict[int, _MboBook] = {}
        self.skipped = Skipped()
        self.rows = Rows()
        self.records = 0

    def instrument(self, iid: int, file: str, k: int) -> bool:
        keep = self.kept.get(iid)
        if keep is None:
            name = self.names.get(iid, str(iid))
            keep = self.kept[iid] = self.choice.keep(name, file=file, row=k, also=[str(iid)])
        return keep

    def read(self, path: Path) -> Iterator[Block]:
        file = str(path)
        records = _records(path)
        metadata = next(records)
        if not isinstance(metadata, dbn.Metadata):
            raise DataError("not a DBN file: it does not start with DBN metadata", file=file)
        schema = _schema(metadata, file, self.levels)
        if self.schema is not None and schema != self.schema:
            raise DataError(f"schema {schema} after {self.schema} files", file=file)
        self.schema = schema
        for iid, name in _instrument_names(metadata).items():
            self.names.setdefault(iid, name.strip().upper())
        on_record = self._mbo if schema == "mbo" else self._mbp
        k = 0
        for k, record in enumerate(records, start=1):
            if not isinstance(record, dbn.MBOMsg | dbn.MBP10Msg | dbn.MBP1Msg):
                continue  # symbol mappings, system and error messages of a live capture
            problem = on_record(record, file, k)
            if problem is not None:
                raise DataError(problem[0], file=file, row=k, column=problem[1])
            if self.rows.full():
                yield self.rows.block()
        self.records += k
        if len(self.rows):
            yield self.rows.block()

    def _emit(self, ts: int, iid: int, book: Sequence[float], file: str, k: int) -> None:
        self.rows.add(ts, self.names.get(iid, str(iid)), book, file, k)

    def _mbp(self, rec: Any, file: str, k: int) -> tuple[str, str] | None:
        if not rec.flags & dbn.F_LAST or not self.instrument(rec.instrument_id, file, k):
            return None
        book: list[float] = []
        for level in rec.levels[: self.levels]:
            ask, bid = level.ask_px, level.bid_px
            book += (
                NAN if ask == dbn.UNDEF_PRICE else ask / PRICE_SCALE,
                level.ask_sz,
                NAN if bid == dbn.UNDEF_PRICE else bid / PRICE_SCALE,
                level.bid_sz,
            )
        if book[0] != book[0] or book[2] != book[2]:  # NaN: no best level on a side
            self.skipped.one_sided += 1
        elif book[0] <= book[2]:
            self.skipped.crossed += 1
        else:
            self._emit(rec.ts_recv, rec.instrument_id, book, file, k)
        return None

    def _mbo(self, rec: Any, file: str, k: int) -> tuple[str, str] | None:
        iid = rec.instrument_id
        if not self.instrument(iid, file, k):
            return None
        book = self.books.get(iid)
        if book is None:
            book = self.books[iid] = _MboBook(rec.publisher_id)
        elif book.publisher != rec.publisher_id:
            return (
                f"instrument {iid} has records from publishers {book.publisher} and "
                f"{rec.publisher_id}: one venue's book per file",
                "publisher_id",
            )
        action = rec.action
        problem: str | None = None
        if action == "R":
            book.clear()
        elif action in ("A", "C", "M"):
            if rec.flags & dbn.F_TOB:
                return ("top-of-book-only MBO (F_TOB) cannot give a multi-level book", "flags")
            side = rec.side
            if action == "C":
                problem = book.cancel(rec.order_id, rec.size)
            elif side not in ("B", "A"):
                return (f"{action} record without a side ({side!r})", "side")
            elif rec.price == dbn.UNDEF_PRICE or rec.price <= 0:
                return (f"{action} record without a valid price", "price")
            elif action == "A":
                problem = book.add(rec.order_id, side == "B", rec.price, rec.size)
            else:
                problem = book.modify(rec.order_id, side == "B", rec.price, rec.size)
            if problem is not None:
                return (problem, "order_id" if "order id" in problem else "size")
        elif action not in ("T", "F", "N"):
            return (f"unknown MBO action {action!r}", "action")
        if rec.flags & dbn.F_LAST:
            levels = book.levels
            if len(levels.bids) < self.levels or len(levels.asks) < self.levels:
                self.skipped.shallow += 1
            elif levels.crossed:
                self.skipped.crossed += 1
            else:
                top = levels.top(self.levels)
                top[0::2] /= PRICE_SCALE
                self._emit(rec.ts_recv, iid, top, file, k)
        return None


def read_dbn(
    paths: list[Path],
    *,
    symbol: str | None = None,
    levels: int = LEVELS,
    many: bool = False,
    info: dict[str, Any] | None = None,
) -> Iterator[Block]:
    """Yield Blocks of snapshots from DBN files of one book schema, in the given order.

    `symbol`: keep only that instrument (raw symbol or id). `many`: the files may hold several
    instruments (otherwise that is an error naming the record where the second appears). `info`
    receives the schema, the record count and the counts of skipped book states.
    """
    reader = _Reader(symbol=symbol, levels=levels, many=many)
    for path in paths:
        yield from reader.read(path)
    reader.choice.finish(str(paths[0]))
    if info is not None:
        info.update(
            databento_schema=reader.schema,
            records=reader.records,
            ts="Databento ts_recv (ns)",
            book_levels=levels,
            **reader.skipped.settings(),
        )
