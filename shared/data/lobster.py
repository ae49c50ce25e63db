"""LOBSTER order-book + message file pairs (https://lobsterdata.com/info/DataStructure.php).

`<SYM>_<YYYY-MM-DD>_<start>_<end>_orderbook_<L>.csv`: no header; per level 1..L ask price, ask
size, bid price, bid size; prices are USD x 10000. Row k is the book after message k.
`<SYM>_<YYYY-MM-DD>_<start>_<end>_message_<L>.csv`: time (seconds after midnight), type, order id,
size, price, direction.

Conversions:
- price / 10000; ts = the trading date's midnight in New York (LOBSTER's NASDAQ data is stamped
  in exchange local time) + the message time, as int64 ns since epoch UTC;
- an empty level (ask price 9999999999, bid price -9999999999, size 0) takes the price of the
  level above it on the same side and size 0, and books with fewer than 10 levels are padded the
  same way. Price 0 or the sentinel itself would be a huge fake jump for the z-score scaler and
  the convolution filters; repeating the last real price with zero volume says "no liquidity
  here" without inventing a price. An empty *best* level (one-sided book) has no mid price and
  is refused with a DataError naming the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from shared.data.checks import Block
from shared.data.schema import LEVELS
from shared.data.textfile import (
    Kind,
    arrow_failure,
    find_bad_line,
    first_line,
    line_of_data_row,
    open_arrow_stream,
    to_numpy,
)
from shared.errors import DataError

NAME_RE = re.compile(
    r"^(?P<symbol>.+?)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_"
    r"(?P<kind>orderbook|message)_(?P<levels>\d+)\.csv$"
)
EXCHANGE_TZ = ZoneInfo("America/New_York")
PRICE_SCALE = 10_000.0
EMPTY_ASK = 9_999_999_999.0
EMPTY_BID = -9_999_999_999.0
MESSAGE_COLUMNS = 6
BLOCK_BYTES = 8 << 20


def is_lobster_name(path: Path) -> bool:
    return NAME_RE.match(path.name) is not None


@dataclass(frozen=True)
class LobsterPair:
    orderbook: Path
    message: Path
    symbol: str
    day: date
    levels: int


def _partner(path: Path, kind: str) -> Path:
    other = "message" if kind == "orderbook" else "orderbook"
    return path.with_name(re.sub(rf"_{kind}_(\d+)\.csv$", rf"_{other}_\1.csv", path.name))


def pair_files(paths: list[Path]) -> list[LobsterPair]:
    """Group the given files into (orderbook, message) pairs, finding a missing partner beside
    its sibling; pairs are returned in trading-date order."""
    pairs: dict[Path, LobsterPair] = {}
    for path in paths:
        m = NAME_RE.match(path.name)
        if m is None:
            raise DataError(
                "not a LOBSTER file name (expected SYMBOL_YYYY-MM-DD_START_END_orderbook_L.csv "
                "or ..._message_L.csv)",
                file=str(path),
            )
        book = path if m["kind"] == "orderbook" else _partner(path, "message")
        message = _partner(book, "orderbook")
        if book in pairs:
            continue
        for needed in (book, message):
            if not needed.is_file():
                raise DataError(
                    f"its LOBSTER partner file {needed.name} is missing", file=str(path)
                )
        pairs[book] = LobsterPair(
            orderbook=book,
            message=message,
            symbol=m["symbol"].upper(),
            day=date.fromisoformat(m["date"]),
            levels=int(m["levels"]),
        )
    return sorted(pairs.values(), key=lambda p: (p.day, p.symbol))


def midnight_ns(day: date) -> int:
    local = datetime(day.year, day.month, day.day, tzinfo=EXCHANGE_TZ)
    return int(local.timestamp()) * 1_000_000_000


def _read_times(path: Path) -> np.ndarray:
    """Message times (seconds after midnight, float64) of every message line."""
    head = first_line(path)
    if not head.strip():
        raise DataError("empty file", file=str(path))
    width = len(head.split(","))
    if width < MESSAGE_COLUMNS:
        raise DataError(
            f"expected {MESSAGE_COLUMNS} fields (time, type, order id, size, price, direction), "
            f"got {width}",
            file=str(path),
            row=1,
        )
    names = [f"m{i}" for i in range(width)]
    names[0] = "time"
    stream = open_arrow_stream(path)
    try:
        table = pacsv.read_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=names),
            convert_options=pacsv.ConvertOptions(
                column_types={"time": pa.float64()}, include_columns=["time"]
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        kinds: list[Kind] = ["float", *(["str"] * (width - 1))]
        located = find_bad_line(path, skip_lines=0, names=names, kinds=kinds)
        raise arrow_failure(path, exc, located=located) from exc
    finally:
        stream.close()
    times = to_numpy(table.column("time")).astype(np.float64)
    bad = ~np.isfinite(times) | (times < 0) | (times >= 2 * 86_400)
    if bad.any():
        k = int(np.argmax(bad))
        raise DataError(
            f"message time {times[k]!r} is not seconds after midnight",
            file=str(path),
            row=line_of_data_row(path, skip_lines=0, row=k),
            column="time",
        )
    return times


def fill_side(px: np.ndarray, sz: np.ndarray, empty: np.ndarray) -> None:
    """In place: an empty level repeats the price of the level above, with size 0."""
    sz[empty] = 0.0
    for j in range(1, px.shape[1]):
        px[:, j] = np.where(empty[:, j], px[:, j - 1], px[:, j])


def _to_features(raw: np.ndarray, levels: int) -> tuple[np.ndarray, int | None, str]:
    """(features float32 (n, 40), first row with an empty best level or None, which side)."""
    n = raw.shape[0]
    use = min(levels, LEVELS)
    cube = raw[:, : 4 * use].reshape(n, use, 4)
    ask_px, ask_sz, bid_px, bid_sz = (cube[:, :, f].copy() for f in range(4))
    ask_empty = ask_px >= EMPTY_ASK
    bid_empty = bid_px <= EMPTY_BID
    one_sided = ask_empty[:, 0] | bid_empty[:, 0]
    if one_sided.any():
        k = int(np.argmax(one_sided))
        return np.empty((0, 4 * LEVELS), np.float32), k, "ask" if ask_empty[k, 0] else "bid"
    fill_side(ask_px, ask_sz, ask_empty)
    fill_side(bid_px, bid_sz, bid_empty)
    out = np.empty((n, LEVELS, 4), dtype=np.float32)
    out[:, :use, 0] = ask_px / PRICE_SCALE
    out[:, :use, 1] = ask_sz
    out[:, :use, 2] = bid_px / PRICE_SCALE
    out[:, :use, 3] = bid_sz
    if use < LEVELS:  # pad missing levels like empty ones
        out[:, use:, 0] = out[:, use - 1 : use, 0]
        out[:, use:, 2] = out[:, use - 1 : use, 2]
        out[:, use:, 1] = 0.0
        out[:, use:, 3] = 0.0
    return out.reshape(n, 4 * LEVELS), None, ""


def read_pair(pair: LobsterPair, *, symbol: str | None = None) -> Iterator[Block]:
    """Yield blocks of one LOBSTER day; `symbol` overrides the one in the file name."""
    book_file = str(pair.orderbook)
    times = _read_times(pair.message)
    head = first_line(pair.orderbook)
    if not head.strip():
        raise DataError("empty file", file=book_file)
    width = len(head.split(","))
    if width != 4 * pair.levels:
        raise DataError(
            f"expected {4 * pair.levels} fields for {pair.levels} levels, got {width}",
            file=book_file,
            row=1,
        )
    names = [
        f"{field}_{level}"
        for level in range(1, pair.levels + 1)
        for field in ("ask_px", "ask_sz", "bid_px", "bid_sz")
    ]
    base_ns = midnight_ns(pair.day)
    sym = (symbol or pair.symbol).strip().upper()

    def row_of_data(k: int) -> int:
        return line_of_data_row(pair.orderbook, skip_lines=0, row=k)

    rows = 0
    stream = open_arrow_stream(pair.orderbook)
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=names, block_size=BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.float64())),
        )
        for batch in reader:
            n = batch.num_rows
            if n == 0:
                continue
            if rows + n > times.shape[0]:
                raise DataError(
                    f"has more rows than its message file {pair.message.name} "
                    f"({times.shape[0]} messages)",
                    file=book_file,
                    row=row_of_data(times.shape[0]),
                )
            raw = np.column_stack([to_numpy(batch.column(j)) for j in range(batch.num_columns)])
            features, bad, side = _to_features(raw, pair.levels)
            if bad is not None:
                raise DataError(
                    f"empty best {side} level (one-sided book has no mid price)",
                    file=book_file,
                    row=row_of_data(rows + bad),
                )
            ts = base_ns + np.rint(times[rows : rows + n] * 1e9).astype(np.int64)
            first = rows
            yield Block(
                file=book_file,
                ts=ts,
                features=features,
                symbols=[sym],
                symbol_idx=np.zeros(n, dtype=np.int32),
                row_of=lambda i, first=first: row_of_data(first + i),
                pos=int(pair.orderbook.stat().st_size * (rows + n) / times.shape[0]),
            )
            rows += n
    except (pa.ArrowInvalid, OSError) as exc:
        located = find_bad_line(
            pair.orderbook, skip_lines=0, names=names, kinds=["float"] * len(names), start_row=rows
        )
        raise arrow_failure(pair.orderbook, exc, located=located) from exc
    finally:
        stream.close()
    if rows != times.shape[0]:
        raise DataError(
            f"has {rows} rows but its message file {pair.message.name} has {times.shape[0]}",
            file=book_file,
        )
