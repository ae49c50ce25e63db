"""What the vendor-file importers (shared.data.tardis, shared.data.databento) have in common:
which symbols a file may hold and which are kept, how a book with fewer than 10 levels becomes
40 features, and emitted snapshots gathered into Blocks.

Padding is LOBSTER's rule (shared.data.lobster): an empty level, and every level past the ones
the source has (`--levels 5` of a 5-level file), takes the price of the level above it on the
same side with size 0. A price of 0 or NaN would be a huge fake jump for the scaler and the
convolutions; repeating the last real price with no volume says "no liquidity here".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from shared.data.checks import Block
from shared.data.lobster import fill_side
from shared.data.schema import LEVELS
from shared.errors import BadConfig, DataError

BLOCK_ROWS = 1 << 16


def check_levels(levels: int) -> int:
    if not 1 <= levels <= LEVELS:
        raise BadConfig(f"--levels must be between 1 and {LEVELS}, got {levels}")
    return levels


def pad_levels(book: np.ndarray) -> np.ndarray:
    """(n, 4 * L) books in FEATURE_COLUMNS order (ask_px, ask_sz, bid_px, bid_sz per level; a NaN
    price is an empty level) -> (n, 40) float32 with levels L+1..10 and empty ones padded.

    The best level of each side must be present: callers drop one-sided books first.
    """
    n, width = book.shape
    have = width // 4
    cube = np.full((n, LEVELS, 4), np.nan)
    cube[:, :have] = book.reshape(n, have, 4)
    ask_px, ask_sz, bid_px, bid_sz = (np.ascontiguousarray(cube[:, :, f]) for f in range(4))
    fill_side(ask_px, ask_sz, np.isnan(ask_px))
    fill_side(bid_px, bid_sz, np.isnan(bid_px))
    out = np.stack([ask_px, ask_sz, bid_px, bid_sz], axis=2)  # (n, 10, 4)
    return out.reshape(n, 4 * LEVELS).astype(np.float32)


class SymbolChoice:
    """Which symbols of a source are kept.

    `symbol` given: only that one (matched upper-case; a source without it is an error at the
    end). Not given: a source may hold one symbol, or several when `many` (--split-symbols, or a
    replay, which streams every symbol).
    """

    def __init__(self, symbol: str | None, *, many: bool) -> None:
        self.symbol = symbol.strip().upper() if symbol is not None else None
        self.many = many
        self.seen: list[str] = []
        self._decided: dict[str, bool] = {}

    def keep(
        self,
        name: str,
        *,
        file: str,
        row: int | Callable[[], int] | None,
        also: Iterable[str] = (),
    ) -> bool:
        """Whether rows of symbol `name` are kept; `row` (or a function giving it, called only
        for an error) is where it first appears; `also` are other names the same instrument
        goes by (a Databento instrument id), which --symbol may match too."""
        decided = self._decided.get(name)
        if decided is not None:
            return decided
        self.seen.append(name)
        if self.symbol is not None:
            keep = self.symbol in (name, *(a.upper() for a in also))
        elif self.many or len(self.seen) == 1:
            keep = True
        else:
            raise DataError(
                f"the file holds more than one symbol ({', '.join(self.seen)}): pass --symbol to "
                "import one of them, or --split-symbols for a dataset per symbol",
                file=file,
                row=row() if callable(row) else row,
                column="symbol",
            )
        self._decided[name] = keep
        return keep

    def finish(self, file: str) -> None:
        if self.symbol is not None and not any(self._decided.values()):
            has = ", ".join(self.seen) if self.seen else "no book rows"
            raise DataError(f"no rows for symbol {self.symbol} (the file has {has})", file=file)


@dataclass
class Skipped:
    """Book states that were not emitted, by reason; they go to meta.json's settings."""

    one_sided: int = 0  # a side has no level at all: no mid price
    crossed: int = 0  # best ask <= best bid
    shallow: int = 0  # fewer levels a side than --levels (the book is still filling up)

    def settings(self) -> dict[str, int]:
        return {
            "one_sided_skipped": self.one_sided,
            "crossed_skipped": self.crossed,
            "shallow_skipped": self.shallow,
        }


def _same(file: str, k: int) -> int:
    return k


@dataclass
class Rows:
    """Snapshots as a rebuilding reader emits them, one at a time, cut into Blocks.

    Each row remembers (file, k), the source row it was emitted at; `row_of(file, k)` turns that
    into the number an error message shows, and is called only when a row is reported.
    """

    row_of: Callable[[str, int], int] = _same
    ts: list[int] = field(default_factory=list)
    books: list[Sequence[float]] = field(default_factory=list)  # 4 * L each, NaN = empty level
    symbols: list[str] = field(default_factory=list)
    where: list[tuple[str, int]] = field(default_factory=list)

    def add(self, ts: int, symbol: str, book: Sequence[float], file: str, k: int) -> None:
        self.ts.append(ts)
        self.books.append(book)
        self.symbols.append(symbol)
        self.where.append((file, k))

    def __len__(self) -> int:
        return len(self.ts)

    def full(self) -> bool:
        return len(self.ts) >= BLOCK_ROWS

    def block(self, pos: int | None = None) -> Block:
        """The rows so far as one Block (which may span files), and start afresh."""
        names = sorted(set(self.symbols))
        code = {s: i for i, s in enumerate(names)}
        where, row_of = self.where, self.row_of
        n = len(self.ts)
        block = Block(
            file=where[0][0],
            ts=np.asarray(self.ts, dtype=np.int64),
            features=pad_levels(np.asarray(self.books, dtype=np.float64).reshape(n, -1)),
            symbols=names,
            symbol_idx=np.fromiter((code[s] for s in self.symbols), dtype=np.int32, count=n),
            row_of=lambda i: row_of(*where[i]),
            file_of=lambda i: where[i][0],
            pos=pos,
        )
        self.ts, self.books, self.symbols, self.where = [], [], [], []
        return block
