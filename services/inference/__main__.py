"""python -m services.inference [--host 127.0.0.1] [--port 8001] [--consumer inference-1] [--start-id $]

The live predictor. Reads REDIS_URL and LOB_HOME (shared.config). Consumes the stream
lob:snapshots as consumer group "inference", publishes one Prediction per snapshot on
lob:predictions:<SYMBOL>, hot-reloads the promoted model ($LOB_HOME/models/active.json and the
lob:models channel), and serves /healthz and /metrics on --host:--port. Stops on SIGINT / SIGTERM.

It also scores its predictions live (services/inference/scoring.py; drift settings
LOB_DRIFT_WINDOW, LOB_DRIFT_MARGIN) and, with DATABASE_URL set, keeps the per-minute history in
PostgreSQL (table live_scores; without it, no history).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from shared.config import get_settings


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m services.inference", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="health/metrics bind address")
    parser.add_argument(
        "--port", type=int, default=settings.inference_port, help="[LOB_INFERENCE_PORT, 8001]"
    )
    parser.add_argument(
        "--consumer",
        default="inference-1",
        help="consumer name in the group; keep it across restarts so pending entries resume",
    )
    parser.add_argument(
        "--start-id",
        default="$",
        help="where a new consumer group starts: $ = new snapshots only, 0 = the whole stream",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not settings.redis_url:
        sys.exit("error: REDIS_URL is not set (lob up starts an embedded Redis for you)")

    import torch  # heavy: only once the arguments are fine

    # One thread: at batch 1 a second thread only adds synchronisation (2 ms vs 11 ms measured),
    # and the machine's other cores belong to the gateway and the workers.
    torch.set_num_threads(1)

    from services.inference.service import InferenceService
    from services.inference.status import Metrics, StatusBoard, serve_http

    metrics, board = Metrics(), StatusBoard()
    server = serve_http(args.host, args.port, metrics, board)
    service = InferenceService(
        redis_url=settings.redis_url,
        home=settings.lob_home.resolve(),
        metrics=metrics,
        board=board,
        consumer=args.consumer,
        start_id=args.start_id,
        database_url=settings.database_url,
        drift_window=settings.drift_window,
        drift_margin=settings.drift_margin,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    logging.getLogger("lob.inference").info(
        "inference on %s:%d, health and metrics at http://%s:%d/metrics",
        args.host,
        args.port,
        args.host,
        args.port,
    )
    try:
        service.run(stop)
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
