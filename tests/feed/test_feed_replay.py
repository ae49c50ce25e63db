"""`lob feed replay` into a real Redis stream, and the stream's entry format."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import redis

from shared.data.store import write_dataset
from shared.errors import DataError
from shared.events import SNAPSHOT_STREAM
from shared.feed.snapshot import Snapshot, decode, encode


def entries(url: str) -> list[Snapshot]:
    r = redis.Redis.from_url(url)
    out = [decode(fields) for _, fields in r.xrange(SNAPSHOT_STREAM)]
    r.close()
    return out


def book_rows(n: int, start: float = 100.0) -> np.ndarray:
    feats = np.zeros((n, 40), dtype=np.float32)
    feats[:, 0::4] = start + 0.01 + np.arange(n)[:, None] * 0.01  # ask px
    feats[:, 2::4] = start + np.arange(n)[:, None] * 0.01  # bid px
    feats[:, 1::2] = 1.5
    return feats


@pytest.fixture
def replay(run_lob: Callable[..., object], clean_redis: str, lob_home: Path) -> Callable[..., str]:
    def run(*args: str, ok: bool = True) -> str:
        proc = run_lob(
            "feed", "replay", *args, env={"REDIS_URL": clean_redis, "LOB_HOME": str(lob_home)}
        )
        assert (proc.returncode == 0) == ok, proc.stderr  # type: ignore[attr-defined]
        return proc.stdout + proc.stderr  # type: ignore[attr-defined]

    return run


def test_entry_format_round_trips_and_refuses_bad_entries() -> None:
    book = np.arange(40, dtype=np.float64) + 0.125
    t0 = 1_700_000_000 * 10**9
    fields = {k.encode(): v for k, v in encode(t0, "BTCUSDT", book, sent_ns=456).items()}
    snap = decode(fields)
    assert (snap.ts, snap.symbol, snap.sent_ns) == (t0, "BTCUSDT", 456)
    np.testing.assert_array_equal(snap.book, book)
    assert len(fields[b"book"]) == 320
    for broken, column in (
        ({**fields, b"book": b"\0" * 8}, "book"),
        ({k: v for k, v in fields.items() if k != b"ts"}, "ts"),
        ({**fields, b"symbol": b"no spaces"}, "symbol"),
        ({**fields, b"symbol": b"A" * 33}, "symbol"),
        ({**fields, b"ts": b"-5"}, "ts"),
        ({**fields, b"ts": str(time.time_ns() + 2 * 86_400 * 10**9).encode()}, "ts"),
        ({**fields, b"book": np.full(40, np.nan).tobytes()}, "book"),
    ):
        with pytest.raises(DataError) as err:
            decode(broken)
        assert err.value.column == column
    # a symbol of up to 32 characters with ':' and '/' travels; producers refuse bad timestamps
    assert decode({**fields, b"symbol": b"ES:H4/" + b"X" * 26}).symbol == "ES:H4/" + "X" * 26
    for ts in (-1, 0, 631_151_999 * 10**9):
        with pytest.raises(DataError, match="before 1990-01-01"):
            encode(ts, "BTCUSDT", book)


def test_replays_a_dataset_in_order_with_its_symbols(
    replay: Callable[..., str], clean_redis: str, lob_home: Path
) -> None:
    # given a two-symbol dataset
    feats = book_rows(300)
    ts = 1_700_000_000 * 10**9 + np.arange(300, dtype=np.int64) * 1_000_000
    idx = (np.arange(300) % 2).astype(np.uint16)
    write_dataset("two", ts=ts, features=feats, symbols=["aaa", "BBB"], symbol_idx=idx)
    # when replayed as fast as possible
    out = replay("two", "--speed", "0")
    # then every row is an entry, in order, with its symbol
    got = entries(clean_redis)
    assert "replayed 300 snapshots" in out
    assert [s.ts for s in got] == ts.tolist()
    assert [s.symbol for s in got] == ["AAA", "BBB"] * 150
    np.testing.assert_array_equal(np.array([s.book for s in got]), feats.astype(np.float64))
    # and --symbol picks one symbol of a multi-symbol source
    redis.Redis.from_url(clean_redis).delete(SNAPSHOT_STREAM)
    replay("two", "--speed", "0", "--symbol", "bbb")
    assert {s.symbol for s in entries(clean_redis)} == {"BBB"}
    assert len(entries(clean_redis)) == 150


def test_speed_scales_the_recorded_spacing(
    replay: Callable[..., str], clean_redis: str, lob_home: Path
) -> None:
    # given 21 rows recorded 50 ms apart (1 s in all)
    ts = 1_700_000_000 * 10**9 + np.arange(21, dtype=np.int64) * 50_000_000
    write_dataset("paced", ts=ts, features=book_rows(21), symbols=["P"])
    # when replayed at twice the recorded pace
    replay("paced", "--speed", "2")
    # then the entries went out about 0.5 s apart end to end, evenly
    sent = np.array([s.sent_ns for s in entries(clean_redis)]) / 1e9
    assert 0.45 < sent[-1] - sent[0] < 0.8
    assert np.median(np.diff(sent)) == pytest.approx(0.025, abs=0.01)


def test_loop_continues_time_and_maxlen_caps_the_stream(
    replay: Callable[..., str], clean_redis: str, lob_home: Path
) -> None:
    ts = 1_700_000_000 * 10**9 + np.arange(200, dtype=np.int64) * 1_000_000
    write_dataset("loop", ts=ts, features=book_rows(200), symbols=["L"])
    replay("loop", "--speed", "0", "--loop", "--limit", "1000", "--maxlen", "300")
    got = entries(clean_redis)
    stamps = [s.ts for s in got]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), "time keeps increasing"
    assert 300 <= len(got) < 500, "MAXLEN ~ trims in whole nodes, so a little over the cap"
    assert stamps[-1] == ts[-1] + 4 * (ts[-1] - ts[0] + 1_000_000)  # 5th pass, last row


def test_replays_a_canonical_csv(
    replay: Callable[..., str], clean_redis: str, tmp_path: Path, lob_home: Path
) -> None:
    from shared.data.canonical import read_canonical_csv
    from shared.data.synth import write_canonical_csv

    path = write_canonical_csv(tmp_path / "m.csv", 500, seed=3, symbol="SYN")
    replay(str(path), "--speed", "0", "--symbol", "renamed")
    want = np.concatenate([b.features for b in read_canonical_csv(path)])
    got = entries(clean_redis)
    assert {s.symbol for s in got} == {"RENAMED"}
    np.testing.assert_array_equal(np.array([s.book for s in got]).astype(np.float32), want)


@pytest.mark.data
def test_replays_a_binance_capture_through_the_book_builder(
    replay: Callable[..., str], clean_redis: str, sample_data: Path
) -> None:
    from shared.data.binance_capture import read_captures

    files = sorted((sample_data / "binance-spot-btcusdt").glob("*.gz"))
    want = np.concatenate([b.features for b in read_captures(files)])
    replay(*map(str, files), "--speed", "0")
    got = entries(clean_redis)
    assert len(got) == len(want) > 6000
    assert {s.symbol for s in got} == {"BTCUSDT"}
    np.testing.assert_array_equal(np.array([s.book for s in got]).astype(np.float32), want)
    assert all(s.best_ask > s.best_bid for s in got)


def test_a_bad_source_is_a_clear_error(
    replay: Callable[..., str], lob_home: Path, tmp_path: Path
) -> None:
    assert "error: unknown dataset 'nope'" in replay("nope", ok=False)
    # a file with a timestamp before 1990 or a symbol too long is refused where it is, as the
    # importer refuses it (issue 12, item 5)
    from shared.data.synth import write_canonical_csv

    good = write_canonical_csv(tmp_path / "good.csv", 30, seed=1, symbol="SYN").read_text()
    lines = good.splitlines()
    cells = lines[4].split(",")
    early = tmp_path / "early.csv"
    early.write_text("\n".join([*lines[:4], ",".join(["-7", *cells[1:]]), *lines[5:]]) + "\n")
    out = replay(str(early), "--speed", "0", ok=False).strip()
    assert "early.csv, row 5, column 'ts': timestamp -7 is before 1990-01-01" in out, out
    long = tmp_path / "long.csv"
    long.write_text(good.replace(",SYN,", "," + "Y" * 33 + ",", 1))
    out = replay(str(long), "--speed", "0", ok=False).strip()
    assert "long.csv, row 2, column 'symbol': invalid symbol" in out, out
    assert "no such file" in replay(str(tmp_path / "a.csv"), "nope", ok=False)
