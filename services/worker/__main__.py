"""Start a training worker (same as the celery command below, with the usual options).

python -m services.worker [celery worker options...]
celery -A services.worker.app worker -Q training --concurrency 1 --loglevel INFO
"""

from __future__ import annotations

import sys

from services.worker.app import app


def main() -> None:
    app.worker_main(["worker", "-Q", "training", "--loglevel", "INFO", *sys.argv[1:]])


if __name__ == "__main__":
    main()
