"""The entry format of the Redis stream `lob:snapshots`: one order-book state per entry.

Fields of one XADD entry (all values are bytes on the wire):

    ts      int64 ns since epoch (UTC) of the book state, decimal ASCII
    symbol  upper-case symbol, e.g. BTCUSDT
    book    the 40 features in FEATURE_COLUMNS order (ask_px_1, ask_sz_1, bid_px_1, bid_sz_1, ...),
            packed as 320 bytes of little-endian float64: exact prices, no JSON parsing on the hot path
    sent    producer's wall clock (time.time_ns()) when it sent the entry, decimal ASCII; the
            consumer measures latency from it

Every producer (replay, Binance connector, benchmarks) encodes with `encode`, and the inference
service decodes with `decode`; nobody builds these fields by hand.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np

from shared.data.checks import symbol_problem, ts_problem
from shared.data.schema import ASK_PX_1, BID_PX_1, N_FEATURES, SYMBOL_PATTERN
from shared.errors import DataError

BOOK_DTYPE = np.dtype("<f8")
BOOK_BYTES = N_FEATURES * BOOK_DTYPE.itemsize  # 320
# On the stream symbols are upper-case (channel names lob:predictions:<SYMBOL> are too).
SYMBOL_RE = re.compile(SYMBOL_PATTERN.replace("a-z", ""))


def normalize_symbol(symbol: str) -> str:
    """Symbols travel upper-case (channel names lob:predictions:<SYMBOL> are upper-case too)."""
    upper = symbol.strip().upper()
    problem = symbol_problem(upper)
    if problem is not None:
        raise DataError(problem, column="symbol")
    return upper


@dataclass(frozen=True, slots=True)
class Snapshot:
    ts: int  # ns since epoch, UTC
    symbol: str
    book: np.ndarray  # float64 (40,), FEATURE_COLUMNS order
    sent_ns: int = 0  # producer send time; 0 until encoded

    @property
    def best_ask(self) -> float:
        return float(self.book[ASK_PX_1])

    @property
    def best_bid(self) -> float:
        return float(self.book[BID_PX_1])

    @property
    def mid(self) -> float:
        return (self.best_ask + self.best_bid) / 2.0


def encode(ts: int, symbol: str, book: np.ndarray, sent_ns: int | None = None) -> dict[str, bytes]:
    """Fields for XADD. `book` is any (40,) float array; `symbol` must already be normalised.
    Raises DataError for a timestamp out of bounds (before 1990, or over a day ahead)."""
    problem = ts_problem(int(ts))
    if problem is not None:
        raise DataError(problem, column="ts")
    arr = np.ascontiguousarray(book, dtype=BOOK_DTYPE)
    if arr.shape != (N_FEATURES,):
        raise DataError(f"a snapshot book has {N_FEATURES} values, got shape {arr.shape}")
    return {
        "ts": str(int(ts)).encode(),
        "symbol": symbol.encode(),
        "book": arr.tobytes(),
        "sent": str(time.time_ns() if sent_ns is None else sent_ns).encode(),
    }


def decode(fields: dict[bytes, bytes]) -> Snapshot:
    """Parse one stream entry; raises DataError naming the bad field."""
    try:
        raw_book = fields[b"book"]
        ts = int(fields[b"ts"])
        symbol = fields[b"symbol"].decode()
        sent_ns = int(fields.get(b"sent", b"0"))
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"bad snapshot entry: {exc!r}", column=_missing(fields)) from None
    if len(raw_book) != BOOK_BYTES:
        raise DataError(f"book has {len(raw_book)} bytes, expected {BOOK_BYTES}", column="book")
    if not SYMBOL_RE.fullmatch(symbol):
        raise DataError(
            symbol_problem(symbol) or f"symbol {symbol!r} is not upper-case", column="symbol"
        )
    problem = ts_problem(ts)
    if problem is not None:
        raise DataError(problem, column="ts")
    book = np.frombuffer(raw_book, dtype=BOOK_DTYPE)
    if not np.isfinite(book).all():
        raise DataError("book holds a non-finite value", column="book")
    return Snapshot(ts=ts, symbol=symbol, book=book, sent_ns=sent_ns)


def _missing(fields: dict[bytes, bytes]) -> str | None:
    for name in (b"ts", b"symbol", b"book"):
        if name not in fields:
            return name.decode()
    return None
