"""A Binance local order book: REST depth snapshot + `depthUpdate` diffs, with the exchange's
sync rules. Used by the capture importer and by the live feed; it does no I/O itself.

Binance's procedure (https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams
"How to manage a local order book correctly", and the USD-M futures equivalent):

- spot: drop events with u <= lastUpdateId; the first applied event has
  U <= lastUpdateId + 1 <= u; each next event has U == previous u + 1;
- futures: drop events with u < lastUpdateId; the first applied event has
  U <= lastUpdateId <= u; each next event has pu == previous u;
- a quantity of 0 removes the price level.

Anything else is a gap: `BinanceBook.apply_diff` raises `SequenceGap` and the book refuses diffs
until a new snapshot is applied, so it never serves a silently wrong book. `DepthSync` adds the
buffering a stream needs (diffs that arrive before the snapshot, or between a gap and the next
snapshot) and says when a snapshot must be fetched.

    book = BinanceBook("BTCUSDT", market="spot")
    sync = DepthSync(book)
    for ev in sync.on_diff(diff):          # [] while waiting for a snapshot
        publish(ev.ts_ns, ev.top)          # (40,) float64, FEATURE_COLUMNS order
    if sync.needs_snapshot:
        for ev in sync.on_snapshot(fetch_rest_snapshot()): ...
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from shared.data.schema import LEVELS
from shared.errors import DataError

Market = Literal["spot", "futures"]


class SequenceGap(DataError):
    """A diff does not continue the book's update-id sequence; a new snapshot is needed."""


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"field {name!r} must be an integer, got {value!r}")
    if value < 0:
        raise DataError(f"field {name!r} must not be negative, got {value}")
    return value


