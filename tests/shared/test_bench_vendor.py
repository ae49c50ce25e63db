"""The benchmark's Tardis.dev and Databento files (devstack.bench.vendor) import as exactly the
synthetic market they were written from: a check of the writers and of the four importers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devstack.bench.vendor import WRITERS
from shared.data.importer import import_sources
from shared.data.store import open_dataset
from shared.data.synth import synth_market


@pytest.mark.parametrize("label", sorted(WRITERS))
def test_bench_files_rebuild_the_synthetic_market(
    lob_home: Path, tmp_path: Path, label: str
) -> None:
    # given the benchmark's file of 2000 synthetic books
    name, write, _ = WRITERS[label]
    write(tmp_path / name, 2000)
    # when it is imported, then the books are the synthetic market's, one per step
    import_sources([tmp_path / name], name="b")
    np.testing.assert_array_equal(open_dataset("b").features, synth_market(2000, 1)[1])
