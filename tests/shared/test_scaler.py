"""Z-score scaler: fitted on the given rows only; scaler_params.json alone rebuilds it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shared.scaler import Scaler

FILE_NAME = "scaler_params.json"


def book(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 1, (rows, 40)) * np.arange(1, 41) + 60_000).astype(np.float32)


def test_fit_uses_only_the_training_rows():
    feats = book(5000)
    scaler = Scaler.fit(feats, 1000, 3000)
    rows = feats[1000:3000].astype(np.float64)
    np.testing.assert_allclose(scaler.mean, rows.mean(0), rtol=1e-12)
    np.testing.assert_allclose(scaler.std, rows.std(0), rtol=1e-9)
    # Changing rows outside the span changes nothing.
    other = feats.copy()
    other[:1000] = 0
    other[3000:] = 1e9
    again = Scaler.fit(other, 1000, 3000)
    np.testing.assert_array_equal(again.mean, scaler.mean)
    np.testing.assert_array_equal(again.std, scaler.std)


def test_fit_windows_covers_every_row_of_the_windows():
    feats = book(2000)
    ends = np.arange(500, 900)
    scaler = Scaler.fit_windows(feats, ends, window=100)
    assert scaler.rows == (401, 900)


def test_transform_and_constant_columns():
    feats = book(1000)
    feats[:, 5] = 42.0  # a constant column scales to 0, not NaN
    scaler = Scaler.fit(feats, 0, 1000)
    z = scaler.transform(feats)
    assert z.dtype == np.float32
    assert np.isfinite(z).all()
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(np.delete(z.std(0), 5), 1, atol=1e-3)
    assert (z[:, 5] == 0).all()
    inplace = feats.copy()
    scaler.transform(inplace, out=inplace)
    np.testing.assert_array_equal(inplace, z)


def test_save_then_load_from_the_file_alone(tmp_path):
    scaler = Scaler.fit(book(3000), 100, 2500)
    path = scaler.save(tmp_path / FILE_NAME)
    assert path == tmp_path / FILE_NAME
    data = json.loads(path.read_text())
    assert (
        data["kind"] == "zscore" and len(data["mean"]) == 40 and data["features"][0] == "ask_px_1"
    )
    loaded = Scaler.load(path)
    np.testing.assert_array_equal(loaded.mean, scaler.mean)
    np.testing.assert_array_equal(loaded.std, scaler.std)
    assert loaded.rows == scaler.rows
    x = book(10, seed=3)
    np.testing.assert_array_equal(loaded.transform(x), scaler.transform(x))


def test_load_refuses_a_broken_file(tmp_path):
    data = Scaler.fit(book(500), 0, 500).to_dict()
    data["std"][3] = 0.0
    (tmp_path / FILE_NAME).write_text(json.dumps(data))
    with pytest.raises(ValueError, match="std > 0"):
        Scaler.load(tmp_path / FILE_NAME)


def _priced_book(rows: int, level: float, seed: int = 0) -> np.ndarray:
    """A book around `level`: prices a few ticks apart, heavy sizes."""
    rng = np.random.default_rng(seed)
    mid = level * (1 + np.cumsum(rng.normal(0, 1e-4, rows)))
    f = np.empty((rows, 40))
    ticks = np.arange(1, 11) * level * 1e-4
    f[:, 0::4] = mid[:, None] + ticks  # ask px
    f[:, 2::4] = mid[:, None] - ticks  # bid px
    f[:, 1::2] = rng.pareto(1.5, (rows, 20)) * 100
    return f


def test_mid_bps_does_not_depend_on_the_price_level():
    # Given the same book shape at a price of 100 and at 100,000, fitted on the first one
    low, high = _priced_book(2000, 100.0), _priced_book(2000, 100_000.0)
    scaler = Scaler.fit(low, 0, 1000, kind="mid_bps")
    # When both are transformed, then the model sees the same inputs (a zscore scaler would not)
    np.testing.assert_allclose(scaler.transform(high), scaler.transform(low), atol=1e-3)
    zscore = Scaler.fit(low, 0, 1000)
    assert np.abs(zscore.transform(high)[:, 0::2]).min() > 1e3
    # and the transform is per row: a window gives what its rows give one by one
    window = scaler.transform(low[None, 100:200])[0]
    rows = np.stack([scaler.transform(r) for r in low[100:200]])
    np.testing.assert_array_equal(window, rows)
    # and the fitted rows are centred and unit-scaled
    z = scaler.transform(low[:1000]).astype(np.float64)
    assert np.abs(z.mean(0)).max() < 1e-4 and np.abs(z.std(0) - 1).max() < 1e-3


def test_the_kind_is_saved_and_an_unknown_one_is_refused(tmp_path):
    scaler = Scaler.fit(_priced_book(500, 50.0), 0, 500, kind="mid_bps")
    loaded = Scaler.load(scaler.save(tmp_path / FILE_NAME))
    assert loaded.kind == "mid_bps"
    np.testing.assert_array_equal(loaded.mean, scaler.mean)
    data = json.loads((tmp_path / FILE_NAME).read_text())
    data["kind"] = "per_window"
    (tmp_path / FILE_NAME).write_text(json.dumps(data))
    with pytest.raises(ValueError, match="unknown scaler kind 'per_window'"):
        Scaler.load(tmp_path / FILE_NAME)
    with pytest.raises(Exception, match="unknown normalisation 'raw'"):
        Scaler.fit(_priced_book(500, 50.0), 0, 500, kind="raw")
