"""The FastAPI gateway: REST API, WebSocket relay and the web UI on one port (`python -m services.api`)."""
