"""`lob data synth | import | list | show` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shared.data.store import open_dataset
from shared.labels import class_counts, mid_price, triple_barrier


def test_help_texts_have_examples(run_lob) -> None:
    top = run_lob("data", "--help")
    assert top.returncode == 0
    for cmd in ("import", "synth", "list", "show"):
        assert cmd in top.stdout
    imp = run_lob("data", "import", "--help")
    assert "lob data import ../shared/data/binance-spot-btcusdt/*.gz --name btc" in imp.stdout
    assert "--format" in imp.stdout and "--force" in imp.stdout


def test_synth_list_show(run_lob, lob_home: Path) -> None:
    # given an empty LOB_HOME
    empty = run_lob("data", "list")
    assert empty.returncode == 0 and "no datasets" in empty.stdout
    # when a synthetic market is written through the CLI
    made = run_lob("data", "synth", "--rows", "20000", "--name", "demo", "--seed", "5")
    assert made.returncode == 0, made.stderr
    assert "20,000" in made.stdout
    # then list shows it, and show's figures agree with the data
    listed = run_lob("data", "list")
    assert listed.returncode == 0
    assert any(
        line.split()[:3] == ["demo", "20,000", "SYNTH"] for line in listed.stdout.splitlines()
    )
    shown = run_lob("data", "show", "demo", "--json")
    assert shown.returncode == 0, shown.stderr
    s = json.loads(shown.stdout)
    ds = open_dataset("demo")
    assert s["rows"] == 20_000 and s["symbols"] == ["SYNTH"]
    assert s["spread"]["min"] == pytest.approx(0.01, abs=1e-4)
    mid = mid_price(ds.features)
    assert s["mid"]["first"] == pytest.approx(mid[0]) and s["mid"]["max"] == pytest.approx(
        mid.max()
    )
    labels = triple_barrier(mid)
    assert s["labels"]["counts"] == class_counts(labels)
    assert s["labels"]["ignore"] == int((labels < 0).sum()) == 200
    assert s["duration_s"] == pytest.approx((int(ds.ts[-1]) - int(ds.ts[0])) / 1e9)
    text = run_lob("data", "show", "demo")
    assert text.returncode == 0
    for word in ("rows", "20,000", "spread", "mid", "DOWN", "NEUTRAL", "UP", "IGNORE 200"):
        assert word in text.stdout
    # and the synthetic rows are those of shared.data.synth
    from shared.data.synth import synth_market

    np.testing.assert_array_equal(ds.features, synth_market(20_000, seed=5)[1])


def test_synth_planted_writes_the_quality_bench_market(run_lob, lob_home: Path) -> None:
    from shared.data.store import open_dataset
    from shared.data.synth import PLANTED, synth_market

    args = ["--rows", "3000", "--name", "p", "--seed", "11", "--lean-levels", "3-5", "--planted"]
    assert run_lob("data", "synth", *args).returncode == 0
    ds = open_dataset("p")
    want = synth_market(3_000, seed=11, lean=(3, 5), market=PLANTED)[1]
    np.testing.assert_array_equal(ds.features, want)
    assert not np.array_equal(want, synth_market(3_000, seed=11, lean=(3, 5))[1])


def test_duplicate_synth_and_unknown_show(run_lob, lob_home: Path) -> None:
    assert run_lob("data", "synth", "--rows", "1000", "--name", "d").returncode == 0
    again = run_lob("data", "synth", "--rows", "1000", "--name", "d")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert run_lob("data", "synth", "--rows", "1000", "--name", "d", "--force").returncode == 0
    missing = run_lob("data", "show", "nope")
    assert missing.returncode == 2 and "unknown dataset 'nope'" in missing.stderr


@pytest.mark.data
def test_import_samples_then_show(run_lob, lob_home: Path, sample_data: Path) -> None:
    files = sorted(str(p) for p in (sample_data / "binance-spot-btcusdt").glob("*.gz"))
    btc = run_lob("data", "import", *files, "--name", "btc")
    assert btc.returncode == 0, btc.stderr
    assert "BTCUSDT" in btc.stdout
    lob_files = sorted(str(p) for p in (sample_data / "lobster-aapl").glob("*.csv"))
    aapl = run_lob("data", "import", *lob_files, "--name", "aapl", "--format", "lobster")
    assert aapl.returncode == 0, aapl.stderr
    assert "999 rows" in aapl.stdout
    listed = run_lob("data", "list").stdout
    assert "binance" in listed and "lobster" in listed
    shown = json.loads(run_lob("data", "show", "btc", "--json").stdout)
    assert 6400 <= shown["rows"] <= 6600
    assert sum(shown["labels"]["counts"].values()) + shown["labels"]["ignore"] == shown["rows"]
    assert shown["spread"]["min"] > 0


@pytest.mark.slow
def test_bench_data_quick_run(run_lob, tmp_path: Path) -> None:
    out = tmp_path / "BENCH.md"
    proc = run_lob("bench", "data", "--rows", "5000", env={"LOB_BENCHMARKS_FILE": str(out)})
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "## Data layer" in text
    for what in ("import 5,000-row canonical CSV", "import peak RSS", "reopen", "triple-barrier"):
        assert what in text
    assert "pandas.read_csv" in text and "plain Python loop" in text
    assert "Loop labels equal ours on the slice: yes" in text
