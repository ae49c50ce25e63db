"""Importing the canonical CSV / CSV.GZ / Parquet and LOBSTER formats into datasets."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.atomic import sha256_file
from shared.data.importer import detect_format, import_sources
from shared.data.schema import CANONICAL_COLUMNS, FEATURE_COLUMNS
from shared.data.store import open_dataset
from shared.data.synth import synth_market, write_canonical_csv

LOBSTER_BOOK = "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv"
LOBSTER_MSG = "AAPL_2012-06-21_34200000_57600000_message_10.csv"


def _leftovers(home: Path) -> list[str]:
    root = home / "datasets"
    return sorted(p.name for p in root.glob(".*")) if root.exists() else []


def test_canonical_csv_round_trips_exactly(lob_home: Path, tmp_path: Path) -> None:
    # given a canonical CSV of the synthetic market
    src = write_canonical_csv(tmp_path / "m.csv", 3000, seed=5, symbol="abc")
    ts, features = synth_market(3000, seed=5)
    # when it is imported
    path = import_sources([src], name="m")
    # then the memory-mapped arrays equal the generator's, and meta.json names the source
    ds = open_dataset("m")
    assert path == lob_home / "datasets" / "m"
    assert isinstance(ds.features, np.memmap) and ds.features.dtype == np.float32
    assert ds.features.shape == (3000, 40)
    np.testing.assert_array_equal(ds.features, features)
    np.testing.assert_array_equal(ds.ts, ts)
    assert ds.symbols == ["ABC"] and not ds.symbol_idx.any()
    meta = json.loads((path / "meta.json").read_text())
    assert meta["rows"] == 3000 and meta["levels"] == 10
    assert meta["ts_start"] == int(ts[0]) and meta["ts_end"] == int(ts[-1])
    assert meta["sources"][0]["sha256"] == sha256_file(src)
    assert meta["sources"][0]["format"] == "csv"
    assert meta["sha256"] == sha256_file(path / "features.npy")
    assert _leftovers(lob_home) == []


def test_gzip_csv_columns_in_any_order_and_symbol_override(lob_home: Path, tmp_path: Path) -> None:
    ts, features = synth_market(500, seed=2)
    order = ["symbol", *reversed(FEATURE_COLUMNS), "ts"]
    lines = [",".join(order)]
    for t, row in zip(ts, features, strict=True):
        vals = dict(zip(FEATURE_COLUMNS, (repr(float(v)) for v in row), strict=True))
        lines.append(",".join(["X", *(vals[c] for c in reversed(FEATURE_COLUMNS)), str(t)]))
    src = tmp_path / "m.csv.gz"
    src.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))

    assert detect_format(src) == "csv"
    import_sources([src], name="gz", symbol="es")
    ds = open_dataset("gz")
    np.testing.assert_array_equal(ds.features, features)
    assert ds.symbols == ["ES"]


def test_parquet_and_several_files_with_two_symbols(lob_home: Path, tmp_path: Path) -> None:
    ts, features = synth_market(2000, seed=9)
    # first file: CSV with symbol A; second: Parquet, later rows, symbols A and B
    first = tmp_path / "a.csv"
    with first.open("w") as fh:
        fh.write(",".join(CANONICAL_COLUMNS) + "\n")
        for t, row in zip(ts[:1000], features[:1000], strict=True):
            fh.write(",".join([str(t), "A", *(repr(float(v)) for v in row)]) + "\n")
    cols = {"ts": pa.array(ts[1000:]), "symbol": pa.array(["A", "B"] * 500)}
    cols |= {
        c: pa.array(features[1000:, j].astype(np.float64)) for j, c in enumerate(FEATURE_COLUMNS)
    }
    second = tmp_path / "b.parquet"
    pq.write_table(pa.table(cols), second)

    assert detect_format(second) == "parquet"
    import_sources([first, second], name="two")
    ds = open_dataset("two")
    np.testing.assert_array_equal(ds.features, features)
    assert ds.symbols == ["A", "B"]
    np.testing.assert_array_equal(ds.symbol_idx[1000:], np.tile([0, 1], 500))
    assert [s["format"] for s in ds.meta["sources"]] == ["csv", "parquet"]


def test_force_replaces_atomically(lob_home: Path, tmp_path: Path) -> None:
    a = write_canonical_csv(tmp_path / "a.csv", 300, seed=1)
    b = write_canonical_csv(tmp_path / "b.csv", 400, seed=2)
    import_sources([a], name="x")
    import_sources([b], name="x", force=True)
    assert open_dataset("x").rows == 400
    assert _leftovers(lob_home) == []


@pytest.mark.data
def test_lobster_sample_imports(lob_home: Path, sample_data: Path) -> None:
    folder = sample_data / "lobster-aapl"
    # given only the order-book file: its message partner is found beside it
    import_sources([folder / LOBSTER_BOOK], name="aapl")
    ds = open_dataset("aapl")
    raw = np.loadtxt(folder / LOBSTER_BOOK, delimiter=",")
    msg = np.loadtxt(folder / LOBSTER_MSG, delimiter=",")
    assert ds.rows == raw.shape[0] == msg.shape[0] == 999
    assert ds.symbols == ["AAPL"]
    # prices / 10000, sizes as they are
    np.testing.assert_allclose(ds.features[:, 0::2], (raw[:, 0::2] / 10_000).astype(np.float32))
    np.testing.assert_array_equal(ds.features[:, 1::2], raw[:, 1::2].astype(np.float32))
    # ts: 2012-06-21 in New York (EDT, UTC-4) + seconds after midnight
    first = datetime.fromtimestamp(int(ds.ts[0]) / 1e9, tz=UTC)
    assert first.strftime("%Y-%m-%d %H:%M:%S") == "2012-06-21 13:30:00"
    midnight = int(datetime(2012, 6, 21, 4, tzinfo=UTC).timestamp()) * 10**9
    np.testing.assert_array_equal(ds.ts, midnight + np.rint(msg[:, 0] * 1e9).astype(np.int64))
    assert (ds.features[:, 0] > ds.features[:, 2]).all()
    assert ds.meta["settings"]["timezone"] == "America/New_York"


def _lobster_pair(folder: Path, book: np.ndarray, times: list[float], levels: int) -> Path:
    name = f"TEST_2024-03-01_34200000_57600000_orderbook_{levels}.csv"
    np.savetxt(folder / name, book, fmt="%d", delimiter=",")
    msgs = [f"{t:.9f},1,{i},100,1000000,1" for i, t in enumerate(times)]
    (folder / name.replace("orderbook", "message")).write_text("\n".join(msgs) + "\n")
    return folder / name


def test_lobster_empty_levels_and_padding(lob_home: Path, tmp_path: Path) -> None:
    # given a 2-level LOBSTER book whose second ask level is empty in row 2
    book = np.array(
        [
            [1_010_000, 5, 1_000_000, 7, 1_020_000, 3, 990_000, 4],
            [1_010_000, 5, 1_000_000, 7, 9_999_999_999, 0, 990_000, 4],
        ]
    )
    path = _lobster_pair(tmp_path, book, [34200.5, 34201.25], levels=2)
    # when imported
    import_sources([path], name="pad", fmt="lobster")
    f = open_dataset("pad").features.reshape(2, 10, 4)
    # then the empty level repeats the price above with size 0, and levels 3..10 are padded so
    assert f[1, 1, 0] == pytest.approx(101.0) and f[1, 1, 1] == 0.0
    assert f[0, 1, 0] == pytest.approx(102.0) and f[0, 1, 1] == 3.0
    assert (f[0, 2:, 0] == f[0, 1, 0]).all() and (f[0, 2:, 2] == f[0, 1, 2]).all()
    assert (f[:, 2:, 1] == 0).all() and (f[:, 2:, 3] == 0).all()
    assert f[0, 1, 2] == pytest.approx(99.0)


def test_prefetch_reraises_and_stops_early() -> None:
    import threading

    from shared.data.prefetch import prefetched

    def items():
        yield 1
        yield 2
        raise ValueError("boom")

    got = []
    with pytest.raises(ValueError, match="boom"):
        for x in prefetched(items()):
            got.append(x)
    assert got == [1, 2]
    # closing early joins the worker even though the source is endless
    gen = prefetched(iter(int, 1))
    assert next(gen) == 0
    gen.close()
    assert not any(t.name == "prefetch" for t in threading.enumerate())
