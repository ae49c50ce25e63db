"""Windows sliced on demand from the memory-mapped array: right values, no materialisation."""

from __future__ import annotations

import tracemalloc

import numpy as np
import torch
from torch.utils.data import DataLoader

from shared.data.store import open_dataset, write_dataset
from shared.ml.windows import WindowBatches, WindowDataset, gather, window_view
from shared.scaler import Scaler


def dataset(lob_home, rows: int, name: str = "win"):
    rng = np.random.default_rng(0)
    feats = rng.normal(100, 5, (rows, 40)).astype(np.float32)
    write_dataset(name, ts=np.arange(rows), features=feats, symbols=["X"])
    return open_dataset(name), feats


def test_batches_hold_the_scaled_windows_in_the_given_order(lob_home):
    ds, feats = dataset(lob_home, 1000)
    labels = (np.arange(1000) % 3).astype(np.int8)
    scaler = Scaler.fit(ds.features, 0, 800)
    order = np.array([99, 500, 250, 999, 100, 731, 400], dtype=np.int64)
    batches = WindowBatches(ds.features, labels, scaler, batch_size=3)
    seen = 0
    for batch in batches.batches(order):
        ends = order[seen : seen + batch.size]
        assert batch.x.shape == (batch.size, 1, 100, 40) and batch.x.dtype == torch.float32
        for i, t in enumerate(ends):
            want = ((feats[t - 99 : t + 1] - scaler.mean) / scaler.std).astype(np.float32)
            np.testing.assert_allclose(batch.x[i, 0].numpy(), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(batch.y.numpy(), labels[ends])
        seen += batch.size
    assert seen == order.size
    assert batches.num_batches(order.size) == 3


def test_channels_last_batches_have_the_same_values(lob_home):
    ds, _ = dataset(lob_home, 400)
    labels = np.zeros(400, dtype=np.int8)
    order = np.arange(99, 400)
    plain = WindowBatches(ds.features, labels, None, batch_size=64)
    cl = WindowBatches(ds.features, labels, None, batch_size=64, channels_last=True)
    for a, b in zip(plain.batches(order), cl.batches(order), strict=True):
        assert b.x.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(a.x.clone(), b.x.clone())


def test_the_window_view_is_a_view_of_the_memory_map(lob_home):
    ds, _ = dataset(lob_home, 300)
    view = window_view(ds.features)
    assert view.shape == (201, 100, 40)
    assert np.shares_memory(view, ds.features)
    assert isinstance(ds.features, np.memmap)


def test_no_window_is_materialised(lob_home):
    """One pass over 20k windows (20k × 16 kB = 320 MB if built up front) allocates ~nothing."""
    rows = 20_099
    ds, _ = dataset(lob_home, rows)
    labels = np.ones(rows, dtype=np.int8)
    scaler = Scaler.fit(ds.features, 0, rows)
    batches = WindowBatches(ds.features, labels, scaler, batch_size=128)
    order = np.random.default_rng(0).permutation(np.arange(99, rows))
    tracemalloc.start()
    total = 0.0
    for batch in batches.batches(order):
        total += float(batch.x[:, 0, -1, 0].sum())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # One batch of windows (128 × 16 kB ≈ 2 MB) in flight at a time, never all 320 MB.
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB traced while iterating"


def test_torch_dataset_gives_the_same_windows(lob_home):
    ds, _ = dataset(lob_home, 500)
    labels = (np.arange(500) % 3).astype(np.int8)
    scaler = Scaler.fit(ds.features, 0, 500)
    ends = np.arange(150, 450, 7)
    wd = WindowDataset(ds.features, labels, ends, scaler)
    assert len(wd) == ends.size
    x, y = wd[3]
    assert x.shape == (1, 100, 40) and y == labels[ends[3]]
    np.testing.assert_array_equal(
        x[0].numpy(), gather(window_view(ds.features), ends[3:4], scaler)[0]
    )
    loader = DataLoader(wd, batch_size=16, shuffle=False)
    xb, yb = next(iter(loader))
    assert xb.shape == (16, 1, 100, 40)
    np.testing.assert_array_equal(yb.numpy(), labels[ends[:16]])
