"""Helpers for the reliability suite: one whole stack whose Redis and PostgreSQL a test may restart,
a WebSocket subscriber on its own thread, and the figures every test measures.

It reuses the other suites' helpers rather than copying them: tests/worker/jobstack.py (Celery
workers, job submission, job-event recording, a restartable redis-server) and
tests/inference/livekit.py (good and bad checkpoints, gateway and inference processes).

Figures go to test-artifacts/reliability/figures.json (one entry per fault or input class, merged
across runs); `python tests/reliability/report.py` renders them into RELIABILITY.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
for _suite in ("worker", "inference"):
    _path = str(REPO / "tests" / _suite)
    if _path not in sys.path:
        sys.path.insert(0, _path)

import jobstack  # noqa: E402  (tests/worker/jobstack.py)
import livekit  # noqa: E402  (tests/inference/livekit.py)

FIGURES = REPO / "test-artifacts" / "reliability" / "figures.json"
_figures_lock = threading.Lock()

wait_for = jobstack.wait_for
Proc = livekit.Proc


# -- figures -------------------------------------------------------------------------------------


def record_figure(
    key: str,
    *,
    kind: str,
    what: str,
    done: str,
    times: int,
    lost: str,
    recovery: str,
    data: dict[str, Any] | None = None,
    passed: bool = True,
) -> None:
    """Merge one measured row into figures.json (kind: 'fault', 'input' or 'security').

    Tests record before their last asserts, so a failing run still leaves its real figures,
    marked passed=False.
    """
    with _figures_lock:
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        try:
            doc = json.loads(FIGURES.read_text())
        except (OSError, ValueError):
            doc = {}
        doc[key] = {
            "kind": kind,
            "what": what,
            "done": done,
            "times": times,
            "lost": lost,
            "recovery": recovery,
            "passed": passed,
            "data": data or {},
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }
        tmp = FIGURES.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, FIGURES)


def seconds(values: list[float]) -> str:
    """'median 1.2 s, max 3.4 s' (or one value)."""
    if not values:
        return "n/a"
    ordered = sorted(values)
    if len(ordered) == 1:
        return f"{ordered[0]:.1f} s"
    mid = ordered[len(ordered) // 2]
    return f"median {mid:.1f} s, max {ordered[-1]:.1f} s"


# -- PostgreSQL that a test may stop ---------------------------------------------------------------


class PgServer:
    """An embedded PostgreSQL (pgserver) of our own; stop() / start() with its own pg_ctl.

    Never the machine's server on 5432: this one listens only on a Unix socket in its data dir.
    """

    def __init__(self, datadir: Path) -> None:
        from shared.embedded import start_postgres

        self.datadir = datadir
        with _quiet_platformdirs():
            self.admin_url, self.server = start_postgres(datadir)

    def _pg_ctl(self, *args: str) -> None:
        import pgserver

        with _quiet_platformdirs():
            pgserver.pg_ctl(list(args), pgdata=self.server.pgdata, user=self.server.system_user)

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        # `restart` reuses postmaster.opts: the same socket directory and no TCP listener.
        self._pg_ctl("-w", "-l", str(self.datadir / "log"), "restart")

    def close(self) -> None:
        with _quiet_platformdirs():
            self.server.cleanup()


@contextlib.contextmanager
def _quiet_platformdirs() -> Iterator[None]:
    # pgserver asks platformdirs for a runtime dir; with no XDG_RUNTIME_DIR it warns (as error here).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        yield


# -- processes ----------------------------------------------------------------------------------


def start_inference(env: dict[str, str], logdir: Path, port: int | None = None) -> Proc:
    """The inference service as production starts it: no --start-id (new groups start at '$')."""
    from shared.embedded import free_port

    port = port or free_port()
    proc = livekit.spawn(
        "inference", ["-m", "services.inference", "--port", str(port)], env, logdir, port
    )

    def healthy() -> bool:
        assert proc.proc.poll() is None, f"inference exited:\n{proc.output()[-3000:]}"
        try:
            return livekit.http_json(f"http://127.0.0.1:{port}/healthz")[0] == 200
        except OSError:
            return False

    wait_for(healthy, 90, "inference /healthz")
    return proc


def feed(env: dict[str, str], logdir: Path, dataset: str, symbol: str, speed: float) -> Proc:
    """`lob feed replay DATASET --loop --speed S --symbol SYM` as a subprocess."""
    argv = livekit.feed_argv("replay", dataset, "--loop", "--speed", str(speed), "--symbol", symbol)
    return livekit.spawn(f"feed-{symbol}", argv, env, logdir, 0)


# -- the stack ----------------------------------------------------------------------------------


@dataclass
class RelStack:
    base: Path
    home: Path
    env: dict[str, str]  # what every service process gets on top of os.environ
    pg: PgServer
    redis: jobstack.RedisServer
    db_url: str
    gateway: Proc
    inference: Proc
    jobs: jobstack.Stack  # workers, submit, job rows (jobstack's helpers)
    good_run: Path

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port}"

    def ws_url(self, session: str) -> str:
        return f"ws://127.0.0.1:{self.gateway.port}/ws/{session}"

    @property
    def inference_url(self) -> str:
        return f"http://127.0.0.1:{self.inference.port}"

    @property
    def logdir(self) -> Path:
        return self.base / "logs"

    def inference_status(self) -> dict[str, Any]:
        return livekit.http_json(f"{self.inference_url}/healthz")[1]

    def wait_ready(self, timeout: float = 60) -> None:
        """Gateway ready (PostgreSQL and Redis answer) and inference healthy."""
        import httpx

        def ready() -> bool:
            try:
                gw = httpx.get(f"{self.api}/readyz", timeout=3).status_code == 200
                return gw and livekit.http_json(f"{self.inference_url}/healthz")[0] == 200
            except (httpx.HTTPError, OSError):
                return False

        wait_for(ready, timeout, "the stack to be ready")

    def restart_inference(self) -> None:
        self.inference.stop()
        self.inference = start_inference(self.env, self.logdir, self.inference.port)


# -- a WebSocket subscriber on its own thread ----------------------------------------------------


@dataclass
class Got:
    t: float  # monotonic receive time
    msg: dict[str, Any]


@dataclass
class Subscriber:
    """Connects to /ws/<session>, sends `first`, records everything until close() or the socket closes."""

    url: str
    first: list[dict[str, Any]]
    messages: list[Got] = field(default_factory=list)
    close_code: int | None = None
    closed: threading.Event = field(default_factory=threading.Event)
    subscribed: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.subscribed.wait(20), f"could not subscribe at {self.url}"

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        try:
            with connect(self.url, max_size=2**22, open_timeout=20) as ws:
                for msg in self.first:
                    ws.send(json.dumps(msg))
                while not self._stop.is_set():
                    try:
                        raw = ws.recv(timeout=0.2)
                    except TimeoutError:
                        continue
                    msg = json.loads(raw)
                    if msg.get("type") == "subscribed":
                        self.subscribed.set()
                    self.messages.append(Got(time.monotonic(), msg))
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else -1
        finally:
            self.closed.set()

    def predictions(self, symbol: str | None = None) -> list[Got]:
        return [
            g
            for g in list(self.messages)
            if g.msg.get("type") == "prediction" and symbol in (None, g.msg["symbol"])
        ]

    def job_events(self, job_id: str) -> list[Got]:
        return [g for g in list(self.messages) if g.msg.get("job_id") == job_id and "fold" in g.msg]

    def count_after(self, t: float, pick: Callable[[Got], bool]) -> int:
        return sum(1 for g in list(self.messages) if g.t > t and pick(g))

    def first_after(self, t: float, pick: Callable[[Got], bool]) -> Got | None:
        return next((g for g in list(self.messages) if g.t > t and pick(g)), None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def is_prediction(symbol: str) -> Callable[[Got], bool]:
    return lambda g: g.msg.get("type") == "prediction" and g.msg.get("symbol") == symbol


def duplicates(values: list[int]) -> int:
    return len(values) - len(set(values))


def gaps(values: list[int]) -> int:
    """Missing values between the smallest and the largest seen."""
    if not values:
        return 0
    return (max(values) - min(values) + 1) - len(set(values))
