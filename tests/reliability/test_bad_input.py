"""Bad input at scale: the REST API fuzzed from its OpenAPI schema (schemathesis), the WebSocket
protocol fuzzed with random, malformed and oversized frames.

(The file importers are fuzzed in tests/shared/test_fuzz_importers.py.)
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from devstack.stack import Stack, wait_until
from tests.support import jobstack
from tests.support.relkit import RelStack, Subscriber, gaps, record_figure

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES = 40  # per operation, per mode (valid or not); token or not drawn per example


# -- REST: schemathesis ----------------------------------------------------------------------------


@pytest.fixture
def fuzz_gateway(stack: RelStack) -> Iterator[str]:
    """A gateway of its own (own database, own Redis): fuzzed jobs reach no worker."""
    with Stack(stack.base / "fuzz", stack.env, logs=stack.logdir) as fuzz:
        fuzz.redis()
        fuzz.database(stack.pg.admin_url, prefix="lob_wtest")
        yield fuzz.gateway(log_level="warning", timeout=60).url


def _json_error(response: Any) -> str | None:
    """Why an error response is not a JSON error body (None when it is)."""
    if response.status_code < 400:
        return None
    ctype = response.headers.get("content-type") or ""
    ctype = ctype[0] if isinstance(ctype, list) else ctype  # schemathesis keeps lists of values
    if not ctype.startswith("application/json"):
        return f"content-type {ctype!r}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return "body is not JSON"
    if not isinstance(body, dict) or "detail" not in body:
        return f"no 'detail' in {str(body)[:80]}"
    return None


def test_fuzzing_the_rest_api_from_its_schema_gives_no_5xx_and_json_errors(
    fuzz_gateway: str,
) -> None:
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{fuzz_gateway}/openapi.json")
    ops = [result.ok() for result in schema.get_all_operations()]
    assert len(ops) >= 8, [op.label for op in ops]
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    started = time.monotonic()
    token = {"Authorization": f"Bearer {jobstack.TOKEN}"}
    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = op.as_strategy(generation_mode=mode)

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy, authed=st.booleans())
            def run(case: Any, authed: bool) -> None:
                response = case.call(base_url=fuzz_gateway, headers=token if authed else None)
                statuses[response.status_code] += 1
                why = _json_error(response)
                if response.status_code >= 500 or why:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code} "
                        f"{why or ''}: {response.content[:200]!r}"
                    )

            try:
                run()
            except Unsatisfiable:
                # Nothing to make invalid (e.g. no parameters, no body): positive mode covers it.
                assert mode is GenerationMode.NEGATIVE, op.label
    elapsed = time.monotonic() - started
    assert not failures, "\n".join(failures[:10])
    assert httpx.get(f"{fuzz_gateway}/healthz").status_code == 200
    total = sum(statuses.values())
    record_figure(
        "input_rest",
        kind="input",
        what="REST API fuzzed from its OpenAPI schema (schemathesis)",
        done=f"{len(ops)} operations x valid and invalid inputs x with/without token "
        f"({EXAMPLES} examples each, derandomized)",
        times=total,
        lost=f"nothing: 0 responses 5xx, every error body JSON with 'detail'; statuses "
        f"{dict(sorted(statuses.items()))}",
        recovery=f"n/a (never down); {elapsed:.0f} s for {total} requests",
        data={"statuses": dict(statuses), "seconds": elapsed},
    )


# -- WebSocket ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["subscribe", "unsubscribe", "subscribe_jobs", "ping", "x", ""])
            | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)
frames = st.one_of(
    json_values.map(json.dumps),
    st.text(max_size=300),
    st.binary(max_size=2000),
    st.lists(st.text(max_size=40), max_size=80).map(lambda xs: json.dumps({"subscribe": xs})),
    # over the relay's 16,384-character message limit, under the server's 64 KiB frame limit
    st.integers(16_385, 60_000).map(lambda n: json.dumps({"ping": "x" * n})),
)


def _fuzz_frames(n: int) -> list[str | bytes]:
    out: list[str | bytes] = []

    @settings(max_examples=n, deadline=None, database=None, derandomize=True)
    @given(frames)
    def collect(frame: str | bytes) -> None:
        out.append(frame)

    collect()
    return out


def _send_and_expect_reply(ws: Any, frame: str | bytes) -> dict[str, Any]:
    """Send one frame; the relay must answer it (error, subscribed or pong) and stay open."""
    ws.send(frame)
    while True:
        msg = json.loads(ws.recv(timeout=10))
        if msg.get("type") in ("error", "subscribed", "pong"):
            return msg


def _send_then_ping(ws: Any, frame: str | bytes) -> list[str]:
    """Send one frame, then a ping: the socket must still answer. Returns the replies' types
    before the pong (an error for a bad frame; nothing for a valid no-op such as {"ping": null})."""
    ws.send(frame)
    ws.send(json.dumps({"ping": "probe"}))
    got = []
    while True:
        msg = json.loads(ws.recv(timeout=10))
        if msg.get("type") == "pong":
            return got
        if msg.get("type") in ("error", "subscribed"):
            got.append(msg["type"])


def test_websocket_fuzz_the_gateway_survives_and_a_good_client_gets_everything(
    stack: RelStack,
) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    symbol = "WSFUZZ"
    good = Subscriber(stack.ws_url("model-test-good"), [{"subscribe": [symbol]}])
    src = stack.feed("replay", symbol, speed=3)
    replies: Counter[str] = Counter()
    closes: Counter[str] = Counter()
    sent = 0
    try:
        wait_until(lambda: len(good.predictions(symbol)) >= 20, 60, "the good client's stream")
        # 1. random frames, one at a time: each gets a reply and the socket stays open
        batch = _fuzz_frames(300)
        with connect(stack.ws_url("model-test-fuzz"), max_size=2**24) as ws:
            for frame in batch:
                for kind in _send_then_ping(ws, frame) or ["none (valid no-op)"]:
                    replies[kind] += 1
                sent += 1
        # 2. oversized frames (1 MB text, 17 MB binary): over the server's frame limit, the
        #    socket is closed with 1009 (message too big); nobody else notices
        for size, frame in ((10**6, "x"), (17 * 2**20, b"\0")):
            with connect(stack.ws_url(f"model-test-big{size}"), max_size=2**25) as ws:
                try:
                    ws.send(frame * size)
                    replies[
                        (_send_then_ping(ws, json.dumps({"ping": 1})) and "error") or "none"
                    ] += 1
                except ConnectionClosed as exc:
                    closes[str(exc.rcvd.code if exc.rcvd else None)] += 1  # None: closed mid-send
                except OSError:  # the server closed while we were still sending
                    closes["reset while sending"] += 1
                sent += 1
        # 3. a flood of bad frames from a client that never reads: dropped as a slow consumer
        with connect(stack.ws_url("model-test-flood"), max_size=2**24) as ws:
            try:
                for _ in range(5_000):
                    ws.send("{not json")
                    sent += 1
                ws.recv(timeout=10)
                while True:
                    ws.recv(timeout=10)
            except ConnectionClosed as exc:
                closes[str(exc.rcvd.code if exc.rcvd else None)] += 1  # None: closed mid-send
            except TimeoutError:
                closes["open"] += 1
        # 4. many clients connecting and vanishing without a close frame
        for i in range(50):
            ws = connect(stack.ws_url(f"model-test-vanish{i}"))
            ws.send(json.dumps({"subscribe": [symbol]}))
            ws.socket.close()
            sent += 1
        # The good client kept receiving throughout; the gateway is healthy and takes new clients
        have = len(good.predictions(symbol))
        wait_until(lambda: len(good.predictions(symbol)) >= have + 30, 30, "the good client")
        sent_feed = len(good.predictions(symbol))
        src.stop()
        time.sleep(0.5)
        late = Subscriber(stack.ws_url("model-test-late"), [{"subscribe": [symbol]}])
        late.close()
    finally:
        src.stop()
        good.close()
    seqs = [g.msg["seq"] for g in good.predictions(symbol)]
    assert good.close_code is None
    assert gaps(seqs) == 0 and len(seqs) == len(set(seqs)) and len(seqs) >= sent_feed
    assert httpx.get(f"{stack.api}/healthz").status_code == 200
    assert replies["error"] > 0 and set(closes) <= {"1009", "4008", "None", "reset while sending"}
    record_figure(
        "input_websocket",
        kind="input",
        what="WebSocket fuzz: random, malformed and oversized frames",
        done="300 hypothesis frames (random JSON, text, binary, bad subscriptions, 16-60 KB), "
        "1 MB and 17 MB frames, 5,000 unread bad frames, 50 clients vanishing without close",
        times=sent,
        lost=f"nothing: a concurrent client got {len(seqs)} predictions without gap or "
        f"duplicate and kept its socket; replies {dict(replies)}; closes {dict(closes)}",
        recovery="n/a (gateway never down; health 200 throughout)",
        data={"replies": dict(replies), "closes": dict(closes), "frames": sent},
    )


def test_a_deeply_nested_json_frame_gets_an_error_and_the_socket_stays_open(
    stack: RelStack,
) -> None:
    """Under the 16,384-character limit, '[' * 5000 makes json.loads raise RecursionError."""
    from websockets.sync.client import connect

    with connect(stack.ws_url("model-test-nested")) as ws:
        reply = _send_and_expect_reply(ws, "[" * 5_000 + "]" * 5_000)
        assert reply["type"] == "error"
        assert _send_and_expect_reply(ws, json.dumps({"ping": 1}))["type"] == "pong"
