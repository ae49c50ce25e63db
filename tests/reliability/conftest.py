"""The reliability suite's stack: a PostgreSQL and a redis-server of its own (so tests may restart
them), the gateway, the inference service and, per test, Celery workers, all real processes.

.venv/bin/pytest tests/reliability -q
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import seed
from devstack.stack import Stack
from tests.support.jobstack import JOB_ENV, JobStack
from tests.support.relkit import FIGURES, RelStack

# A job dataset small enough for seconds-long epochs of a few batches each, and a replay
# dataset recorded at 10 snapshots/s.
JOB_ROWS = 700
REPLAY_ROWS = 3_000
LOGS = FIGURES.parent / "logs"


@pytest.fixture(scope="session")
def rel() -> Iterator[RelStack]:
    # Not under pytest's basetemp: another pytest session on the machine may prune old basetemps
    # (and reset their modes) while this one still runs PostgreSQL from it.
    base = Path(tempfile.mkdtemp(prefix="lob-rel-"))
    (base / "logs").mkdir()
    home = base / "home"
    home.mkdir()
    seed.dataset(home, "jobs", JOB_ROWS, symbol="TEST")
    seed.dataset(home, "replay", REPLAY_ROWS, seed=1, symbol="TEST")
    good = seed.servable_run(home, "run-good", seed=0)
    seed.point_active(home, good, 1)
    try:
        with Stack(base, {"LOB_HOME": str(home), **JOB_ENV}, logs=base / "logs") as dev:
            pg = dev.postgres(base / "pg")
            redis_server = dev.redis()
            db_url = dev.database(pg.admin_url, prefix="lob_wtest")
            gateway = dev.gateway(log_level="warning", timeout=60)
            # As production starts it: no --start-id (new consumer groups start at '$').
            inference = dev.inference()
            jobs = JobStack(dev, gateway)
            try:
                yield RelStack(
                    base, home, dev, pg, redis_server, db_url, gateway, inference, jobs, good
                )
            finally:
                jobs.close()
    finally:
        # Keep the service logs for a look after the run; the rest goes.
        shutil.rmtree(LOGS, ignore_errors=True)
        shutil.copytree(base / "logs", LOGS)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def stack(rel: RelStack) -> Iterator[RelStack]:
    """The session's stack, ready; workers a test starts are stopped when it ends."""
    rel.wait_ready()
    yield rel
    rel.jobs.stop_workers()
