"""The `lob up` supervisor: prefixed logs, restart with backoff, clean stop."""

from __future__ import annotations

import sys
from pathlib import Path

from devstack.stack import wait_until
from devstack.supervisor import Child, Supervisor


def test_a_crashed_child_is_restarted_with_backoff_and_said_so(tmp_path: Path) -> None:
    # Given a child that crashes on its first two starts and then stays up
    counter = tmp_path / "starts"
    script = (
        "import pathlib, sys, time\n"
        f"p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) if p.exists() else 0\n"
        "p.write_text(str(n + 1)); print('start', n + 1, flush=True)\n"
        "sys.exit(3) if n < 2 else time.sleep(60)\n"
    )
    lines: list[str] = []
    sup = Supervisor(out=lines.append, colour=False)
    try:
        sup.add(Child("flaky", [sys.executable, "-c", script]))
        # When the supervisor polls
        wait_until(
            lambda: (sup.poll_once(), counter.exists() and counter.read_text() == "3")[1],
            20,
            "the third start",
        )
        # Then it said so each time, backed off longer the second time, and the child runs now
        exits = [line for line in lines if "exited with code 3" in line]
        assert len(exits) == 2, lines
        assert "restarting in 1s" in exits[0] and "restarting in 2s" in exits[1]
        assert all(line.startswith("flaky") for line in lines)
        wait_until(lambda: sup.alive("flaky"), 20, "the child to run")
    finally:
        sup.stop(timeout=5)
    assert not sup.alive("flaky")


def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    # Given a child that starts a grandchild and ignores SIGTERM
    pidfile = tmp_path / "grandchild.pid"
    script = (
        "import signal, subprocess, sys, time, pathlib\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"pathlib.Path({str(pidfile)!r}).write_text(str(g.pid)); time.sleep(60)\n"
    )
    sup = Supervisor(out=lambda _: None, colour=False)
    sup.add(Child("stubborn", [sys.executable, "-c", script]))
    wait_until(pidfile.exists, 20, "the grandchild to start")
    # When stopped, then neither the child nor its grandchild survives
    sup.stop(timeout=1)
    import psutil

    pid = int(pidfile.read_text())
    wait_until(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
        20,
        "the grandchild to go",
    )
    assert not sup.alive("stubborn")
