"""Helpers for the live-path tests: checkpoints (good and bad), processes, a WebSocket reader."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared import atomic
from shared.data.schema import N_FEATURES
from shared.data.store import write_dataset
from shared.embedded import free_port
from shared.events import MODELS_CHANNEL, ModelPromoted

REPO = Path(__file__).resolve().parents[2]


def typical_scaler(mid: float = 100.0, spread: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean/std roughly fitting a book around `mid` (prices) with sizes ~1-5."""
    mean = np.zeros(N_FEATURES)
    std = np.ones(N_FEATURES)
    mean[0::2] = mid  # prices
    std[0::2] = spread
    mean[1::2] = 2.0  # sizes
    std[1::2] = 2.0
    return mean, std


def make_run(home: Path, run_id: str, *, seed: int = 0, mid: float = 100.0) -> Path:
    """A finished run with a servable fold 5, written with the project's own checkpoint code."""
    import torch

    from shared.ml.checkpoint import save_weights, weights_path, write_manifest, write_sidecar
    from shared.ml.model import DeepLOB, DeepLOBConfig
    from shared.scaler import Scaler

    run_dir = home / "runs" / run_id
    (run_dir / "fold5").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = DeepLOBConfig()
    model = DeepLOB(cfg).eval()
    save_weights(model, weights_path(run_dir, 5))
    write_sidecar(run_dir, 5, cfg)
    mean, std = typical_scaler(mid)
    Scaler(mean=mean, std=std, rows=(0, 1000)).save(run_dir / "fold5")
    write_manifest(run_dir)
    return run_dir


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

    from shared.ml.checkpoint import weights_path, write_manifest

    run_dir = make_run(home, run_id, seed=7)
    wpath = weights_path(run_dir, 5)
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
        write_manifest(run_dir)  # the attacker's best case: a manifest that matches
    else:
        with wpath.open("ab") as fh:  # changed after the manifest was written
            fh.write(b"\0")
    return run_dir


def promote(home: Path, run_dir: Path, redis_url: str | None, version_id: int) -> ModelPromoted:
    """What the registry does: write the active pointer atomically, then announce it."""
    msg = ModelPromoted(version_id=version_id, job_id=run_dir.name, fold=5, path=str(run_dir))
    atomic.write_text(home / "models" / "active.json", msg.model_dump_json())
    if redis_url:
        import redis

        with contextlib.closing(redis.Redis.from_url(redis_url)) as r:
            r.publish(MODELS_CHANNEL, msg.model_dump_json())
    return msg


def http_json(url: str, timeout: float = 2.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def http_text(url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def wait_for(condition: Callable[[], object], timeout: float, what: str, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


@dataclass
class Proc:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    port: int

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def spawn(name: str, argv: list[str], env: dict[str, str], logdir: Path, port: int) -> Proc:
    log = logdir / f"{name}-{port}.log"
    fh = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, *argv],
        cwd=REPO,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=fh,
        stderr=subprocess.STDOUT,
    )
    fh.close()
    return Proc(name, proc, log, port)


def start_inference(env: dict[str, str], logdir: Path, port: int | None = None) -> Proc:
    port = port or free_port()
    p = spawn(
        "inference",
        ["-m", "services.inference", "--port", str(port), "--start-id", "0"],
        env,
        logdir,
        port,
    )

    def healthy() -> bool:
        assert p.proc.poll() is None, f"inference exited:\n{p.output()}"
        try:
            return http_json(f"http://127.0.0.1:{port}/healthz")[0] == 200
        except OSError:
            return False

    wait_for(healthy, 60, "inference /healthz")
    return p


def start_gateway(env: dict[str, str], logdir: Path) -> Proc:
    port = free_port()
    p = spawn(
        "gateway",
        [
            "-m",
            "services.api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env,
        logdir,
        port,
    )

    def healthy() -> bool:
        assert p.proc.poll() is None, f"gateway exited:\n{p.output()}"
        try:
            return http_json(f"http://127.0.0.1:{port}/healthz")[0] == 200
        except OSError:
            return False

    wait_for(healthy, 60, "gateway /healthz")
    return p


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


def feed_argv(*args: str) -> list[str]:
    return ["-m", "shared.cli.main", "feed", *args]


def contiguous(seqs: list[int]) -> bool:
    return bool(seqs) and seqs == list(range(seqs[0], seqs[0] + len(seqs)))


@contextlib.contextmanager
def stopping(*procs: Proc) -> Iterator[None]:
    try:
        yield
    finally:
        for p in procs:
            p.stop()


SYN_ROWS = 1500


def synthetic_book(rows: int, seed: int = 0, mid: float = 100.0) -> np.ndarray:
    """(rows, 40) float32: a random-walk mid on a 0.01 grid, 10 levels a tick apart, sizes 1-5."""
    rng = np.random.default_rng(seed)
    bid = mid + 0.01 * np.cumsum(rng.choice([-1, 0, 1], size=rows))
    levels = np.arange(10)
    feats = np.empty((rows, N_FEATURES))
    feats[:, 0::4] = bid[:, None] + 0.01 * (levels + 1)
    feats[:, 2::4] = bid[:, None] - 0.01 * levels
    feats[:, 1::4] = rng.uniform(1, 5, (rows, 10))
    feats[:, 3::4] = rng.uniform(1, 5, (rows, 10))
    return feats.astype(np.float32)


def write_syn(home: Path, name: str, rows: int, step_ns: int, seed: int = 0) -> np.ndarray:
    feats = synthetic_book(rows, seed)
    ts = 1_700_000_000_000_000_000 + np.arange(rows, dtype=np.int64) * step_ns
    write_dataset(name, ts=ts, features=feats, symbols=["SYN"], home=home)
    return feats


@dataclass
class LiveStack:
    home: Path
    redis_url: str
    env: dict[str, str]
    logdir: Path
    inference: Proc
    gateway: Proc
    good_run: Path
    syn: np.ndarray  # the rows of dataset "syn"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.gateway.port}/ws"

    @property
    def inference_url(self) -> str:
        return f"http://127.0.0.1:{self.inference.port}"
