"""Run the gateway (REST API, WebSocket relay, web UI) with uvicorn.

python -m services.api [--host 127.0.0.1] [--port 8000] [--workers 1]

Binds 127.0.0.1 unless told otherwise (LOB_API_HOST / --host); the port is LOB_API_PORT or 8000.
"""

from __future__ import annotations

import argparse

import uvicorn

from shared.config import get_settings


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m services.api", description=__doc__)
    parser.add_argument("--host", default=settings.api_host, help="bind address [LOB_API_HOST]")
    parser.add_argument("--port", type=int, default=settings.api_port, help="[LOB_API_PORT]")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes [1]")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    uvicorn.run(
        "services.api.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        # The relay's own pings keep sockets alive; uvicorn's default of 20 s is fine.
        proxy_headers=True,
        server_header=False,
        # Compression doubles the CPU cost of each fan-out send (14 -> 29 us, lob bench live) for
        # ~300-byte messages; clients' frames are small commands, so anything large is abuse.
        ws_per_message_deflate=False,
        ws_max_size=64 * 1024,
        # Open WebSockets must not hold a shutdown (Ctrl-C, SIGTERM) forever.
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
