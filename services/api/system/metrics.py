"""Prometheus metrics of the gateway: requests by route template, method and status."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "lob_http_requests_total",
    "HTTP requests answered by the gateway",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "lob_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
    registry=REGISTRY,
)
JOBS_SUBMITTED = Counter("lob_jobs_submitted_total", "Training jobs submitted", registry=REGISTRY)
SIGNIN_FAILURES = Counter(
    "lob_signin_failures_total", "Refused sign-ins (wrong token or rate-limited)", registry=REGISTRY
)


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): a few microseconds per request, streaming untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            # The template (/api/jobs/{job_id}), never the raw path: bounded label values.
            name = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            REQUESTS.labels(method, name, str(status)).inc()
            LATENCY.labels(method, name).observe(time.perf_counter() - start)
