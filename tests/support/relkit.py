"""Helpers for the reliability suite: one whole stack whose Redis and PostgreSQL a test may restart,
a WebSocket subscriber on its own thread, and the figures every test measures.

It reuses the other kits rather than copying them: tests/support/jobstack.py (Celery workers,
job submission, job-event recording) and tests/support/livekit.py (broken checkpoints, HTTP
probes), over devstack's Stack (the processes) and seed (datasets, the served model).

Figures go to test-artifacts/reliability/figures.json (one entry per fault or input class, merged
across runs); `python tests/reliability/report.py` renders them into RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.stack import Postgres, Service, Stack, http_ok, wait_until
from tests.support import jobstack, livekit

REPO = Path(__file__).resolve().parents[2]
FIGURES = REPO / "test-artifacts" / "reliability" / "figures.json"
_figures_lock = threading.Lock()


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


# -- the stack ----------------------------------------------------------------------------------


@dataclass
class RelStack:
    base: Path
    home: Path
    dev: Stack  # the processes; dev.env is what every service gets on top of os.environ
    pg: Postgres
    redis: Service
    db_url: str
    gateway: Service
    inference: Service
    jobs: jobstack.JobStack  # workers, submit, job rows (jobstack's helpers)
    good_run: Path

    @property
    def env(self) -> dict[str, str]:
        return self.dev.env

    @property
    def api(self) -> str:
        return self.gateway.url

    def ws_url(self, session: str) -> str:
        return f"ws://127.0.0.1:{self.gateway.port}/ws/{session}"

    @property
    def inference_url(self) -> str:
        return self.inference.url

    @property
    def logdir(self) -> Path:
        return self.dev.logs

    def inference_status(self) -> dict[str, Any]:
        return livekit.http_json(f"{self.inference_url}/healthz")[1]

    def wait_ready(self, timeout: float = 60) -> None:
        """Gateway ready (PostgreSQL and Redis answer) and inference healthy."""
        gateway_ready, inference_healthy = http_ok("/readyz"), http_ok("/healthz")
        wait_until(
            lambda: gateway_ready(self.gateway) and inference_healthy(self.inference),
            timeout,
            "the stack to be ready",
        )

    def feed(self, dataset: str, symbol: str, speed: float) -> Service:
        """`lob feed replay DATASET --loop --speed S --symbol SYM` as a process of the stack."""
        args = ("replay", dataset, "--loop", "--speed", str(speed), "--symbol", symbol)
        return self.dev.feed(*args, name=f"feed-{symbol}")


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
