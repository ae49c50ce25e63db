"""The run directory turns read-only, or its disk fills up, between two checkpoint writes.

Root ignores file modes, so real file systems make the writes fail: for read-only, the run
directory is bind-mounted read-only over itself mid-job (a plain `remount,ro` is refused while the
worker holds files open for writing); for disk full, the run directory is a 16 MB tmpfs of its
own, mounted before the worker starts and filled to the last byte mid-job. Needs mount (root
with CAP_SYS_ADMIN); skipped otherwise.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import wait_until
from shared.atomic import sha256_file
from tests.support import jobstack, livekit
from tests.support.relkit import RelStack, record_figure

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHECKPOINTS = ("resume.pt", "fold1/best_deeplob_fold1.pth", "fold1/scaler_params.json")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@contextlib.contextmanager
def mounts(path: Path, tmpfs_size: str | None) -> Iterator[Path]:
    """Unmount whatever gets mounted at `path` (a tmpfs first if tmpfs_size) when done."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        if tmpfs_size:
            _mount("-t", "tmpfs", "-o", f"size={tmpfs_size}", "tmpfs", str(path))
        else:  # probe that bind mounts work here, before starting anything
            _mount("--bind", str(path), str(path))
            subprocess.run(["umount", str(path)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount here ({exc}); needs root with CAP_SYS_ADMIN")
    try:
        yield path
    finally:
        while subprocess.run(["mountpoint", "-q", str(path)], check=False).returncode == 0:
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def _fill(path: Path) -> int:
    """Write until the file system is full; returns the bytes written."""
    written = 0
    with contextlib.suppress(OSError), (path / ".filler").open("wb") as fh:
        for block in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * block)
                    fh.flush()
                    written += block
    return written


def _hashes(run: Path) -> dict[str, str]:
    return {rel: sha256_file(run / rel) for rel in CHECKPOINTS if (run / rel).is_file()}


def _loads(run: Path) -> None:
    import torch

    for rel in ("resume.pt", "fold1/best_deeplob_fold1.pth"):
        torch.load(run / rel, map_location="cpu", weights_only=True)


@pytest.mark.parametrize(
    ("fault", "message"),
    [("read_only", "Read-only file system"), ("disk_full", "No space left on device")],
)
def test_a_failing_checkpoint_write_fails_the_job_clearly_and_keeps_what_was_there(
    stack: RelStack, fault: str, message: str
) -> None:
    events = jobstack.Events(stack.redis.url)
    active = stack.home / "models" / "active.json"
    active_before = active.read_bytes()
    serving_before = stack.inference_status()["model_version"]
    # Given a queued job whose run directory is a file system of its own
    job_id = stack.jobs.submit("jobs", epochs=3, patience=100)
    run = stack.home / "runs" / job_id
    try:
        with mounts(run, None if fault == "read_only" else "16m"):
            stack.jobs.worker(f"st-{fault}")
            # ... that has finished its first epoch (its state saved: epoch 2 is under way)
            wait_until(
                lambda: any(e["epoch"] == 2 for e in events.of(job_id, "progress")),
                120,
                "epoch 2 to be under way",
                every=0.05,
            )
            before = _hashes(run)
            assert set(before) == set(CHECKPOINTS), before
            # When the file system turns read-only, or fills up
            if fault == "read_only":
                _mount("--bind", str(run), str(run))
                _mount("-o", "remount,bind,ro", str(run))
            else:
                assert _fill(run) > 0
            t_fault = time.monotonic()
            # Then the job fails at its next write, saying why
            job = stack.jobs.wait_status(job_id, "failed", timeout=120)
            failed_in = time.monotonic() - t_fault
            # And the checkpoints of the last finished epoch are intact, whole and loadable
            assert _hashes(run) == before
            _loads(run)
            leftovers = [p.name for p in run.rglob("*.tmp")]
            assert not leftovers, leftovers
            lines = (run / "metrics.jsonl").read_text().splitlines()
    finally:
        events.close()
    intact = active.read_bytes() == active_before
    serving = stack.inference_status()["model_version"] == serving_before
    record_figure(
        f"storage_{fault}",
        kind="fault",
        what="Read-only $LOB_HOME during a checkpoint write"
        if fault == "read_only"
        else "Disk full during a checkpoint write",
        done=(
            "run directory bind-mounted read-only over itself mid-epoch"
            if fault == "read_only"
            else "run directory (its own 16 MB tmpfs) filled to the last byte mid-epoch"
        ),
        times=1,
        lost="nothing: last epoch's resume.pt, best weights and scaler unchanged and loadable, "
        f"no temp files left; active model unchanged and serving: {intact and serving}. "
        f"Job error: '{job['error'][:100]}'",
        recovery=f"job marked failed {failed_in:.1f} s after the fault (at its next write)",
        data={"failed_in_s": failed_in, "error": job["error"]},
        passed=message in job["error"] and intact and serving,
    )
    assert message in job["error"], f"unclear error: {job['error']!r}"
    assert all(line.startswith("{") and line.endswith("}") for line in lines)
    # And the active model is untouched and still serving
    assert intact and serving
    assert livekit.http_json(f"{stack.api}/api/models/active")[0] == 200
