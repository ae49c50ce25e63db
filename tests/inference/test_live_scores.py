"""Live scoring and drift on the real live path: replay -> Redis stream -> inference (predict,
resolve, score) -> Redis -> gateway -> WebSocket, REST, /metrics and PostgreSQL.

The session's live stack (tests/inference/conftest.py; drift over DRIFT_WINDOW = 200) serves in
turn two runs whose config.json and result.json live scoring reads, each replayed under a symbol
of its own (so its rows start at 0); the stack's own model serves again afterwards.
"""

from __future__ import annotations

import itertools
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from devstack import seed
from devstack.stack import wait_until
from shared.data.schema import ASK_PX_1, BID_PX_1, WINDOW
from shared.labels import CLASS_NAMES, IGNORE, make_labels
from shared.ml.metrics import confusion, macro_f1
from shared.train_config import TrainConfig
from tests.support import livekit
from tests.support.livekit import DRIFT_WINDOW, LiveStack, Received, http_json

pytestmark = pytest.mark.slow

# Run A: triple-barrier labels with a short warm-up and horizon, scored on 1,500 rows.
TRIPLE = {"labels": "triple_barrier", "span": 20, "k": 1.0, "h": 10, "fee_bps": 1.0}
ROWS = 1500
THETA = 0.34  # the lowest of shared.ml.backtest.THETAS: plenty of trades
SCORED = "SCORED"
# Run B: a one-row smoothed label, on a market that follows it, defies it, then follows again.
SMOOTHED = {"labels": "smoothed", "smooth_k": 1, "alpha": 2e-5}
PHASES = [(300, True), (200, False), (300, True)]
DRIFT = "DRIFT"
MARGIN = 0.10  # LOB_DRIFT_MARGIN's default


@dataclass
class Replayed:
    version: str
    rows: np.ndarray  # the scored rows: a prediction (from row 99) with a label, not IGNORE
    realised: np.ndarray  # shared.labels.make_labels on those rows
    predicted: np.ndarray  # the same model offline (load_serving_model, eager) on their windows
    books: np.ndarray
    got: Received  # what a WebSocket client subscribed to the symbol received

    def final_scores(self) -> dict:
        return [m for m in self.got.other if m["type"] == "scores"][-1]


@pytest.fixture(scope="module", autouse=True)
def stack_model_after(live_stack: LiveStack) -> Iterator[None]:
    yield
    livekit.serve(live_stack, live_stack.good_run, 1)


@pytest.fixture(scope="module")
def scored(live_stack: LiveStack) -> Replayed:
    # given a run with real label settings, and the same model's predictions offline
    home = live_stack.home
    books = seed.dataset(home, "scored", ROWS, seed=5, symbol=SCORED)
    run = livekit.scored_run(
        home, "run-scored", TRIPLE, books, torch_seed=1, theta=THETA, test_f1=None
    )
    probs = livekit.offline_probs(run, books)  # entry i: the window ending at row 99 + i
    labels = make_labels(books, TrainConfig(**TRIPLE))
    rows = np.arange(WINDOW - 1, ROWS)
    rows = rows[labels[rows] != IGNORE]
    realised, predicted = labels[rows], probs[rows - (WINDOW - 1)].argmax(1)
    livekit.set_result(run, theta=THETA, test_f1=macro_f1(realised, predicted))
    livekit.serve(live_stack, run, 11)

    # when the rows are replayed through the live path
    def done(got: Received) -> bool:
        scores = [m for m in got.other if m.get("type") == "scores"]
        return bool(scores) and scores[-1]["since_load"]["samples"] == len(rows)

    got = livekit.replay(live_stack, "scored", SCORED, done)
    return Replayed(f"{run.name}/fold5", rows, realised, predicted, books, got)


