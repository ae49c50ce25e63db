"""docker-compose.yml is valid and everything it runs exists (no Docker engine here)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SCHEMA = json.loads((REPO / "infra" / "compose-spec.schema.json").read_text())
SERVICES = COMPOSE["services"]
REQUIRED = {"postgres", "redis", "migrate", "api", "worker", "inference", "flower", "feed"}


def test_compose_file_matches_the_compose_spec_schema() -> None:
    jsonschema.validate(COMPOSE, SCHEMA)


def test_every_required_service_is_there_with_a_healthcheck_or_one_shot() -> None:
    assert set(SERVICES) >= REQUIRED
    for name, svc in SERVICES.items():
        if svc.get("restart") == "no":  # one-shot jobs (migrate) are waited on by completion
            continue
        assert "healthcheck" in svc, f"{name} has no healthcheck"


def test_dependencies_wait_for_health() -> None:
    for name, svc in SERVICES.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            expected = "service_completed_successfully" if dep == "migrate" else "service_healthy"
            assert cond["condition"] == expected, f"{name} -> {dep}"


def test_gpu_reservation_and_cpu_fallback_profile() -> None:
    devices = SERVICES["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert SERVICES["worker-cpu"]["profiles"] == ["cpu"]


def test_worker_and_inference_share_the_lob_home_volume() -> None:
    for name in ("worker", "inference", "api"):
        assert "lobhome:/data" in SERVICES[name]["volumes"], name
    assert "lobhome" in COMPOSE["volumes"]


def test_secrets_are_required_and_documented_in_env_example() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert {"POSTGRES_PASSWORD", "LOB_API_TOKEN", "FLOWER_PASSWORD"} <= required
    example = (REPO / ".env.example").read_text()
    for var in required:
        assert re.search(rf"^{var}=$", example, re.M), (
            f"{var} missing (or pre-filled) in .env.example"
        )


def test_dockerfiles_exist_and_api_image_has_no_torch() -> None:
    for svc in SERVICES.values():
        build = svc.get("build")
        if build:
            assert (REPO / build["dockerfile"]).is_file()
    api = (REPO / "infra" / "Dockerfile.api").read_text()
    assert "torch" not in api and ".[ml]" not in api


def _commands() -> list[tuple[str, list[str]]]:
    out = []
    for name, svc in SERVICES.items():
        cmd = svc.get("command")
        if not cmd or svc.get("image", "").startswith(("postgres", "redis")):
            continue
        out.append((name, [c.replace("${FEED_SYMBOL:-btcusdt}", "btcusdt") for c in cmd]))
    return out


@pytest.mark.parametrize(("name", "cmd"), _commands(), ids=[n for n, _ in _commands()])
def test_every_service_command_exists_and_answers_help(name: str, cmd: list[str]) -> None:
    """Run the command's program with --help outside Docker: it must exist and parse."""
    if cmd[0] == "lob":
        argv = [sys.executable, "-m", "shared.cli.main", *cmd[1:3], "--help"]
    elif cmd[0] == "celery":
        argv = [sys.executable, "-m", "celery", *cmd[1:4], "--help"]
    else:
        argv = [sys.executable, *cmd[1:3], "--help"]
    done = subprocess.run(
        argv,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            # As in the compose file's environment; --help must not connect to them.
            "LOB_HOME": "/tmp/lob-compose-help",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "DATABASE_URL": "postgresql+psycopg://lob@127.0.0.1:1/lob",
        },
    )
    assert done.returncode == 0, f"{name}: {' '.join(argv)}\n{done.stderr[-2000:]}"
    assert "usage" in done.stdout.lower(), done.stdout[:500]
