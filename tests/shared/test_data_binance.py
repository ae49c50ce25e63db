"""The Binance book builder (spot and futures sync rules) and the depth-capture importer."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.data.binance_book import BinanceBook, DepthSync, SequenceGap
from shared.data.importer import import_sources
from shared.data.store import open_dataset
from shared.errors import DataError

T0 = 1_723_161_000_000_000_000  # local receive ns of the first test line
E0_MS = T0 // 1_000_000  # event times (E, ms) count from the same instant


def snapshot(last_id: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]):
    return {
        "lastUpdateId": last_id,
        "bids": [[str(p), str(q)] for p, q in bids],
        "asks": [[str(p), str(q)] for p, q in asks],
    }


def diff(first: int, last: int, bids=(), asks=(), *, e_ms: int = 1_000, pu: int | None = None):
    ev: dict[str, Any] = {
        "e": "depthUpdate",
        "E": E0_MS + e_ms,
        "s": "BTCUSDT",
        "U": first,
        "u": last,
        "b": [[str(p), str(q)] for p, q in bids],
        "a": [[str(p), str(q)] for p, q in asks],
    }
    if pu is not None:
        ev["pu"] = pu
    return ev


def capture(path: Path, messages: list[dict[str, Any]]) -> Path:
    lines = []
    for i, m in enumerate(messages):
        wrapped = m if "lastUpdateId" in m else {"stream": "btcusdt@depth@100ms", "data": m}
        lines.append(f"{T0 + i * 1_000_000} {json.dumps(wrapped)}")
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


BOOK = snapshot(100, [(99.0, 1.0), (98.0, 2.0)], [(101.0, 1.5), (102.0, 3.0)])


def test_spot_rules_first_event_straddles_then_contiguous() -> None:
    book = BinanceBook("btcusdt", market="spot")
    book.apply_snapshot(BOOK)
    assert book.last_update_id == 100 and book.synced
    # stale: u <= lastUpdateId is dropped
    assert book.apply_diff(diff(95, 100, bids=[(99.0, 9.0)])) is False
    assert book.best_bid == (99.0, 1.0)
    # first applied: U <= 101 <= u
    assert book.apply_diff(diff(99, 103, bids=[(99.5, 2.0)], asks=[(101.0, 0)])) is True
    assert book.best_bid == (99.5, 2.0) and book.best_ask == (102.0, 3.0)
    assert book.last_update_id == 103
    # next: U == prev u + 1
    assert book.apply_diff(diff(104, 104, asks=[(101.5, 0.25)])) is True
    assert book.best_ask == (101.5, 0.25)
    top = book.top()
    assert top.shape == (40,)
    np.testing.assert_array_equal(top[:8], [101.5, 0.25, 99.5, 2.0, 102.0, 3.0, 99.0, 1.0])
    # a side with fewer than 10 levels repeats its last price with size 0
    assert top[12] == 102.0 and top[13] == 0.0 and top[38] == 98.0 and top[39] == 0.0
    # a gap: U != prev u + 1
    with pytest.raises(SequenceGap, match=r"expected U == 105, got U=106"):
        book.apply_diff(diff(106, 107))
    assert not book.synced
    with pytest.raises(SequenceGap):
        book.apply_diff(diff(105, 105))  # refused until a new snapshot


def test_spot_first_event_must_straddle() -> None:
    book = BinanceBook("BTCUSDT")
    book.apply_snapshot(BOOK)
    with pytest.raises(SequenceGap, match=r"U <= 101 <= u"):
        book.apply_diff(diff(102, 105))


def test_futures_rule_uses_pu() -> None:
    book = BinanceBook("BTCUSDT", market="futures")
    book.apply_snapshot(BOOK)
    # first: U <= lastUpdateId <= u
    assert book.apply_diff(diff(90, 110, bids=[(99.0, 4.0)], pu=89)) is True
    assert book.apply_diff(diff(111, 120, pu=110)) is True
    # pu must equal the previous u even if U looks contiguous
    with pytest.raises(SequenceGap, match=r"pu == 120"):
        book.apply_diff(diff(121, 125, pu=119))


def test_malformed_diff_leaves_the_book_unchanged() -> None:
    book = BinanceBook("BTCUSDT")
    book.apply_snapshot(BOOK)
    with pytest.raises(DataError, match="invalid quantity"):
        book.apply_diff(diff(101, 101, bids=[(99.0, 5.0)], asks=[(101.0, float("nan"))]))
    assert book.best_bid == (99.0, 1.0) and book.synced and book.last_update_id == 100


def test_depth_sync_buffers_until_snapshot_and_resyncs_after_gap() -> None:
    sync = DepthSync(BinanceBook("BTCUSDT"))
    assert sync.needs_snapshot
    # diffs before the snapshot are buffered, then applied in order (stale ones dropped)
    assert sync.on_diff(diff(90, 99, e_ms=1)) == []
    assert sync.on_diff(diff(100, 102, bids=[(99.0, 5.0)], e_ms=2)) == []
    applied = sync.on_snapshot(BOOK)
    assert [a.event["u"] for a in applied] == [102] and applied[0].ts_ns == (E0_MS + 2) * 1_000_000
    assert applied[0].top[3] == 5.0 and not sync.needs_snapshot
    # a gap: nothing applied, a snapshot is needed
    assert sync.on_diff(diff(110, 111, e_ms=3)) == []
    assert sync.needs_snapshot and sync.gaps == 1
    assert sync.on_diff(diff(112, 113, e_ms=4)) == []
    resumed = sync.on_snapshot(snapshot(111, [(97.0, 1.0)], [(103.0, 1.0)]))
    assert [a.event["u"] for a in resumed] == [113] and sync.resyncs == 1
    assert sync.book.best_bid == (97.0, 1.0)


def _best(top: np.ndarray) -> tuple[float, float, float, float]:
    return float(top[2]), float(top[3]), float(top[0]), float(top[1])


@pytest.mark.data
def test_sample_capture_matches_its_book_ticker(lob_home: Path, sample_data: Path) -> None:
    files = sorted((sample_data / "binance-spot-btcusdt").glob("*.gz"))
    assert len(files) == 2
    # given the builder fed the capture in order, and the capture's own bookTicker messages
    sync = DepthSync(BinanceBook("BTCUSDT"))
    tickers: dict[int, tuple[float, float, float, float]] = {}
    built: dict[int, tuple[float, float, float, float]] = {}
    for f in files:
        with gzip.open(f, "rt") as fh:
            for line in fh:
                msg = json.loads(line.split(" ", 1)[1])
                data = msg.get("data", msg)
                if msg.get("stream", "").endswith("@bookTicker"):
                    tickers[data["u"]] = tuple(float(data[k]) for k in ("b", "B", "a", "A"))
                    continue
                if data.get("e") == "depthUpdate":
                    applied = sync.on_diff(data)
                elif "lastUpdateId" in data:
                    applied = sync.on_snapshot(data)
                else:
                    continue
                for a in applied:
                    built[a.event["u"]] = _best(a.top)
    # then at every update id both have, best bid/ask price and quantity agree exactly
    common = sorted(set(tickers) & set(built))
    assert len(common) > 500
    mismatched = [u for u in common if built[u] != tickers[u]]
    assert mismatched == []

    # and the importer gives the same book, one row per applied diff, never crossed
    import_sources(files, name="btc")
    ds = open_dataset("btc")
    assert 6400 <= ds.rows <= 6600 and ds.rows == len(built)
    assert ds.symbols == ["BTCUSDT"]
    assert (ds.features[:, 0] > ds.features[:, 2]).all()
    assert (np.diff(ds.ts) >= 0).all()
    by_u = dict(zip(sorted(built), range(len(built)), strict=True))
    for u in common:
        row = ds.features[by_u[u]]
        expect = np.array(tickers[u], dtype=np.float32)
        np.testing.assert_array_equal([row[2], row[3], row[0], row[1]], expect)
    settings = ds.meta["settings"]
    assert settings["market"] == "spot" and settings["gaps"] == 0
    assert [s["name"] for s in ds.meta["sources"]] == [f.name for f in files]


@pytest.mark.data
def test_second_file_alone_has_no_snapshot(lob_home: Path, sample_data: Path) -> None:
    second = sorted((sample_data / "binance-spot-btcusdt").glob("*.gz"))[1]
    with pytest.raises(DataError, match="no REST depth snapshot"):
        import_sources([second], name="half")
    assert not (lob_home / "datasets" / "half").exists()


def test_book_state_carries_over_files_and_gap_resyncs(lob_home: Path, tmp_path: Path) -> None:
    # file 1: snapshot, two diffs; file 2: continues, then a gap, then a later snapshot resyncs
    one = capture(
        tmp_path / "c1.gz",
        [
            diff(95, 99, e_ms=10),  # before the snapshot and stale
            BOOK,
            diff(100, 101, bids=[(99.5, 1.0)], e_ms=20),
            diff(102, 102, asks=[(100.5, 2.0)], e_ms=30),
        ],
    )
    two = capture(
        tmp_path / "c2.gz",
        [
            diff(103, 103, bids=[(99.5, 0)], e_ms=40),
            diff(110, 110, e_ms=50),  # gap: 104..109 missing
            diff(111, 111, e_ms=60),
            snapshot(110, [(98.5, 1.0)], [(100.0, 1.0)]),
            diff(112, 112, e_ms=70),
        ],
    )
    import_sources([one, two], name="cap")
    ds = open_dataset("cap")
    # rows for u = 101, 102, 103 (carried over), then 111 and 112 after the resync
    assert ds.rows == 5
    np.testing.assert_array_equal(ds.ts, (E0_MS + np.array([20, 30, 40, 60, 70])) * 1_000_000)
    assert ds.features[2, 2] == 99.0  # 99.5 removed in file 2, on the book from file 1
    assert ds.features[3, 2] == 98.5 and ds.features[3, 0] == 100.0
    assert ds.meta["settings"]["gaps"] == 1 and ds.meta["settings"]["resyncs"] == 1


def test_snapshot_older_than_buffered_diffs_waits_for_a_newer_one() -> None:
    sync = DepthSync(BinanceBook("BTCUSDT"))
    sync.on_diff(diff(120, 125, e_ms=1))
    sync.on_diff(diff(126, 126, bids=[(99.0, 2.0)], e_ms=2))
    # a snapshot at 100 cannot reach the buffered diffs starting at 120: still out of sync
    assert sync.on_snapshot(BOOK) == []
    assert sync.needs_snapshot and sync.resyncs == 0
    # a newer one continues them
    applied = sync.on_snapshot(snapshot(122, [(98.0, 1.0)], [(101.0, 1.0)]))
    assert [a.event["u"] for a in applied] == [125, 126]
    assert sync.book.best_bid == (99.0, 2.0) and not sync.needs_snapshot


def test_malformed_buffered_diff_forces_a_new_snapshot() -> None:
    sync = DepthSync(BinanceBook("BTCUSDT"))
    sync.on_diff(diff(100, 101, bids=[("x", 1.0)]))
    sync.on_diff(diff(102, 102))
    assert sync.on_snapshot(BOOK) == []
    assert sync.needs_snapshot  # never a book with a diff silently skipped