def test_live_confusion_equals_the_offline_confusion_of_the_same_rows(scored: Replayed) -> None:
    final = scored.final_scores()
    # then every prediction with a full horizon was resolved, and the counts are the offline
    # labeller's against the offline model's, exactly: since load and over the last 1,000
    assert final["model_version"] == scored.version and final["symbol"] == SCORED
    assert final["resolved"] == len(scored.rows) == ROWS - (WINDOW - 1) - TRIPLE["h"]
    assert final["since_load"]["confusion"] == confusion(scored.realised, scored.predicted).tolist()
    assert (
        final["last"]["confusion"]
        == confusion(scored.realised[-1000:], scored.predicted[-1000:]).tolist()
    )
    assert final["last"]["f1_macro"] == pytest.approx(
        macro_f1(scored.realised[-1000:], scored.predicted[-1000:])
    )
    assert final["test_f1_macro"] == pytest.approx(macro_f1(scored.realised, scored.predicted))
    # the strip: the last 50 outcomes, by seq (row + 1)
    assert [o["seq"] for o in final["recent"]] == (scored.rows[-50:] + 1).tolist()
    assert [o["realised"] for o in final["recent"]] == [
        CLASS_NAMES[c] for c in scored.realised[-50:]
    ]
    # scores go to the symbol's subscribers, at most once a second
    scores = [m for m in scored.got.other if m.get("type") == "scores"]
    assert {m["symbol"] for m in scores} == {SCORED}
    assert all(b["ts"] - a["ts"] >= 0.9 for a, b in itertools.pairwise(scores))


def test_live_backtest_closes_the_offline_backtests_trades(scored: Replayed) -> None:
    # given the probabilities the client got for the scored rows (seq = row + 1)
    by_seq = {p["seq"]: p for p in scored.got.predictions if p["status"] == "ok"}
    live = [by_seq[int(r) + 1] for r in scored.rows]
    assert [CLASS_NAMES.index(p["signal"]) for p in live] == scored.predicted.tolist()
    probs = np.array([[p["probs"]["down"], p["probs"]["neutral"], p["probs"]["up"]] for p in live])
    ask, bid = (scored.books[scored.rows, c].astype(np.float64) for c in (ASK_PX_1, BID_PX_1))
    # then the live backtest closed the offline rule's trades, net of the same costs
    trades, net = livekit.closed_trades(
        probs, scored.rows, ask, bid, horizon=TRIPLE["h"], theta=THETA, fee_bps=TRIPLE["fee_bps"]
    )
    backtest = scored.final_scores()["backtest"]
    assert trades > 10
    assert (backtest["trades"], backtest["theta"]) == (trades, THETA)
    assert backtest["net_bps"] == pytest.approx(net, rel=1e-12)


