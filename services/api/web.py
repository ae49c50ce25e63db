"""The built web UI (services/web/dist) at /, /predict, /train; one origin with the API.

Files under dist are served as they are; any other page path gets index.html (the single-page
app routes it). Without a build, a short page says how to make one.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

WEB_DIST = Path(__file__).resolve().parents[1] / "web" / "dist"
# Paths that belong to the API and must never fall back to the UI.
NOT_UI = ("api/", "ws/", "model/", "healthz", "readyz", "metrics", "docs", "openapi.json")

NO_BUILD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DeepLOB Hub</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2937}
code{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>DeepLOB Hub</h1>
<p>The gateway is running, but the web UI has not been built yet.</p>
<p>Run <code>make setup</code> (or <code>cd services/web &amp;&amp; npm ci &amp;&amp; npm run build</code>),
then reload this page.</p>
<p>The API is up: see <a href="/docs">/docs</a>, <a href="/healthz">/healthz</a>,
<a href="/readyz">/readyz</a>.</p></body></html>
"""


def install(app: FastAPI, dist: Path = WEB_DIST) -> None:
    dist = dist.resolve()

    @app.get("/{path:path}", include_in_schema=False, response_model=None)
    async def ui(path: str, request: Request) -> FileResponse | HTMLResponse:
        if path.startswith(NOT_UI):
            raise HTTPException(404, "Not Found")
        index = dist / "index.html"
        if not index.is_file():
            return HTMLResponse(NO_BUILD)
        if path:
            candidate = (dist / path).resolve()
            # Only files inside dist: a crafted path never reaches the rest of the disk.
            if candidate.is_relative_to(dist) and candidate.is_file():
                cache = (
                    "public, max-age=31536000, immutable"
                    if path.startswith("assets/")
                    else "no-cache"
                )
                return FileResponse(candidate, headers={"Cache-Control": cache})
            if path.startswith("assets/"):
                raise HTTPException(404, "Not Found")
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
