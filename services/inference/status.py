"""What the inference service reports: Prometheus metrics, the Redis status key, /healthz.

`lob:inference:status` (read by services/api/models: InferenceStatus) is a JSON object:
    {"model_version", "run_dir", "loaded_at", "shadow_version", "refused_total",
     "refused": [{"path", "reason", "ts"}, ... the last 20], "updated_at"}
It is rewritten on every change and every few seconds, so it reappears after a Redis restart.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

STATUS_KEY = "lob:inference:status"
REFUSALS_KEPT = 20

log = logging.getLogger("lob.inference")


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.snapshots = Counter(
            "lob_inference_snapshots_total", "Snapshots consumed from the stream", registry=r
        )
        self.published = Counter(
            "lob_inference_predictions_total",
            "Prediction messages published",
            ["status"],
            registry=r,
        )
        self.bad_entries = Counter(
            "lob_inference_bad_entries_total",
            "Stream entries that could not be decoded",
            registry=r,
        )
        self.skipped = Counter(
            "lob_inference_redelivered_skipped_total",
            "Redelivered entries already published (acknowledged, not published again)",
            registry=r,
        )
        self.reloads = Counter(
            "lob_inference_model_reloads_total", "Models swapped in while serving", registry=r
        )
        self.refused = Counter(
            "lob_inference_model_refused_total",
            "Checkpoints refused (failed verification); the old model kept serving",
            registry=r,
        )
        self.reconnects = Counter(
            "lob_inference_redis_reconnects_total",
            "Reconnections to Redis after an error",
            registry=r,
        )
        self.forward = Histogram(
            "lob_inference_forward_seconds",
            "Model forward time per batch",
            buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1),
            registry=r,
        )
        self.latency = Histogram(
            "lob_inference_latency_seconds",
            "Stream entry sent -> prediction published",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0),
            registry=r,
        )
        self.batch = Histogram(
            "lob_inference_batch_symbols",
            "Symbols predicted together in one forward",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=r,
        )
        self.symbols = Gauge("lob_inference_symbols", "Symbols with a window", registry=r)
        self.model_loaded = Gauge(
            "lob_inference_model_loaded", "1 while a model is serving", registry=r
        )
        self.shadow_loaded = Gauge(
            "lob_inference_shadow_loaded", "1 while a challenger (shadow) is scored", registry=r
        )
        # Live scoring (services/inference/scoring.py), over the last 1,000 scored predictions.
        scored = ["model_version", "symbol"]
        self.live_f1 = Gauge(
            "lob_live_macro_f1", "Live macro F1, last 1,000 scored predictions", scored, registry=r
        )
        self.live_accuracy = Gauge(
            "lob_live_accuracy", "Live accuracy, last 1,000 scored predictions", scored, registry=r
        )
        self.live_degraded = Gauge(
            "lob_live_degraded", "1 while drift flags the model on the symbol", scored, registry=r
        )
        self.resolved = Counter(
            "lob_live_resolved_total",
            "Predictions resolved into their realised label (IGNORE rows included)",
            registry=r,
        )


@dataclass
class StatusBoard:
    """The service's state as others see it; thread-safe (the model loader writes refusals)."""

    model_version: str | None = None
    run_dir: str | None = None
    loaded_at: float | None = None
    shadow_version: str | None = None
    refused_total: int = 0
    refused: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REFUSALS_KEPT))
    redis_ok: bool = False
    symbols: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    version: int = 0  # bumped on every change, so the main loop knows to rewrite the key

    def set_model(self, version: str, run_dir: str) -> None:
        with self._lock:
            self.model_version, self.run_dir, self.loaded_at = version, run_dir, time.time()
            self.version += 1

    def set_shadow(self, version: str | None) -> None:
        with self._lock:
            self.shadow_version = version
            self.version += 1

    def add_refusal(self, path: str, reason: str) -> None:
        with self._lock:
            self.refused_total += 1
            self.refused.append({"path": path, "reason": reason, "ts": time.time()})
            self.version += 1

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "model_version": self.model_version,
                "run_dir": self.run_dir,
                "loaded_at": self.loaded_at,
                "shadow_version": self.shadow_version,
                "refused_total": self.refused_total,
                "refused": list(self.refused),
                "updated_at": time.time(),
            }

    def to_json(self) -> str:
        return json.dumps(self.as_dict())


def serve_http(host: str, port: int, metrics: Metrics, board: StatusBoard) -> ThreadingHTTPServer:
    """GET /healthz (JSON) and GET /metrics (Prometheus) on a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._reply(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path.split("?")[0] in ("/healthz", "/readyz", "/"):
                body = board.as_dict()
                body.update(
                    status="ok" if board.redis_ok else "degraded",
                    redis=board.redis_ok,
                    symbols=board.symbols,
                )
                self._reply(
                    200 if board.redis_ok else 503,
                    json.dumps(body).encode(),
                    "application/json",
                )
            else:
                self._reply(404, b'{"detail": "not found"}', "application/json")

        def _reply(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="inference-http", daemon=True).start()
    return server
