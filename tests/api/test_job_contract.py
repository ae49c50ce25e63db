"""What GET /api/jobs says about a run: its Progress (the one account the UI shows), its config as
TrainConfig and its result as RunResult, also for rows and files older than the code.

.venv/bin/pytest tests/api/test_job_contract.py -q
"""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace
from typing import Any, cast

import httpx
from sqlalchemy import update
from sqlalchemy.orm import Session

from services.api.jobs.schemas import JobDetail, Progress
from services.api.jobs.service import progress_of
from services.worker.hooks import JobHooks
from services.worker.lease import Lease
from services.worker.publisher import EventPublisher
from shared.config import Settings
from shared.db.models import Job
from shared.db.session import get_engine
from shared.events import JobEvent


def _row_after(*events: JobEvent, status: str = "running", folds: int, epochs: int) -> Progress:
    """The Progress the gateway reads from the row the worker wrote for `events` (hooks._track)."""
    hooks = JobHooks(
        "7",
        lease=Lease("7", "worker-1", 30.0),
        publisher=cast(EventPublisher, None),  # _track publishes nothing
        handoff=threading.Event(),
    )
    row: dict[str, Any] = dict.fromkeys(("fold", "epoch", "batch", "batches"))
    row |= {"folds": folds, "epochs": epochs}
    for event in events:
        row |= hooks._track(event)
    return progress_of(SimpleNamespace(status=status, **row))


def _ev(type_: str, **fields: Any) -> JobEvent:
    return JobEvent(type=type_, job_id="7", **fields)  # type: ignore[arg-type]


def test_progress_counts_finished_epochs_and_the_running_epochs_batches() -> None:
    # Given fold 1 of 2 with epoch 1 of 4 finished and epoch 2 half done
    p = _row_after(
        _ev("started", folds=2),
        _ev("progress", fold=1, folds=2, epoch=1, epochs=4, batch=100, batches=100),
        _ev("epoch", fold=1, folds=2, epoch=1, epochs=4),
        _ev("progress", fold=1, folds=2, epoch=2, epochs=4, batch=50, batches=100),
        folds=2,
        epochs=4,
    )
    # Then one epoch is counted finished, the running one by its batches: (1 + 0.5) / 4 / 2
    assert (p.epoch, p.batch, p.batches) == (1, 50, 100)
    assert p.fraction == 0.1875
    assert p.label == "Fold 1 of 2 · epoch 2 of 4"


def test_an_ended_epoch_counts_whole_and_the_label_names_the_next() -> None:
    p = _row_after(
        _ev("progress", fold=1, folds=2, epoch=2, epochs=4, batch=98, batches=100),
        _ev("epoch", fold=1, folds=2, epoch=2, epochs=4),
        folds=2,
        epochs=4,
    )
    assert (p.epoch, p.batch, p.fraction) == (2, 0, 0.25)
    assert p.label == "Fold 1 of 2 · epoch 3 of 4"


def test_a_fold_that_stopped_early_counts_as_complete() -> None:
    p = _row_after(
        _ev("progress", fold=1, folds=2, epoch=1, epochs=20, batch=10, batches=10),
        _ev("epoch", fold=1, folds=2, epoch=1, epochs=20),
        _ev("fold_done", fold=1, folds=2, epoch=1, epochs=20),
        folds=2,
        epochs=20,
    )
    assert p.fraction == 0.5
    assert p.label == "Fold 1 of 2 · epoch 20 of 20"


def test_every_fold_before_the_reported_one_is_complete() -> None:
    # Walk-forward folds run in order: news from fold 3 means folds 1 and 2 are done.
    p = _row_after(
        _ev("progress", fold=3, folds=4, epoch=1, epochs=1, batch=5, batches=10),
        folds=4,
        epochs=1,
    )
    assert p.fraction == (2 + 0.5) / 4


def test_progress_never_exceeds_one_and_is_whole_once_the_run_succeeded() -> None:
    over = _ev("progress", fold=1, folds=1, epoch=3, epochs=2, batch=12, batches=10)
    assert _row_after(over, folds=1, epochs=2).fraction == 1.0
    done = _row_after(status="succeeded", folds=5, epochs=20)
    assert (done.fraction, done.label) == (1.0, "Complete")


