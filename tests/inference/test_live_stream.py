"""The live path end to end: replay -> Redis stream -> inference -> pub/sub -> gateway -> WebSocket.

Real redis-server, the real inference service and gateway as subprocesses, a real WebSocket client.
Each test streams under its own symbol, so the shared stack's per-symbol seq starts at 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devstack import seed
from devstack.stack import Service, wait_until
from shared.data.schema import WINDOW
from tests.support.livekit import (
    BAD_KINDS,
    SYN_ROWS,
    LiveStack,
    WsClient,
    http_json,
    http_text,
    make_bad_run,
)

pytestmark = pytest.mark.slow


def _replay(stack: LiveStack, symbol: str, speed: str = "0") -> Service:
    return stack.dev.feed(
        "replay", "syn", "--speed", speed, "--symbol", symbol, name=f"feed-{symbol}"
    )


def _status(stack: LiveStack) -> dict:
    with contextlib.closing(redis.Redis.from_url(stack.redis_url)) as r:
        raw = r.get("lob:inference:status")
    return json.loads(raw) if raw else {}


def _metric(stack: LiveStack, name: str) -> float:
    text = http_text(f"{stack.inference_url}/metrics")
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


async def _subscribed(ws: object, symbols: list[str]) -> None:
    await ws.send(json.dumps({"subscribe": symbols}))  # type: ignore[attr-defined]
    reply = json.loads(await ws.recv())  # type: ignore[attr-defined]
    assert reply["type"] == "subscribed", reply


def test_every_snapshot_after_warmup_reaches_the_client(live_stack: LiveStack) -> None:
    # given a client subscribed to EVERY
    client = WsClient(f"{live_stack.ws_base}/model-test-every")

    async def main() -> None:
        reading = asyncio.create_task(
            client.run([{"subscribe": ["every"]}], lambda got: len(got.predictions) >= SYN_ROWS, 90)
        )
        await asyncio.sleep(0.3)
        # when the dataset is replayed as fast as possible
        _replay(live_stack, "EVERY")
        await reading

    asyncio.run(main())
    got = client.got
    # then every snapshot gave exactly one message, in order, warming up for the first 99
    assert got.seqs("EVERY") == list(range(1, SYN_ROWS + 1))
    statuses = [p["status"] for p in got.predictions]
    assert statuses[: WINDOW - 1] == ["warming_up"] * (WINDOW - 1)
    assert statuses[WINDOW - 1 :] == ["ok"] * (SYN_ROWS - WINDOW + 1)
    assert all(p["probs"] is None for p in got.predictions[: WINDOW - 1])
    assert got.predictions[0]["warmup_have"] == 1 and got.predictions[0]["warmup_need"] == WINDOW
    for p, row in zip(got.predictions, live_stack.syn, strict=True):
        assert p["best_ask"] == pytest.approx(float(row[0])) and p["best_bid"] == pytest.approx(
            float(row[2])
        )
        assert p["mid"] == pytest.approx((float(row[0]) + float(row[2])) / 2)
        assert p["latency_ms"] >= 0
        assert len(p["book"]["asks"]) == 10
    for p in got.predictions[WINDOW - 1 :]:
        probs = p["probs"]
        assert sum(probs.values()) == pytest.approx(1, abs=1e-5)
        assert p["signal"] == max(probs, key=probs.get).upper()
        assert p["confidence"] == pytest.approx(max(probs.values()))
        assert p["model_version"] == "run-good/fold5"


def _replay_files_to_client(
    stack: LiveStack, files: list[Path], symbol: str, books: np.ndarray, timeout: float
) -> None:
    """Replay `files` with `lob feed replay --speed 0` and check that a subscribed client gets one
    message per book of `books` (what the importer rebuilds from them), in order: warming up
    for the first 99, then predictions."""
    client = WsClient(f"{stack.ws_base}/model-test-{symbol.lower()}")

    async def main() -> None:
        reading = asyncio.create_task(
            client.run(
                [{"subscribe": [symbol]}], lambda got: len(got.predictions) >= len(books), timeout
            )
        )
        await asyncio.sleep(0.3)
        feed = stack.dev.feed(
            "replay", *map(str, files), "--speed", "0", name=f"feed-{symbol.lower()}"
        )
        await reading
        feed.proc.wait(30)

    asyncio.run(main())
    got = client.got
    assert got.seqs(symbol) == list(range(1, len(books) + 1))
    assert [p["status"] for p in got.predictions[WINDOW - 1 :]] == ["ok"] * (
        len(books) - WINDOW + 1
    )
    assert {p["status"] for p in got.predictions[: WINDOW - 1]} == {"warming_up"}
    assert all(p["probs"] is not None for p in got.predictions[WINDOW - 1 :])
    np.testing.assert_allclose(
        [p["best_bid"] for p in got.predictions], books[:, 2].astype(np.float64)
    )


@pytest.mark.data
def test_binance_sample_replay_reaches_the_client_for_every_snapshot(
    live_stack: LiveStack, sample_data: Path
) -> None:
    from shared.data.binance_capture import read_captures

    # given the recorded Binance capture and the number of books the importer rebuilds from it
    files = sorted((sample_data / "binance-spot-btcusdt").glob("*.gz"))
    books = np.concatenate([b.features for b in read_captures(files)])
    # when it is replayed through the book builder as fast as possible, then every book arrives
    _replay_files_to_client(live_stack, files, "BTCUSDT", books, 120)


@pytest.mark.data
def test_databento_mbo_replay_yields_predictions(live_stack: LiveStack, sample_data: Path) -> None:
    from shared.data.databento import read_dbn

    # given the ES MBO sample and the books the importer rebuilds from it (185, one symbol)
    src = sample_data / "databento-es-mbo"
    src = src / "orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst"
    if not src.is_file():
        pytest.skip(f"no Databento sample at {src}")
    books = np.concatenate([b.features for b in read_dbn([src])])
    assert len(books) > WINDOW
    # when the DBN file is replayed as fast as possible, then predictions follow the warm-up
    _replay_files_to_client(live_stack, [src], "ESM4", books, 60)


def test_hot_reload_mid_stream_drops_and_doubles_nothing(live_stack: LiveStack) -> None:
    # given a stream under way (about 5 s at speed 3) and a second model ready
    new_run = seed.servable_run(live_stack.home, "run-reload", seed=3)
    before = _status(live_stack)["model_version"]
    client = WsClient(f"{live_stack.ws_base}/model-test-reload")

    async def main() -> None:
        reading = asyncio.create_task(
            client.run(
                [{"subscribe": ["RELOAD"]}], lambda got: len(got.predictions) >= SYN_ROWS, 90
            )
        )
        await asyncio.sleep(0.3)
        _replay(live_stack, "RELOAD", speed="3")
        while len(client.got.predictions) < 2 * WINDOW:
            await asyncio.sleep(0.02)
        # when the new model is promoted mid-stream
        seed.point_active(live_stack.home, new_run, 2, redis_url=live_stack.redis_url)
        await reading

    try:
        asyncio.run(main())
        got = client.got
        # then no snapshot is lost or doubled, and the version switches once, for good
        assert got.seqs("RELOAD") == list(range(1, SYN_ROWS + 1))
        versions = [p["model_version"] for p in got.predictions[WINDOW - 1 :]]
        switch = versions.index("run-reload/fold5")
        assert switch > WINDOW, "the swap happened mid-stream"
        assert set(versions[:switch]) == {before}
        assert set(versions[switch:]) == {"run-reload/fold5"}
        promoted = [m for m in got.other if m.get("type") == "promoted"]
        assert promoted, "the relay forwards lob:models to every client"
        assert promoted[0]["job_id"] == "run-reload" and "path" not in promoted[0]
        assert _metric(live_stack, "lob_inference_model_reloads_total") >= 1
    finally:
        seed.point_active(live_stack.home, live_stack.good_run, 1, redis_url=live_stack.redis_url)
        wait_until(
            lambda: _status(live_stack).get("model_version") == "run-good/fold5", 30, "roll back"
        )


def test_bad_checkpoints_are_refused_while_serving_continues(live_stack: LiveStack) -> None:
    # given a stream under way with the good model serving
    marker = live_stack.logdir / "pickle-payload-ran"
    serving = _status(live_stack)["model_version"]
    refused_before = _status(live_stack)["refused_total"]
    metric_before = _metric(live_stack, "lob_inference_model_refused_total")
    client = WsClient(f"{live_stack.ws_base}/model-test-bad")
    bad_runs = {k: make_bad_run(live_stack.home, f"run-bad-{k}", k, marker) for k in BAD_KINDS}

    async def main() -> None:
        reading = asyncio.create_task(
            client.run([{"subscribe": ["BAD"]}], lambda got: len(got.predictions) >= SYN_ROWS, 90)
        )
        await asyncio.sleep(0.3)
        _replay(live_stack, "BAD", speed="3")
        # when each kind of broken checkpoint is promoted in turn
        for n, run in enumerate(bad_runs.values(), start=1):
            seed.point_active(live_stack.home, run, 10 + n, redis_url=live_stack.redis_url)
            while _status(live_stack)["refused_total"] < refused_before + n:
                await asyncio.sleep(0.05)
        await reading

    try:
        asyncio.run(main())
    finally:
        seed.point_active(live_stack.home, live_stack.good_run, 1, redis_url=live_stack.redis_url)
    got = client.got
    # then every one is refused, counted and reported, and the old model never stops serving
    status = _status(live_stack)
    assert status["refused_total"] == refused_before + len(BAD_KINDS)
    assert _metric(live_stack, "lob_inference_model_refused_total") == metric_before + len(
        BAD_KINDS
    )
    reasons = {r["path"]: r["reason"] for r in status["refused"]}
    for kind, run in bad_runs.items():
        assert str(run) in reasons, kind
    assert "sha256" in reasons[str(bad_runs["hash_mismatch"])]
    assert "non-finite" in reasons[str(bad_runs["nan_weights"])]
    assert "does not fit" in reasons[str(bad_runs["wrong_shape"])]
    assert not marker.exists(), "the pickle payload must never run"
    assert got.seqs("BAD") == list(range(1, SYN_ROWS + 1))
    assert {p["model_version"] for p in got.predictions[WINDOW - 1 :]} == {serving}
    assert status["model_version"] == serving
    # and the gateway shows the refusals too
    code, active = http_json(f"http://127.0.0.1:{live_stack.gateway.port}/api/models/active")
    assert code == 200
    assert active["inference"]["refused_total"] == status["refused_total"]


def test_slow_client_is_dropped_while_a_fast_one_gets_everything(live_stack: LiveStack) -> None:
    from shared.events import JobEvent, job_channel

    # 1,500 events of ~8 kB of noise: 12 MB, more than the kernel buffers (4 MB) and the queue
    # (128) hold, and incompressible, so permessage-deflate cannot shrink it away
    events = [
        JobEvent(
            type="progress", job_id="burst", batch=i, message=secrets.token_urlsafe(6000)
        ).model_dump_json()
        for i in range(1500)
    ]
    url = f"{live_stack.ws_base}/model-test-slow"

    async def main() -> tuple[int | None, int, list[int]]:
        # given a slow client with a tiny receive buffer that stops reading after subscribing,
        # and a fast one on the same job
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", live_stack.gateway.port))
        async with (
            connect(url, sock=sock, max_queue=4, max_size=2**20) as slow,
            connect(f"{live_stack.ws_base}/model-test-fast", max_size=2**20) as fast,
        ):
            for ws in (slow, fast):
                await ws.send(json.dumps({"subscribe_jobs": ["burst"]}))
                assert json.loads(await ws.recv())["type"] == "subscribed"

            async def read_fast() -> list[int]:
                seen = []
                while len(seen) < len(events):
                    seen.append(json.loads(await fast.recv())["batch"])
                return seen

            reading = asyncio.create_task(read_fast())
            # when the burst is published
            with contextlib.closing(redis.Redis.from_url(live_stack.redis_url)) as r:
                for i in range(0, len(events), 50):
                    pipe = r.pipeline(transaction=False)
                    for text in events[i : i + 50]:
                        pipe.publish(job_channel("burst"), text)
                    pipe.execute()
                    await asyncio.sleep(0.005)
            fast_seen = await asyncio.wait_for(reading, 60)
            # then the slow one, once it reads again, finds fewer messages and close code 4008
            received = 0
            code = None
            try:
                async with asyncio.timeout(30):
                    while True:
                        await slow.recv()
                        received += 1
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
            return code, received, fast_seen

    code, received, fast_seen = asyncio.run(main())
    assert fast_seen == list(range(len(events)))
    assert code == 4008
    assert received < len(events)


def test_bad_client_messages_get_errors_and_the_socket_stays(live_stack: LiveStack) -> None:
    async def main() -> list[dict]:
        replies = []
        async with connect(f"{live_stack.ws_base}/model-test-fuzz", max_size=2**20) as ws:
            for frame in (
                "not json",
                "[1, 2]",
                "{}",
                json.dumps({"subscribe": "BTCUSDT"}),
                json.dumps({"subscribe": ["no spaces allowed"]}),
                json.dumps({"subscribe_jobs": ["../etc"]}),
                json.dumps({"hello": 1}),
                json.dumps({"subscribe": [f"S{i}" for i in range(100)]}),
                "x" * 50_000,
                b"\x00\x01binary",
            ):
                await ws.send(frame)
                replies.append(json.loads(await ws.recv()))
            await ws.send(json.dumps({"subscribe": ["ok1"], "subscribe_jobs": ["job-1"]}))
            replies.append(json.loads(await ws.recv()))
            await ws.send(json.dumps({"ping": 1}))
            replies.append(json.loads(await ws.recv()))
        return replies

    replies = asyncio.run(main())
    errors, subscribed, pong = replies[:-2], replies[-2], replies[-1]
    assert [r["type"] for r in errors] == ["error"] * len(errors)
    assert all(r["code"] == "bad_message" and r["message"] for r in errors)
    assert subscribed == {"type": "subscribed", "symbols": ["OK1"], "jobs": ["job-1"]}
    assert pong == {"type": "pong"}


def test_job_events_reach_only_their_subscribers(live_stack: LiveStack) -> None:
    from shared.events import JobEvent, job_channel

    event = JobEvent(type="epoch", job_id="j-42", epoch=1, epochs=3, metrics={"val_loss": 0.5})

    async def main() -> tuple[dict, list[dict]]:
        async with (
            connect(f"{live_stack.ws_base}/model-test-jobs") as watcher,
            connect(f"{live_stack.ws_base}/model-test-other") as other,
        ):
            await watcher.send(json.dumps({"subscribe_jobs": ["j-42"]}))
            assert json.loads(await watcher.recv())["jobs"] == ["j-42"]
            await other.send(json.dumps({"subscribe_jobs": ["j-43"]}))
            assert json.loads(await other.recv())["jobs"] == ["j-43"]
            with contextlib.closing(redis.Redis.from_url(live_stack.redis_url)) as r:
                r.publish(job_channel("j-42"), event.model_dump_json())
            got = json.loads(await asyncio.wait_for(watcher.recv(), 10))
            await other.send(json.dumps({"ping": 1}))
            nothing_else = [json.loads(await asyncio.wait_for(other.recv(), 10))]
            return got, nothing_else

    got, other = asyncio.run(main())
    assert JobEvent.model_validate(got) == event
    assert other == [{"type": "pong"}]


def test_a_bad_session_id_is_refused(live_stack: LiveStack) -> None:
    async def main() -> None:
        async with connect(f"{live_stack.ws_base}/bad%20id%3B"):
            pass

    with pytest.raises(InvalidStatus):
        asyncio.run(main())


def test_health_and_metrics_of_inference(live_stack: LiveStack) -> None:
    code, health = http_json(f"{live_stack.inference_url}/healthz")
    assert code == 200 and health["status"] == "ok" and health["model_version"]
    text = http_text(f"{live_stack.inference_url}/metrics")
    for name in (
        "lob_inference_snapshots_total",
        "lob_inference_model_refused_total",
        "lob_inference_forward_seconds_bucket",
        "lob_inference_latency_seconds_bucket",
    ):
        assert name in text
    assert _status(live_stack)["updated_at"] > time.time() - 10  # rewritten every few seconds
    # and the gateway exports the relay's counters
    gateway = http_text(f"http://127.0.0.1:{live_stack.gateway.port}/metrics")
    for name in ("lob_ws_clients", "lob_ws_dropped_total", "lob_relay_reconnects_total"):
        assert name in gateway
