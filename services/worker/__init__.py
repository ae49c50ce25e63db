"""Celery worker for training jobs: `celery -A services.worker.app worker -Q training`."""

from __future__ import annotations

import sys


def celery_argv(*args: str) -> list[str]:
    """`celery -A services.worker.app ARGS` on this interpreter (Flower; devstack's workers)."""
    return [sys.executable, "-m", "celery", "-A", "services.worker.app", *args]
