"""The web UI's generated API code was generated from the gateway's current OpenAPI schema.

.venv/bin/pytest tests/e2e/test_browser_api_schema.py -q

services/web/openapi.json is committed so that `npm run build` needs no Python, and so are the
files generated from it (services/web/scripts/gen-api.mjs): src/api/schema.d.ts, the types of
every route, model and WebSocket message, and src/api/trainConfig.ts, the train form's defaults
and bounds. These tests fail when the gateway's routes, models or messages changed and the UI's
copies were not refreshed with `npm --prefix services/web run api:dump`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "services" / "web"
REFRESH = "run `npm --prefix services/web run api:dump`"


def test_the_ui_client_matches_the_gateway_schema() -> None:
    from services.api.main import create_app

    live = create_app().openapi()
    committed = json.loads((WEB / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(live)), (
        f"services/web/openapi.json is stale: {REFRESH}"
    )
    generated = (WEB / "src" / "api" / "schema.d.ts").read_text()
    for path in live["paths"]:
        assert f'"{path}"' in generated, f"{path} is missing from src/api/schema.d.ts"


def test_the_websocket_messages_are_in_the_schema() -> None:
    from services.api.main import create_app
    from shared.events import WIRE_MESSAGES

    schemas = create_app().openapi()["components"]["schemas"]
    for model in WIRE_MESSAGES:
        # Every field a message carries on the wire, under its own name (the UI's types use it).
        assert set(schemas[model.__name__]["properties"]) == set(model.model_fields), model


def test_the_generated_ui_code_matches_the_committed_schema() -> None:
    node = shutil.which("node")
    if node is None or not (WEB / "node_modules" / "openapi-typescript").is_dir():
        pytest.skip("node and services/web/node_modules are needed (make setup installs them)")
    # Given the committed openapi.json (the test above holds it to the gateway's),
    # when the generator runs in check mode, then it finds every generated file as it would write it
    done = subprocess.run(
        [node, "scripts/gen-api.mjs", "--check"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{done.stderr.strip()}: {REFRESH}"