def _levels(raw: Any, name: str) -> list[tuple[float, float]]:
    """Parse [[price, qty], ...] (strings or numbers); refuse NaN, inf, price <= 0, qty < 0."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise DataError(f"field {name!r} must be a list of [price, quantity] pairs")
    out = []
    for level in raw:
        if not isinstance(level, Sequence) or isinstance(level, str | bytes) or len(level) < 2:
            raise DataError(f"field {name!r} has a malformed level {level!r}")
        try:
            price, qty = float(level[0]), float(level[1])
        except (TypeError, ValueError):
            raise DataError(f"field {name!r} has a non-numeric level {list(level[:2])!r}") from None
        if not (math.isfinite(price) and price > 0):
            raise DataError(f"field {name!r} has an invalid price {level[0]!r}")
        if not (math.isfinite(qty) and qty >= 0):
            raise DataError(f"field {name!r} has an invalid quantity {level[1]!r}")
        out.append((price, qty))
    return out


@dataclass(frozen=True, slots=True)
class Diff:
    first_id: int  # U
    final_id: int  # u
    prev_final_id: int | None  # pu (futures only)
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


def parse_diff(event: Mapping[str, Any], market: Market) -> Diff:
    """Check and parse a depthUpdate; raises DataError naming the bad field."""
    first_id = _int(event.get("U"), "U")
    final_id = _int(event.get("u"), "u")
    if final_id < first_id:
        raise DataError(f"depthUpdate has u {final_id} < U {first_id}")
    prev = _int(event.get("pu"), "pu") if market == "futures" else None
    return Diff(
        first_id=first_id,
        final_id=final_id,
        prev_final_id=prev,
        bids=_levels(event.get("b", []), "b"),
        asks=_levels(event.get("a", []), "a"),
    )


class _Side:
    """One side of the book: price -> quantity plus a sorted key list (best first)."""

    def __init__(self, descending: bool) -> None:
        self.sign = -1.0 if descending else 1.0
        self.qty: dict[float, float] = {}
        self.keys: list[float] = []  # sign * price, ascending, so keys[0] is the best level

    def clear(self) -> None:
        self.qty.clear()
        self.keys.clear()

    def set(self, price: float, qty: float) -> None:
        if qty == 0.0:
            if self.qty.pop(price, None) is not None:
                key = self.sign * price
                del self.keys[bisect.bisect_left(self.keys, key)]
        else:
            if price not in self.qty:
                bisect.insort(self.keys, self.sign * price)
            self.qty[price] = qty

    def best(self) -> tuple[float, float] | None:
        if not self.keys:
            return None
        price = self.sign * self.keys[0]
        return price, self.qty[price]

    def top(self, levels: int) -> list[tuple[float, float]]:
        return [(self.sign * k, self.qty[self.sign * k]) for k in self.keys[:levels]]

    def __len__(self) -> int:
        return len(self.keys)


class BinanceBook:
    """The local book of one symbol.

    Attributes: `symbol`, `market`, `last_update_id` (None before the first snapshot), `synced`
    (a snapshot is applied and no gap seen since).
    """

    def __init__(self, symbol: str, market: Market = "spot") -> None:
        if market not in ("spot", "futures"):
            raise DataError(f"unknown Binance market {market!r} (spot or futures)")
        self.symbol = symbol.upper()
        self.market: Market = market
        self.bids = _Side(descending=True)
        self.asks = _Side(descending=False)
        self.last_update_id: int | None = None
        self.synced = False
        self._awaiting_first = False

    def apply_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """Replace the book with a REST depth snapshot ({"lastUpdateId", "bids", "asks"})."""
        last_id = _int(snapshot.get("lastUpdateId"), "lastUpdateId")
        bids = _levels(snapshot.get("bids"), "bids")
        asks = _levels(snapshot.get("asks"), "asks")
        self.bids.clear()
        self.asks.clear()
        for price, qty in bids:
            self.bids.set(price, qty)
        for price, qty in asks:
            self.asks.set(price, qty)
        self.last_update_id = last_id
        self.synced = True
        self._awaiting_first = True

    def apply_diff(self, event: Mapping[str, Any]) -> bool:
        """Apply one depthUpdate ({"U", "u", ["pu",] "b", "a"}).

        Returns True if applied, False if the event is older than the book (dropped, as the
        sync rules say). Raises SequenceGap if it does not continue the sequence (the book then
        stays unsynced until the next apply_snapshot) and DataError if it is malformed (the book
        is left unchanged).
        """
        diff = parse_diff(event, self.market)
        if not self.synced or self.last_update_id is None:
            raise SequenceGap("the book has no valid snapshot; apply one first")
        last = self.last_update_id
        if self.market == "spot":
            if diff.final_id <= last:
                return False
            if self._awaiting_first:
                ok, expected = diff.first_id <= last + 1 <= diff.final_id, f"U <= {last + 1} <= u"
            else:
                ok, expected = diff.first_id == last + 1, f"U == {last + 1}"
        else:
            if diff.final_id < last or (not self._awaiting_first and diff.final_id <= last):
                return False
            if self._awaiting_first:
                ok, expected = diff.first_id <= last <= diff.final_id, f"U <= {last} <= u"
            else:
                ok, expected = diff.prev_final_id == last, f"pu == {last}"
        if not ok:
            self.synced = False
            got = f"U={diff.first_id}, u={diff.final_id}"
            if self.market == "futures":
                got += f", pu={diff.prev_final_id}"
            raise SequenceGap(f"sequence gap: expected {expected}, got {got}")
        for price, qty in diff.bids:
            self.bids.set(price, qty)
        for price, qty in diff.asks:
            self.asks.set(price, qty)
        self.last_update_id = diff.final_id
        self._awaiting_first = False
        return True

    @property
    def best_bid(self) -> tuple[float, float] | None:
        """(price, quantity) of the best bid, or None if the side is empty."""
        return self.bids.best()

    @property
    def best_ask(self) -> tuple[float, float] | None:
        return self.asks.best()

    @property
    def crossed(self) -> bool:
        bid, ask = self.best_bid, self.best_ask
        return bid is not None and ask is not None and ask[0] <= bid[0]

    @property
    def two_sided(self) -> bool:
        return len(self.bids) > 0 and len(self.asks) > 0

    def top(self, levels: int = LEVELS) -> np.ndarray:
        """(4 * levels,) float64 in FEATURE_COLUMNS order: ask_px, ask_sz, bid_px, bid_sz per level.

        A side with fewer levels is padded with its last real price and size 0 (the same rule as
        the LOBSTER importer); a fully empty side gives NaN prices, so check `two_sided` first.
        """
        out = np.zeros((levels, 4), dtype=np.float64)
        for col, side in ((0, self.asks), (2, self.bids)):
            lv = side.top(levels)
            if not lv:
                out[:, col] = np.nan
                continue
            arr = np.asarray(lv, dtype=np.float64)
            out[: len(lv), col] = arr[:, 0]
            out[: len(lv), col + 1] = arr[:, 1]
            out[len(lv) :, col] = arr[-1, 0]
        return out.reshape(-1)


@dataclass(frozen=True, slots=True)
class Applied:
    """One applied diff and the book right after it."""

    event: Mapping[str, Any]
    ts_ns: int  # the event time E (ms) in ns; 0 if the event has none
    top: np.ndarray  # (40,) float64, FEATURE_COLUMNS order


def event_ts_ns(event: Mapping[str, Any]) -> int:
    e_ms = event.get("E")
    return int(e_ms) * 1_000_000 if isinstance(e_ms, int) and not isinstance(e_ms, bool) else 0


class DepthSync:
    """Feeds a BinanceBook from a stream of diffs and snapshots, buffering what cannot be applied
    yet. `needs_snapshot` is True until a snapshot is applied, and again after a gap.

    Counters: `gaps` (sequence gaps seen), `resyncs` (snapshots applied after a gap), `dropped`
    (buffered diffs discarded because the buffer was full).
    """

    def __init__(
        self, book: BinanceBook, *, max_pending: int = 10_000, levels: int = LEVELS
    ) -> None:
        self.book = book
        self.levels = levels
        self.pending: deque[Mapping[str, Any]] = deque(maxlen=max_pending)
        self.gaps = 0
        self.resyncs = 0
        self.dropped = 0
        self._had_gap = False

    @property
    def needs_snapshot(self) -> bool:
        return not self.book.synced

    def _applied(self, event: Mapping[str, Any]) -> Applied:
        return Applied(event=event, ts_ns=event_ts_ns(event), top=self.book.top(self.levels))

    def _buffer(self, event: Mapping[str, Any]) -> None:
        if len(self.pending) == self.pending.maxlen:
            self.dropped += 1
        self.pending.append(event)

    def on_diff(self, event: Mapping[str, Any]) -> list[Applied]:
        """Apply (or buffer) one diff; returns what was applied (0 or 1 items)."""
        if self.needs_snapshot:
            self._buffer(event)
            return []
        try:
            applied = self.book.apply_diff(event)
        except SequenceGap:
            self.gaps += 1
            self._had_gap = True
            self.pending.clear()
            self._buffer(event)
            return []
        return [self._applied(event)] if applied else []

    def on_snapshot(self, snapshot: Mapping[str, Any]) -> list[Applied]:
        """Apply a REST snapshot if the book needs one (ignored otherwise), then every buffered
        diff that follows it; returns the diffs applied."""
        if not self.needs_snapshot:
            return []
        self.book.apply_snapshot(snapshot)
        out: list[Applied] = []
        pending, self.pending = list(self.pending), deque(maxlen=self.pending.maxlen)
        for i, event in enumerate(pending):
            try:
                if self.book.apply_diff(event):
                    out.append(self._applied(event))
            except DataError as exc:  # SequenceGap, or a malformed diff that cannot be applied
                # The snapshot is older than the buffered diffs (or they skip ids, or one is
                # unreadable): keep the rest buffered and wait for a newer snapshot.
                self.book.synced = False
                self.pending.extend(
                    pending[i:] if isinstance(exc, SequenceGap) else pending[i + 1 :]
                )
                self._had_gap = True
                self.gaps += 1
                return out
        if self._had_gap:
            self.resyncs += 1
            self._had_gap = False
        return out
