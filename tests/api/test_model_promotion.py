"""Promotion and roll-back: the manifest is checked, and that the model loads as its model.json says
(in a child process: the gateway never imports torch); active.json is written atomically, the
promotion is published on lob:models; `lob models list / promote` do the same from the CLI.
The shadow (challenger): set, listed, refused for the champion, removed, and swapped with the
champion by promoting it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy.orm import Session

from devstack import seed
from shared.config import Settings
from shared.db import registry
from shared.db.models import Job
from shared.db.session import get_engine
from shared.rundir import RunDir


def _finished_run(home: Path, job_id: str, n: int) -> Path:
    """A run directory as the engine leaves it: a servable fold 5, result.json, the manifest."""
    run = seed.servable_run(home, job_id, seed=n)
    (run / "result.json").write_text(json.dumps({"fold": 5, "model": {"accuracy": 0.5}}))
    RunDir(run).write_manifest()
    return run


def _versions(api_settings: Settings, n: int) -> list[int]:
    ids = []
    with Session(get_engine(str(api_settings.database_url))) as s:
        for k in range(n):
            job = Job(dataset="tiny", config={}, status="succeeded")
            s.add(job)
            s.flush()
            run = _finished_run(api_settings.lob_home, job.id, k)
            ids.append(registry.register_version(s, job, run, 5).id)
        s.commit()
    return ids


@pytest.fixture
def two_versions(api_settings: Settings) -> tuple[int, int]:
    old, new = _versions(api_settings, 2)
    return old, new


def _run_dir(api: httpx.Client, api_settings: Settings, version_id: int) -> Path:
    [model] = [m for m in api.get("/api/models").json() if m["id"] == version_id]
    return api_settings.lob_home / "runs" / model["job_id"]


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
    weights = RunDir(_run_dir(api, api_settings, bad)).fold(5).weights
    weights.write_bytes(b"tampered")

    r = api.post(f"/api/models/{bad}/promote", headers=auth)
    assert r.status_code == 409 and "manifest" in r.json()["detail"]
    assert (api_settings.lob_home / "models" / "active.json").read_text() == before


def test_a_version_whose_sidecar_does_not_match_the_manifest_is_refused_naming_it(
    api: httpx.Client, auth: dict[str, str], api_settings: Settings, two_versions: tuple[int, int]
) -> None:
    # Given a registered version whose model.json changed after the manifest was written
    _, bad = two_versions
    sidecar = _run_dir(api, api_settings, bad) / "fold5" / "model.json"
    sidecar.write_text('{"arch": "deeplob", "config": {"conv_filters": 64}}')
    active_json = api_settings.lob_home / "models" / "active.json"
    before = active_json.read_text() if active_json.exists() else None
    # When it is promoted, then it is refused with a 409 that names the file (the check inference
    # makes before loading, so a promotion that passes is one inference accepts)
    r = api.post(f"/api/models/{bad}/promote", headers=auth)
    assert r.status_code == 409, r.text
    assert "fold5/model.json" in r.json()["detail"] and "manifest" in r.json()["detail"]
    assert (active_json.read_text() if active_json.exists() else None) == before


def test_a_version_whose_model_json_names_another_model_than_its_weights_is_refused(
    api: httpx.Client, auth: dict[str, str], api_settings: Settings, two_versions: tuple[int, int]
) -> None:
    # Given DeepLOB weights whose model.json says TLOB, with a manifest that matches (the case
    # hashes cannot catch)
    good, bad = two_versions
    assert api.post(f"/api/models/{good}/promote", headers=auth).status_code == 200
    run = RunDir(_run_dir(api, api_settings, bad))
    sidecar = json.loads(run.fold(5).sidecar.read_text())
    run.fold(5).sidecar.write_text(json.dumps({**sidecar, "arch": "tlob", "config": {}}))
    run.write_manifest()
    before = (api_settings.lob_home / "models" / "active.json").read_text()
    # When it is promoted or made the shadow, then both refuse it, saying which model it claims
    for path in (f"/api/models/{bad}/promote", f"/api/models/{bad}/shadow"):
        r = api.post(path, headers=auth)
        assert r.status_code == 409, r.text
        assert "tlob" in r.json()["detail"], r.json()
    assert (api_settings.lob_home / "models" / "active.json").read_text() == before
    assert not (api_settings.lob_home / "models" / "shadow.json").exists()


def test_the_shadow_is_set_listed_swapped_with_the_champion_by_promotion_and_removed(
    api: httpx.Client, auth: dict[str, str], api_settings: Settings
) -> None:
    champion, challenger, other = _versions(api_settings, 3)
    models = api_settings.lob_home / "models"
    listener = redis.Redis.from_url(str(api_settings.redis_url)).pubsub()
    listener.subscribe("lob:models")
    listener.get_message(timeout=2)  # the subscribe confirmation

    def announced() -> dict:
        msg = listener.get_message(timeout=5)
        assert msg is not None, "nothing announced on lob:models"
        return json.loads(msg["data"])

    assert api.post(f"/api/models/{champion}/promote", headers=auth).status_code == 200
    assert announced()["version_id"] == champion
    # the shadow needs the token, and the champion cannot be its own shadow
    assert api.post(f"/api/models/{challenger}/shadow").status_code == 401
    r = api.post(f"/api/models/{champion}/shadow", headers=auth)
    assert r.status_code == 409 and "champion" in r.json()["detail"]
    # set: shadow.json, the announcement, the listing and the active model all say so
    r = api.post(f"/api/models/{challenger}/shadow", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["model"]["version_id"] == challenger
    assert json.loads((models / "shadow.json").read_text())["model"]["version_id"] == challenger
    got = announced()
    assert (got["type"], got["model"]["version_id"]) == ("shadow", challenger)
    flags = {m["id"]: (m["active"], m["shadow"]) for m in api.get("/api/models").json()}
    assert flags[champion] == (True, False) and flags[challenger] == (False, True)
    assert flags[other] == (False, False)
    active = api.get("/api/models/active").json()
    assert (active["model"]["id"], active["shadow"]["id"]) == (champion, challenger)
    # removing a version that is not the shadow is a 404
    assert api.delete(f"/api/models/{other}/shadow", headers=auth).status_code == 404
    # promoting the challenger swaps the two: promotion first, then the new shadow
    r = api.post(f"/api/models/{challenger}/promote", headers=auth)
    assert r.status_code == 200 and r.json()["active"] is True and r.json()["shadow"] is False
    assert announced()["version_id"] == challenger
    got = announced()
    assert (got["type"], got["model"]["version_id"]) == ("shadow", champion)
    active = api.get("/api/models/active").json()
    assert (active["model"]["id"], active["shadow"]["id"]) == (challenger, champion)
    # removed: the pointer stays, saying there is none
    r = api.delete(f"/api/models/{champion}/shadow", headers=auth)
    assert r.status_code == 200 and r.json()["model"] is None
    assert announced() == {**got, "model": None, "ts": r.json()["ts"]}
    assert api.get("/api/models/active").json()["shadow"] is None
    assert json.loads((models / "shadow.json").read_text())["model"] is None


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
    # the shadow from the CLI: set (~ in the listing), then cleared
    old, _ = two_versions
    done = run_lob("models", "shadow", str(old), env=env, check=True)
    assert f"model version {old} is the shadow" in done.stdout
    listing = run_lob("models", "list", env=env, check=True).stdout
    [line] = [ln for ln in listing.splitlines() if ln[2:].split()[:1] == [str(old)]]
    assert line.startswith("~")
    assert "no shadow now" in run_lob("models", "shadow", "--clear", env=env, check=True).stdout
    both = run_lob("models", "shadow", str(old), "--clear", env=env)
    assert both.returncode == 2 and "not both" in both.stderr