def test_the_label_says_where_a_run_waits_or_stopped() -> None:
    def label(status: str, **row: Any) -> str:
        cols = dict.fromkeys(("fold", "folds", "epoch", "epochs", "batch", "batches")) | row
        return progress_of(SimpleNamespace(status=status, **cols)).label

    assert label("queued", folds=5, epochs=20) == "Queued: waiting for a worker"
    assert label("running", folds=5, epochs=20) == "Waiting for the worker"
    assert label("cancelled", folds=5, epochs=20) == "Cancelled before training started"
    at = {"fold": 3, "folds": 5, "epoch": 1, "epochs": 2, "batch": 5, "batches": 10}
    assert label("running", **at) == "Fold 3 of 5 · epoch 2 of 2"
    assert label("failed", **at) == "Failed at fold 3 of 5 · epoch 2 of 2"
    assert progress_of(SimpleNamespace(status="running", **at)).fraction == (2 + 0.75) / 5
    queued = progress_of(SimpleNamespace(status="queued", **dict.fromkeys(at)))
    assert queued.fraction is None


def _detail(**over: Any) -> JobDetail:
    row = {
        "id": "7",
        "status": "succeeded",
        "dataset": "tiny",
        "config": {},
        "progress": {"label": "Complete", "fraction": 1.0},
        "created_at": "2026-03-01T10:00:00Z",
    }
    return JobDetail.model_validate(row | over)


def test_a_result_keeps_what_it_holds_beyond_the_typed_keys() -> None:
    # Given a result.json as an older engine wrote it: the model's scores under `test`, a key
    # RunResult does not name, and a baseline's `class`
    old = {
        "fold": 5,
        "test": {"accuracy": 0.5, "f1_macro": 0.4, "samples": 10},
        "baselines": {"majority": {"class": "NEUTRAL", "f1_macro": 0.2}},
        "test_metrics": {"accuracy": 0.5},
    }
    # Then it reads, typed, and is sent back as it was
    result = _detail(result=old).result
    assert result is not None and result.baselines is not None
    assert result.test is not None and result.test.f1_macro == 0.4
    assert result.model_dump(mode="json", by_alias=True, exclude_none=True) == old


def test_a_result_that_is_not_a_result_is_left_out() -> None:
    for junk in ([1, 2], {"model": "accurate"}, {"folds": [{"no": "fold"}]}, "text"):
        assert _detail(result=junk).result is None


def test_an_old_row_reads_its_missing_settings_as_their_defaults() -> None:
    config = _detail(config={"epochs": 3}).config
    assert config.epochs == 3 and config.batching == "windows" and config.fee_bps == 1.0


def test_the_detail_endpoint_reads_old_rows_and_bad_result_files(
    api: httpx.Client, auth: dict[str, str], api_settings: Settings
) -> None:
    # Given a job that failed, whose row predates the `batching` setting, and whose run left a
    # result.json that is not one
    job_id = api.post("/api/jobs", json={"dataset": "tiny"}, headers=auth).json()["id"]
    with Session(get_engine(str(api_settings.database_url))) as s:
        config = s.get_one(Job, job_id).config
        config.pop("batching")
        s.execute(update(Job).where(Job.id == job_id).values(status="failed", config=config))
        s.commit()
    run = api_settings.lob_home / "runs" / job_id
    run.mkdir(parents=True)
    (run / "result.json").write_text(json.dumps({"model": "accurate"}))

    # When the UI asks for it, and for the list
    detail = api.get(f"/api/jobs/{job_id}")
    listed = api.get("/api/jobs", params={"size": 200})

    # Then both answer, with the setting's default and without the result
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["config"]["batching"] == "windows" and body["result"] is None
    assert body["progress"]["label"] == "Failed before training started"
    assert listed.status_code == 200 and job_id in {j["id"] for j in listed.json()["items"]}
