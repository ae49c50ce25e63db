"""Hypothesis-generated malformed inputs: always a dataset or a clear error, never a traceback or a
partial directory."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.data.importer import import_sources
from shared.data.schema import CANONICAL_COLUMNS
from shared.errors import LobError

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.text(alphabet="0123456789.-eE,;\"' nanNA", max_size=8),
    st.just(""),
)


def _assert_clean(home: Path, call) -> None:
    # A fresh name per example: an earlier success must not mask a failed import's leftovers.
    name = f"fuzz{uuid.uuid4().hex[:12]}"
    try:
        path = call(name)
    except LobError as exc:
        assert str(exc).strip(), "an error must say what is wrong"
        assert "\n" not in str(exc).strip(), f"one-line errors only: {exc!r}"
        assert not (home / "datasets" / name).exists(), "a failed import left a dataset behind"
    else:
        assert (path / "meta.json").is_file() and (path / "features.npy").is_file()
    leftovers = (
        [p.name for p in (home / "datasets").glob(".*")] if (home / "datasets").exists() else []
    )
    assert not leftovers, f"staging debris: {leftovers}"


@FUZZ
@given(
    rows=st.lists(st.lists(cell, min_size=0, max_size=44), min_size=0, max_size=6),
    header=st.booleans(),
    gz=st.booleans(),
    cut=st.integers(min_value=0, max_value=40),
)
def test_malformed_canonical_csv(lob_home: Path, tmp_path: Path, rows, header, gz, cut) -> None:
    lines = [",".join(CANONICAL_COLUMNS)] if header else []
    lines += [",".join(r) for r in rows]
    data = ("\n".join(lines) + "\n").encode()
    src = tmp_path / ("x.csv.gz" if gz else "x.csv")
    payload = gzip.compress(data) if gz else data
    if gz and cut:  # sometimes a truncated archive
        payload = payload[: max(1, len(payload) - cut)]
    src.write_bytes(payload)
    _assert_clean(lob_home, lambda name: import_sources([src], name=name))


@FUZZ
@given(
    book=st.lists(st.lists(cell, min_size=0, max_size=42), min_size=0, max_size=5),
    msgs=st.lists(st.lists(cell, min_size=0, max_size=7), min_size=0, max_size=5),
)
def test_malformed_lobster_pair(lob_home: Path, tmp_path: Path, book, msgs) -> None:
    ob = tmp_path / "AAPL_2012-06-21_34200000_57600000_orderbook_10.csv"
    mg = tmp_path / "AAPL_2012-06-21_34200000_57600000_message_10.csv"
    ob.write_text("\n".join(",".join(r) for r in book) + "\n")
    mg.write_text("\n".join(",".join(r) for r in msgs) + "\n")
    _assert_clean(lob_home, lambda name: import_sources([ob, mg], name=name, fmt="lobster"))


levels = st.lists(
    st.tuples(
        st.one_of(st.floats(min_value=-5, max_value=1e6), st.just(float("nan"))).map(str),
        st.one_of(st.floats(min_value=-5, max_value=1e3), st.just(float("nan"))).map(str),
    ),
    max_size=12,
)
event = st.one_of(
    st.fixed_dictionaries({"lastUpdateId": st.integers(-5, 50), "bids": levels, "asks": levels}),
    st.fixed_dictionaries(
        {
            "e": st.just("depthUpdate"),
            "E": st.integers(0, 2**41),
            "s": st.just("BTCUSDT"),
            "U": st.integers(-5, 60),
            "u": st.integers(-5, 60),
            "b": levels,
            "a": levels,
        }
    ),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
)


@FUZZ
@given(events=st.lists(st.one_of(event.map(json.dumps), st.text(max_size=30)), max_size=12))
def test_malformed_binance_capture(lob_home: Path, tmp_path: Path, events) -> None:
    src = tmp_path / "cap.gz"
    lines = [f"{1_700_000_000_000_000_000 + i} {e}" for i, e in enumerate(events)]
    src.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    _assert_clean(
        lob_home, lambda name: import_sources([src], name=name, fmt="binance", symbol="BTCUSDT")
    )
