"""Tardis.dev CSV downloads (book_snapshot_N, incremental_book_L2) into datasets, checked against
the samples and against a plain-loop rebuild written here."""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import numpy as np
import pytest
from test_data_errors import assert_refused

from shared.data.importer import detect_format, import_sources, import_split
from shared.data.store import open_dataset
from shared.errors import BadConfig

HEAD = "exchange,symbol,timestamp,local_timestamp"
INCREMENTAL_HEAD = f"{HEAD},is_snapshot,side,price,amount"
T0_US = 1_700_000_000_000_000
SNAPSHOT_FIELDS = (("asks", "price"), ("asks", "amount"), ("bids", "price"), ("bids", "amount"))


@pytest.fixture
def tardis(sample_data: Path) -> Path:
    folder = sample_data / "tardis"
    if not folder.is_dir():
        pytest.skip(f"no Tardis samples at {folder}")
    return folder


def write(path: Path, lines: list[str]) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def reference_incremental(path: Path, levels: int) -> list[tuple[int, str, list[float]]]:
    """The DESIGN of incremental_book_L2 as a plain loop: per symbol a price -> amount dict per
    side; a run of is_snapshot rows starts afresh; after each message (rows sharing symbol and
    local_timestamp) the top `levels` of a full, uncrossed book, padded to 10 like LOBSTER."""
    books: dict[str, dict[str, dict[float, float]]] = {}
    in_snapshot: dict[str, bool] = {}
    out: list[tuple[int, str, list[float]]] = []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))

    def emit(symbol: str, local_us: int) -> None:
        bids = sorted(books[symbol]["bid"].items(), reverse=True)[:levels]
        asks = sorted(books[symbol]["ask"].items())[:levels]
        if len(bids) < levels or len(asks) < levels or asks[0][0] <= bids[0][0]:
            return
        flat: list[float] = []
        for i in range(10):
            ask = asks[i] if i < levels else (asks[-1][0], 0.0)
            bid = bids[i] if i < levels else (bids[-1][0], 0.0)
            flat += [ask[0], ask[1], bid[0], bid[1]]
        out.append((local_us * 1000, symbol, flat))

    for i, row in enumerate(rows):
        symbol = row["symbol"].upper()
        book = books.setdefault(symbol, {"bid": {}, "ask": {}})
        snapshot = row["is_snapshot"] == "true"
        if snapshot and not in_snapshot.get(symbol, False):
            book["bid"].clear()
            book["ask"].clear()
        in_snapshot[symbol] = snapshot
        price, amount = float(row["price"]), float(row["amount"])
        if amount == 0:
            book[row["side"]].pop(price, None)
        else:
            book[row["side"]][price] = amount
        nxt = rows[i + 1] if i + 1 < len(rows) else None
        if nxt is None or (nxt["symbol"].upper(), nxt["local_timestamp"]) != (
            symbol,
            row["local_timestamp"],
        ):
            emit(symbol, int(row["local_timestamp"]))
    return out


def random_incremental(path: Path, *, messages: int, symbols: tuple[str, ...], seed: int) -> Path:
    """An incremental_book_L2 file: a snapshot per symbol, then messages of a few rows that set,
    change and delete levels around a drifting mid (levels the mid passes are deleted in the
    same message, so the book stays uncrossed), and a second snapshot halfway."""
    rng = np.random.default_rng(seed)
    lines = [INCREMENTAL_HEAD]
    mids = {s: 100.0 + 10 * k for k, s in enumerate(symbols)}
    books: dict[str, dict[str, dict[float, float]]] = {s: {"bid": {}, "ask": {}} for s in symbols}
    t = T0_US

    def row(symbol: str, t: int, snap: bool, side: str, price: float, amount: float) -> None:
        lines.append(f"x,{symbol},{t - 7},{t},{str(snap).lower()},{side},{price},{amount}")
        if amount:
            books[symbol][side][price] = amount
        else:
            books[symbol][side].pop(price, None)

    def snapshot(symbol: str, t: int) -> None:
        books[symbol] = {"bid": {}, "ask": {}}
        for side, sign in (("bid", -1), ("ask", 1)):
            for j in range(14):
                price = round(mids[symbol] + sign * (0.5 + j), 1)
                row(symbol, t, True, side, price, float(rng.integers(1, 50)))

    for s in symbols:
        t += 1000
        snapshot(s, t)
    for m in range(messages):
        t += int(rng.integers(1, 5000))
        s = symbols[int(rng.integers(len(symbols)))]
        if m == messages // 2:
            mids[s] += 3.0
            snapshot(s, t)
            continue
        mids[s] += float(rng.choice([-0.5, 0.0, 0.5]))
        for price in [p for p in books[s]["bid"] if p >= mids[s]]:
            row(s, t, False, "bid", price, 0.0)
        for price in [p for p in books[s]["ask"] if p <= mids[s]]:
            row(s, t, False, "ask", price, 0.0)
        for _ in range(int(rng.integers(1, 5))):
            side = "bid" if rng.random() < 0.5 else "ask"
            sign = -1 if side == "bid" else 1
            price = round(mids[s] + sign * (0.5 + int(rng.integers(0, 14))), 1)
            amount = 0.0 if rng.random() < 0.3 else float(rng.integers(1, 50))
            row(s, t, False, side, price, amount)
    return write(path, lines)


