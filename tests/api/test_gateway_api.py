"""The gateway's REST contract against real PostgreSQL and Redis: auth, validation, errors, jobs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
import pytest
import redis

from services.api.live.relay import LIVE_WITHIN_S, Client, Relay, missed
from shared.config import Settings
from shared.embedded import free_port
from shared.events import PREDICTIONS_STREAM_FIELD, Prediction, job_channel, predictions_channel
from shared.train_config import MODEL_NAMES

STATE_CHANGING = [
    ("POST", "/api/jobs", {"dataset": "tiny"}),
    ("POST", "/model/train", {"dataset": "tiny"}),
    ("POST", "/api/jobs/abc/cancel", None),
    ("POST", "/api/models/1/promote", None),
    ("DELETE", "/api/session", None),
]


def test_building_and_starting_the_gateway_never_imports_torch(api_settings: Settings) -> None:
    code = (
        "import sys\n"
        "import asyncio, httpx\n"
        "from services.api.main import create_app\n"
        "app = create_app()\n"
        "async def main():\n"
        "    async with app.router.lifespan_context(app):\n"
        "        t = httpx.ASGITransport(app=app)\n"
        "        async with httpx.AsyncClient(transport=t, base_url='http://x') as c:\n"
        "            for path in ('/healthz', '/api/jobs', '/api/models/active', '/api/datasets'):\n"
        "                assert (await c.get(path)).status_code == 200, path\n"
        "asyncio.run(main())\n"
        "assert 'torch' not in sys.modules, 'the gateway imported torch'\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": str(api_settings.database_url),
        "REDIS_URL": str(api_settings.redis_url),
        "LOB_HOME": str(api_settings.lob_home),
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize(("method", "path", "body"), STATE_CHANGING)
def test_state_changing_routes_refuse_missing_or_wrong_tokens(
    api: httpx.Client, token: str, method: str, path: str, body: dict | None
) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"}):
        r = api.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, (method, path, headers, r.text)
        assert r.json()["code"] == "unauthorized"
        assert r.headers["content-type"].startswith("application/json")


def test_submit_returns_202_and_the_job_is_listed_newest_first(
    api: httpx.Client, auth: dict[str, str]
) -> None:
    # Given two submitted jobs
    first = api.post("/api/jobs", json={"dataset": "tiny", "config": {"quick": True}}, headers=auth)
    second = api.post("/api/jobs", json={"dataset": "tiny"}, headers=auth)
    # Then both are accepted and queued, with every config default filled in
    assert first.status_code == second.status_code == 202, first.text
    a, b = first.json(), second.json()
    assert a["status"] == "queued" and a["config"]["quick"] is True and a["config"]["epochs"] == 1
    assert b["config"]["epochs"] == 20 and b["config"]["batch_size"] == 128
    # And the list shows the newer first, paginated
    page = api.get("/api/jobs", params={"page": 1, "size": 2}).json()
    assert [j["id"] for j in page["items"]] == [b["id"], a["id"]]
    assert page["total"] >= 2 and page["size"] == 2
    detail = api.get(f"/api/jobs/{a['id']}").json()
    assert detail["metrics"] == [] and detail["result"] is None
    assert detail["progress"]["fraction"] is None


def test_the_seed_endpoint_queues_a_job_with_default_settings(
    api: httpx.Client, auth: dict[str, str]
) -> None:
    r = api.post("/model/train", json={"dataset": "tiny"}, headers=auth)
    assert r.status_code == 202, r.text
    assert r.json()["config"]["epochs"] == 20
    # Without a body, the newest dataset is used.
    r = api.post("/model/train", headers=auth)
    assert r.status_code == 202 and r.json()["dataset"] == "tiny"


@pytest.mark.parametrize(
    "config",
    [
        {"epochs": 0},
        {"batch_size": -1},
        {"labels": "nope"},
        {"lr": 5},
        {"no_such_field": 1},
        {"select": "val_acc"},
        {"norm": "raw"},
        {"batching": "rows"},
        {"mirror": True, "norm": "zscore"},
        {"noise": -0.1},
    ],
)
def test_invalid_configs_get_422_naming_the_field(
    api: httpx.Client, auth: dict[str, str], config: dict
) -> None:
    r = api.post("/api/jobs", json={"dataset": "tiny", "config": config}, headers=auth)
    assert r.status_code == 422, r.text
    field = "mirror" if "mirror" in config else next(iter(config))
    assert any(e["loc"][-1] == field for e in r.json()["detail"]), r.json()


def test_an_unknown_model_gets_422_listing_the_models(
    api: httpx.Client, auth: dict[str, str]
) -> None:
    r = api.post("/api/jobs", json={"dataset": "tiny", "config": {"model": "lstm"}}, headers=auth)
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["loc"][-1] == "model" and all(f"'{m}'" in err["msg"] for m in MODEL_NAMES), err
    # Segments share DeepLOB's conv work, so another model is refused them, naming both fields.
    config = {"model": "tlob", "batching": "segments"}
    r = api.post("/api/jobs", json={"dataset": "tiny", "config": config}, headers=auth)
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["loc"][-1] == "batching" and "needs model 'deeplob'" in err["msg"], err


@pytest.mark.parametrize(
    "name", ["../tiny", "..", "a/b", "/etc/passwd", "tiny/../../x", ".hidden", "x" * 65, ""]
)
def test_path_traversal_dataset_names_are_refused(
    api: httpx.Client, auth: dict[str, str], api_settings: Settings, name: str
) -> None:
    before = api.get("/api/jobs").json()["total"]
    r = api.post("/api/jobs", json={"dataset": name}, headers=auth)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "dataset"]
    assert api.get("/api/jobs").json()["total"] == before, "a refused job must not be recorded"


def test_an_unknown_dataset_gets_422_on_the_dataset_field(
    api: httpx.Client, auth: dict[str, str]
) -> None:
    r = api.post("/api/jobs", json={"dataset": "no-such-data"}, headers=auth)
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"] == ["body", "dataset"] and "unknown dataset" in err["msg"]


def test_unknown_things_get_json_404s(api: httpx.Client, auth: dict[str, str]) -> None:
    for method, path in (
        ("GET", "/api/jobs/nope"),
        ("POST", "/api/jobs/nope/cancel"),
        ("POST", "/api/models/999999/promote"),
        ("GET", "/api/no-such-route"),
    ):
        r = api.request(method, path, headers=auth)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["code"] == "not_found"


def test_cancelling_a_queued_job_cancels_it_at_once(
    api: httpx.Client, auth: dict[str, str]
) -> None:
    job = api.post("/api/jobs", json={"dataset": "tiny"}, headers=auth).json()
    r = api.post(f"/api/jobs/{job['id']}/cancel", headers=auth)
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    assert api.get(f"/api/jobs/{job['id']}").json()["finished_at"] is not None
    again = api.post(f"/api/jobs/{job['id']}/cancel", headers=auth)
    assert again.status_code == 409 and again.json()["code"] == "conflict"


def test_sign_in_sets_an_httponly_strict_cookie_that_authorizes_until_sign_out(
    api: httpx.Client, token: str
) -> None:
    assert api.get("/api/session").json()["signed_in"] is False
    assert api.post("/api/session", json={"token": "wrong"}).status_code == 401
    r = api.post("/api/session", json={"token": token})
    assert r.status_code == 200 and r.json()["signed_in"] is True
    cookie = r.headers["set-cookie"]
    assert "lob_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert token not in cookie, "the cookie must not carry the token"
    value = api.cookies["lob_session"]
    # The cookie alone authorizes a state-changing request
    assert api.post("/api/jobs", json={"dataset": "tiny"}).status_code == 202
    assert api.get("/api/session").json()["signed_in"] is True
    # Signing out revokes it, even if a copy is replayed
    assert api.delete("/api/session").status_code == 200
    api.cookies.clear()
    replay = api.post("/api/jobs", json={"dataset": "tiny"}, cookies={"lob_session": value})
    assert replay.status_code == 401
    forged = value.rsplit(".", 1)[0] + "." + "0" * 64
    assert (
        api.post("/api/jobs", json={"dataset": "tiny"}, cookies={"lob_session": forged}).status_code
        == 401
    )


def test_sign_in_is_rate_limited(api_settings: Settings, token: str, serve_app) -> None:
    settings = api_settings.model_copy(update={"signin_per_minute": 3})
    with serve_app(settings) as client:
        codes = [client.post("/api/session", json={"token": "guess"}).status_code for _ in range(5)]
        blocked = client.post("/api/session", json={"token": token})
    assert codes == [401, 401, 401, 429, 429]
    assert blocked.status_code == 429, "even the right token waits once the limit is hit"
    assert int(blocked.headers["retry-after"]) > 0 and blocked.json()["code"] == "rate_limited"


def test_one_time_login_link_works_once(api: httpx.Client, api_settings: Settings) -> None:
    import hashlib

    code = "one-time-code-123"
    r = redis.Redis.from_url(str(api_settings.redis_url))
    r.set("lob:login:" + hashlib.sha256(code.encode()).hexdigest(), "1", ex=60)
    first = api.get("/login", params={"code": code}, follow_redirects=False)
    assert first.status_code == 303 and "lob_session=" in first.headers["set-cookie"]
    api.cookies.clear()
    assert api.get("/login", params={"code": code}, follow_redirects=False).status_code == 401


def test_cors_is_closed_by_default(api: httpx.Client) -> None:
    r = api.options(
        "/api/jobs",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in r.headers
    r = api.get("/api/jobs", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_health_ready_metrics_config_and_datasets(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "redis": "ok"}
    assert "lob_http_requests_total" in api.get("/metrics").text
    cfg = api.get("/api/config").json()
    assert cfg["flower_url"].startswith("http") and "TEST" in cfg["symbols"]
    [ds] = [d for d in api.get("/api/datasets").json() if d["name"] == "tiny"]
    assert ds["rows"] == 3000 and ds["symbols"] == ["TEST"]


def test_postgres_down_gives_json_503s_while_health_stays_up(
    api_settings: Settings, auth: dict[str, str], serve_app
) -> None:
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    with serve_app(api_settings.model_copy(update={"database_url": dead})) as c:
        for method, path in (("GET", "/api/jobs"), ("GET", "/api/models"), ("GET", "/api/jobs/x")):
            r = c.request(method, path)
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "db_unavailable"
        r = c.post("/api/jobs", json={"dataset": "tiny"}, headers=auth)
        assert r.status_code == 503 and r.json()["code"] == "db_unavailable"
        assert c.get("/healthz").status_code == 200
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith(
            "unavailable"
        )


def test_active_model_reports_none_then_the_inference_status(
    api: httpx.Client, api_settings: Settings
) -> None:
    r = redis.Redis.from_url(str(api_settings.redis_url))
    r.delete("lob:inference:status")
    body = api.get("/api/models/active").json()
    assert body["model"] is None and body["inference"] is None and body["inference_error"]
    status = {
        "model_version": "abc-fold5-12345678",
        "run_dir": "/x",
        "loaded_at": 1.0,
        "refused_total": 1,
        "refused": [{"path": "/y", "reason": "sha256 mismatch", "ts": 2.0}],
    }
    r.set("lob:inference:status", json.dumps(status))
    body = api.get("/api/models/active").json()
    assert body["inference"]["refused"][0]["reason"] == "sha256 mismatch"
    assert body["inference"]["model_version"] == "abc-fold5-12345678"


def test_live_symbols_lists_the_symbols_with_predictions_coming(
    api: httpx.Client, api_settings: Settings
) -> None:
    r = redis.Redis.from_url(str(api_settings.redis_url))
    assert api.get("/api/live/symbols").json()["symbols"] == []

    # Given inference publishing predictions for one symbol, as a feed makes it do
    def listed() -> list[str]:
        r.publish(predictions_channel("LIVEONE"), "{}")
        return api.get("/api/live/symbols").json()["symbols"]

    deadline = time.monotonic() + 10
    while not (symbols := listed()) and time.monotonic() < deadline:
        time.sleep(0.05)  # the relay subscribes in the background once the app has started

    # Then the gateway lists it, with how recent a prediction must be, and nothing else
    assert symbols == ["LIVEONE"]
    assert api.get("/api/live/symbols").json()["within_s"] == LIVE_WITHIN_S


def test_a_symbol_stops_being_live_when_its_predictions_stop() -> None:
    relay = Relay("redis://unused")
    relay.dispatch(predictions_channel("BBB"), "{}")
    relay.dispatch(predictions_channel("AAA"), "{}")
    relay.dispatch("lob:predictions:not a symbol", "{}")
    relay.dispatch(job_channel("job-1"), "{}")
    assert relay.live_symbols() == ["AAA", "BBB"]
    assert relay.live_symbols(now=time.monotonic() + LIVE_WITHIN_S + 1) == []


def test_the_ui_is_served_at_its_pages_and_api_paths_stay_json(api: httpx.Client) -> None:
    for page in ("/", "/predict", "/train"):
        r = api.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert api.get("/api/nope").headers["content-type"].startswith("application/json")
    assert api.get("/assets/missing.js").status_code == 404


def test_odd_path_parameters_get_4xx_never_5xx(api: httpx.Client, auth: dict[str, str]) -> None:
    for method, path in (
        ("POST", f"/api/models/{2**70}/promote"),
        ("POST", "/api/models/-1/promote"),
        ("GET", "/api/jobs/" + "x" * 500),
        ("GET", "/api/jobs?page=0"),
        ("GET", "/api/jobs?size=100000"),
        ("GET", "/api/jobs/%00"),
    ):
        r = api.request(method, path, headers=auth)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")


def test_submissions_are_counted_in_metrics(api: httpx.Client, auth: dict[str, str]) -> None:
    def submitted() -> float:
        for line in api.get("/metrics").text.splitlines():
            if line.startswith("lob_jobs_submitted_total "):
                return float(line.split()[1])
        return 0.0

    before = submitted()
    assert api.post("/api/jobs", json={"dataset": "tiny"}, headers=auth).status_code == 202
    assert submitted() == before + 1


def _prediction(seq: int, model: str = "m1") -> str:
    return Prediction(
        ts=seq,
        symbol="AAA",
        best_bid=1.0,
        best_ask=2.0,
        mid=1.5,
        latency_ms=0.0,
        seq=seq,
        model_version=model,
    ).model_dump_json()


def test_after_a_reconnect_the_relay_reads_back_what_it_missed() -> None:
    old = [_prediction(s) for s in range(1, 11)]
    # the stream still holds the last one delivered (seq 7): what is newer
    assert missed(old[::-1], old[6]) == old[7:]
    assert missed(old[::-1], old[9]) == []
    # Redis came back empty, holding seq 9 and 10 sent again, then 11-13: only 11-13
    again = old[8:] + [_prediction(s) for s in range(11, 14)]
    assert missed(again[::-1], old[9]) == again[2:]
    # inference numbering again from 1 on a fresh Redis, behind or already past seq 10: all of it
    for count in (3, 14):
        fresh = [_prediction(s, "m2") for s in range(1, count + 1)]
        assert missed(fresh[::-1], old[9]) == fresh


def test_a_backfill_and_the_pub_sub_copies_of_it_give_each_seq_once() -> None:
    class Stream:  # the symbol's stream as the relay's XREVRANGE reads it
        def __init__(self, texts: list[str]) -> None:
            field = PREDICTIONS_STREAM_FIELD.encode()
            self.rows = [(f"{i}-0".encode(), {field: t.encode()}) for i, t in enumerate(texts)]

        async def xrevrange(self, name: str, count: int) -> list:
            return self.rows[::-1][:count]

    async def send(text: str) -> None:
        return None

    relay, client, channel = Relay("redis://unused"), Client(send=send), predictions_channel("AAA")
    relay.add(client)
    relay.subscribe(client, symbols=["AAA"], jobs=[])
    texts = [_prediction(s) for s in range(1, 14)]
    # Given seq 1-7 delivered before the connection dropped, 8-10 published while away
    for text in texts[:7]:
        relay.dispatch(channel, text)
    # and a live `scores` message last on the channel (it shares it, but is not in the stream)
    scores = json.dumps({"type": "scores", "recent": [{"seq": 2}]}, separators=(",", ":"))
    relay.dispatch(channel, scores)
    # When the relay reads back 1-10, then pub/sub brings 9-10 (published after it subscribed),
    # with a scores message among them
    asyncio.run(relay._backfill(Stream(texts[:10])))  # type: ignore[arg-type]
    for text in [*texts[8:10], scores, *texts[10:]]:
        relay.dispatch(channel, text)
    # Then the client got 1-13, each once, and both scores messages
    got = [json.loads(client.queue.get_nowait()) for _ in range(client.queue.qsize())]
    assert [m["seq"] for m in got if m["type"] == "prediction"] == list(range(1, 14))
    assert sum(m["type"] == "scores" for m in got) == 2
