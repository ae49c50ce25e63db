"""The job tests' side of a stack: Celery workers started per test, job submission and reading,
job-event recording, over a devstack Stack (its Redis, a scratch database and the gateway).

Leases are short here (3 s) so that recovery from a killed worker takes seconds, not minutes.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy as sa

from devstack.stack import NotReady, Service, Stack, wait_until

TOKEN = "worker-test-token"
LEASE_TTL_S = 3.0
# What every service of a job stack runs with: short leases, so a killed worker's job moves on
# within seconds (production: 60 s); a reaper that looks twice a second; lost messages re-sent
# after 3 s.
JOB_ENV = {
    "LOB_API_TOKEN": TOKEN,
    "LOB_LEASE_TTL_S": str(LEASE_TTL_S),
    "LOB_REAPER_INTERVAL_S": "0.5",
    "LOB_REDISPATCH_AFTER_S": "3",
}
# Tiny runs: labels look 5 rows ahead, two folds, small batches: ~10-20 s of CPU per job. They test
# the job machinery, not model quality, so they are promoted whatever the gate says (its own
# test is test_training_jobs.py::test_the_promotion_gate_*).
TINY = {
    "span": 5,
    "h": 5,
    "folds": 2,
    "epochs": 1,
    "batch_size": 32,
    "progress_every": 2,
    "promote": "always",
}


class Events:
    """Every JobEvent published on lob:jobs:*, recorded by a thread that reconnects by itself."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.items: list[tuple[float, dict[str, Any]]] = []
        self._stop = threading.Event()
        self.subscribed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.subscribed.wait(10), "could not subscribe to job events"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe("lob:jobs:*")
                self.subscribed.set()
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=0.2)
                    if msg and msg["type"] == "pmessage":
                        self.items.append((time.monotonic(), json.loads(msg["data"])))
            except (redis.RedisError, OSError):
                time.sleep(0.1)

    def of(self, job_id: str, type_: str | None = None) -> list[dict[str, Any]]:
        return [
            e for _, e in list(self.items) if e["job_id"] == job_id and type_ in (None, e["type"])
        ]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


class JobStack:
    """Workers, jobs and job rows on `stack`, whose gateway is `gateway` (REDIS_URL, DATABASE_URL
    and LOB_HOME in `stack.env`)."""

    def __init__(self, stack: Stack, gateway: Service) -> None:
        self.stack, self.api = stack, gateway.url
        self.home = Path(stack.env["LOB_HOME"])
        self.db_url = stack.env["DATABASE_URL"]
        self.logdir = stack.logs
        self.http = httpx.Client(
            base_url=self.api, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=15
        )
        self.engine = sa.create_engine(self.db_url)
        self.workers: list[Service] = []

    @property
    def env(self) -> dict[str, str]:
        """The environment the stack's services run with."""
        return self.stack.environ()

    def worker(self, name: str, *, ready: bool = True, **env: str) -> Service:
        """A worker `name@<host>` (no gossip or mingle: each test's workers start alone)."""
        w = self.stack.worker(name, "--without-gossip", "--without-mingle", wait=ready, **env)
        self.workers.append(w)
        return w

    def submit(self, dataset: str = "mini", **config: Any) -> str:
        r = self.http.post("/api/jobs", json={"dataset": dataset, "config": {**TINY, **config}})
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    def job(self, job_id: str) -> dict[str, Any]:
        r = self.http.get(f"/api/jobs/{job_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def row(self, job_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return dict(
                conn.execute(sa.text("SELECT * FROM jobs WHERE id = :i"), {"i": job_id})
                .mappings()
                .one()
            )

    def wait_status(self, job_id: str, *statuses: str, timeout: float = 120) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            job = self.job(job_id)
            if job["status"] in statuses:
                return job
            assert job["status"] not in {"failed"} - set(statuses), job
            return None

        try:
            return dict(wait_until(done, timeout, f"job {job_id} to be {statuses}", every=0.25))
        except (AssertionError, NotReady):
            for w in self.workers:
                print(f"---- {w.log}\n{w.output()[-4000:]}")
            raise

    def stop_workers(self) -> None:
        for w in self.workers:
            w.stop()
        self.workers.clear()

    def close(self) -> None:
        self.stop_workers()
        self.http.close()
        self.engine.dispose()