def test_book_snapshot_25_sample_takes_the_top_10_levels(lob_home: Path, tardis: Path) -> None:
    src = tardis / "binance-futures_book_snapshot_25_BTCUSDT.csv"
    # given the sample, read here with the csv module
    with open(src, newline="") as fh:
        rows = list(csv.DictReader(fh))
    expect = np.array(
        [
            [float(r[f"{side}[{i}].{what}"]) for i in range(10) for side, what in SNAPSHOT_FIELDS]
            for r in rows
        ],
        dtype=np.float32,
    )
    # when it is imported (detected as tardis)
    assert detect_format(src) == "tardis"
    import_sources([src], name="t25")
    # then each row is that row's top 10 levels, stamped with local_timestamp
    ds = open_dataset("t25")
    assert ds.rows == len(rows) == 10 and ds.symbols == ["BTCUSDT"]
    np.testing.assert_array_equal(ds.features, expect)
    np.testing.assert_array_equal(ds.ts, [int(r["local_timestamp"]) * 1000 for r in rows])
    assert ds.meta["settings"]["tardis_kind"] == "book_snapshot"
    assert ds.meta["sources"][0]["format"] == "tardis"


def test_book_snapshot_5_is_refused_for_10_levels_and_padded_with_levels_5(
    lob_home: Path, tardis: Path, tmp_path: Path
) -> None:
    # given a book_snapshot_5 file (the sample's first 5 levels), gzip-compressed
    with open(tardis / "binance-futures_book_snapshot_25_BTCUSDT.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    names = HEAD.split(",") + [f"{s}[{i}].{w}" for i in range(5) for s, w in SNAPSHOT_FIELDS]
    src = write(
        tmp_path / "binance_book_snapshot_5.csv.gz",
        [",".join(names), *(",".join(r[c] for c in names) for r in rows)],
    )
    # then 10 levels are refused, naming the level that is missing
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file=src.name,
        pattern=r"column 'asks\[5\]\.price': book_snapshot_5 has 5 levels a side.*--levels 5",
        row=1,
    )
    # and --levels 5 pads levels 6-10 with the level-5 price and size 0
    import_sources([src], name="b5", levels=5)
    f = open_dataset("b5").features
    assert f.shape == (10, 40)
    np.testing.assert_array_equal(f[:, 4 * 4 :: 4], np.repeat(f[:, 16:17], 6, axis=1))
    np.testing.assert_array_equal(f[:, 4 * 4 + 2 :: 4], np.repeat(f[:, 18:19], 6, axis=1))
    assert (f[:, 21::2] == 0).all() and (f[:, 17:20:2] > 0).all()
    assert float(f[0, 0]) == pytest.approx(float(rows[0]["asks[0].price"]))


def test_incremental_sample_books_equal_a_plain_rebuild(lob_home: Path, tardis: Path) -> None:
    src = tardis / "deltas_with_snapshot.csv"
    # given a one-level book with two snapshots in it
    expect = reference_incremental(src, levels=1)
    assert len(expect) == 7
    # when it is imported with --levels 1
    import_sources([src], name="d1", levels=1)
    # then every emitted book is the plain loop's after its message
    ds = open_dataset("d1")
    np.testing.assert_array_equal(ds.ts, [t for t, _, _ in expect])
    np.testing.assert_array_equal(ds.features, np.array([b for _, _, b in expect], np.float32))
    # the second snapshot started afresh: 50000/50001 are gone
    assert float(ds.features[-1, 2]) == 50100.0 and float(ds.features[-1, 0]) == 50101.0
    assert ds.meta["settings"]["tardis_kind"] == "incremental_book_L2"


def test_incremental_sample_without_10_levels_says_why(lob_home: Path, tardis: Path) -> None:
    # the Deribit sample's snapshot has 15 asks and no bids: never a full book
    src = tardis / "deribit_incremental_book_L2_BTC-PERPETUAL.csv"
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file=src.name,
        pattern=r"no rows to import: skipped 1 book state\(s\) with fewer than 10 levels",
        row=None,
    )


