"""The stack `lob up` is running, as other `lob` commands on this machine find it.

`lob up` writes `$LOB_HOME/.stack.json` (mode 600: the URLs may hold passwords) once its Redis and
PostgreSQL answer, and removes it when it stops. A `lob` command run beside it, with REDIS_URL or
DATABASE_URL unset, takes the URLs from there while that `lob up` process is alive (`join`).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from shared import atomic
from shared.config import Settings

FILE_NAME = ".stack.json"


@dataclass(frozen=True)
class LocalStack:
    pid: int
    redis_url: str
    database_url: str
    api: str


def path_of(home: Path) -> Path:
    return Path(home) / FILE_NAME


def record(home: Path, stack: LocalStack) -> None:
    # atomic.write_* stage in a mkstemp file, created with mode 600, then rename it into place.
    atomic.write_json(path_of(home), stack.__dict__)


def remove(home: Path, pid: int) -> None:
    """Remove the record, if it is still this process's."""
    found = read(home, alive_only=False)
    if found is not None and found.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            path_of(home).unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def read(home: Path, *, alive_only: bool = True) -> LocalStack | None:
    """The recorded stack, or None when there is none (or, with alive_only, its lob up is gone)."""
    try:
        data = json.loads(path_of(home).read_text())
        stack = LocalStack(
            pid=int(data["pid"]),
            redis_url=str(data["redis_url"]),
            database_url=str(data["database_url"]),
            api=str(data.get("api", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if alive_only and not _alive(stack.pid):
        return None
    return stack


def join(settings: Settings) -> LocalStack | None:
    """Fill unset REDIS_URL / DATABASE_URL of `settings` (the process's cached settings) from the
    running `lob up` stack; returns the stack joined, or None when nothing was taken from it."""
    if settings.redis_url and settings.database_url:
        return None
    stack = read(settings.lob_home)
    if stack is None:
        return None
    settings.redis_url = settings.redis_url or stack.redis_url
    settings.database_url = settings.database_url or stack.database_url
    return stack
