"""`lob up` exactly as a user runs it: fresh LOB_HOME, no DATABASE_URL or REDIS_URL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import websockets

from devstack.stack import Service, wait_until
from shared.embedded import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _wait(cond: Callable[[], Any], timeout: float, what: str, stack: UpStack) -> Any:
    """Until `cond` holds; fails at once, with the end of its log, should lob up exit."""
    return wait_until(cond, timeout, what, services=[stack.up], every=0.5)


def _get(url: str, **kw) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=3, **kw)
    except httpx.HTTPError:
        return None


class UpStack:
    """`lob up` as a process of its own (a devstack Service: own process group, log file)."""

    def __init__(self, home: Path, up: Service, ports: dict[str, int]) -> None:
        self.home, self.up, self.ports = home, up, ports
        self.proc, self.log = up.proc, up.log
        assert self.log is not None
        self.base = f"http://127.0.0.1:{ports['api']}"

    def descendants(self) -> list[psutil.Process]:
        procs = psutil.Process(self.proc.pid).children(recursive=True)
        # The embedded PostgreSQL is started by pg_ctl and re-parented; find it by its data dir.
        for p in psutil.process_iter(["cmdline"]):
            if (
                any(str(self.home) in part for part in (p.info["cmdline"] or []))
                and p.pid != self.proc.pid
            ):
                procs.append(p)
        return procs


def _start(tmp_path: Path, *extra: str) -> UpStack:
    home = tmp_path / "home"
    ports = {"api": free_port(), "flower": free_port(), "inference": free_port()}
    # exactly as a user runs it: no DATABASE_URL, REDIS_URL or API token in the environment
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "LOB_API_TOKEN"}
    }
    env["LOB_HOME"] = str(home)
    argv = [sys.executable, "-m", "shared.cli.main", "up"]
    argv += ["--api-port", str(ports["api"]), "--flower-port", str(ports["flower"])]
    argv += ["--inference-port", str(ports["inference"]), *extra]
    up = Service("lob-up", argv, env, log=tmp_path / "up.log").start()
    return UpStack(home, up, ports)


def s_job(stack: UpStack, job_id: str) -> dict:
    r = _get(f"{stack.base}/api/jobs/{job_id}")
    assert r is not None and r.status_code == 200
    return r.json()


def _stop(stack: UpStack) -> list[psutil.Process]:
    children = stack.descendants()
    stack.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    stack.proc.wait(60)
    return children


@pytest.fixture
def demo_stack(tmp_path: Path) -> Iterator[UpStack]:
    stack = _start(tmp_path, "--demo-rows", "20000")
    yield stack
    if stack.proc.poll() is None:
        _stop(stack)


def test_lob_up_serves_health_trains_the_demo_and_streams_predictions(
    demo_stack: UpStack, run_lob
) -> None:
    s, lob = demo_stack, run_lob
    # Given lob up on a fresh machine, when it has started, then every health endpoint is healthy.
    _wait(
        lambda: (r := _get(f"{s.base}/readyz")) is not None and r.status_code == 200,
        180,
        "gateway /readyz",
        s,
    )
    _wait(
        lambda: (
            (r := _get(f"http://127.0.0.1:{s.ports['inference']}/healthz")) is not None
            and r.status_code == 200
        ),
        120,
        "inference /healthz",
        s,
    )
    flower = _wait(lambda: _get(f"http://127.0.0.1:{s.ports['flower']}/"), 120, "Flower", s)
    assert flower.status_code == 401, "Flower must ask for basic auth"
    assert "/login?code=" in s.log.read_text()

    # The demo job (submitted because no model exists) succeeds.
    def demo_job_done():
        r = _get(f"{s.base}/api/jobs")
        items = r.json()["items"] if r is not None and r.status_code == 200 else []
        assert not any(j["status"] in ("failed", "cancelled") for j in items), items
        return [j for j in items if j["status"] == "succeeded"]

    jobs = _wait(demo_job_done, 600, "the demo training job to succeed", s)
    assert jobs[0]["dataset"] == "demo"
    # scored on a test block that holds every class (issue 12, item 7)
    counts = s_job(s, jobs[0]["id"])["result"]["test"]["label_counts"]
    assert min(counts.values()) > 0 and set(counts) == {"DOWN", "NEUTRAL", "UP"}, counts

    # Predictions from the promoted model reach a WebSocket client.
    async def first_prediction(symbol: str) -> dict:
        async with websockets.connect(f"ws://127.0.0.1:{s.ports['api']}/ws/model-test-up") as ws:
            await ws.send(json.dumps({"subscribe": [symbol]}))
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if msg.get("type") == "prediction" and msg.get("status") == "ok":
                    return msg

    # The demo model is served (promote=always), with the gate's verdict on its test rows
    # recorded beside it, whichever way it went
    [demo] = [m for m in _get(f"{s.base}/api/models").json() if m["job_id"] == jobs[0]["id"]]
    assert demo["promoted_at"] is not None and demo["gate_passed"] in (True, False), demo
    assert demo["gate_reason"].startswith("promoted (promote=always); "), demo
    assert ("beats every baseline" in demo["gate_reason"]) == demo["gate_passed"], demo
    msg = asyncio.run(first_prediction("DEMO"))
    assert msg["symbol"] == "DEMO" and msg["model_version"] == demo["version"]
    assert abs(sum(msg["probs"].values()) - 1) < 1e-4

    # A second terminal, with no REDIS_URL or DATABASE_URL, joins this stack (issue 12, item 9)
    beside = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    beside["LOB_HOME"] = str(s.home)
    stack_file = s.home / ".stack.json"
    assert stack_file.stat().st_mode & 0o777 == 0o600, "the stack's URLs are the user's only"
    listed = lob("models", "list", env=beside, check=True)
    assert "using the stack of lob up" in listed.stderr
    assert f"{jobs[0]['id']}/fold" in listed.stdout and "gate: " in listed.stdout, listed.stdout

    # A model trained with `lob train` is registered, promoted and served (issue 12, item 8)
    lob(
        "data",
        "synth",
        "--rows",
        "6000",
        "--name",
        "mine",
        "--symbol",
        "MINE",
        env=beside,
        check=True,
    )
    trained = lob(
        "train", "--dataset", "mine", "--quick", "--run-id", "cli-run", env=beside, check=True
    )
    assert "run directory" in trained.stdout
    registered = lob("models", "register", "cli-run", env=beside, check=True).stdout
    version_id = registered.split("registered model version ")[1].split(":")[0]
    lob("models", "promote", version_id, env=beside, check=True)
    _wait(
        lambda: (
            (r := _get(f"{s.base}/api/models/active")) is not None
            and (r.json().get("inference") or {}).get("model_version") == "cli-run/fold5"
        ),
        120,
        "inference to serve cli-run/fold5",
        s,
    )

    # and `lob feed replay` from that terminal yields its predictions at a WebSocket client
    async def replayed() -> dict:
        async with websockets.connect(f"ws://127.0.0.1:{s.ports['api']}/ws/model-test-up") as ws:
            await ws.send(json.dumps({"subscribe": ["MINE"]}))
            feed = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "shared.cli.main", "feed", "replay", "mine",
                "--speed", "0", "--limit", "400", env=beside,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                while True:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 120))
                    if msg.get("type") == "prediction" and msg.get("status") == "ok":
                        return msg
            finally:
                _, err = await feed.communicate()
                assert feed.returncode == 0, err.decode()
                assert b"using the stack of lob up" in err

    msg = asyncio.run(replayed())
    assert msg["symbol"] == "MINE" and msg["model_version"] == "cli-run/fold5"


# Known-harmless start-up noise that lob up leaves out (issue 12, item 6).
NOISE = (
    "SecurityWarning",  # Celery's superuser warning
    "superuser privileges",
    "vm.overcommit_memory",  # the embedded Redis
    "RuntimeDirWarning",  # platformdirs, via pgserver
    "Registered tasks",  # Flower's wall of task names
    "'celery.chord_unlock'",
    "Inspect method",
    "Traceback",
)


def test_ctrl_c_leaves_no_child_process_behind_and_the_log_is_clean(tmp_path: Path) -> None:
    stack = _start(tmp_path, "--no-demo")
    try:
        _wait(
            lambda: (r := _get(f"{stack.base}/healthz")) is not None and r.status_code == 200,
            180,
            "gateway /healthz",
            stack,
        )
        _wait(lambda: len(stack.descendants()) >= 5, 60, "all children", stack)
        # Once every service has said it is up, the log shows that, the URL and the sign-in link
        for line in ("worker@", "ready.", "Visit me at", "inference on", "/login?code="):
            _wait(lambda t=line: t in stack.up.output(), 60, line, stack)
        # Flower has asked the worker for its state (what used to log "Inspect method ... failed")
        flower = f"http://127.0.0.1:{stack.ports['flower']}/api/workers?refresh=1"
        password = (stack.home / ".flower_password").read_text().strip()
        _wait(
            lambda: (r := _get(flower, auth=("admin", password))) is not None and r.json(),
            60,
            "Flower to see the worker",
            stack,
        )
        text = stack.log.read_text()
        assert "DeepLOB Hub is up: " in text
        noisy = [n for n in NOISE if n in text]
        assert not noisy, f"noise in the first-run log: {noisy}\n{text}"
    finally:
        children = _stop(stack)
    assert stack.proc.returncode in (0, 130), stack.up.tail()
    assert len(children) >= 5
    _gone, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, f"left behind: {[(p.pid, p.cmdline()) for p in alive]}"
