"""The live stack for these tests: our own redis-server, a LOB_HOME with a promoted model and a
synthetic dataset, the inference service and the gateway as real subprocesses (devstack)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from devstack import seed
from devstack.stack import Stack
from tests.support.livekit import DRIFT_WINDOW, SYN_ROWS, SYN_STEP_NS, LiveStack


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[LiveStack]:
    base = tmp_path_factory.mktemp("live")
    home = base / "home"
    home.mkdir()
    syn = seed.dataset(home, "syn", SYN_ROWS, symbol="SYN", step_ns=SYN_STEP_NS)
    good = seed.servable_run(home, "run-good", seed=0)
    seed.point_active(home, good, 1)
    env = {
        "LOB_HOME": str(home),
        "DATABASE_URL": database_url,
        "LOB_API_TOKEN": "live-" + secrets.token_hex(8),
        # Small per-client queue so the slow-client test overflows it quickly.
        "LOB_WS_QUEUE": "128",
        # Drift judged over 200 scored predictions, so a short replay can drift (test_live_scores).
        "LOB_DRIFT_WINDOW": str(DRIFT_WINDOW),
    }
    with Stack(base, env) as dev:
        dev.redis()
        inference = dev.inference(start_id="0", timeout=60)
        gateway = dev.gateway(log_level="warning", timeout=60)
        yield LiveStack(dev, inference, gateway, good, syn)
