"""Training bookkeeping: seeds and RNG state, process locks, the per-epoch metrics log (where these
files lie is shared/rundir.py's)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared import atomic
from shared.errors import Conflict


def fold_seed(seed: int, fold: int) -> int:
    # Each fold starts from its own fixed seed, so a fold trains identically whether it runs
    # after the others, alone in a parallel job, or again after a crash.
    return (seed * 1_000_003 + fold) % (2**31)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """torch, numpy and Python RNG states as tensors and plain values, so that the resume file
    loads with torch.load(weights_only=True) (no pickled numpy objects)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": [list(s) if isinstance(s, tuple) else s for s in random.getstate()],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state(
        (
            npst["kind"],
            npst["keys"].numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["gauss"],
        )
    )
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def locked(path: Path, what: str) -> Iterator[None]:
    """An exclusive advisory lock; the kernel drops it if the process dies (even by SIGKILL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Conflict(f"{what} is already running in another process") from exc
        yield
    finally:
        os.close(fd)


class MetricsLog:
    """The run's metrics.jsonl: appended one fsynced line per epoch; rewritten atomically on
    resume."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = path.with_name(f".{path.stem}.lock")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        fd = os.open(self._lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # parallel folds share the file
            yield
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))  # a torn last line (crash mid-write) is skipped
        return out

    def append(self, record: dict[str, Any]) -> None:
        with self._guard(), self.path.open("a") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def drop_after(self, fold: int, epoch: int) -> None:
        """Forget lines of `fold` past `epoch` (an epoch that ran but whose state was not saved)."""
        with self._guard():
            lines = self.read()
            keep = [r for r in lines if not (r.get("fold") == fold and r.get("epoch", 0) > epoch)]
            if len(keep) != len(lines) or (self.path.is_file() and not self._clean()):
                atomic.write_text(
                    self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep)
                )

    def _clean(self) -> bool:
        text = self.path.read_text()
        return text == "" or text.endswith("\n")
