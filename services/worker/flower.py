"""Flower for the training queue, behind basic auth from the environment, on 127.0.0.1 by default.

python -m services.worker.flower [--address 127.0.0.1] [--port 5555]

Credentials: FLOWER_USER (default admin) and FLOWER_PASSWORD (required). They reach Flower through
its FLOWER_BASIC_AUTH environment variable, never the command line, so `ps` does not show them.
"""

from __future__ import annotations

import argparse
import os

from services.worker import celery_argv
from shared.config import get_settings
from shared.errors import BadConfig


def flower_argv(address: str, port: int) -> list[str]:
    # Flower's own default is every interface: always pass the address.
    return celery_argv("flower", f"--address={address}", f"--port={port}")


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Flower for the training queue (basic auth).")
    parser.add_argument("--address", default="127.0.0.1", help="bind address [127.0.0.1]")
    parser.add_argument("--port", type=int, default=settings.flower_port, help="[FLOWER_PORT]")
    args = parser.parse_args(argv)
    password = settings.flower_password.get_secret_value()
    if not password:
        raise SystemExit("error: set FLOWER_PASSWORD: Flower never runs without authentication")
    if not settings.redis_url:
        raise SystemExit(f"error: {BadConfig('REDIS_URL is not set')}")
    env = {**os.environ, "FLOWER_BASIC_AUTH": f"{settings.flower_user}:{password}"}
    cmd = flower_argv(args.address, args.port)
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    main()
