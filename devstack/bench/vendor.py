"""Synthetic Tardis.dev and Databento files for `lob bench data`: the synthetic market
(shared.data.synth) written as each vendor's format, so that importing them rebuilds exactly its
books, and the import timed in a child process.

lob bench data --rows 200000      # includes these; rows per second for each format
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from shared.data.schema import LEVELS

T0_US = 1_715_126_400_000_000  # 2024-05-08T00:00:00Z
STEP_US = 100
UNIT = 1_000_000_000  # DBN prices: int64 units of 1e-9
TICK = 0.01
SNAPSHOT_DEPTH = 25


def _books(n: int, seed: int) -> np.ndarray:
    from shared.data.synth import synth_market

    return synth_market(n, seed)[1].astype(np.float64).round(2)


def _sides(book: np.ndarray) -> tuple[dict[float, float], dict[float, float]]:
    asks = dict(zip(book[0::4].tolist(), book[1::4].tolist(), strict=True))
    bids = dict(zip(book[2::4].tolist(), book[3::4].tolist(), strict=True))
    return asks, bids


def write_tardis_snapshots(path: Path, n: int, seed: int = 1) -> int:
    """A book_snapshot_25 file of `n` rows (levels 11-25 a tick apart, size 1); returns rows."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    books = _books(n, seed).reshape(n, LEVELS, 4)
    extra = np.arange(1, SNAPSHOT_DEPTH - LEVELS + 1) * TICK
    columns: dict[str, object] = {
        "exchange": pa.array(["synth"] * n),
        "symbol": pa.array(["SYNTH"] * n),
        "timestamp": pa.array(T0_US + np.arange(n) * STEP_US),
        "local_timestamp": pa.array(T0_US + np.arange(n) * STEP_US + 7),
    }
    for i in range(SNAPSHOT_DEPTH):
        if i < LEVELS:
            ask_px, ask_sz, bid_px, bid_sz = (books[:, i, f] for f in range(4))
        else:
            ask_px = books[:, LEVELS - 1, 0] + extra[i - LEVELS]
            bid_px = books[:, LEVELS - 1, 2] - extra[i - LEVELS]
            ask_sz = bid_sz = np.ones(n)
        for name, values in (
            (f"asks[{i}].price", ask_px),
            (f"asks[{i}].amount", ask_sz),
            (f"bids[{i}].price", bid_px),
            (f"bids[{i}].amount", bid_sz),
        ):
            columns[name] = pa.array(np.round(values, 2))
    table = pa.table(columns)
    with pa.OSFile(str(path), "wb") as sink:
        sink.write((",".join(table.column_names) + "\n").encode())
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        pacsv.write_csv(table, sink, write_options=options)
    return n


def _changes(books: np.ndarray) -> Iterator[tuple[int, list[tuple[bool, float, float, float]]]]:
    """(step, [(is_bid, price, old size or 0, new size or 0)]) turning book k-1 into book k; step
    0 is the first book from nothing."""
    before: tuple[dict[float, float], dict[float, float]] = ({}, {})
    for k, book in enumerate(books):
        after = _sides(book)
        out = []
        for is_bid, old, new in ((False, before[0], after[0]), (True, before[1], after[1])):
            for price, size in old.items():
                if price not in new:
                    out.append((is_bid, price, size, 0.0))
            for price, size in new.items():
                if old.get(price) != size:
                    out.append((is_bid, price, old.get(price, 0.0), size))
        yield k, out
        before = after


def write_tardis_incremental(path: Path, n: int, seed: int = 1) -> int:
    """An incremental_book_L2 file whose messages turn each synthetic book into the next;
    returns its data rows."""
    lines = ["exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"]
    for k, changes in _changes(_books(n, seed)):
        t = T0_US + k * STEP_US
        snap = "true" if k == 0 else "false"
        for is_bid, price, _, size in changes:
            side = "bid" if is_bid else "ask"
            lines.append(f"synth,SYNTH,{t},{t + 7},{snap},{side},{price:.2f},{int(size)}")
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


