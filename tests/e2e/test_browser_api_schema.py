"""The web UI's typed API client was generated from the gateway's current OpenAPI schema.

.venv/bin/pytest tests/e2e/test_browser_api_schema.py -q

services/web/openapi.json is committed so that `npm run build` needs no Python; this test fails
when the gateway's routes or models changed and the UI's copy (and so its generated client,
src/api/schema.d.ts) was not refreshed with `npm --prefix services/web run api:dump`.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "services" / "web"


def test_the_ui_client_matches_the_gateway_schema() -> None:
    from services.api.main import create_app

    live = create_app().openapi()
    committed = json.loads((WEB / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(live)), (
        "services/web/openapi.json is stale: run `npm --prefix services/web run api:dump`"
    )
    generated = (WEB / "src" / "api" / "schema.d.ts").read_text()
    for path in live["paths"]:
        assert f'"{path}"' in generated, f"{path} is missing from src/api/schema.d.ts"
