"""Run child processes with prefixed, coloured logs; restart crashed ones with backoff; stop all cleanly.

Used by `lob up`. Each child runs in its own process group so the whole tree of a child
(e.g. Celery's pool processes) is signalled together, and Ctrl-C reaches only us: we stop the
children in reverse start order.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

COLOURS = (36, 32, 35, 33, 34, 96, 92, 95, 93, 94)
RESTART_BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
HEALTHY_AFTER_S = 60.0  # a child up this long gets its backoff reset


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    restart: bool = True
    # Output lines known to be harmless, dropped from the log (each pattern says why where it is
    # defined); everything else, warnings and errors included, is shown.
    quiet: tuple[re.Pattern[str], ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    next_start: float = 0.0


class Supervisor:
    def __init__(
        self, *, out: Callable[[str], None] | None = None, colour: bool | None = None
    ) -> None:
        self.children: list[Child] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._out = out or (lambda line: print(line, flush=True))
        self._colour = sys.stdout.isatty() if colour is None else colour
        self._width = 10

    def say(self, name: str, text: str, index: int = 0) -> None:
        prefix = f"{name:<{self._width}}|"
        if self._colour:
            prefix = f"\x1b[{COLOURS[index % len(COLOURS)]}m{prefix}\x1b[0m"
        with self._lock:
            self._out(f"{prefix} {text}")

    def add(self, child: Child) -> Child:
        self.children.append(child)
        self._width = max(self._width, len(child.name))
        self._spawn(child)
        return child

    def _spawn(self, child: Child) -> None:
        index = self.children.index(child)
        env = {**os.environ, **child.env, "PYTHONUNBUFFERED": "1"}
        child.proc = subprocess.Popen(
            child.argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        child.started_at = time.monotonic()
        threading.Thread(target=self._pump, args=(child, child.proc, index), daemon=True).start()

    def _pump(self, child: Child, proc: subprocess.Popen[bytes], index: int) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            if not any(p.search(line) for p in child.quiet):
                self.say(child.name, line, index)

    def poll_once(self) -> None:
        """Restart children that exited, with backoff. Call this periodically."""
        if self._stopping.is_set():
            return
        now = time.monotonic()
        for index, child in enumerate(self.children):
            if child.proc is None:  # waiting out its backoff
                if now >= child.next_start:
                    self.say(child.name, "restarting", index)
                    self._spawn(child)
                continue
            code = child.proc.poll()
            if code is None or not child.restart:
                continue
            if now - child.started_at > HEALTHY_AFTER_S:
                child.restarts = 0
            delay = RESTART_BACKOFF[min(child.restarts, len(RESTART_BACKOFF) - 1)]
            child.restarts += 1
            self.say(child.name, f"exited with code {code}; restarting in {delay:.0f}s", index)
            child.proc = None
            child.next_start = now + delay

    def alive(self, name: str) -> bool:
        return any(
            c.name == name and c.proc is not None and c.proc.poll() is None for c in self.children
        )

    def run_forever(self, tick: float = 0.5) -> None:
        while not self._stopping.wait(tick):
            self.poll_once()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every child's process group in reverse order, then SIGKILL what is left."""
        self._stopping.set()
        live = [c for c in reversed(self.children) if c.proc is not None]
        for child in live:
            assert child.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in live:
            assert child.proc is not None
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(child.name, "did not stop in time; killing")
            # Grandchildren (e.g. Celery pool processes) share the group: make sure none survives.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(5)
