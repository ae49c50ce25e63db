"""Databento DBN files (MBO, MBP-10) into datasets, checked against the ES samples and against a
plain-loop rebuild written here."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import databento_dbn as dbn
import numpy as np
import pytest
from test_data_errors import assert_refused

from shared.data.importer import detect_format, import_sources, import_split
from shared.data.store import open_dataset

ES = "orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"
ESH4 = "esh4-glbx-mdp3-20231224.mbo.dbn.zst"
T0 = 1_715_126_400_000_000_000  # 2024-05-08T00:00:00Z
UNIT = 1_000_000_000  # DBN prices are int64 units of 1e-9


@pytest.fixture
def es(sample_data: Path) -> Path:
    folder = sample_data / "databento-es-mbo"
    if not folder.is_dir():
        pytest.skip(f"no Databento samples at {folder}")
    return folder


def metadata(schema: dbn.Schema, symbols: dict[str, int]) -> dbn.Metadata:
    day = dt.date(2024, 5, 8)
    mappings = [
        SimpleNamespace(
            raw_symbol=raw,
            intervals=[SimpleNamespace(start_date=day, end_date=day, symbol=str(iid))],
        )
        for raw, iid in symbols.items()
    ]
    return dbn.Metadata(
        dataset="GLBX.MDP3",
        start=T0,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=schema,
        symbols=list(symbols),
        mappings=mappings,
    )


def write_dbn(path: Path, md: dbn.Metadata, records: list) -> Path:
    path.write_bytes(md.encode() + b"".join(bytes(r) for r in records))
    return path


def mbo(
    k: int, action: str, side: str, oid: int, price: float | None, size: int, last: bool = True
) -> dbn.MBOMsg:
    return dbn.MBOMsg(
        publisher_id=1,
        instrument_id=7,
        ts_event=T0 + k,
        order_id=oid,
        price=dbn.UNDEF_PRICE if price is None else round(price * UNIT),
        size=size,
        action=dbn.Action.from_str(action),
        side=dbn.Side.from_str(side),
        ts_recv=T0 + 1000 * k,
        flags=dbn.F_LAST if last else 0,
    )


def reference_mbo(path: Path, levels: int = 10) -> tuple[list[int], list[list[float]]]:
    """MBO as a plain loop: every order in a dict, the book summed from the orders after each
    F_LAST record, kept when both sides have `levels` levels and it is not crossed."""
    decoder = dbn.DBNDecoder(
        compression=dbn.Compression.ZSTD if path.suffix == ".zst" else dbn.Compression.NONE
    )
    records = decoder.write_and_decode(path.read_bytes())[1:]
    orders: dict[int, tuple[str, int, int]] = {}
    ts: list[int] = []
    books: list[list[float]] = []
    for r in records:
        a = str(r.action.value)
        if a == "R":
            orders.clear()
        elif a == "A":
            orders[r.order_id] = (str(r.side.value), r.price, r.size)
        elif a == "C":
            side, price, size = orders.pop(r.order_id)
            if size > r.size:
                orders[r.order_id] = (side, price, size - r.size)
        elif a == "M":
            orders[r.order_id] = (str(r.side.value), r.price, r.size)
        if not r.flags & dbn.F_LAST:
            continue
        sums: dict[str, dict[int, int]] = {"A": {}, "B": {}}
        for side, price, size in orders.values():
            sums[side][price] = sums[side].get(price, 0) + size
        asks = sorted(sums["A"].items())[:levels]
        bids = sorted(sums["B"].items(), reverse=True)[:levels]
        if len(asks) < levels or len(bids) < levels or asks[0][0] <= bids[0][0]:
            continue
        row: list[float] = []
        for i in range(10):
            ask = asks[i] if i < levels else (asks[-1][0], 0)
            bid = bids[i] if i < levels else (bids[-1][0], 0)
            row += [ask[0] / UNIT, ask[1], bid[0] / UNIT, bid[1]]
        ts.append(r.ts_recv)
        books.append(row)
    return ts, books


@pytest.mark.data
def test_es_mbo_sample_equals_a_plain_rebuild(lob_home: Path, es: Path) -> None:
    src = es / ES
    # given the ESM4 sample (snapshot, then two seconds of live orders) and the plain loop's books
    ts, books = reference_mbo(src)
    # when it is imported (detected as databento)
    assert detect_format(src) == "databento"
    import_sources([src], name="es")
    # then every emitted book is the plain loop's at the same F_LAST record
    ds = open_dataset("es")
    assert ds.symbols == ["ESM4"] and ds.rows == len(books) > 150
    np.testing.assert_array_equal(ds.ts, ts)
    np.testing.assert_array_equal(ds.features, np.array(books, dtype=np.float32))
    assert len({bytes(row) for row in np.asarray(ds.features)}) > 100  # distinct books
    assert 5000 < float(ds.features[:, 0].min()) <= float(ds.features[:, 0].max()) < 5300
    settings = ds.meta["settings"]
    assert settings["databento_schema"] == "mbo" and settings["records"] == 13_796


@pytest.mark.data
def test_two_instruments_need_symbol_or_split(lob_home: Path, es: Path) -> None:
    files = [es / ESH4, es / ES]
    assert_refused(
        lob_home,
        lambda: import_sources(files, name="x"),
        file=ES,
        pattern=r"column 'symbol': the file holds more than one symbol \(ESH4, ESM4\)",
        row=1,
    )
    # --symbol takes the raw symbol or the instrument id
    import_sources(files, name="by-id", symbol="5602")
    assert open_dataset("by-id").symbols == ["ESM4"]
    made = import_split(files, name="es")
    assert sorted(made) == ["ESH4", "ESM4"]
    assert open_dataset("es-ESH4").rows == 1  # the snapshot's one F_LAST
    assert open_dataset("es-ESM4").rows == open_dataset("by-id").rows


def test_mbo_actions_equal_a_plain_rebuild(lob_home: Path, tmp_path: Path) -> None:
    # given a book of 12 bids and 12 asks, then every action, and records without F_LAST
    recs = [mbo(0, "R", "N", 0, None, 0, last=False)]
    oid = 100
    for j in range(12):
        recs.append(mbo(1, "A", "B", oid, 99.0 - j * 0.25, 5 + j, last=False))
        recs.append(mbo(1, "A", "A", oid + 1, 99.25 + j * 0.25, 6 + j, last=False))
        oid += 2
    recs.append(mbo(1, "A", "B", 900, 99.0, 3, last=True))  # second order on the best bid
    recs += [
        mbo(2, "C", "B", 900, 99.0, 1),  # partial cancel
        mbo(3, "M", "A", 101, 99.5, 9),  # best ask moves up a level and grows
        mbo(4, "M", "B", 901, 98.5, 4),  # modify of an unknown order: an add
        mbo(5, "T", "A", 0, 99.25, 2),  # trade and fill: no change
        mbo(5, "F", "B", 100, 99.0, 2),
        mbo(6, "C", "B", 100, 99.0, 5, last=False),  # full cancel, book not complete yet
        mbo(6, "N", "N", 0, None, 0),
        mbo(7, "A", "B", 902, 99.75, 1),  # crossed: skipped
        mbo(8, "C", "B", 902, 99.75, 1),
        mbo(9, "R", "N", 0, None, 0),  # cleared: too shallow from here
        mbo(10, "A", "B", 903, 99.0, 1),
    ]
    src = write_dbn(tmp_path / "acts.dbn", metadata(dbn.Schema.MBO, {"TEST": 7}), recs)
    ts, books = reference_mbo(src)
    # when it is imported
    import_sources([src], name="acts")
    # then the books equal the plain loop's
    ds = open_dataset("acts")
    assert ds.symbols == ["TEST"] and ds.rows == len(books) == 8
    np.testing.assert_array_equal(ds.ts, ts)
    np.testing.assert_array_equal(ds.features, np.array(books, dtype=np.float32))
    assert float(ds.features[0, 3]) == 5 + 3  # two orders on the best bid
    assert float(ds.features[1, 3]) == 5 + 2
    s = ds.meta["settings"]
    assert (s["crossed_skipped"], s["shallow_skipped"]) == (1, 2)
    # and --levels 5 takes five real levels, padding the rest
    import_sources([src], name="acts5", levels=5)
    f5 = open_dataset("acts5").features
    np.testing.assert_array_equal(f5[:, :20], ds.features[:, :20])
    assert (f5[:, 21::2] == 0).all() and (f5[:, 20::4] == f5[:, 16:17]).all()


def test_mbo_cancel_of_an_unknown_order(lob_home: Path, tmp_path: Path) -> None:
    recs = [mbo(1, "A", "B", 1, 99.0, 1), mbo(2, "C", "A", 55, 99.5, 1)]
    src = write_dbn(tmp_path / "bad.dbn", metadata(dbn.Schema.MBO, {"TEST": 7}), recs)
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="bad.dbn",
        pattern=r"column 'order_id': cancel of unknown order id 55",
        row=2,
    )


def mbp10(k: int, bids: list[float | None], asks: list[float | None], last: bool = True):
    def px(p: float | None) -> int:
        return dbn.UNDEF_PRICE if p is None else round(p * UNIT)

    levels = [
        dbn.BidAskPair(
            bid_px=px(b),
            ask_px=px(a),
            bid_sz=0 if b is None else 10 + i,
            ask_sz=0 if a is None else 20 + i,
        )
        for i, (b, a) in enumerate(zip(bids, asks, strict=True))
    ]
    return dbn.MBP10Msg(
        publisher_id=1,
        instrument_id=7,
        ts_event=T0 + k,
        price=px(bids[0] or 1.0),
        size=1,
        action=dbn.Action.ADD,
        side=dbn.Side.BID,
        depth=0,
        ts_recv=T0 + 1000 * k,
        flags=dbn.F_LAST if last else 0,
        levels=levels,
    )


def test_mbp10_one_row_per_f_last_record(lob_home: Path, tmp_path: Path) -> None:
    full_b = [100.0 - 0.5 * i for i in range(10)]
    full_a = [100.5 + 0.5 * i for i in range(10)]
    recs = [
        mbp10(1, full_b, full_a),
        mbp10(2, full_b, full_a, last=False),  # not the last record of its event: no row
        mbp10(3, [*full_b[:7], None, None, None], full_a),  # 3 empty bid levels: padded
        mbp10(4, [None] * 10, full_a),  # one-sided: skipped
        mbp10(5, full_b, [99.0, *full_a[1:]]),  # crossed: skipped
    ]
    src = write_dbn(tmp_path / "m.dbn", metadata(dbn.Schema.MBP_10, {"TEST": 7}), recs)
    import_sources([src], name="m")
    ds = open_dataset("m")
    assert ds.rows == 2 and ds.symbols == ["TEST"]
    np.testing.assert_array_equal(ds.ts, [T0 + 1000, T0 + 3000])
    row = ds.features[0]
    np.testing.assert_array_equal(row[0::4], full_a)
    np.testing.assert_array_equal(row[2::4], full_b)
    np.testing.assert_array_equal(row[1::4], np.arange(20, 30))
    padded = ds.features[1]
    np.testing.assert_array_equal(padded[2::4], [*full_b[:7], full_b[6], full_b[6], full_b[6]])
    np.testing.assert_array_equal(padded[3::4], [*range(10, 17), 0, 0, 0])
    s = ds.meta["settings"]
    assert (s["one_sided_skipped"], s["crossed_skipped"]) == (1, 1)


@pytest.mark.parametrize(
    ("schema", "pattern"),
    [
        (dbn.Schema.TRADES, "Databento schema 'trades' is not an order book"),
        (dbn.Schema.OHLCV_1S, "Databento schema 'ohlcv-1s' is not an order book"),
        (dbn.Schema.MBP_1, "Databento schema 'mbp-1' has 1 level.*--levels 1"),
    ],
)
def test_other_schemas_are_refused(
    lob_home: Path, tmp_path: Path, schema: dbn.Schema, pattern: str
) -> None:
    src = write_dbn(tmp_path / "other.dbn", metadata(schema, {"TEST": 7}), [])
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="other.dbn",
        pattern=rf"column 'schema': {pattern}",
        row=None,
    )


@pytest.mark.data
def test_truncated_dbn_is_refused(lob_home: Path, es: Path, tmp_path: Path) -> None:
    data = (es / ES).read_bytes()
    # a zstd stream cut inside a frame, wherever the cut falls
    for cut in (len(data) // 2, len(data) - 3, 200):
        src = tmp_path / "cut.dbn.zst"
        src.write_bytes(data[:cut])
        msg = assert_refused(
            lob_home,
            lambda src=src: import_sources([src], name="x", fmt="databento"),
            file="cut.dbn.zst",
            pattern=r"row \d+: truncated DBN file: the zstd stream stops inside a frame",
            row=None,
        )
        assert "row 0" not in msg
    # a plain DBN file cut inside a record
    recs = [mbo(k, "A", "B", k, 99.0 - k, 1) for k in range(1, 30)]
    whole = write_dbn(tmp_path / "w.dbn", metadata(dbn.Schema.MBO, {"TEST": 7}), recs)
    cut = tmp_path / "cut.dbn"
    cut.write_bytes(whole.read_bytes()[:-20])
    assert_refused(
        lob_home,
        lambda: import_sources([cut], name="x"),
        file="cut.dbn",
        pattern=r"truncated DBN file: record 29 is cut short \(36 bytes\)",
        row=29,
    )


@pytest.mark.data
def test_wrong_format_is_named(lob_home: Path, es: Path) -> None:
    for fmt in ("tardis", "csv", "binance"):
        assert_refused(
            lob_home,
            lambda fmt=fmt: import_sources([es / ES], name="x", fmt=fmt),
            file=ES,
            pattern=rf"not a {fmt} file: it looks like databento \(use --format databento\)",
            row=1,
        )
