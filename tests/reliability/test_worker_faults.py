"""A training job survives its worker being SIGKILLed five times at random moments.

Two workers are up at all times (a replacement starts after each kill). Checked: the job
succeeds; each kill costs at most the epoch in progress; the lease passes from holder to holder
only after a kill, and the workers' own logs show no two of them training the job at once.
"""

from __future__ import annotations

import itertools
import random
import re
import signal
import threading
import time
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from devstack.stack import wait_until
from tests.support import jobstack
from tests.support.relkit import RelStack, record_figure, seconds

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KILLS = 5
FOLDS, EPOCHS = 2, 3
SEED = 8  # of the kill moments; printed with the figures so a run can be repeated


class LeaseHistory:
    """Samples the job row every 50 ms: who holds the lease, and until when."""

    def __init__(self, engine: sa.Engine, job_id: str) -> None:
        self.rows: list[tuple[float, str | None, Any]] = []
        self._stop = threading.Event()
        self._engine, self._job_id = engine, job_id
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        query = sa.text("SELECT worker, lease_expires_at FROM jobs WHERE id = :i")
        while not self._stop.wait(0.05):
            try:
                with self._engine.connect() as conn:
                    worker, expires = conn.execute(query, {"i": self._job_id}).one()
            except sa.exc.SQLAlchemyError:
                continue
            if not self.rows or self.rows[-1][1] != worker:
                self.rows.append((time.monotonic(), worker, expires))

    def holders(self) -> list[str]:
        return [w for _, w, _ in self.rows if w is not None]

    def current(self) -> str | None:
        return self.rows[-1][1] if self.rows else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _position(event: dict[str, Any]) -> float:
    """Where a progress event is, in epochs since the start of the job."""
    return (event["fold"] - 1) * EPOCHS + event["epoch"] - 1 + event["batch"] / event["batches"]


LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): ")


def _training_interval(text: str) -> tuple[datetime, datetime] | None:
    """First and last moment a worker's log shows it training (fold/epoch lines)."""
    stamps = [
        datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
        for line in text.splitlines()
        if ("Fold " in line or "Epoch " in line or "Resuming fold" in line)
        and (m := LOG_TIME.match(line))
    ]
    return (stamps[0], stamps[-1]) if stamps else None


def test_five_sigkills_at_random_moments_in_one_job(stack: RelStack) -> None:
    rng = random.Random(SEED)
    jobs = stack.jobs
    events = jobstack.Events(stack.redis.url)
    job_id = jobs.submit("jobs", folds=FOLDS, epochs=EPOCHS, patience=100, progress_every=1)
    history = LeaseHistory(jobs.engine, job_id)
    live = [jobs.worker(f"k{i}", ready=False) for i in range(2)]
    for w in live:
        w.wait_healthy()

    def progress(after: float = 0.0, before: float = float("inf")) -> list[tuple[float, dict]]:
        return [
            (t, e)
            for t, e in list(events.items)
            if e["job_id"] == job_id and e["type"] == "progress" and after < t < before
        ]

    killed: list[str] = []
    kill_at: list[float] = []
    lost_epochs: list[float] = []
    recovery: list[float] = []
    try:
        for k in range(KILLS):
            # Given the job training on a live worker (after the previous takeover, if any) ...
            since = kill_at[-1] if kill_at else 0.0

            def training(since: float = since) -> str | None:
                holder = history.current()
                ok = holder is not None and holder not in killed and progress(since)
                return holder if ok else None

            holder = wait_until(training, 90, f"the job to be training before kill {k + 1}")
            # ... when its worker is SIGKILLed at a random moment ...
            time.sleep(rng.uniform(0.3, 2.5))
            assert jobs.job(job_id)["status"] == "running", "the job finished before all kills"
            victim = next(w for w in live if holder.startswith(f"{w.name}@"))
            victim.signal(signal.SIGKILL)
            victim.proc.wait(10)
            kill_at.append(time.monotonic())
            killed.append(holder)
            live.remove(victim)
            # ... and a replacement starts, so that two workers are up again
            live.append(jobs.worker(f"r{k}", ready=False))
            # Then training resumes on the other worker, from the last finished epoch
            t_res, resumed = wait_until(
                lambda: next(iter(progress(after=kill_at[-1])), None),
                90,
                f"training to resume after kill {k + 1}",
            )
            recovery.append(t_res - kill_at[-1])
            _, last = progress(before=kill_at[-1])[-1]
            resumed_from = (resumed["fold"] - 1) * EPOCHS + resumed["epoch"] - 1
            lost_epochs.append(_position(last) - resumed_from)
        # And the job succeeds
        job = jobs.wait_status(job_id, "succeeded", timeout=240)
    finally:
        history.close()
        events.close()
    texts = {w.log.name: w.output() for w in jobs.workers}

    # taken once at the start and once per kill, holder after holder, never back to a dead one
    assert job["attempts"] == KILLS + 1, job["attempts"]
    holders = history.holders()
    assert len(holders) == KILLS + 1 and len(set(holders)) == KILLS + 1, holders
    assert holders[:KILLS] == killed
    # each kill cost at most the epoch in progress
    assert all(x <= 1.0 + 1e-9 for x in lost_epochs), lost_epochs
    epochs_seen = Counter((e["fold"], e["epoch"]) for e in events_of(events, job_id, "epoch"))
    redone = sum(n - 1 for n in epochs_seen.values())
    assert redone <= KILLS, epochs_seen
    every_epoch = [(f, e) for f in range(1, FOLDS + 1) for e in range(1, EPOCHS + 1)]
    assert sorted(epochs_seen) == every_epoch
    # one metrics row per epoch, in PostgreSQL and in metrics.jsonl
    assert sorted((m["fold"], m["epoch"]) for m in job["metrics"]) == every_epoch
    lines = (stack.home / "runs" / job_id / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == FOLDS * EPOCHS
    # and no two workers ever trained it at once: their training intervals do not overlap, and
    # none of them lost its lease to a successor while alive
    intervals = sorted(i for text in texts.values() if (i := _training_interval(text)))
    assert len(intervals) == KILLS + 1, intervals
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert end < start, intervals
    assert not any("lease lost" in t for t in texts.values())

    record_figure(
        "worker_sigkill",
        kind="fault",
        what="Worker SIGKILL mid-epoch",
        done=f"{KILLS} SIGKILLs at random moments (seed {SEED}) in one {FOLDS}-fold x "
        f"{EPOCHS}-epoch job; two workers up throughout",
        times=KILLS,
        lost=f"nothing: job succeeded, every epoch has one metrics row; {redone} epoch(s) redone "
        f"in all, at most {max(lost_epochs):.2f} epoch of work per kill; never two holders at once",
        recovery=f"{seconds(recovery)} (kill -> training again; lease TTL "
        f"{jobstack.LEASE_TTL_S:.0f} s)",
        data={
            "recovery_s": recovery,
            "lost_epochs_per_kill": lost_epochs,
            "epochs_redone": redone,
            "attempts": job["attempts"],
            "holders": holders,
        },
    )


def events_of(events: jobstack.Events, job_id: str, type_: str) -> list[dict[str, Any]]:
    return [e for _, e in list(events.items) if e["job_id"] == job_id and e["type"] == type_]