def test_random_incremental_equals_plain_rebuild_per_symbol(lob_home: Path, tmp_path: Path) -> None:
    # given a two-symbol incremental file with deletes, resets and multi-row messages
    src = random_incremental(tmp_path / "inc.csv", messages=3000, symbols=("AAA", "BBB"), seed=3)
    expect = reference_incremental(src, levels=10)
    # when one symbol is imported, and the file split into one dataset per symbol
    import_sources([src], name="a", symbol="aaa")
    made = import_split([src], name="inc")
    # then each dataset holds exactly its symbol's books, as the plain loop builds them
    assert sorted(made) == ["AAA", "BBB"]
    assert sorted(p.name for p in (lob_home / "datasets").iterdir()) == ["a", "inc-AAA", "inc-BBB"]
    for name, symbol in (("a", "AAA"), ("inc-AAA", "AAA"), ("inc-BBB", "BBB")):
        ds = open_dataset(name)
        mine = [(t, b) for t, s, b in expect if s == symbol]
        assert len(mine) > 500 and ds.symbols == [symbol]
        np.testing.assert_array_equal(ds.ts, [t for t, _ in mine])
        np.testing.assert_array_equal(ds.features, np.array([b for _, b in mine], np.float32))


def test_several_symbols_need_symbol_or_split(lob_home: Path, tmp_path: Path) -> None:
    src = random_incremental(tmp_path / "two.csv", messages=50, symbols=("AAA", "BBB"), seed=1)
    second = next(i for i, line in enumerate(src.read_text().splitlines(), 1) if ",BBB," in line)
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="two.csv",
        pattern=r"column 'symbol': the file holds more than one symbol \(AAA, BBB\).*--symbol"
        r".*--split-symbols",
        row=second,
    )
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x", symbol="CCC"),
        file="two.csv",
        pattern=r"no rows for symbol CCC \(the file has AAA, BBB\)",
        row=None,
    )


@pytest.mark.parametrize(
    ("header", "column"),
    [
        (f"{HEAD},id,side,price,amount", "id"),  # a Tardis trades file
        (f"{HEAD},is_snapshot,side,price,size", "size"),
        (f"{HEAD},asks[0].price,asks[0].amount,bids[0].price,bids[0].qty", "bids[0].qty"),
        ("exchange,symbol,ts,local_timestamp,is_snapshot,side,price,amount", "ts"),
    ],
)
def test_unknown_column_set(lob_home: Path, tmp_path: Path, header: str, column: str) -> None:
    src = write(tmp_path / "odd.csv", [header, "x,BTC,1,1700000000000000,1,2,3,4"])
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x", fmt="tardis"),
        file="odd.csv",
        pattern=re.escape(f"column '{column}': ") + "(unknown Tardis.dev column set|not a Tardis)",
        row=1,
    )


@pytest.mark.parametrize(
    ("cell", "value", "pattern"),
    [
        ("side", "buy", "side must be bid or ask"),
        ("amount", "-1", "amount is not a number >= 0"),
        ("price", "abc", "'abc' is not a number"),
        ("is_snapshot", "maybe", "is_snapshot must be true or false"),
    ],
)
def test_bad_incremental_cells(
    lob_home: Path, tmp_path: Path, cell: str, value: str, pattern: str
) -> None:
    src = random_incremental(tmp_path / "inc.csv.gz", messages=200, symbols=("AAA",), seed=2)
    lines = gzip.decompress(src.read_bytes()).decode().splitlines()
    cells = lines[40].split(",")
    cells[INCREMENTAL_HEAD.split(",").index(cell)] = value
    lines[40] = ",".join(cells)
    write(src, lines)
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="inc.csv.gz",
        pattern=rf"column '{cell}': {pattern}",
        row=41,
    )


def test_wrong_format_is_named(lob_home: Path, tardis: Path, tmp_path: Path) -> None:
    src = tardis / "binance-futures_book_snapshot_25_BTCUSDT.csv"
    for fmt in ("databento", "csv"):
        assert_refused(
            lob_home,
            lambda fmt=fmt: import_sources([src], name="x", fmt=fmt),
            file=src.name,
            pattern=rf"column 'exchange': not a {fmt} file: it looks like tardis \(use --format tardis\)",
            row=1,
        )
    with pytest.raises(BadConfig, match="--levels applies to tardis and databento files only"):
        import_sources([write(tmp_path / "c.csv", ["ts,symbol", "1,A"])], name="y", levels=5)


def test_cli_levels_and_split(run_lob, lob_home: Path, tmp_path: Path) -> None:
    src = random_incremental(tmp_path / "two.csv", messages=400, symbols=("AAA", "BBB"), seed=4)
    proc = run_lob("data", "import", str(src), "--name", "two", "--split-symbols", "--levels", "3")
    assert proc.returncode == 0, proc.stderr
    assert "as 'two-AAA'" in proc.stdout and "as 'two-BBB'" in proc.stdout
    assert open_dataset("two-AAA").meta["settings"]["book_levels"] == 3
    bad = run_lob("data", "import", str(src), "--name", "x", "--format", "databento")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "two.csv, row 1, column 'exchange': not a databento file" in bad.stderr
