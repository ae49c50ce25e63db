"""`lob feed replay` of Tardis.dev CSV and Databento DBN files into a real Redis stream: the same
books the importer makes, with their symbols."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import redis

from shared.data.importer import import_sources
from shared.data.store import open_dataset
from shared.events import SNAPSHOT_STREAM
from shared.feed.snapshot import decode

ES = "databento-es-mbo/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"
ESH4 = "databento-es-mbo/esh4-glbx-mdp3-20231224.mbo.dbn.zst"
DELTAS = "tardis/deltas_with_snapshot.csv"

pytestmark = pytest.mark.data


def _entries(url: str) -> list:
    r = redis.Redis.from_url(url)
    out = [decode(fields) for _, fields in r.xrange(SNAPSHOT_STREAM)]
    r.flushdb()
    r.close()
    return out


@pytest.fixture
def vendor_data(sample_data: Path) -> Path:
    for name in (ES, DELTAS):
        if not (sample_data / name).is_file():
            pytest.skip(f"no sample {sample_data / name}")
    return sample_data


def test_replays_dbn_and_tardis_files_as_the_importer_reads_them(
    run_lob, clean_redis: str, lob_home: Path, vendor_data: Path
) -> None:
    env = {"REDIS_URL": clean_redis, "LOB_HOME": str(lob_home)}
    es, esh4, deltas = (vendor_data / n for n in (ES, ESH4, DELTAS))
    import_sources([es], name="es")
    import_sources([deltas], name="d", levels=1)
    # when a DBN file is replayed as fast as possible
    proc = run_lob("feed", "replay", str(es), "--speed", "0", env=env)
    assert proc.returncode == 0, proc.stderr
    # then every entry is the imported dataset's row, in order, under the file's symbol
    ds = open_dataset("es")
    got = _entries(clean_redis)
    assert f"replayed {ds.rows} snapshots" in proc.stdout
    assert [s.ts for s in got] == ds.ts.tolist() and {s.symbol for s in got} == {"ESM4"}
    np.testing.assert_array_equal(np.array([s.book for s in got]), ds.features.astype(np.float64))
    # and two instruments stream both, unless --symbol picks one (by raw symbol or id)
    both = run_lob("feed", "replay", str(esh4), str(es), "--speed", "0", env=env)
    assert both.returncode == 0, both.stderr
    assert [s.symbol for s in _entries(clean_redis)] == ["ESH4"] + ["ESM4"] * ds.rows
    one = run_lob("feed", "replay", str(esh4), str(es), "--speed", "0", "--symbol", "5602", env=env)
    assert one.returncode == 0, one.stderr
    assert {s.symbol for s in _entries(clean_redis)} == {"ESM4"}
    # and a Tardis file replays with --levels
    tardis = run_lob("feed", "replay", str(deltas), "--speed", "0", "--levels", "1", env=env)
    assert tardis.returncode == 0, tardis.stderr
    got = _entries(clean_redis)
    np.testing.assert_array_equal(
        np.array([s.book for s in got]), open_dataset("d").features.astype(np.float64)
    )
