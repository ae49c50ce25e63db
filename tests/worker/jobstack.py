"""Helpers for the job-stack tests: workers, the gateway, Redis, event recording.

Leases are short here (3 s) so that recovery from a killed worker takes seconds, not minutes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis
import sqlalchemy as sa

from services.worker.client import worker_command
from shared import embedded
from shared.data.store import write_dataset

TOKEN = "worker-test-token"
LEASE_TTL_S = 3.0
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


def wait_for(cond: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def synthetic_dataset(home: Path, name: str, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    mid = 100 * np.exp(np.cumsum(rng.normal(0, 2e-4, rows)))
    levels = np.arange(1, 11)
    feats = np.empty((rows, 40), dtype=np.float32)
    feats[:, 0::4] = mid[:, None] + 0.01 * levels
    feats[:, 1::4] = rng.uniform(1, 5, (rows, 10))
    feats[:, 2::4] = mid[:, None] - 0.01 * levels
    feats[:, 3::4] = rng.uniform(1, 5, (rows, 10))
    ts = (1_700_000_000 * 10**9 + np.arange(rows) * 100_000_000).astype(np.int64)
    write_dataset(name, ts=ts, features=feats, symbols=["TEST"], home=home)


class RedisServer:
    """An embedded redis-server that a test may stop and start again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.url, self.proc = embedded.start_redis(workdir)
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def start(self) -> None:
        self.url, self.proc = embedded.start_redis(self.workdir, port=self.port)

    def restart(self) -> None:
        self.stop()
        self.start()


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


class Worker:
    """`celery -A services.worker.app worker -Q training` as a subprocess, logging to a file."""

    def __init__(self, name: str, env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.log = logdir / f"worker-{name}-{uuid.uuid4().hex[:6]}.log"
        self.proc = subprocess.Popen(
            worker_command("-n", f"{name}@%h", "--without-gossip", "--without-mingle"),
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def wait_ready(self, timeout: float = 60) -> Worker:
        wait_for(
            lambda: "ready." in self.text() or self.proc.poll() is not None,
            timeout,
            f"worker {self.name} to be ready",
        )
        assert self.proc.poll() is None, f"worker {self.name} exited:\n{self.text()[-3000:]}"
        return self

    @property
    def holder_prefix(self) -> str:
        return f"{self.name}@"

    def signal(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(10)


class Stack:
    def __init__(
        self, env: dict[str, str], home: Path, db_url: str, api: str, logdir: Path
    ) -> None:
        self.env, self.home, self.db_url, self.api, self.logdir = env, home, db_url, api, logdir
        self.http = httpx.Client(
            base_url=api, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=15
        )
        self.engine = sa.create_engine(db_url)
        self.workers: list[Worker] = []

    def worker(self, name: str, *, ready: bool = True, **env: str) -> Worker:
        w = Worker(name, {**self.env, **env}, self.logdir)
        self.workers.append(w)
        return w.wait_ready() if ready else w

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
            return dict(wait_for(done, timeout, f"job {job_id} to be {statuses}", every=0.25))
        except AssertionError:
            for w in self.workers:
                print(f"---- {w.log}\n{w.text()[-4000:]}")
            raise

    def stop_workers(self) -> None:
        for w in self.workers:
            w.stop()
        self.workers.clear()


def create_database(admin_from: str) -> str:
    url = sa.engine.make_url(admin_from)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"lob_wtest_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    out = url.set(database=name).render_as_string(hide_password=False)
    subprocess.run(
        [sys.executable, "-m", "shared.cli.main", "db", "upgrade"],
        env={**os.environ, "DATABASE_URL": out},
        check=True,
        capture_output=True,
    )
    return out


def drop_database(url_s: str) -> None:
    url = sa.engine.make_url(url_s)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()
