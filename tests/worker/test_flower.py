"""Flower for the training queue: basic auth from the environment, loopback by default."""

from __future__ import annotations

import httpx
import psutil

from devstack.stack import wait_until
from tests.support.jobstack import JobStack


def test_flower_requires_its_password_and_listens_on_loopback(stack: JobStack) -> None:
    flower = stack.stack.flower(FLOWER_USER="ops", FLOWER_PASSWORD="s3cret-pass")
    try:
        base = flower.url
        assert httpx.get(f"{base}/").status_code == 401
        assert httpx.get(f"{base}/", auth=("ops", "wrong")).status_code == 401
        assert httpx.get(f"{base}/", auth=("ops", "s3cret-pass")).status_code == 200
        listening = {
            c.laddr.ip
            for c in psutil.Process(flower.proc.pid).net_connections()
            if c.status == psutil.CONN_LISTEN
        }
        assert listening == {"127.0.0.1"}
        assert "s3cret-pass" not in " ".join(psutil.Process(flower.proc.pid).cmdline())
    finally:
        flower.stop()


def test_flower_refuses_to_start_without_a_password(stack: JobStack) -> None:
    flower = stack.stack.flower(wait=False, FLOWER_PASSWORD="")
    code = flower.proc.wait(60)
    assert code != 0 and "FLOWER_PASSWORD" in flower.output()


def test_flower_follows_a_job_to_success_without_a_traceback(stack: JobStack) -> None:
    # Given a real Flower watching the queue, logging to a file
    flower = stack.stack.flower(FLOWER_PASSWORD="flower-test-pass")
    base = flower.url
    auth = ("admin", "flower-test-pass")
    try:
        stack.worker("wf")
        wait_until(
            lambda: httpx.get(f"{base}/api/workers?refresh=1", auth=auth, timeout=10).json(),
            60,
            "Flower to see the worker",
            every=0.5,
        )

        # When a small job runs to the end, reporting progress every two batches
        job_id = stack.submit(epochs=2)
        stack.wait_status(job_id, "succeeded")

        # Then Flower reports the job's task as SUCCESS (not PROGRESS forever)
        def task_state() -> str | None:
            tasks = httpx.get(f"{base}/api/tasks", auth=auth, timeout=10).json()
            mine = [t for t in tasks.values() if job_id in str(t.get("args"))]
            return mine[0]["state"] if mine and mine[0]["state"] == "SUCCESS" else None

        wait_until(task_state, 30, "Flower to show the task as SUCCESS", every=0.25)
        # and its output holds no traceback (each progress event used to raise one)
        assert "Traceback" not in flower.output(), flower.tail()
    finally:
        flower.stop()
