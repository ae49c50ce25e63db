"""Blocks of snapshot rows as readers yield them, and the checks every imported row must pass.

Readers (canonical CSV/Parquet, LOBSTER, Binance) turn their files into `Block`s; `RowSink` checks
each block and streams it into a `DatasetWriter`. The checks are vectorised over a whole block;
only when one fails is the offending row located and named.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shared.data.schema import (
    ASK_PX_1,
    BID_PX_1,
    FEATURE_COLUMNS,
    N_FEATURES,
    SYMBOL_PATTERN,
    SYMBOL_RULE,
    TS_FUTURE_NS,
    TS_MIN_NS,
)
from shared.data.store import DatasetWriter
from shared.errors import DataError

SIZE_COLUMNS = np.arange(1, N_FEATURES, 2)  # ask_sz_i and bid_sz_i sit at the odd indices
PRICE_COLUMNS = np.arange(0, N_FEATURES, 2)
SYMBOL_RE = re.compile(SYMBOL_PATTERN)


def ts_problem(ts: int, now_ns: int | None = None) -> str | None:
    """Why `ts` (ns since epoch) is out of bounds, or None (see shared.data.schema)."""
    if ts < TS_MIN_NS:
        return f"timestamp {ts} is before 1990-01-01 (expected ns since the epoch, UTC)"
    now = time.time_ns() if now_ns is None else now_ns
    if ts > now + TS_FUTURE_NS:
        return f"timestamp {ts} is more than a day in the future"
    return None


def symbol_problem(symbol: str) -> str | None:
    """Why `symbol` cannot be used, or None."""
    if SYMBOL_RE.fullmatch(symbol):
        return None
    shown = symbol if len(symbol) <= 40 else f"{symbol[:40]}… ({len(symbol)} characters)"
    return f"invalid symbol {shown!r}: use {SYMBOL_RULE}"


@dataclass
class Block:
    """Consecutive rows from one source file.

    `row_of(i)` gives the number to report for the block's i-th row in an error message: the line
    number in a text file (header = line 1), or the 1-based row number in a Parquet file.
    """

    file: str
    ts: np.ndarray  # int64 (n,) ns since epoch, UTC
    features: np.ndarray  # float32 (n, 40), FEATURE_COLUMNS order
    symbols: list[str]  # this block's symbol table
    symbol_idx: np.ndarray  # (n,) integer index into `symbols`
    row_of: Callable[[int], int]
    file_of: Callable[[int], str] | None = None  # when rows come from several files
    pos: int | None = None  # bytes of `file` consumed so far, for progress output

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def where(self, i: int) -> str:
        return self.file_of(i) if self.file_of is not None else self.file


def _first(mask: np.ndarray) -> int | None:
    if not mask.any():
        return None
    return int(np.argmax(mask))


def check_block(block: Block, prev_ts: int | None) -> None:
    """Raise DataError for the earliest bad row of the block: a non-finite number, a negative
    size or price, a crossed or locked best level, a timestamp before 1990 or more than a day
    ahead, or one before the previous row's."""
    f = block.features
    n = len(block)
    if f.shape != (n, N_FEATURES):
        raise DataError(
            f"expected {N_FEATURES} feature columns, got shape {f.shape}", file=block.file
        )
    if n == 0:
        return
    problems: list[tuple[int, str, str | None]] = []

    # Fast path: two reductions prove every number finite and non-negative (min is NaN if any
    # value is, max is inf if any value is); the per-column search runs only when they do not.
    lo, hi = f.min(), f.max()
    if not (lo >= 0 and np.isfinite(hi)):
        finite = np.isfinite(f)
        if not finite.all():
            i = _first(~finite.all(axis=1))
            assert i is not None
            j = int(np.argmax(~finite[i]))
            problems.append(
                (i, f"missing or non-finite number ({float(f[i, j])})", FEATURE_COLUMNS[j])
            )
        for columns, what in ((SIZE_COLUMNS, "size"), (PRICE_COLUMNS, "price")):
            part = f[:, columns]
            neg = part < 0
            if neg.any():
                i = _first(neg.any(axis=1))
                assert i is not None
                j = int(columns[np.argmax(neg[i])])
                problems.append((i, f"negative {what} {float(f[i, j]):g}", FEATURE_COLUMNS[j]))

    ask, bid = f[:, ASK_PX_1], f[:, BID_PX_1]
    # NaN compares False, so rows with NaN are not reported twice here.
    crossed = (ask <= bid) | (bid <= 0)
    if crossed.any():
        i = _first(crossed)
        assert i is not None
        if ask[i] <= bid[i]:
            what = f"crossed book: ask_px_1 {float(ask[i]):g} <= bid_px_1 {float(bid[i]):g}"
        else:
            what = f"best bid price is not positive ({float(bid[i]):g})"
        problems.append((i, what, None))

    ts = block.ts
    now = time.time_ns()
    out = (ts < TS_MIN_NS) | (ts > now + TS_FUTURE_NS)
    if out.any():
        i = _first(out)
        assert i is not None
        problems.append((i, str(ts_problem(int(ts[i]), now)), "ts"))
    back = np.zeros(n, dtype=bool)
    back[1:] = ts[1:] < ts[:-1]
    if prev_ts is not None:
        back[0] = ts[0] < prev_ts
    if back.any():
        i = _first(back)
        assert i is not None
        before = prev_ts if i == 0 else int(ts[i - 1])
        problems.append((i, f"timestamp goes backwards ({int(ts[i])} after {before})", "ts"))

    if problems:
        i, problem, column = min(problems, key=lambda p: p[0])
        raise DataError(problem, file=block.where(i), row=block.row_of(i), column=column)


class RowSink:
    """Checks blocks in order and streams them into a dataset, keeping one global symbol table."""

    def __init__(self, writer: DatasetWriter) -> None:
        self.writer = writer
        self.symbols: list[str] = []
        self._index: dict[str, int] = {}
        self.last_ts: int | None = None

    def add(self, block: Block) -> None:
        if len(block) == 0:
            return
        check_block(block, self.last_ts)
        lookup = np.zeros(len(block.symbols), dtype=np.uint16)
        for k, sym in enumerate(block.symbols):
            problem = "empty symbol" if not sym else symbol_problem(sym)
            if problem is not None:
                used = np.flatnonzero(block.symbol_idx == k)
                if used.size:
                    raise DataError(
                        problem,
                        file=block.where(int(used[0])),
                        row=block.row_of(int(used[0])),
                        column="symbol",
                    )
                continue
            if sym not in self._index:
                if len(self._index) >= np.iinfo(np.uint16).max:
                    raise DataError("more than 65535 symbols in one dataset", file=block.file)
                self._index[sym] = len(self.symbols)
                self.symbols.append(sym)
            lookup[k] = self._index[sym]
        self.writer.append(block.ts, block.features, lookup[block.symbol_idx])
        self.last_ts = int(block.ts[-1])

    @property
    def rows(self) -> int:
        return self.writer.rows
