"""Bad input: a one-line error naming the file, the line and the problem; exit code 2 from the
CLI; and no dataset directory (or staging debris) left behind."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from shared.data.importer import import_sources
from shared.data.schema import CANONICAL_COLUMNS
from shared.data.synth import synth_market
from shared.errors import Conflict, DataError, LobError


def csv_lines(rows: int = 20, seed: int = 0) -> list[str]:
    ts, features = synth_market(rows, seed=seed)
    out = [",".join(CANONICAL_COLUMNS)]
    for t, row in zip(ts, features, strict=True):
        out.append(",".join([str(t), "SYN", *(f"{float(v):g}" for v in row)]))
    return out


def write(path: Path, lines: list[str]) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def set_cell(lines: list[str], line_no: int, column: str, value: str) -> list[str]:
    """Copy of `lines` with one cell replaced (line_no is 1-based; the header is line 1)."""
    out = list(lines)
    cells = out[line_no - 1].split(",")
    cells[CANONICAL_COLUMNS.index(column)] = value
    out[line_no - 1] = ",".join(cells)
    return out


def assert_refused(
    home: Path, call: Callable[[], object], *, file: str, pattern: str, row: int | None
) -> str:
    with pytest.raises(LobError) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert file in msg, msg
    if row is not None:
        assert f"row {row}" in msg, msg
    assert re.search(pattern, msg), msg
    datasets = home / "datasets"
    left = sorted(p.name for p in datasets.iterdir()) if datasets.exists() else []
    assert left == [], f"left behind: {left}"
    return msg


def test_empty_file(lob_home: Path, tmp_path: Path) -> None:
    for name in ("empty.csv", "empty.csv.gz"):
        src = tmp_path / name
        src.write_bytes(gzip.compress(b"") if name.endswith(".gz") else b"")
        assert_refused(
            lob_home,
            lambda s=src: import_sources([s], name="x"),
            file=name,
            pattern="empty file",
            row=None,
        )


def test_header_only(lob_home: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "h.csv", csv_lines()[:1])
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="h.csv",
        pattern="no data rows",
        row=None,
    )


def test_wrong_column_count(lob_home: Path, tmp_path: Path) -> None:
    lines = csv_lines()
    lines[7] = lines[7].rsplit(",", 1)[0]  # line 8 loses its last field
    src = write(tmp_path / "short.csv", lines)
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="short.csv",
        pattern="expected 42 fields, got 41",
        row=8,
    )


def test_missing_header_column(lob_home: Path, tmp_path: Path) -> None:
    lines = csv_lines()
    lines[0] = lines[0].replace("ask_px_3", "ask_price_3")
    src = write(tmp_path / "hdr.csv", lines)
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="hdr.csv",
        pattern="missing column.*ask_px_3; unexpected ask_price_3",
        row=1,
    )


def test_no_header(lob_home: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "nohdr.csv", csv_lines()[1:])
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="nohdr.csv",
        pattern="no header",
        row=1,
    )


@pytest.mark.parametrize("value", ["nan", "NaN", "", "inf"])
def test_nan_or_empty_number(lob_home: Path, tmp_path: Path, value: str) -> None:
    src = write(tmp_path / "nan.csv", set_cell(csv_lines(), 5, "bid_sz_2", value))
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="nan.csv",
        pattern=r"column 'bid_sz_2': missing or non-finite",
        row=5,
    )


def test_text_in_number_field(lob_home: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "text.csv.gz", set_cell(csv_lines(), 12, "ask_px_4", "abc"))
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="text.csv.gz",
        pattern=r"column 'ask_px_4': 'abc' is not a number",
        row=12,
    )


def test_text_in_timestamp(lob_home: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "ts.csv", set_cell(csv_lines(), 3, "ts", "2024-01-01"))
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="ts.csv",
        pattern=r"column 'ts': '2024-01-01' is not an integer",
        row=3,
    )


def test_crossed_book(lob_home: Path, tmp_path: Path) -> None:
    lines = csv_lines()
    bid = lines[9].split(",")[CANONICAL_COLUMNS.index("bid_px_1")]
    src = write(tmp_path / "cross.csv", set_cell(lines, 10, "ask_px_1", bid))  # locked = crossed
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="cross.csv",
        pattern=r"crossed book: ask_px_1 .* <= bid_px_1",
        row=10,
    )


def test_negative_size(lob_home: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "neg.csv", set_cell(csv_lines(), 6, "ask_sz_7", "-3"))
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="neg.csv",
        pattern=r"column 'ask_sz_7': negative size -3",
        row=6,
    )


def test_timestamps_going_backwards(lob_home: Path, tmp_path: Path) -> None:
    lines = csv_lines()
    lines[14], lines[15] = lines[15], lines[14]
    src = write(tmp_path / "back.csv", lines)
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="back.csv",
        pattern=r"column 'ts': timestamp goes backwards",
        row=16,
    )


def test_timestamps_going_backwards_across_files(lob_home: Path, tmp_path: Path) -> None:
    lines = csv_lines(40)
    first = write(tmp_path / "1.csv", [lines[0], *lines[21:]])
    second = write(tmp_path / "2.csv", lines[:21])
    assert_refused(
        lob_home,
        lambda: import_sources([first, second], name="x"),
        file="2.csv",
        pattern="timestamp goes backwards",
        row=2,
    )


def test_error_line_skips_blank_lines_correctly(lob_home: Path, tmp_path: Path) -> None:
    lines = csv_lines()
    lines = [*lines[:4], "", *lines[4:]]  # a blank line 5 shifts the data down
    src = write(tmp_path / "blank.csv", set_cell(lines, 9, "ask_sz_1", "-1"))
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="blank.csv",
        pattern="negative",
        row=9,
    )


def test_truncated_gzip(lob_home: Path, tmp_path: Path) -> None:
    data = gzip.compress(("\n".join(csv_lines(3000)) + "\n").encode())
    src = tmp_path / "cut.csv.gz"
    src.write_bytes(data[: len(data) // 2])
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="cut.csv.gz",
        pattern="truncated or corrupt gzip",
        row=None,
    )


@pytest.mark.data
def test_truncated_binance_capture(lob_home: Path, sample_data: Path, tmp_path: Path) -> None:
    data = (sample_data / "binance-spot-btcusdt" / "btcusdt_20240808.gz").read_bytes()
    src = tmp_path / "cut.gz"
    src.write_bytes(data[: len(data) // 3])
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x", fmt="binance"),
        file="cut.gz",
        pattern="truncated or corrupt gzip",
        row=None,
    )


def _capture(path: Path, messages: list[dict]) -> Path:
    lines = [f"{1_700_000_000_000_000_000 + i} {json.dumps(m)}" for i, m in enumerate(messages)]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def _diff(first: int, last: int, e_ms: int) -> dict:
    return {"e": "depthUpdate", "E": e_ms, "s": "BTCUSDT", "U": first, "u": last, "b": [], "a": []}


def test_binance_gap_without_a_later_snapshot(lob_home: Path, tmp_path: Path) -> None:
    snap = {"lastUpdateId": 10, "bids": [["99", "1"]], "asks": [["101", "1"]]}
    src = _capture(
        tmp_path / "gap.gz",
        [snap, _diff(9, 11, 1), _diff(12, 12, 2), _diff(15, 15, 3), _diff(16, 16, 4)],
    )
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x"),
        file="gap.gz",
        pattern=r"sequence gap at depthUpdate U=15 u=15 .*no later REST snapshot",
        row=4,
    )


def test_binance_bad_json_line(lob_home: Path, tmp_path: Path) -> None:
    src = tmp_path / "bad.gz"
    src.write_bytes(gzip.compress(b'1 {"lastUpdateId": 1, "bids": [], "asks": []}\n2 {oops\n'))
    assert_refused(
        lob_home,
        lambda: import_sources([src], name="x", fmt="binance"),
        file="bad.gz",
        pattern="invalid JSON",
        row=2,
    )


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "x" * 65])
def test_bad_dataset_name(lob_home: Path, tmp_path: Path, name: str) -> None:
    src = write(tmp_path / "ok.csv", csv_lines())
    with pytest.raises(DataError, match="invalid dataset name"):
        import_sources([src], name=name)
    assert not (lob_home / "datasets").exists() or not any((lob_home / "datasets").iterdir())
    assert not (lob_home / "x").exists() and not (tmp_path / "x").exists()


def test_duplicate_name_needs_force(lob_home: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "ok.csv", csv_lines())
    import_sources([src], name="dup")
    before = (lob_home / "datasets" / "dup" / "meta.json").read_text()
    with pytest.raises(Conflict, match="already exists"):
        import_sources([src], name="dup")
    assert (lob_home / "datasets" / "dup" / "meta.json").read_text() == before
    import_sources([src], name="dup", force=True)
    assert sorted(p.name for p in (lob_home / "datasets").iterdir()) == ["dup"]


def test_failed_forced_import_keeps_the_old_dataset(lob_home: Path, tmp_path: Path) -> None:
    good = write(tmp_path / "ok.csv", csv_lines())
    bad = write(tmp_path / "bad.csv", set_cell(csv_lines(), 4, "bid_px_1", "x"))
    import_sources([good], name="keep")
    with pytest.raises(DataError):
        import_sources([bad], name="keep", force=True)
    assert np.load(lob_home / "datasets" / "keep" / "features.npy").shape == (20, 40)
    assert sorted(p.name for p in (lob_home / "datasets").iterdir()) == ["keep"]


@pytest.mark.parametrize(
    ("column", "value", "pattern"),
    [
        ("symbol", "S" * 5000, r"column 'symbol': invalid symbol 'S{40}… \(5000 characters\)'"),
        ("symbol", "BTC USDT", r"column 'symbol': invalid symbol 'BTC USDT': use 1-32"),
        ("ts", "-1000", r"column 'ts': timestamp -1000 is before 1990-01-01"),
        (
            "ts",
            str(4_000_000_000 * 10**9),
            r"column 'ts': timestamp \d+ is more than a day in the future",
        ),
    ],
)
def test_symbols_and_timestamps_out_of_bounds(
    lob_home: Path, tmp_path: Path, column: str, value: str, pattern: str
) -> None:
    # A symbol becomes part of a Redis channel name; a timestamp must be a real time
    lines = set_cell(csv_lines(), 6, column, value)
    if column == "ts":  # keep time moving forward, so the bound is what is refused
        lines = [*lines[:6], *(set_cell(lines, n, "ts", value)[n - 1] for n in range(7, 22))]
    src = write(tmp_path / "bounds.csv", lines)
    assert_refused(
        lob_home, lambda: import_sources([src], name="x"), file="bounds.csv", pattern=pattern, row=6
    )


def test_symbols_up_to_32_characters_with_colon_and_slash_import(
    lob_home: Path, tmp_path: Path
) -> None:
    name = "ES:H4/" + "x" * 26
    lines = [
        csv_lines()[0],
        *(set_cell(csv_lines(), n, "symbol", name)[n - 1] for n in range(2, 22)),
    ]
    import_sources([write(tmp_path / "ok.csv", lines)], name="ok")
    meta = json.loads((lob_home / "datasets" / "ok" / "meta.json").read_text())
    assert meta["symbols"] == [name.upper()]


def test_cli_exit_code_2_and_one_line(run_lob, lob_home: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.csv.gz"
    data = gzip.compress(("\n".join(csv_lines(2000)) + "\n").encode())
    cut.write_bytes(data[:-40])
    crossed = write(tmp_path / "cross.csv", set_cell(csv_lines(), 3, "ask_px_1", "1"))
    ok = write(tmp_path / "ok.csv", csv_lines())
    early = write(tmp_path / "early.csv", set_cell(csv_lines(), 2, "ts", "-5"))
    assert run_lob("data", "import", str(ok), "--name", "dup").returncode == 0
    cases = [
        (["data", "import", str(cut), "--name", "a"], "truncated or corrupt gzip"),
        (["data", "import", str(crossed), "--name", "b"], "cross.csv, row 3: crossed book"),
        (["data", "import", str(early), "--name", "e"], "early.csv, row 2, column 'ts': timestamp"),
        (["data", "import", str(ok), "--name", "../x"], "invalid dataset name"),
        (["data", "import", str(ok), "--name", "dup"], "already exists"),
        (["data", "import", str(tmp_path / "nope.csv"), "--name", "c"], "no such file"),
    ]
    for args, text in cases:
        proc = run_lob(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        err = proc.stderr.strip()
        assert err.startswith("error: ") and "\n" not in err and text in err, err
        assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in (lob_home / "datasets").iterdir()) == ["dup"]


def _lobster(folder: Path, book_lines: list[str], msg_lines: list[str]) -> Path:
    book = folder / "TEST_2024-03-01_34200000_57600000_orderbook_1.csv"
    book.write_text("\n".join(book_lines) + "\n")
    book.with_name(book.name.replace("orderbook", "message")).write_text(
        "\n".join(msg_lines) + "\n"
    )
    return book


def test_lobster_one_sided_book(lob_home: Path, tmp_path: Path) -> None:
    book = _lobster(
        tmp_path,
        ["1010000,5,1000000,7", "9999999999,0,1000000,7"],
        ["34200.1,1,1,5,1010000,-1", "34200.2,3,1,5,1010000,-1"],
    )
    assert_refused(
        lob_home,
        lambda: import_sources([book], name="x"),
        file=book.name,
        pattern="empty best ask level",
        row=2,
    )


def test_lobster_row_counts_differ(lob_home: Path, tmp_path: Path) -> None:
    book = _lobster(tmp_path, ["1010000,5,1000000,7"] * 3, ["34200.1,1,1,5,1010000,-1"] * 2)
    assert_refused(
        lob_home,
        lambda: import_sources([book], name="x"),
        file=book.name,
        pattern="more rows than its message file",
        row=3,
    )


def test_lobster_text_in_book(lob_home: Path, tmp_path: Path) -> None:
    book = _lobster(
        tmp_path, ["1010000,5,1000000,7", "1010000,five,1000000,7"], ["34200.1,1,1,5,1,1"] * 2
    )
    assert_refused(
        lob_home,
        lambda: import_sources([book], name="x"),
        file=book.name,
        pattern=r"column 'ask_sz_1': 'five' is not a number",
        row=2,
    )


def test_error_deep_in_a_multi_block_file(lob_home: Path, tmp_path: Path) -> None:
    # given a CSV several parser blocks long with bad cells far past the first block
    from shared.data.synth import write_canonical_csv

    src = write_canonical_csv(tmp_path / "big.csv", 60_000, seed=1)
    lines = src.read_text().splitlines()
    for line_no, column, value in ((45_001, "ask_sz_2", "-5"), (58_002, "bid_px_9", "x")):
        cells = lines[line_no - 1].split(",")
        cells[CANONICAL_COLUMNS.index(column)] = value
        lines[line_no - 1] = ",".join(cells)
        bad = tmp_path / f"bad_{line_no}.csv"
        bad.write_text("\n".join(lines) + "\n")
        # then the error names that exact line, found after the fast parser gave up or passed it
        assert_refused(
            lob_home,
            lambda b=bad: import_sources([b], name="x"),
            file=bad.name,
            pattern=column,
            row=line_no,
        )
