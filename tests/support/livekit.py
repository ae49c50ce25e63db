"""Helpers for the live-path tests: broken checkpoints, HTTP probes, a WebSocket reader, and the
live stack of tests/inference (devstack: its Redis, inference and the gateway)."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from devstack import seed
from devstack.stack import Service, Stack

SYN_ROWS = 1500
SYN_STEP_NS = 10_000_000  # dataset "syn" is recorded at 100 snapshots/s
DRIFT_WINDOW = 200  # LOB_DRIFT_WINDOW of the live stack: drift over 200 scored predictions


BAD_KINDS = ("truncated", "wrong_shape", "nan_weights", "hash_mismatch", "pickle_payload")


class _Payload:
    """Unpickling this would create the marker file: proof that a payload never runs."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, ...]]:
        return (os.system, (f"touch {self.marker}",))


def make_bad_run(home: Path, run_id: str, kind: str, marker: Path) -> Path:
    """A run broken in one way; the manifest matches the broken files unless kind is a hash test."""
    import torch

    from shared.rundir import RunDir

    run_dir = seed.servable_run(home, run_id, seed=7)
    wpath = RunDir(run_dir).fold(5).weights
    if kind == "truncated":
        data = wpath.read_bytes()
        wpath.write_bytes(data[: len(data) // 2])
    elif kind == "wrong_shape":
        state = torch.load(wpath, weights_only=True)
        state["fc1.weight"] = torch.zeros(5, 64)
        state["fc1.bias"] = torch.zeros(5)
        torch.save(state, wpath)
    elif kind == "nan_weights":
        state = torch.load(wpath, weights_only=True)
        state["lstm.weight_ih_l0"] = torch.full_like(state["lstm.weight_ih_l0"], float("nan"))
        torch.save(state, wpath)
    elif kind == "pickle_payload":
        with wpath.open("wb") as fh:
            pickle.dump({"fc1.weight": _Payload(str(marker))}, fh)
    elif kind != "hash_mismatch":
        raise ValueError(kind)
    if kind != "hash_mismatch":
        RunDir(run_dir).write_manifest()  # the attacker's best case: a manifest that matches
    else:
        with wpath.open("ab") as fh:  # changed after the manifest was written
            fh.write(b"\0")
    return run_dir


def http_json(url: str, timeout: float = 2.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def http_text(url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


@dataclass
class Received:
    """Everything a WebSocket client got, by kind."""

    predictions: list[dict] = field(default_factory=list)
    other: list[dict] = field(default_factory=list)
    close_code: int | None = None

    def seqs(self, symbol: str) -> list[int]:
        return [p["seq"] for p in self.predictions if p["symbol"] == symbol]


class WsClient:
    """A real WebSocket client on its own thread-free asyncio loop, read in the background."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.got = Received()

    async def run(
        self, first: list[dict], until: Callable[[Received], bool], timeout: float
    ) -> Received:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        async with connect(self.url, max_size=2**20) as ws:
            for msg in first:
                await ws.send(json.dumps(msg))
            try:
                async with asyncio.timeout(timeout):
                    while not until(self.got):
                        msg = json.loads(await ws.recv())
                        (
                            self.got.predictions
                            if msg.get("type") == "prediction"
                            else self.got.other
                        ).append(msg)
            except ConnectionClosed as exc:
                self.got.close_code = exc.rcvd.code if exc.rcvd else None
        return self.got


@dataclass
class LiveStack:
    dev: Stack
    inference: Service
    gateway: Service
    good_run: Path
    syn: np.ndarray  # the rows of dataset "syn"

    @property
    def home(self) -> Path:
        return Path(self.dev.env["LOB_HOME"])

    @property
    def redis_url(self) -> str:
        return self.dev.env["REDIS_URL"]

    @property
    def logdir(self) -> Path:
        return self.dev.logs

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.gateway.port}/ws"

    @property
    def inference_url(self) -> str:
        return self.inference.url


def replay(
    stack: LiveStack,
    dataset: str,
    symbol: str,
    until: Callable[[Received], bool],
    *,
    speed: str = "0",
    timeout: float = 90,
    during: Callable[[Received], Awaitable[None]] | None = None,
) -> Received:
    """Replay `dataset` as `symbol` (at `speed`; 0: as fast as possible) to a WebSocket client
    subscribed to it, until `until` holds; `during` runs beside the replay with what has come."""
    client = WsClient(f"{stack.ws_base}/replay-{symbol.lower()}")

    async def main() -> None:
        reading = asyncio.create_task(client.run([{"subscribe": [symbol]}], until, timeout))
        await asyncio.sleep(0.3)
        stack.dev.feed(
            "replay", dataset, "--speed", speed, "--symbol", symbol, name=f"feed-{symbol}"
        )
        if during is not None:
            await during(client.got)
        await reading

    asyncio.run(main())
    return client.got


def closed_trades(
    probs: np.ndarray,
    rows: np.ndarray,
    ask: np.ndarray,
    bid: np.ndarray,
    *,
    horizon: int,
    theta: float,
    fee_bps: float,
) -> tuple[int, float]:
    """The offline backtest's trades (shared.ml.backtest) that a live feed has closed too: all
    but a last one the end of the samples closed. Returns their count and total net bps."""
    from shared.ml.backtest import signals, trade_returns, trades

    done = trades(probs, rows, horizon=horizon, theta=theta)
    sig, last = signals(probs, theta), len(rows) - 1
    if done:
        i, j, side = done[-1]
        if j == last and rows[j] - rows[i] < horizon and sig[j] != -side:
            done = done[:-1]  # closed only because the samples ended
    if not done:
        return 0, 0.0
    entry, exit_, side = (np.array(c) for c in zip(*done, strict=True))
    net, _ = trade_returns(side, ask[entry], bid[entry], ask[exit_], bid[exit_], fee_bps=fee_bps)
    return len(done), float(np.cumsum(net)[-1])


# -- scored runs (live scoring) ---------------------------------------------------------------


def scored_run(
    home: Path,
    run_id: str,
    settings: dict[str, object],
    books: np.ndarray,
    *,
    torch_seed: int,
    theta: float | None,
    test_f1: float | None,
) -> Path:
    """A servable run (devstack.seed) that live scoring can score: its config.json holds these
    training settings and its result.json a test macro F1 and backtest θ.

    Its random DeepLOB has BatchNorm statistics measured on windows of `books`: with the
    untouched ones (mean 0, variance 1) the untrained network gives nearly the same
    probabilities for every window (their spread ~1e-5), one class everywhere; measured, its
    predictions vary from window to window, so a confusion matrix has something to count.
    """
    import torch

    from shared.ml.checkpoint import build_model, save_weights
    from shared.rundir import RunDir
    from shared.scaler import Scaler
    from shared.train_config import TrainConfig

    run_dir = seed.servable_run(home, run_id, seed=torch_seed)
    run = RunDir(run_dir)
    fold = run.fold(seed.SERVED_FOLD)
    model = build_model(run_dir, fold.k)
    windows = sliding_windows(books)[::4][:256]
    x = torch.from_numpy(Scaler.load(fold.scaler).transform(windows)).unsqueeze(1)
    for layer in model.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.reset_running_stats()
            layer.momentum = None  # a plain average over the batch
    model.train()
    with torch.no_grad():
        model(x)
    save_weights(model.eval(), fold.weights)
    config = {"run_id": run_id, "settings": TrainConfig(**settings).model_dump(mode="json")}
    run.config.write_text(json.dumps(config))
    set_result(run_dir, theta=theta, test_f1=test_f1)
    return run_dir


def set_result(run_dir: Path, *, theta: float | None, test_f1: float | None) -> None:
    """result.json with what live scoring reads from it, then the manifest again."""
    from shared.rundir import RunDir

    run = RunDir(run_dir)
    result = {
        "run_id": run.name,
        "fold": seed.SERVED_FOLD,
        "model": {"f1_macro": test_f1, "accuracy": None},
        "backtest": {"entries": {"model": {"theta": theta, "no_trades": theta is None}}},
    }
    run.result.write_text(json.dumps(result))
    run.write_manifest()


def sliding_windows(books: np.ndarray) -> np.ndarray:
    """(n − 99, 100, 40) float32 views: window i ends at row i + 99, as inference sees it."""
    from numpy.lib.stride_tricks import sliding_window_view

    from shared.data.schema import N_FEATURES, WINDOW

    return sliding_window_view(np.asarray(books, np.float32), (WINDOW, N_FEATURES))[:, 0]


def offline_probs(run_dir: Path, books: np.ndarray, batch: int = 64) -> np.ndarray:
    """The served fold's probabilities (shared.ml.checkpoint.load_serving_model, eager) for the
    window ending at each row from 99 on: row 99 + i is entry i."""
    from shared.ml.checkpoint import load_serving_model

    serving = load_serving_model(run_dir, seed.SERVED_FOLD)
    windows = sliding_windows(books)
    return np.concatenate(
        [serving.predict_proba(windows[i : i + batch]) for i in range(0, len(windows), batch)]
    )


def drift_changes(
    realised: np.ndarray, predicted: np.ndarray, *, window: int, test_f1: float, margin: float
) -> list[tuple[int, bool]]:
    """(scored predictions so far, degraded) each time the drift rule changes its verdict: macro
    F1 over the last `window` (once there are that many) more than `margin` below test_f1."""
    from shared.ml.metrics import macro_f1

    out: list[tuple[int, bool]] = []
    degraded = False
    for end in range(window, len(realised) + 1):
        live = macro_f1(realised[end - window : end], predicted[end - window : end])
        if (test_f1 - live > margin) != degraded:
            degraded = not degraded
            out.append((end, degraded))
    return out


def inference_status(stack: LiveStack) -> dict:
    import contextlib

    import redis

    with contextlib.closing(redis.Redis.from_url(stack.redis_url)) as r:
        raw = r.get("lob:inference:status")
    return json.loads(raw) if raw else {}


def serve(stack: LiveStack, run_dir: Path, version_id: int) -> None:
    """Promote `run_dir` as promotion does (active.json + lob:models) and wait until it serves."""
    from devstack.stack import wait_until

    seed.point_active(stack.home, run_dir, version_id, redis_url=stack.redis_url)
    version = f"{run_dir.name}/fold{seed.SERVED_FOLD}"
    wait_until(
        lambda: inference_status(stack).get("model_version") == version,
        60,
        f"inference serving {version}",
        services=[stack.inference],
    )


def tick_books(bid_ticks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 40) float32 books on a 0.01 grid: best bid at `bid_ticks`, a one-tick spread, ten
    levels a tick apart, random sizes."""
    from shared.data.schema import N_FEATURES

    n, level = len(bid_ticks), np.arange(10)
    books = np.zeros((n, N_FEATURES), dtype=np.float32)
    books[:, 0::4] = (bid_ticks[:, None] + 1 + level) * 0.01  # ask prices
    books[:, 2::4] = (bid_ticks[:, None] - level) * 0.01
    books[:, 1::4] = np.round(rng.lognormal(3.0, 1.0, (n, 10)), 2) + 0.01
    books[:, 3::4] = np.round(rng.lognormal(3.0, 1.0, (n, 10)), 2) + 0.01
    return books


def steered_market(
    home: Path,
    name: str,
    run_dir: Path,
    phases: list[tuple[int, bool]],
    *,
    symbol: str,
    rng_seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Dataset `name`: a one-tick book whose next mid move follows (True) or defies (False) the
    served model's own prediction, phase by phase (rows after the 99 of warm-up; random moves
    there). The predictions are made by inference's own Predictor on the books as the replay
    will send them (float32), so they are the ones the live path makes. Returns the books and
    the predicted class of each row from 99 on (shared.labels class codes).

    Under a one-row label (smoothed, smooth_k = 1) a row is labelled exactly as predicted while
    the market follows, and never while it defies.
    """
    from services.inference.predictor import SIGNALS, LoadedModel, Predictor
    from shared.data.schema import N_FEATURES, WINDOW
    from shared.data.store import write_dataset
    from shared.feed.snapshot import Snapshot
    from shared.ml.checkpoint import load_serving_model
    from shared.ml.fastpath import FastDeepLOB

    serving = load_serving_model(run_dir, seed.SERVED_FOLD)
    predictor = Predictor()
    predictor.set_model(LoadedModel(serving, FastDeepLOB(serving.model), fingerprint=()))
    rng = np.random.default_rng(rng_seed)
    follow: list[bool | None] = [None] * (WINDOW - 1)
    follow += [agree for rows, agree in phases for _ in range(rows)] + [None]
    books = np.zeros((len(follow), N_FEATURES), dtype=np.float32)
    predicted = []
    bid = 10_000
    for t, agree in enumerate(follow):
        books[t] = tick_books(np.array([bid]), rng)[0]
        snap = Snapshot(ts=seed.T0_NS + t, symbol=symbol, book=books[t].astype(np.float64))
        pred = predictor.predict([snap])[0][0]
        if agree is None:
            bid += int(rng.integers(-1, 2))
            continue
        k = SIGNALS.index(str(pred.signal))
        predicted.append(k)
        bid += (-1, 0, 1)[k] if agree else (1, -1, -1)[k]  # DOWN, NEUTRAL, UP
    ts = seed.T0_NS + np.arange(len(books), dtype=np.int64) * seed.STEP_NS
    write_dataset(name, ts=ts, features=books, symbols=[symbol], home=home)
    return books, np.array(predicted)