def _metadata(schema: str) -> object:
    import databento_dbn as dbn

    day = dt.date(2024, 5, 8)
    interval = SimpleNamespace(start_date=day, end_date=day, symbol="1")
    return dbn.Metadata(
        dataset="SYNTH",
        start=T0_US * 1000,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema.from_str(schema),
        symbols=["SYNTH"],
        mappings=[SimpleNamespace(raw_symbol="SYNTH", intervals=[interval])],
    )


def write_dbn_mbp10(path: Path, n: int, seed: int = 1) -> int:
    """An MBP-10 file of `n` records, each the synthetic book with F_LAST; returns records."""
    import databento_dbn as dbn

    books = _books(n, seed)
    px = np.rint(books[:, 0::2] * UNIT).astype(np.int64)  # ask_px, bid_px per level
    sz = books[:, 1::2].astype(np.int64)
    with open(path, "wb") as fh:
        fh.write(_metadata("mbp-10").encode())  # type: ignore[attr-defined]
        for k in range(n):
            p, s = px[k].tolist(), sz[k].tolist()
            levels = [
                dbn.BidAskPair(
                    ask_px=p[2 * i], ask_sz=s[2 * i], bid_px=p[2 * i + 1], bid_sz=s[2 * i + 1]
                )
                for i in range(LEVELS)
            ]
            ts = (T0_US + k * STEP_US) * 1000
            rec = dbn.MBP10Msg(
                publisher_id=1,
                instrument_id=1,
                ts_event=ts,
                price=p[1],
                size=1,
                action=dbn.Action.ADD,
                side=dbn.Side.BID,
                depth=0,
                ts_recv=ts,
                flags=dbn.F_LAST,
                levels=levels,
            )
            fh.write(bytes(rec))
    return n


def write_dbn_mbo(path: Path, n: int, seed: int = 1) -> int:
    """An MBO file with one order per level: each step cancels and adds orders to turn the
    synthetic book into the next, F_LAST on its last record; returns records."""
    import databento_dbn as dbn

    orders: dict[tuple[bool, float], int] = {}
    next_id = 1
    records = 0
    with open(path, "wb") as fh:
        fh.write(_metadata("mbo").encode())  # type: ignore[attr-defined]
        for k, changes in _changes(_books(n, seed)):
            ts = (T0_US + k * STEP_US) * 1000
            msgs: list[tuple[str, bool, int, float, int]] = []
            for is_bid, price, old, new in changes:
                if old:
                    msgs.append(("C", is_bid, orders.pop((is_bid, price)), price, int(old)))
                if new:
                    orders[(is_bid, price)] = next_id
                    msgs.append(("A", is_bid, next_id, price, int(new)))
                    next_id += 1
            if not msgs:
                msgs.append(("N", True, 0, 0.0, 0))
            for j, (action, is_bid, oid, price, size) in enumerate(msgs):
                rec = dbn.MBOMsg(
                    publisher_id=1,
                    instrument_id=1,
                    ts_event=ts,
                    order_id=oid,
                    price=round(price * UNIT) if action != "N" else dbn.UNDEF_PRICE,
                    size=size,
                    action=dbn.Action.from_str(action),
                    side=dbn.Side.from_str("N" if action == "N" else "B" if is_bid else "A"),
                    ts_recv=ts,
                    flags=dbn.F_LAST if j == len(msgs) - 1 else 0,
                )
                fh.write(bytes(rec))
            records += len(msgs)
    return records


# format -> (file name, writer, books relative to the others): a snapshot file has one input
# row per book, an incremental one ~25-40, so the former get more books for a like-sized run.
WRITERS = {
    "Tardis book_snapshot_25 CSV": ("snap25.csv", write_tardis_snapshots, 5),
    "Tardis incremental_book_L2 CSV": ("incremental.csv", write_tardis_incremental, 1),
    "Databento MBP-10 DBN": ("mbp10.dbn", write_dbn_mbp10, 5),
    "Databento MBO DBN": ("mbo.dbn", write_dbn_mbo, 1),
}
