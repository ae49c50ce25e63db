"""The shadow (challenger) on the real live path: replay -> Redis stream -> inference (champion and
challenger predict on the same windows; both are scored) -> Redis -> gateway -> WebSocket / REST.

Two registered runs with different label settings (so each has its own streaming labeller) are
made champion and challenger through the gateway's API, as a user would. Then:
- a replay: both are scored over the same rows, exactly as offline; only the champion's
  predictions and scores reach WebSocket clients;
- a second replay, during which the challenger is promoted: the two swap places, and the client
  sees the champion's predictions, then the new champion's, with no gap and no duplicate in seq.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from devstack import seed
from devstack.stack import wait_until
from shared.data.schema import WINDOW
from shared.db import registry
from shared.db.session import get_engine
from shared.labels import IGNORE, make_labels
from shared.ml.metrics import confusion, f1_per_class
from shared.train_config import TrainConfig
from tests.support import livekit
from tests.support.livekit import LiveStack, Received, http_json

pytestmark = pytest.mark.slow

CHAMPION = {"labels": "triple_barrier", "span": 20, "k": 1.0, "h": 10, "fee_bps": 1.0}
CHALLENGER = {"labels": "smoothed", "smooth_k": 2, "alpha": 2e-5}
ROWS = 1200
SYMBOL = "SHADOWED"
SWAP = "SWAPPED"
SWAP_AT = 400  # predictions the client has when the challenger is promoted


def _post(stack: LiveStack, path: str) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"{stack.gateway.url}{path}",
        method="POST",
        headers={"Authorization": f"Bearer {stack.dev.env['LOB_API_TOKEN']}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _offline(run: Path, books: np.ndarray, settings: dict) -> np.ndarray:
    """The offline confusion of the run's model on the replayed rows it can be scored on."""
    probs = livekit.offline_probs(run, books)
    labels = make_labels(books, TrainConfig(**settings))
    rows = np.arange(WINDOW - 1, len(books))
    rows = rows[labels[rows] != IGNORE]
    return confusion(labels[rows], probs[rows - (WINDOW - 1)].argmax(1))


def _scores(stack: LiveStack, version: str, symbol: str) -> dict | None:
    status, body = http_json(f"{stack.gateway.url}/api/live/scores")
    assert status == 200, body
    entries = [e for e in body["scores"] if (e["model_version"], e["symbol"]) == (version, symbol)]
    return entries[0] if entries else None


@pytest.fixture(scope="module")
def runs(
    live_stack: LiveStack, database_url: str
) -> Iterator[tuple[int, int, Path, Path, np.ndarray]]:
    home = live_stack.home
    books = seed.dataset(home, "shadowed", ROWS, seed=8, symbol=SYMBOL)
    a = livekit.scored_run(
        home, "run-champion", CHAMPION, books, torch_seed=2, theta=0.34, test_f1=None
    )
    b = livekit.scored_run(
        home, "run-challenger", CHALLENGER, books, torch_seed=3, theta=0.34, test_f1=None
    )
    with Session(get_engine(database_url)) as s:
        ids = [registry.register_run(s, run).id for run in (a, b)]
        s.commit()
    yield ids[0], ids[1], a, b, books
    # leave the stack as the other modules expect it: its own model, no shadow
    seed.point_shadow(home, None, redis_url=live_stack.redis_url)
    livekit.serve(live_stack, live_stack.good_run, 1)


