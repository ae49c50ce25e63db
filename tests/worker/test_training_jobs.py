"""Training jobs end to end: gateway (uvicorn) → Redis broker → Celery worker → PostgreSQL, files,
events, model promotion. Real processes throughout; tiny runs so each job takes seconds."""

from __future__ import annotations

import json
import threading

import pytest
import redis
import sqlalchemy as sa

from devstack.stack import wait_until
from tests.support.jobstack import Events, JobStack


def test_a_submitted_job_runs_succeeds_and_its_model_is_promoted(
    stack: JobStack, events: Events
) -> None:
    # Given a job cancelled while queued, and a job to run, before any worker is up
    cancelled = stack.submit()
    assert stack.http.post(f"/api/jobs/{cancelled}/cancel").json()["status"] == "cancelled"
    job_id = stack.submit()
    listener = redis.Redis.from_url(stack.env["REDIS_URL"]).pubsub(ignore_subscribe_messages=True)
    listener.subscribe("lob:models")

    # When a worker starts
    stack.worker("w1")
    job = stack.wait_status(job_id, "succeeded")

    # Then the job ran once, with progress and metrics for every fold and epoch
    assert job["attempts"] == 1 and job["error"] is None and job["worker"] is None
    assert job["progress"]["fraction"] == 1.0
    assert [(m["fold"], m["epoch"]) for m in job["metrics"]] == [(1, 1), (2, 1)]
    assert all(m["val_loss"] is not None and m["train_acc"] is not None for m in job["metrics"])
    # with the result: test metrics beside the baselines, and a confusion matrix
    result = job["result"]
    assert result["fold"] == 2 and "confusion" in result["model"]
    assert set(result["baselines"]) == {
        "majority",
        "logistic_imbalance",
        "logistic_book",
        "gbm_book",
    }
    # and the run's files, manifest last
    run = stack.home / "runs" / job_id
    for name in ("config.json", "metrics.jsonl", "result.json", "manifest.json"):
        assert (run / name).is_file(), name
    assert (run / "fold2" / "best_deeplob_fold2.pth").is_file()
    assert (run / "fold2" / "scaler_params.json").is_file()

    # And fold 2 (the last) is a promoted model version, announced on lob:models
    [model] = [m for m in stack.http.get("/api/models").json() if m["job_id"] == job_id]
    assert model["fold"] == 2 and model["active"] and model["version"] == f"{job_id}/fold2"
    assert job["model_version_id"] == model["id"]
    active = json.loads((stack.home / "models" / "active.json").read_text())
    assert active["version_id"] == model["id"] and active["path"] == str(run.resolve())
    msg = wait_until(lambda: listener.get_message(timeout=0.2), 10, "the lob:models message")
    assert json.loads(msg["data"])["version_id"] == model["id"]
    assert stack.http.get("/api/models/active").json()["model"]["id"] == model["id"]

    # And the events told the story in order
    types = [e["type"] for e in events.of(job_id)]
    assert types[0] == "started" and types[-1] == "succeeded"
    assert {"progress", "epoch", "fold_done"} <= set(types)
    progress = events.of(job_id, "progress")[0]
    assert progress["batch"] and progress["batches"] and progress["fold"] == 1

    # And the job cancelled while queued never started
    never = stack.job(cancelled)
    assert never["status"] == "cancelled" and never["started_at"] is None
    assert not (stack.home / "runs" / cancelled).exists()


def test_cancelling_a_running_job_stops_it_at_a_batch_boundary_and_keeps_checkpoints(
    stack: JobStack, events: Events
) -> None:
    # Given a running job past its first epoch
    job_id = stack.submit(epochs=30, patience=30)
    stack.worker("w1")
    wait_until(lambda: events.of(job_id, "epoch"), 120, "the first epoch")
    # When it is cancelled
    r = stack.http.post(f"/api/jobs/{job_id}/cancel")
    assert r.status_code == 202 and r.json()["cancel_requested"] is True
    # Then it stops soon, as cancelled, with its checkpoints kept
    job = stack.wait_status(job_id, "cancelled", timeout=30)
    assert job["finished_at"] is not None and job["worker"] is None
    run = stack.home / "runs" / job_id
    assert (run / "resume.pt").is_file() and (run / "fold1" / "best_deeplob_fold1.pth").is_file()
    assert not (run / "manifest.json").exists()
    assert events.of(job_id)[-1]["type"] == "cancelled"
    # And nothing was recorded after the cancel: the last epoch row matches the checkpoint
    assert len(job["metrics"]) == len(events.of(job_id, "epoch"))


def test_of_many_simultaneous_takers_exactly_one_gets_the_lease(
    stack: JobStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.config import get_settings
    from shared.db.jobstate import Target, take

    # Given a queued job (no worker is running) and eight would-be holders at a barrier
    job_id = stack.submit()
    monkeypatch.setenv("DATABASE_URL", stack.db_url)
    get_settings.cache_clear()
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def grab(i: int) -> None:
        barrier.wait()
        if take(Target(job_id), f"racer-{i}", ttl=30):
            wins.append(f"racer-{i}")

    try:
        threads = [threading.Thread(target=grab, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Then exactly one holds it, and nobody else can take it while its lease is valid
        assert len(wins) == 1, wins
        assert stack.row(job_id)["worker"] == wins[0]
        assert not take(Target(job_id), "late", ttl=30)
    finally:
        with stack.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE jobs SET status='cancelled', worker=NULL WHERE id=:i"),
                {"i": job_id},
            )
        get_settings.cache_clear()


def test_the_promotion_gate_keeps_a_model_it_does_not_promote_as_a_candidate(
    stack: JobStack, events: Events
) -> None:
    # Given a job whose policy never promotes (what if_better does to a model that loses)
    before = stack.http.get("/api/models/active").json()["model"]
    job_id = stack.submit(promote="never")
    stack.worker("w1")
    stack.wait_status(job_id, "succeeded")
    # Then its model is registered as a candidate, with the gate's verdict, and not served
    [model] = [m for m in stack.http.get("/api/models").json() if m["job_id"] == job_id]
    assert model["promoted_at"] is None and not model["active"]
    assert model["gate_reason"].startswith("not promoted (promote=never); ")
    assert model["gate_passed"] in (True, False)
    assert ("beats every baseline" in model["gate_reason"]) == model["gate_passed"]
    assert stack.http.get("/api/models/active").json()["model"] == before
    [done] = events.of(job_id, "succeeded")
    assert f"model version {model['id']} registered as a candidate" in done["message"]
    # And a person can still promote it by hand
    r = stack.http.post(f"/api/models/{model['id']}/promote")
    assert r.status_code == 200 and r.json()["active"] is True
