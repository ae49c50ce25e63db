"""The reliability suite's stack: a PostgreSQL and a redis-server of its own (so tests may restart
them), the gateway, the inference service and, per test, Celery workers, all real processes.

.venv/bin/pytest tests/reliability -q
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from relkit import FIGURES, PgServer, RelStack, jobstack, livekit, start_inference

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
    pg = PgServer(base / "pg")
    redis_server = jobstack.RedisServer(base / "redis")
    db_url = jobstack.create_database(pg.admin_url)
    jobstack.synthetic_dataset(home, "jobs", rows=JOB_ROWS)
    jobstack.synthetic_dataset(home, "replay", rows=REPLAY_ROWS, seed=1)
    good = livekit.make_run(home, "run-good", seed=0)
    livekit.promote(home, good, None, 1)
    env = {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_server.url,
        "LOB_HOME": str(home),
        "LOB_API_TOKEN": jobstack.TOKEN,
        # Short leases: a killed worker's job moves on within seconds (production: 60 s).
        "LOB_LEASE_TTL_S": str(jobstack.LEASE_TTL_S),
        "LOB_REAPER_INTERVAL_S": "0.5",
        "LOB_REDISPATCH_AFTER_S": "3",
        "PYTHONUNBUFFERED": "1",
    }
    procs: list[livekit.Proc] = []
    jobs = None
    try:
        procs.append(livekit.start_gateway(env, base / "logs"))
        procs.append(start_inference(env, base / "logs"))
        api = f"http://127.0.0.1:{procs[0].port}"
        jobs = jobstack.Stack({**os.environ, **env}, home, db_url, api, base / "logs")
        stack = RelStack(base, home, env, pg, redis_server, db_url, procs[0], procs[1], jobs, good)
        yield stack
        procs[:] = [stack.gateway, stack.inference]  # a test may have restarted inference
    finally:
        if jobs is not None:
            jobs.stop_workers()
            jobs.http.close()
            jobs.engine.dispose()
        for proc in procs:
            proc.stop()
        redis_server.stop()
        jobstack.drop_database(db_url)
        pg.close()
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
