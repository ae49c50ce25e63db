"""Flower for the training queue: basic auth from the environment, loopback by default."""

from __future__ import annotations

import subprocess
import sys

import httpx
import psutil
from jobstack import Stack, wait_for

from shared.embedded import free_port, port_open


def test_flower_requires_its_password_and_listens_on_loopback(stack: Stack) -> None:
    port = free_port()
    env = {**stack.env, "FLOWER_USER": "ops", "FLOWER_PASSWORD": "s3cret-pass"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.worker.flower", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: port_open("127.0.0.1", port), 60, "Flower to listen")
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/").status_code == 401
        assert httpx.get(f"{base}/", auth=("ops", "wrong")).status_code == 401
        assert httpx.get(f"{base}/", auth=("ops", "s3cret-pass")).status_code == 200
        listening = {
            c.laddr.ip
            for c in psutil.Process(proc.pid).net_connections()
            if c.status == psutil.CONN_LISTEN
        }
        assert listening == {"127.0.0.1"}
        assert "s3cret-pass" not in " ".join(psutil.Process(proc.pid).cmdline())
    finally:
        proc.terminate()
        proc.wait(20)


def test_flower_refuses_to_start_without_a_password(stack: Stack) -> None:
    env = {**stack.env, "FLOWER_PASSWORD": ""}
    done = subprocess.run(
        [sys.executable, "-m", "services.worker.flower", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "FLOWER_PASSWORD" in done.stderr


def test_flower_follows_a_job_to_success_without_a_traceback(stack: Stack) -> None:
    # Given a real Flower watching the queue, logging to a file
    port = free_port()
    log = stack.logdir / f"flower-{port}.log"
    env = {**stack.env, "FLOWER_PASSWORD": "flower-test-pass"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.worker.flower", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    auth = ("admin", "flower-test-pass")
    try:
        wait_for(lambda: port_open("127.0.0.1", port), 60, "Flower to listen")
        stack.worker("wf")
        wait_for(
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

        wait_for(task_state, 30, "Flower to show the task as SUCCESS", every=0.25)
        # and its output holds no traceback (each progress event used to raise one)
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    finally:
        proc.terminate()
        proc.wait(20)