def test_scores_on_the_gateway_on_metrics_and_in_postgresql(
    live_stack: LiveStack, scored: Replayed
) -> None:
    want = confusion(scored.realised, scored.predicted).tolist()
    last = macro_f1(scored.realised[-1000:], scored.predicted[-1000:])
    changes = livekit.drift_changes(
        scored.realised,
        scored.predicted,
        window=DRIFT_WINDOW,
        test_f1=macro_f1(scored.realised, scored.predicted),
        margin=MARGIN,
    )

    # GET /api/live/scores: the report inference keeps in Redis, rewritten about once a second,
    # so it may trail the last WebSocket scores message for a moment
    def report() -> tuple[dict, dict] | None:
        status, body = http_json(f"{live_stack.gateway.url}/api/live/scores")
        assert status == 200 and body["inference_error"] is None
        (entry,) = [
            e
            for e in body["scores"]
            if (e["model_version"], e["symbol"]) == (scored.version, SCORED)
        ]
        return (body, entry) if entry["since_load"]["samples"] == len(scored.rows) else None

    body, entry = wait_until(report, 30, "the scores report to cover every scored row")
    assert (body["drift_window"], body["drift_margin"]) == (DRIFT_WINDOW, MARGIN)
    assert entry["since_load"]["confusion"] == want
    assert entry["degraded"] == (bool(changes) and changes[-1][1])
    # the gauges on inference's /metrics
    text = livekit.http_text(f"{live_stack.inference_url}/metrics")
    labels = f'model_version="{scored.version}",symbol="{SCORED}"'
    for name, value in (
        ("lob_live_macro_f1", last),
        ("lob_live_accuracy", entry["last"]["accuracy"]),
    ):
        match = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
        assert match, f"{name}{{{labels}}} not in /metrics"
        assert float(match.group(1)) == pytest.approx(value)
    # the minute rows in PostgreSQL add up to the same counts
    query = urllib.parse.urlencode({"model_version": scored.version, "symbol": SCORED})
    url = f"{live_stack.gateway.url}/api/live/scores/history?{query}"

    def history() -> dict | None:
        status, body = http_json(url)
        assert status == 200, body
        return body if sum(m["resolved"] for m in body["minutes"]) == len(scored.rows) else None

    minutes = wait_until(history, 30, "the live score minutes in PostgreSQL")["minutes"]
    assert len(minutes) == 3  # 1,500 rows at 10 snapshots/s: 150 s of market time
    assert np.sum([m["confusion"] for m in minutes], axis=0).tolist() == want
    assert sum(m["trades"] for m in minutes) == entry["backtest"]["trades"]


def test_a_market_that_turns_against_the_model_raises_then_clears_model_degraded(
    live_stack: LiveStack,
) -> None:
    # given a model, and a market that follows its predictions, then defies them, then follows
    home = live_stack.home
    rng = np.random.default_rng(0)
    calibration = livekit.tick_books(10_000 + np.cumsum(rng.integers(-1, 2, 1200)), rng)
    run = livekit.scored_run(
        home, "run-drift", SMOOTHED, calibration, torch_seed=0, theta=None, test_f1=None
    )
    books, predicted = livekit.steered_market(home, "drift", run, PHASES, symbol=DRIFT)
    realised = make_labels(books, TrainConfig(**SMOOTHED))[WINDOW - 1 : -1]
    follows = np.concatenate([np.full(n, agree) for n, agree in PHASES])
    assert ((realised == predicted) == follows).all()
    test_f1 = macro_f1(realised[:300], predicted[:300])  # as good live as on its test set
    livekit.set_result(run, theta=None, test_f1=test_f1)
    want = livekit.drift_changes(
        realised, predicted, window=DRIFT_WINDOW, test_f1=test_f1, margin=MARGIN
    )
    assert [d for _, d in want] == [True, False] and 300 < want[0][0] <= 500 < want[1][0]
    livekit.serve(live_stack, run, 12)
    version = f"{run.name}/fold5"

    def drift(got: Received) -> list[dict]:
        return [
            m
            for m in got.other
            if m.get("type") == "model_degraded" and m["model_version"] == version
        ]

    def done(got: Received) -> bool:
        scores = [m for m in got.other if m.get("type") == "scores"]
        return bool(scores) and scores[-1]["since_load"]["samples"] == len(realised)

    # when it is replayed
    got = livekit.replay(live_stack, "drift", DRIFT, done)
    # then model_degraded reaches every client when the market turns, and clears after it
    # turns back, after exactly the scored predictions the drift rule says
    messages = drift(got)
    assert [(m["resolved"], m["degraded"]) for m in messages] == want
    for m, (end, _) in zip(messages, want, strict=True):
        assert m["symbol"] == DRIFT and m["window"] == DRIFT_WINDOW and m["margin"] == MARGIN
        assert m["test_f1_macro"] == pytest.approx(test_f1)
        window = slice(end - DRIFT_WINDOW, end)
        assert m["live_f1_macro"] == pytest.approx(macro_f1(realised[window], predicted[window]))
    final = [m for m in got.other if m.get("type") == "scores"][-1]
    assert final["degraded"] is False and final["backtest"]["theta"] is None
