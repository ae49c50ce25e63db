"""Binance depth captures: text lines `<local receive ns> <json>` (plain or gzip).

The messages are those the live streams send, optionally wrapped as {"stream", "data"}:
`depthUpdate` diffs, a REST depth snapshot ({"lastUpdateId", "bids", "asks"}), and others
(bookTicker, trade, ...) which are skipped. Several files are one capture: the book carries over
from file to file, so they must be given in time order.

One row is emitted per applied depthUpdate, the 10-level book right after it, stamped with the
event time E (exchange clock, ms, as ns). E rather than the local receive time keeps imported
datasets on the same clock as the live feed, which also stamps with E.

A sequence gap (see binance_book) stops the rows until a later REST snapshot in the capture
resyncs the book; with no later snapshot the import fails with a DataError naming the gap's line,
because everything after it would be a silently wrong book.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shared.data.binance_book import BinanceBook, DepthSync, Market, parse_diff
from shared.data.checks import Block
from shared.data.schema import N_FEATURES
from shared.data.textfile import first_line, open_text
from shared.errors import DataError

BLOCK_ROWS = 1 << 16


class _Event(dict):
    """A depthUpdate that remembers where it came from, for error messages and row numbers."""

    file: str
    line: int


def looks_like_capture(path: Path) -> bool:
    head = first_line(path).strip()
    ns, _, rest = head.partition(" ")
    return ns.isdigit() and rest.lstrip().startswith("{")


def _messages(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, decoded JSON payload) for every non-blank line."""
    file = str(path)
    with open_text(path) as fh:
        seen = False
        for line_no, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            seen = True
            ns, _, body = text.partition(" ")
            if not ns.isdigit() or not body:
                raise DataError(
                    "expected '<receive time ns> <json message>'", file=file, row=line_no
                )
            try:
                msg = json.loads(body)
            except ValueError as exc:
                raise DataError(f"invalid JSON ({exc.msg})", file=file, row=line_no) from None
            if not isinstance(msg, dict):
                raise DataError("message is not a JSON object", file=file, row=line_no)
            data = msg.get("data")
            yield line_no, (data if "stream" in msg and isinstance(data, dict) else msg)
        if not seen:
            raise DataError("empty file", file=file)


class _Rows:
    def __init__(self) -> None:
        self.ts: list[int] = []
        self.tops: list[np.ndarray] = []
        self.where: list[tuple[str, int]] = []

    def __len__(self) -> int:
        return len(self.ts)

    def block(self, symbol: str) -> Block:
        where = self.where
        n = len(self.ts)
        block = Block(
            file=where[0][0],
            ts=np.asarray(self.ts, dtype=np.int64),
            features=np.asarray(self.tops, dtype=np.float32).reshape(n, N_FEATURES),
            symbols=[symbol],
            symbol_idx=np.zeros(n, dtype=np.int32),
            row_of=lambda i: where[i][1],
            file_of=lambda i: where[i][0],  # a block can span two files
        )
        self.ts, self.tops, self.where = [], [], []
        return block


def read_captures(
    paths: list[Path], *, symbol: str | None = None, info: dict[str, Any] | None = None
) -> Iterator[Block]:
    """Yield blocks of 10-level snapshots rebuilt from one capture split over `paths`.

    `info` (if given) receives: market, capture symbol, snapshots applied, gaps, resyncs,
    diffs dropped from a full buffer, one-sided books skipped.
    """
    info = info if info is not None else {}
    sync: DepthSync | None = None
    market: Market | None = None
    capture_symbol: str | None = None
    early_snapshot: Mapping[str, Any] | None = None
    snapshots = 0
    one_sided = 0
    emitted = 0
    last_gap: tuple[str, int, str] | None = None
    rows = _Rows()

    def dataset_symbol() -> str:
        return (symbol or capture_symbol or "UNKNOWN").strip().upper()

    for path in paths:
        file = str(path)
        for line_no, msg in _messages(path):
            applied = []
            try:
                if msg.get("e") == "depthUpdate":
                    s = msg.get("s")
                    if capture_symbol is None and isinstance(s, str) and s:
                        capture_symbol = s.upper()
                    elif isinstance(s, str) and capture_symbol and s.upper() != capture_symbol:
                        raise DataError(
                            f"capture mixes symbols {capture_symbol} and {s}; import one at a time"
                        )
                    if market is None:
                        market = "futures" if "pu" in msg else "spot"
                        sync = DepthSync(BinanceBook(capture_symbol or "UNKNOWN", market))
                        if early_snapshot is not None:
                            sync.on_snapshot(early_snapshot)
                    assert sync is not None
                    parse_diff(msg, sync.book.market)  # malformed: fail here, on its own line
                    if not isinstance(msg.get("E"), int):
                        raise DataError("depthUpdate without an integer event time 'E'")
                    event = _Event(msg)
                    event.file, event.line = file, line_no
                    gaps_before = sync.gaps
                    applied = sync.on_diff(event)
                    if sync.gaps != gaps_before:
                        last_gap = (file, line_no, _gap_text(sync, event))
                elif "lastUpdateId" in msg and ("bids" in msg or "asks" in msg):
                    snapshots += 1
                    if sync is None:
                        # Market not known until the first diff: keep the newest snapshot.
                        BinanceBook("CHECK").apply_snapshot(msg)  # validates it on its own line
                        early_snapshot = msg
                    else:
                        gaps_before = sync.gaps
                        applied = sync.on_snapshot(msg)
                        if sync.gaps != gaps_before:
                            last_gap = (
                                file,
                                line_no,
                                "the snapshot is older than the buffered diffs",
                            )
            except DataError as exc:
                raise DataError(exc.problem, file=file, row=line_no) from None
            for ev in applied:
                if np.isnan(ev.top).any():
                    one_sided += 1
                    continue
                emitted += 1
                rows.ts.append(ev.ts_ns)
                rows.tops.append(ev.top)
                rows.where.append((ev.event.file, ev.event.line))  # type: ignore[attr-defined]
                if len(rows) >= BLOCK_ROWS:
                    yield rows.block(dataset_symbol())

    first = str(paths[0]) if paths else "<none>"
    if sync is None:
        raise DataError("no depthUpdate messages: not a Binance depth capture", file=first)
    if snapshots == 0:
        raise DataError(
            "no REST depth snapshot (lastUpdateId, bids, asks) in the capture: "
            "the book cannot be rebuilt from diffs alone",
            file=first,
        )
    if sync.needs_snapshot:
        if last_gap is not None:
            gap_file, gap_line, text = last_gap
            raise DataError(
                f"{text}, and no later REST snapshot to resync from", file=gap_file, row=gap_line
            )
        raise DataError("no depthUpdate continues the REST snapshot", file=first)
    if emitted == 0 and one_sided == 0:
        raise DataError(
            f"no depthUpdate after the REST snapshot (lastUpdateId {sync.book.last_update_id}): "
            "nothing to build snapshots from",
            file=first,
        )
    if len(rows):
        yield rows.block(dataset_symbol())
    info.update(
        market=market,
        capture_symbol=capture_symbol,
        snapshots_in_capture=snapshots,
        gaps=sync.gaps,
        resyncs=sync.resyncs,
        buffer_dropped=sync.dropped,
        one_sided_skipped=one_sided,
        ts="depthUpdate event time E (ms) as ns",
    )


def _gap_text(sync: DepthSync, event: Mapping[str, Any]) -> str:
    last = sync.book.last_update_id
    return (
        f"sequence gap at depthUpdate U={event.get('U')} u={event.get('u')}"
        f" (book was at update id {last})"
    )
