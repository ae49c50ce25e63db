"""Promotion and roll-back: the manifest is checked (torch-free), active.json is written atomically,
the promotion is published on lob:models; `lob models list / promote` do the same from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy.orm import Session

from shared.atomic import sha256_file
from shared.config import Settings
from shared.db import registry
from shared.db.models import Job
from shared.db.session import get_engine


def _finished_run(home: Path, job_id: str, weights: bytes) -> Path:
    """A run directory as the engine leaves it: fold files, then the manifest."""
    run = home / "runs" / job_id
    (run / "fold5").mkdir(parents=True)
    (run / "fold5" / "best_deeplob_fold5.pth").write_bytes(weights)
    (run / "fold5" / "scaler_params.json").write_text('{"mean": [0], "std": [1]}')
    (run / "fold5" / "model.json").write_text('{"arch": "deeplob", "config": {}}')
    (run / "result.json").write_text(json.dumps({"fold": 5, "model": {"accuracy": 0.5}}))
    files = {
        rel: sha256_file(run / rel)
        for rel in (
            "fold5/best_deeplob_fold5.pth",
            "fold5/scaler_params.json",
            "fold5/model.json",
            "result.json",
        )
    }
    (run / "manifest.json").write_text(json.dumps({"files": files}))
    return run


@pytest.fixture
def two_versions(api_settings: Settings) -> tuple[int, int]:
    ids = []
    with Session(get_engine(str(api_settings.database_url))) as s:
        for n in range(2):
            job = Job(dataset="tiny", config={}, status="succeeded")
            s.add(job)
            s.flush()
            run = _finished_run(api_settings.lob_home, job.id, f"weights {n}".encode())
            ids.append(registry.register_version(s, job, run, 5).id)
        s.commit()
    return ids[0], ids[1]


def test_promote_and_roll_back_write_active_json_and_announce(
    api: httpx.Client, auth: dict[str, str], api_settings: Settings, two_versions: tuple[int, int]
) -> None:
    old, new = two_versions
    listener = redis.Redis.from_url(str(api_settings.redis_url)).pubsub()
    listener.subscribe("lob:models")
    listener.get_message(timeout=2)  # the subscribe confirmation
    active_json = api_settings.lob_home / "models" / "active.json"

    for version_id in (new, old):  # promote, then roll back
        r = api.post(f"/api/models/{version_id}/promote", headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["active"] is True and r.json()["metrics"] == {"accuracy": 0.5}
        assert json.loads(active_json.read_text())["version_id"] == version_id
        msg = listener.get_message(timeout=5)
        assert msg and json.loads(msg["data"])["version_id"] == version_id
        listed = {m["id"]: m["active"] for m in api.get("/api/models").json()}
        assert listed[version_id] and not listed[new if version_id == old else old]
        assert api.get("/api/models/active").json()["model"]["id"] == version_id


def test_a_version_whose_files_no_longer_match_the_manifest_is_refused(
    api: httpx.Client, auth: dict[str, str], api_settings: Settings, two_versions: tuple[int, int]
) -> None:
    good, bad = two_versions
    assert api.post(f"/api/models/{good}/promote", headers=auth).status_code == 200
    before = (api_settings.lob_home / "models" / "active.json").read_text()
    [model] = [m for m in api.get("/api/models").json() if m["id"] == bad]
    weights = api_settings.lob_home / "runs" / model["job_id"] / "fold5" / "best_deeplob_fold5.pth"
    weights.write_bytes(b"tampered")

    r = api.post(f"/api/models/{bad}/promote", headers=auth)
    assert r.status_code == 409 and "manifest" in r.json()["detail"]
    assert (api_settings.lob_home / "models" / "active.json").read_text() == before


def test_a_version_whose_sidecar_does_not_match_the_manifest_is_refused_naming_it(
    api: httpx.Client, auth: dict[str, str], api_settings: Settings, two_versions: tuple[int, int]
) -> None:
    # Given a registered version whose model.json changed after the manifest was written
    _, bad = two_versions
    [model] = [m for m in api.get("/api/models").json() if m["id"] == bad]
    sidecar = api_settings.lob_home / "runs" / model["job_id"] / "fold5" / "model.json"
    sidecar.write_text('{"arch": "deeplob", "config": {"conv_filters": 64}}')
    active_json = api_settings.lob_home / "models" / "active.json"
    before = active_json.read_text() if active_json.exists() else None
    # When it is promoted, then it is refused with a 409 that names the file (the check inference
    # makes before loading, so a promotion that passes is one inference accepts)
    r = api.post(f"/api/models/{bad}/promote", headers=auth)
    assert r.status_code == 409, r.text
    assert "fold5/model.json" in r.json()["detail"] and "manifest" in r.json()["detail"]
    assert (active_json.read_text() if active_json.exists() else None) == before


def test_lob_models_list_and_promote(
    run_lob, api_settings: Settings, two_versions: tuple[int, int]
) -> None:
    _, new = two_versions
    env = {
        "DATABASE_URL": str(api_settings.database_url),
        "REDIS_URL": str(api_settings.redis_url),
        "LOB_HOME": str(api_settings.lob_home),
    }
    done = run_lob("models", "promote", str(new), env=env)
    assert done.returncode == 0, done.stderr
    listing = run_lob("models", "list", env=env, check=True).stdout
    [line] = [ln for ln in listing.splitlines() if ln[2:].split()[:1] == [str(new)]]
    assert line.startswith("*") and "0.5000" in line
    missing = run_lob("models", "promote", "999999", env=env)
    assert missing.returncode == 2 and "unknown model version 999999" in missing.stderr
