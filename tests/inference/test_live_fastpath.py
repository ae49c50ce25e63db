"""The incremental forward path equals plain eager DeepLOB, window after window."""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
import torch

from services.inference.predictor import LoadedModel, Predictor
from shared.data.schema import WINDOW
from shared.feed.snapshot import Snapshot
from shared.ml.checkpoint import ServingModel
from shared.ml.fastpath import FastDeepLOB, WindowCache, eager_probs
from shared.ml.model import DeepLOB
from shared.scaler import Scaler

TOL = 1e-5  # probabilities; float32 sums in another order differ by ~1e-7


@pytest.fixture(scope="module")
def model() -> DeepLOB:
    """Random weights and BatchNorm statistics far from identity, so folding is really tested."""
    torch.manual_seed(1)
    m = DeepLOB().eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.3, 3.0)
                mod.weight.uniform_(-1.5, 1.5)  # negative scales too
                mod.bias.uniform_(-0.3, 0.3)
    return m


def test_sliding_windows_match_eager_for_several_symbols(model: DeepLOB) -> None:
    # given three symbols whose rows arrive at different rates
    fast = FastDeepLOB(model)
    rng = np.random.default_rng(0)
    rows = {s: rng.standard_normal((WINDOW + 40, 40)).astype(np.float32) for s in "ABC"}
    caches = {s: WindowCache() for s in "ABC"}
    ends = dict.fromkeys("ABC", WINDOW - 1)
    steps = 0
    for step in range(60):
        # A every step, B every other step, C in jumps of three (so its cache is rebuilt)
        movers = ["A"] + (["B"] if step % 2 == 0 else []) + (["C"] if step % 5 == 0 else [])
        for s in movers:
            ends[s] += 3 if s == "C" else 1
        movers = [s for s in movers if ends[s] <= rows[s].shape[0]]
        if not movers:
            continue
        windows = [np.ascontiguousarray(rows[s][ends[s] - WINDOW : ends[s]]) for s in movers]
        # when predicted incrementally, as one batch
        got = fast.predict(windows, [caches[s] for s in movers], [ends[s] for s in movers])
        # then each equals the plain eager model on the full window
        want = eager_probs(model, np.stack(windows))
        np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
        steps += 1
    assert steps > 30


def test_a_window_that_did_not_slide_by_one_is_rebuilt(model: DeepLOB) -> None:
    fast = FastDeepLOB(model)
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((WINDOW, 40)).astype(np.float32) for _ in range(2))
    cache = WindowCache()
    fast.predict([a], [cache], [WINDOW])
    # a different window at the next end (e.g. after a model swap) must not reuse the cache...
    cache = WindowCache()
    got = fast.predict([b], [cache], [WINDOW + 1])
    np.testing.assert_allclose(got, eager_probs(model, b[None]), atol=TOL, rtol=0)


def test_fast_path_is_faster_than_plain_eager(model: DeepLOB) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fast = FastDeepLOB(model)
        rows = np.random.default_rng(2).standard_normal((WINDOW + 300, 40)).astype(np.float32)
        cache = WindowCache()
        fast_s, eager_s = [], []
        for end in range(WINDOW, WINDOW + 300):
            window = rows[end - WINDOW : end]
            t = time.perf_counter()
            fast.predict([window], [cache], [end])
            fast_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            eager_probs(model, window[None])
            eager_s.append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(threads)
    assert statistics.median(fast_s) < statistics.median(eager_s)


def _loaded(model: DeepLOB, mean: float, name: str) -> LoadedModel:
    scaler = Scaler(mean=np.full(40, mean), std=np.full(40, 2.0), rows=(0, 1))
    serving = ServingModel(model=model, scaler=scaler, version=name, run_dir=None, fold=5)  # type: ignore[arg-type]
    return LoadedModel(serving=serving, fast=FastDeepLOB(model), fingerprint=(name,))


def test_predictor_warms_up_then_predicts_and_swaps_scaler_with_the_model(model: DeepLOB) -> None:
    predictor = Predictor()
    predictor.set_model(_loaded(model, 1.0, "one"))
    rng = np.random.default_rng(3)
    raw = rng.uniform(0, 5, (WINDOW + 5, 40))
    out = []
    for i, row in enumerate(raw[:WINDOW]):
        (msg,), _ = predictor.predict([Snapshot(ts=i, symbol="X", book=row)])
        out.append(msg)
    # the first WINDOW - 1 say warming_up, the WINDOW-th is a prediction
    assert [m.status for m in out] == ["warming_up"] * (WINDOW - 1) + ["ok"]
    assert [m.seq for m in out] == list(range(1, WINDOW + 1))
    assert out[-2].warmup_have == WINDOW - 1 and out[-2].probs is None
    # after a swap, the new model sees the raw window through its own scaler
    second = _loaded(model, 3.0, "two")
    predictor.set_model(second)
    (msg,), _ = predictor.predict([Snapshot(ts=WINDOW, symbol="X", book=raw[WINDOW])])
    window = second.scaler.transform(raw[1 : WINDOW + 1])
    want = eager_probs(model, window[None])[0]
    assert msg.model_version == "two" and msg.seq == WINDOW + 1
    assert msg.probs is not None
    np.testing.assert_allclose([msg.probs.down, msg.probs.neutral, msg.probs.up], want, atol=TOL)


RELOAD_PROBE = """
import gc, sys, warnings
import psutil, torch
warnings.simplefilter("ignore")
from shared.ml.fastpath import FastDeepLOB, verify_against_eager
from shared.ml.model import DeepLOB

torch.set_num_threads(1)
model, proc = DeepLOB().eval(), psutil.Process()
rss = []
for _ in range(int(sys.argv[1])):
    fast = FastDeepLOB(model)
    verify_against_eager(fast, model)  # run it too, as a hot reload does
    del fast
    gc.collect()
    rss.append(proc.memory_info().rss)
print((rss[-1] - rss[4]) / 2**20)
"""


def test_building_the_fast_path_again_and_again_does_not_leak() -> None:
    # Every hot reload builds a new FastDeepLOB. With torch.jit.freeze each build kept ~5.6 MB
    # for good (the soak test's inference RSS grew 9 MB a minute); a fresh process keeps the
    # measurement free of this test session's own heap.
    import subprocess
    import sys

    reloads = 25
    out = subprocess.run(
        [sys.executable, "-c", RELOAD_PROBE, str(reloads)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    grown_mb = float(out.stdout.strip().splitlines()[-1])
    # 20 builds after the first five (allocator warm-up): the frozen version grew ~110 MB here.
    assert grown_mb < 25, f"RSS grew {grown_mb:.1f} MB over {reloads - 5} fast-path builds"