def test_the_challenger_is_scored_beside_the_champion_and_never_reaches_clients(
    live_stack: LiveStack, runs: tuple[int, int, Path, Path, np.ndarray]
) -> None:
    champion_id, challenger_id, a, b, books = runs
    va, vb = f"{a.name}/fold5", f"{b.name}/fold5"
    # given the champion promoted and the challenger made the shadow, through the API
    assert _post(live_stack, f"/api/models/{champion_id}/promote")[0] == 200
    status, body = _post(live_stack, f"/api/models/{challenger_id}/shadow")
    assert status == 200 and body["model"]["version_id"] == challenger_id, body
    wait_until(
        lambda: (
            livekit.inference_status(live_stack).get("model_version") == va
            and livekit.inference_status(live_stack).get("shadow_version") == vb
        ),
        60,
        "inference serving the champion with the challenger beside it",
        services=[live_stack.inference],
    )
    want_a, want_b = _offline(a, books, CHAMPION), _offline(b, books, CHALLENGER)

    # when the market is replayed
    def done(got: Received) -> bool:
        scores = [m for m in got.other if m.get("type") == "scores"]
        return bool(scores) and scores[-1]["since_load"]["samples"] == want_a.sum()

    got = livekit.replay(live_stack, "shadowed", SYMBOL, done, timeout=120)
    # then clients got the champion's predictions (every snapshot, in order) and scores only
    assert got.seqs(SYMBOL) == list(range(1, ROWS + 1))
    assert {p["model_version"] for p in got.predictions if p["status"] == "ok"} == {va}
    assert {m["model_version"] for m in got.other if m.get("type") == "scores"} == {va}
    # and both were scored on the same rows, each with its own labels, exactly as offline
    entry_b = wait_until(
        lambda: (
            (e := _scores(live_stack, vb, SYMBOL))
            and e["since_load"]["samples"] == want_b.sum()
            and e
        ),
        30,
        "the challenger's scores to cover every row",
    )
    entry_a = _scores(live_stack, va, SYMBOL)
    assert entry_a is not None
    assert (entry_a["role"], entry_b["role"]) == ("champion", "challenger")
    assert entry_a["since_load"]["confusion"] == want_a.tolist()
    assert entry_b["since_load"]["confusion"] == want_b.tolist()
    assert (entry_a["labels"], entry_b["labels"]) == ("triple_barrier", "smoothed")
    assert entry_b["since_load"]["f1_macro"] == pytest.approx(float(f1_per_class(want_b).mean()))
    metrics = livekit.http_text(f"{live_stack.inference_url}/metrics")
    assert "lob_inference_shadow_loaded 1.0" in metrics
    assert f'lob_live_macro_f1{{model_version="{vb}",symbol="{SYMBOL}"}}' in metrics


def test_promoting_the_challenger_swaps_them_with_no_gap_in_seq(
    live_stack: LiveStack, runs: tuple[int, int, Path, Path, np.ndarray]
) -> None:
    _, challenger_id, a, b, _ = runs
    va, vb = f"{a.name}/fold5", f"{b.name}/fold5"
    assert livekit.inference_status(live_stack).get("shadow_version") == vb
    rows = len(live_stack.syn)

    async def promote_midway(got: Received) -> None:
        deadline = time.monotonic() + 60
        while len(got.seqs(SWAP)) < SWAP_AT:
            if time.monotonic() > deadline:
                logs = live_stack.inference.tail() + live_stack.gateway.tail()
                raise AssertionError(f"{len(got.seqs(SWAP))} predictions after 60 s{logs}")
            await asyncio.sleep(0.05)
        status, body = await asyncio.to_thread(
            _post, live_stack, f"/api/models/{challenger_id}/promote"
        )
        assert status == 200 and body["active"] is True, body

    # when the challenger is promoted while a market streams (100 snapshots/s)
    got = livekit.replay(
        live_stack,
        "syn",
        SWAP,
        lambda g: len(g.seqs(SWAP)) >= rows,
        speed="1",
        timeout=120,
        during=promote_midway,
    )
    # then every snapshot was predicted once, in order, first by the old champion, then by the
    # new one: one switch, after the promotion
    assert got.seqs(SWAP) == list(range(1, rows + 1))
    versions = [p["model_version"] for p in got.predictions if p["status"] == "ok"]
    switch = versions.index(vb)
    assert switch > SWAP_AT - WINDOW and set(versions[:switch]) == {va}
    assert set(versions[switch:]) == {vb}
    # the client heard of the swap, without the server's directories
    (shadow,) = [m for m in got.other if m.get("type") == "shadow"]
    assert shadow["model"]["version_id"] != challenger_id and "path" not in shadow["model"]
    # and they swapped places: the old champion is the challenger now, still scored
    status = livekit.inference_status(live_stack)
    assert (status["model_version"], status["shadow_version"]) == (vb, va)
    entry_a = wait_until(
        lambda: (e := _scores(live_stack, va, SWAP)) and e["role"] == "challenger" and e,
        30,
        "the old champion scored as the challenger",
    )
    entry_b = _scores(live_stack, vb, SWAP)
    assert entry_b is not None and entry_b["role"] == "champion"
    assert entry_a["since_load"]["samples"] > 0 and entry_b["since_load"]["samples"] > 0
