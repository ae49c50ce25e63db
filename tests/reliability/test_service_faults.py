"""Redis and PostgreSQL go away and come back while a job trains and the stream runs.

Both are the suite's own servers (never the machine's): Redis is killed and started again on the
same port with no persistence (it comes back empty); PostgreSQL is stopped and restarted with
pg_ctl, keeping its data.
"""

from __future__ import annotations

import itertools
import signal
import time
from typing import Any

import httpx
import numpy as np
import pytest
import redis

from devstack.stack import wait_until
from tests.support import jobstack
from tests.support.relkit import RelStack, Subscriber, duplicates, is_prediction, record_figure

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STEP_NS = 100_000_000  # the replay dataset's recorded spacing (10 snapshots/s)
RECOVERY_BUDGET_S = 10.0


def _mid_epoch(events: jobstack.Events, job_id: str) -> None:
    wait_until(lambda: events.of(job_id, "progress"), 120, "the job to be training", every=0.05)


def _ts_gaps(stamps: list[int]) -> int:
    """Snapshots missing between the first and the last seen (the feed's ts step is fixed)."""
    ordered = sorted(set(stamps))
    return sum((b - a) // STEP_NS - 1 for a, b in itertools.pairwise(ordered))


def test_redis_restart_during_streaming_and_training_recovers_within_10_s(
    stack: RelStack,
) -> None:
    symbol = "RDSRESTART"
    events = jobstack.Events(stack.redis.url)
    job_id = stack.jobs.submit("jobs", epochs=3, patience=100)
    stack.jobs.worker("rds")
    sub = Subscriber(
        stack.ws_url("model-test-redis"), [{"subscribe": [symbol], "subscribe_jobs": [job_id]}]
    )
    src = stack.feed("replay", symbol, speed=3)
    marks: dict[str, float] = {}
    try:
        # Given predictions flowing and the job training
        wait_until(lambda: len(sub.predictions(symbol)) >= 150, 60, "predictions")
        _mid_epoch(events, job_id)
        # When Redis dies and comes back a second later, empty
        stack.redis.kill()
        time.sleep(1.0)
        stack.redis.start().wait_healthy()
        back = marks["back"] = time.monotonic()
        # Then, each by itself: predictions reach the same socket, job events flow, the gateway
        # and inference are ready again
        first_pred = wait_until(
            lambda: sub.first_after(back, is_prediction(symbol)), 30, "predictions again"
        )
        marks["stream"] = first_pred.t
        first_event = wait_until(
            lambda: sub.first_after(back, lambda g: g.msg.get("job_id") == job_id),
            60,
            "job events again",
        )
        marks["jobs"] = first_event.t
        stack.wait_ready(30)
        marks["ready"] = time.monotonic()
        job = stack.jobs.wait_status(job_id, "succeeded", timeout=240)
        sent_before = len(sub.predictions(symbol))
        src.stop()
        wait_until(lambda: len(sub.predictions(symbol)) >= sent_before, 5, "drain")
        time.sleep(0.5)
    finally:
        src.stop()
        sub.close()
        events.close()
    msgs = [g.msg for g in sub.predictions(symbol)]
    seqs = [m["seq"] for m in msgs]
    stamps = [m["ts"] for m in msgs]
    recovery = {k: marks[k] - marks["back"] for k in ("stream", "jobs", "ready")}
    lost = _ts_gaps(stamps)
    doubled = duplicates(stamps)
    record_figure(
        "redis_restart",
        kind="fault",
        what="Redis restart (no persistence) during streaming and training",
        done="redis-server killed, back empty 1 s later, while a job trains and a feed replays "
        "30 snapshots/s to a WebSocket client",
        times=1,
        lost=f"job: nothing (succeeded on attempt {job['attempts']}, {len(job['metrics'])}/6 "
        f"metrics rows); stream: {lost} snapshot(s) never predicted, {doubled} doubled; "
        f"socket kept: {sub.close_code is None}",
        recovery=f"predictions {recovery['stream']:.1f} s, job events {recovery['jobs']:.1f} s, "
        f"gateway + inference ready {recovery['ready']:.1f} s after Redis was back",
        data=recovery | {"predictions": len(msgs), "lost": lost, "doubled": doubled},
        passed=lost == 0 and doubled == 0,
    )
    assert sub.close_code is None, "the client kept its socket"
    assert duplicates(seqs) == 0 and seqs == sorted(seqs)
    assert all(v < RECOVERY_BUDGET_S for v in recovery.values()), recovery
    assert job["attempts"] == 1, "the job kept running on its worker"
    assert len(job["metrics"]) == 2 * 3
    assert lost == 0 and doubled == 0, (
        f"{lost} snapshot(s) lost, {doubled} doubled across the restart (see RELIABILITY.md)"
    )


def test_snapshots_written_after_a_redis_restart_before_inference_reconnects_are_predicted(
    stack: RelStack,
) -> None:
    """Production inference creates its group at '$'. After Redis comes back empty, a feed may
    write before inference reconnects; those snapshots must still be predicted."""
    from shared.events import SNAPSHOT_STREAM, Prediction, predictions_channel
    from shared.feed.snapshot import encode

    symbol, count = "AFTERRESTART", 20
    # Listen on Redis itself: this is about inference's consumer group, not the relay (whose
    # own reconnection after a restart is tested above and in tests/inference).
    got: list[Prediction] = []
    try:
        # Given inference paused while Redis restarts (it reconnects later than the feed)
        stack.inference.proc.send_signal(signal.SIGSTOP)
        try:
            stack.redis.kill()
            stack.redis.start().wait_healthy()
            # When the feed writes first
            r = redis.Redis.from_url(stack.redis.url)
            pubsub = r.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(predictions_channel(symbol))
            row = np.linspace(99.0, 101.0, 40)
            for i in range(count):
                r.xadd(SNAPSHOT_STREAM, encode(1_700_000_000 * 10**9 + i, symbol, row))
        finally:
            stack.inference.proc.send_signal(signal.SIGCONT)

        # Then inference, once back, predicts every one of them
        def collect() -> bool:
            while (msg := pubsub.get_message(timeout=0.2)) is not None:
                got.append(Prediction.model_validate_json(msg["data"]))
            return len(got) >= count

        wait_until(collect, 30, f"{count} predictions")
    finally:
        pubsub.close()
        r.close()
    assert [p.seq for p in got] == list(range(1, count + 1))


def _down_answers(api: str, job_id: str) -> list[tuple[str, int, Any]]:
    """One round of requests while PostgreSQL is down: (what, status, JSON body or None)."""
    auth = {"Authorization": f"Bearer {jobstack.TOKEN}"}
    out = []
    with httpx.Client(base_url=api, timeout=10) as c:
        for method, path, body in (
            ("GET", "/api/jobs", None),
            ("GET", f"/api/jobs/{job_id}", None),
            ("GET", "/api/models", None),
            ("GET", "/api/models/active", None),
            ("POST", "/api/jobs", {"dataset": "jobs", "config": {"quick": True}}),
            ("POST", "/api/models/1/promote", None),
            ("GET", "/readyz", None),
        ):
            r = c.request(method, path, json=body, headers=auth)
            try:
                parsed = (
                    r.json() if r.headers["content-type"].startswith("application/json") else None
                )
            except ValueError:
                parsed = None
            out.append((f"{method} {path}", r.status_code, parsed))
        out.append(("GET /healthz", c.get("/healthz").status_code, {}))
    return out


def test_postgres_restart_gives_json_503s_and_loses_nothing(stack: RelStack) -> None:
    events = jobstack.Events(stack.redis.url)
    http = stack.jobs.http
    before = {j["id"] for j in http.get("/api/jobs", params={"size": 200}).json()["items"]}
    job_id = stack.jobs.submit("jobs", epochs=3, patience=100)
    stack.jobs.worker("pgr")
    answers: list[tuple[str, int, Any]] = []
    try:
        _mid_epoch(events, job_id)
        # When PostgreSQL stops for a few seconds
        stack.pg.stop()
        down_at = time.monotonic()
        try:
            while time.monotonic() - down_at < 4.0:
                answers += _down_answers(stack.api, job_id)
        finally:
            stack.pg.start()
        back = time.monotonic()
        # Then the API answers again by itself, and the job carries on
        wait_until(
            lambda: httpx.get(f"{stack.api}/api/jobs", timeout=5).status_code == 200,
            30,
            "the API to answer again",
            every=0.05,
        )
        api_back = time.monotonic() - back
        job = stack.jobs.wait_status(job_id, "succeeded", timeout=240)
        after_events = [t for t, e in list(events.items) if e["job_id"] == job_id and t > back]
        job_back = min(after_events) - back if after_events else float("nan")
    finally:
        events.close()
    # While down: every answer was a JSON 503 saying the database is unavailable (health stays up)
    bad = [
        (what, code, body)
        for what, code, body in answers
        if what != "GET /healthz"
        and not (code == 503 and isinstance(body, dict) and ("detail" in body or "checks" in body))
    ]
    after = {j["id"] for j in http.get("/api/jobs", params={"size": 200}).json()["items"]}
    rows = len(job["metrics"])
    record_figure(
        "postgres_restart",
        kind="fault",
        what="PostgreSQL restart",
        done="pg_ctl stop, 4 s down, start, while a job trains; the API polled throughout",
        times=1,
        lost=f"{len(answers)} requests while down, {len(answers) - len(bad)} of them JSON 503 "
        f"or health 200; every job still listed: {before | {job_id} <= after}; the job "
        f"succeeded (attempt {job['attempts']}) with {rows}/6 epoch metrics rows",
        recovery=f"API {api_back:.2f} s, training events {job_back:.1f} s after PostgreSQL was back",
        data={"api_s": api_back, "job_s": job_back, "requests_while_down": len(answers)},
        passed=not bad and rows == 6 and before | {job_id} <= after,
    )
    assert answers and not bad, bad[:5]
    assert all(code == 200 for what, code, _ in answers if what == "GET /healthz")
    assert all(
        body.get("code") == "db_unavailable"
        for what, _, body in answers
        if what.startswith(("GET /api", "POST /api"))
    )
    # Nothing lost: every job is still listed, the running one succeeded with all its metrics
    assert before | {job_id} <= after
    assert api_back < RECOVERY_BUDGET_S
    assert sorted((m["fold"], m["epoch"]) for m in job["metrics"]) == [
        (f, e) for f in (1, 2) for e in (1, 2, 3)
    ], "an epoch's metrics row is missing after the outage (see RELIABILITY.md)"
