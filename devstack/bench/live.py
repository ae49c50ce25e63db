"""The live-path benchmark: model forward, snapshot -> WebSocket latency, 1,000-client fan-out.

lob bench live                          # ~2 minutes; appends a table to BENCHMARKS.md
lob bench live --seconds 10 --clients 200   # a quick run

What runs: an embedded redis-server, the real inference service and the real gateway as
subprocesses (with DATABASE_URL if set; the WebSocket path never touches the database), a
synthetic market of 10 symbols replayed at 10 snapshots/s each (one XADD every 10 ms, round
robin), and real WebSocket clients in this process.

1. Forward p50 for one 100 x 40 window: the inference fast path (1 thread; incremental conv
   cache, TorchScript) against plain eager PyTorch (`model(x)` under no_grad, default threads,
   and again with 1 thread), same weights, 1,000 sliding windows each.
   One prediction as the serving loop makes it (push the snapshot, predict, build the message,
   score it live), with the champion alone and with a shadow (challenger) beside it: p50 of
   1,000 snapshots each.
2. Snapshot in -> prediction at a WebSocket client, one client subscribed to all 10 symbols:
   p50 and p99 of (client receive time - the producer's send time stamped in the entry).
3. 1,000 WebSocket clients, each subscribed to one of the 10 symbols: every prediction published
   while they listen must reach every subscriber (counted by seq); p99 latency; gateway RSS.
Budgets (docs/ARCHITECTURE.md "Budgets"): forward p50 <= 1 ms and faster than eager; one
prediction with a shadow loaded p50 <= 2 ms; latency
p50 <= 5 ms, p99 <= 20 ms; fan-out all delivered with p99 <= 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from devstack import seed
from devstack.bench.report import percentile, record
from devstack.stack import Stack
from shared.data.schema import WINDOW

SYMBOLS = 10
RATE = 10  # snapshots per second per symbol
WARMUP_ROWS = WINDOW + 20  # per symbol, sent at once so windows are full before measuring


# -- 1. forward ----------------------------------------------------------------------------------


def bench_forward(run_dir: Path, iterations: int = 1000) -> dict[str, float]:
    import torch

    from shared.ml.checkpoint import load_serving_model
    from shared.ml.fastpath import FastDeepLOB, WindowCache, eager_probs

    serving = load_serving_model(run_dir)
    model = serving.model
    rows = np.random.default_rng(0).standard_normal((WINDOW + iterations, 40)).astype(np.float32)

    def eager_times() -> list[float]:
        out = []
        for end in range(WINDOW, WINDOW + iterations):
            x = torch.from_numpy(rows[end - WINDOW : end])[None, None]
            t = time.perf_counter()
            with torch.no_grad():
                model(x)
            out.append(time.perf_counter() - t)
        return out

    default_threads = torch.get_num_threads()
    eager = eager_times()
    torch.set_num_threads(1)
    eager_1 = eager_times()
    fast = FastDeepLOB(model)
    cache = WindowCache()
    fast_t = []
    worst = 0.0
    for end in range(WINDOW, WINDOW + iterations):
        window = rows[end - WINDOW : end]
        t = time.perf_counter()
        probs = fast.predict([window], [cache], [end])
        fast_t.append(time.perf_counter() - t)
        if end % 100 == 0:
            worst = max(worst, float(np.abs(probs - eager_probs(model, window[None])).max()))
    torch.set_num_threads(default_threads)
    ms = 1e3
    return {
        "fast_p50": statistics.median(fast_t) * ms,
        "fast_p99": percentile(fast_t, 99) * ms,
        "eager_p50": statistics.median(eager) * ms,
        "eager_threads": default_threads,
        "eager1_p50": statistics.median(eager_1) * ms,
        "max_abs_diff": worst,
    }


def _scorable(run_dir: Path) -> None:
    """config.json and result.json as a finished run has them, so live scoring scores it."""
    from shared.rundir import RunDir
    from shared.train_config import TrainConfig

    run = RunDir(run_dir)
    settings = TrainConfig().model_dump(mode="json")
    run.config.write_text(json.dumps({"run_id": run.name, "settings": settings}))
    result = {"fold": seed.SERVED_FOLD, "model": {"f1_macro": 0.4, "accuracy": 0.5}}
    result["backtest"] = {"entries": {"model": {"theta": 0.34}}}
    run.result.write_text(json.dumps(result))
    run.write_manifest()


def bench_rounds(champion: Path, challenger: Path, iterations: int = 1000) -> dict[str, float]:
    """One snapshot through the serving loop's own parts (services/inference: Predictor and
    LiveScorer), as the loop does it: the champion's prediction (push, predict, message: what a
    client waits for), then, after publishing, live scoring and the challenger's prediction.
    Champion alone, then with the challenger loaded."""
    import torch

    from services.inference.predictor import LoadedModel, Predictor
    from services.inference.scoring import LiveScorer
    from services.inference.status import Metrics
    from shared.data.synth import synth_market
    from shared.feed.snapshot import Snapshot
    from shared.ml.checkpoint import load_serving_model
    from shared.ml.serving_path import serving_path

    torch.set_num_threads(1)  # as inference runs (services/inference/__main__.py)
    for run in (champion, challenger):
        _scorable(run)
    loaded = []
    for run in (champion, challenger):
        serving = load_serving_model(run)
        loaded.append(
            LoadedModel(serving=serving, fast=serving_path(serving.model), fingerprint=())
        )
    _, books = synth_market(WINDOW + 2 * iterations, seed=3)

    def times(shadowed: bool, rows: np.ndarray) -> tuple[list[float], list[float]]:
        scorer = LiveScorer(metrics=Metrics(), drift_window=1000, drift_margin=0.1)
        main, shadow = Predictor(), Predictor(books=False)
        main.set_model(loaded[0])
        scorer.set_model(loaded[0].version, loaded[0].serving.run_dir)
        if shadowed:
            shadow.set_model(loaded[1])
            scorer.set_shadow(loaded[1].version, loaded[1].serving.run_dir)
        published, total = [], []
        for k, book in enumerate(rows):
            snap = Snapshot(ts=1_700_000_000_000_000_000 + k * 10**8, symbol="BENCH", book=book)
            t = time.perf_counter()
            pred = main.predict([snap])[0][0]
            pred.model_dump_json()
            t_pub = time.perf_counter()
            other = shadow.predict([snap])[0][0] if shadowed else None
            scorer.observe(snap, pred, other)
            t_end = time.perf_counter()
            published.append(t_pub - t)
            total.append(t_end - t)
        return published[WINDOW:], total[WINDOW:]  # full windows only

    alone = times(False, books[: WINDOW + iterations])
    both = times(True, books[iterations:])
    torch.set_num_threads(os.cpu_count() or 1)
    ms = 1e3
    return {
        "alone_p50": statistics.median(alone[0]) * ms,
        "alone_total_p50": statistics.median(alone[1]) * ms,
        "shadow_p50": statistics.median(both[0]) * ms,
        "shadow_p99": percentile(both[0], 99) * ms,
        "shadow_total_p50": statistics.median(both[1]) * ms,
    }


def bench_zoo(home: Path, iterations: int = 300) -> dict[str, float]:
    """One prediction p50 (push, predict, message) of each zoo model's serving path, 1 thread:
    DeepLOB's incremental fast path, the others' TorchScript copy over the whole window."""
    import torch

    from services.inference.predictor import LoadedModel, Predictor
    from shared.data.synth import synth_market
    from shared.feed.snapshot import Snapshot
    from shared.ml import zoo
    from shared.ml.checkpoint import load_serving_model
    from shared.ml.serving_path import serving_path

    torch.set_num_threads(1)
    _, books = synth_market(WINDOW + iterations, seed=4)
    out = {}
    for name in zoo.MODELS:
        serving = load_serving_model(seed.servable_run(home, f"zoo-{name}", model=name))
        predictor = Predictor()
        predictor.set_model(
            LoadedModel(serving=serving, fast=serving_path(serving.model), fingerprint=())
        )
        took = []
        for k, book in enumerate(books):
            snap = Snapshot(ts=1_700_000_000_000_000_000 + k * 10**8, symbol="ZOO", book=book)
            t = time.perf_counter()
            predictor.predict([snap])[0][0].model_dump_json()
            took.append(time.perf_counter() - t)
        out[name] = statistics.median(took[WINDOW:]) * 1e3
    torch.set_num_threads(os.cpu_count() or 1)
    return out


def set_shadow(stack: Stack, run_dir: Path) -> None:
    """Make `run_dir` the challenger, as `lob models shadow` does, and wait until it is scored."""
    from devstack.stack import wait_until

    seed.point_shadow(run_dir.parents[1], run_dir, 2, redis_url=stack.env["REDIS_URL"])
    want = f"{run_dir.name}/fold{seed.SERVED_FOLD}"

    def scored() -> bool:
        import redis

        raw = redis.Redis.from_url(stack.env["REDIS_URL"]).get("lob:inference:status")
        return bool(raw) and json.loads(raw).get("shadow_version") == want

    wait_until(scored, 60, f"inference scoring the shadow {want}")


# -- the stack -----------------------------------------------------------------------------------


@contextlib.contextmanager
def live_stack(base: Path, run_dir: Path) -> Iterator[Stack]:
    """Redis, inference and the gateway serving `run_dir` (under <home>/runs/), all healthy."""
    from shared.config import get_settings

    home = run_dir.parents[1]
    seed.point_active(home, run_dir, 1)
    env = {
        "LOB_HOME": str(home),
        # The WebSocket path never opens a database connection; any URL lets the gateway start.
        "DATABASE_URL": get_settings().database_url or "postgresql://bench@127.0.0.1:1/bench",
    }
    with Stack(base, env) as stack:
        stack.redis()
        stack.inference()
        stack.gateway(log_level="warning")
        yield stack


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by inference, gateway and this process (clients + market)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for name in ("inference", "gateway"):
        with contextlib.suppress(OSError):
            pid = stack.service(name).pid
            parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[name] = (int(parts[11]) + int(parts[12])) / tick
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["clients"] = usage.ru_utime + usage.ru_stime
    return out


def gateway_rss_mb(stack: Stack) -> tuple[float, float]:
    """(current, peak) resident set of the gateway process, MB, from /proc."""
    fields = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{stack.service('gateway').pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    kb = lambda k: float(fields.get(k, "0 kB").split()[0]) / 1024  # noqa: E731
    return kb("VmRSS"), kb("VmHWM")


# -- the market ----------------------------------------------------------------------------------


class Market:
    """10 synthetic symbols; `send` XADDs their next rows with ts = send time (ns)."""

    def __init__(self, redis_url: str, symbols: int) -> None:
        import redis

        from shared.data.synth import synth_market

        self.redis = redis.Redis.from_url(redis_url)
        self.names = [f"SYM{k}" for k in range(symbols)]
        rows = WARMUP_ROWS + 200 * RATE
        self.books = [synth_market(rows, seed=10 + k)[1].astype(np.float64) for k in range(symbols)]
        self.sent = [0] * symbols  # rows sent per symbol = the seq of its last prediction

    def send(self, k: int, pipe: object | None = None) -> None:
        from shared.events import SNAPSHOT_STREAM
        from shared.feed.snapshot import encode

        book = self.books[k][self.sent[k] % len(self.books[k])]
        now = time.time_ns()
        target = pipe or self.redis
        target.xadd(  # type: ignore[attr-defined]
            SNAPSHOT_STREAM, encode(now, self.names[k], book, sent_ns=now), maxlen=50_000
        )
        self.sent[k] += 1

    def warm_up(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for _ in range(WARMUP_ROWS):
            for k in range(len(self.names)):
                self.send(k, pipe)
        pipe.execute()

    async def run(self, seconds: float) -> None:
        """One snapshot every 1 / (symbols * RATE) s, round robin, on a fixed schedule."""
        n = len(self.names)
        step = 1.0 / (n * RATE)
        start = time.monotonic()
        i = 0
        while (due := start + i * step) < start + seconds:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.send(i % n)
            i += 1


# -- clients -------------------------------------------------------------------------------------


@dataclass
class Listener:
    symbols: list[str]
    latencies_ms: list[float] = field(default_factory=list)
    seqs: dict[str, list[int]] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    counting: bool = False


async def listen(url: str, listener: Listener, ready: asyncio.Event, deflate: bool) -> None:
    """Subscribe, then record predictions until cancelled."""
    from websockets.asyncio.client import connect

    async with connect(
        url, max_size=2**20, open_timeout=60, compression="deflate" if deflate else None
    ) as ws:
        await ws.send(json.dumps({"subscribe": listener.symbols}))
        while json.loads(await ws.recv()).get("type") != "subscribed":
            pass
        ready.set()
        async for raw in ws:
            now = time.time_ns()
            if not listener.counting:
                continue
            msg = json.loads(raw)
            if msg.get("type") != "prediction":
                continue
            listener.seqs.setdefault(msg["symbol"], []).append(msg["seq"])
            listener.statuses[msg["status"]] = listener.statuses.get(msg["status"], 0) + 1
            listener.latencies_ms.append((now - msg["ts"]) / 1e6)


async def measure(
    stack: Stack, market: Market, clients: int, seconds: float, spread: bool, deflate: bool
) -> tuple[list[Listener], dict[str, tuple[int, int]]]:
    """Connect `clients` listeners, replay for `seconds`, return them and each symbol's seq range."""
    listeners = [
        Listener([market.names[i % len(market.names)]] if spread else list(market.names))
        for i in range(clients)
    ]
    readies = [asyncio.Event() for _ in listeners]
    tasks = []
    for i, (listener, ready) in enumerate(zip(listeners, readies, strict=True)):
        url = f"ws://127.0.0.1:{stack.service('gateway').port}/ws/model-test-bench{i}"
        tasks.append(asyncio.create_task(listen(url, listener, ready, deflate)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # connect in waves, as browsers arriving would
    async with asyncio.timeout(120):
        await asyncio.gather(*(r.wait() for r in readies))
    await asyncio.sleep(1.0)  # let warm-up traffic drain
    first = {name: market.sent[k] + 1 for k, name in enumerate(market.names)}
    for listener in listeners:
        listener.counting = True
    await market.run(seconds)
    last = {name: market.sent[k] for k, name in enumerate(market.names)}
    await asyncio.sleep(2.0)  # in-flight messages
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return listeners, {s: (first[s], last[s]) for s in market.names}


def delivered(
    listeners: list[Listener], ranges: dict[str, tuple[int, int]]
) -> tuple[int, int, int]:
    """(messages expected, distinct ones received, duplicates) over all listeners."""
    expected = got = dups = 0
    for listener in listeners:
        for symbol in listener.symbols:
            lo, hi = ranges[symbol]
            have = [s for s in listener.seqs.get(symbol, []) if lo <= s <= hi]
            expected += hi - lo + 1
            got += len(set(have))
            dups += len(have) - len(set(have))
    return expected, got, dups


# -- the run -------------------------------------------------------------------------------------


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


def run(seconds: float = 20.0, clients: int = 1000, deflate: bool = False) -> None:
    """All three parts; `deflate`: clients offer permessage-deflate, as browsers do.

    Without it the gateway sends uncompressed frames: per-client compression about doubles the
    gateway's CPU per message (29 vs 14 us per send measured here).
    """
    load_before = os.getloadavg()[0]
    _raise_fd_limit(clients * 2 + 256)  # inherited by the gateway, which holds the other ends
    with tempfile.TemporaryDirectory(prefix="lob-bench-live-") as tmp:
        base = Path(tmp)
        run_dir = seed.servable_run(base / "home", "bench")
        fwd = bench_forward(run_dir)  # before the stack starts: nothing else running
        shadow_run = seed.servable_run(base / "home", "bench-shadow", seed=1)
        rounds = bench_rounds(run_dir, shadow_run)
        models = bench_zoo(base / "home")
        cpu: dict[str, float] = {}
        with live_stack(base, run_dir) as stack:
            market = Market(stack.env["REDIS_URL"], SYMBOLS)
            market.warm_up()

            async def scenario() -> tuple[object, ...]:
                one, ranges_one = await measure(stack, market, 1, seconds, False, deflate)
                rss_before = gateway_rss_mb(stack)[0]
                cpu0 = cpu_seconds(stack)
                many, ranges_many = await measure(stack, market, clients, seconds, True, deflate)
                cpu.update({k: v - cpu0[k] for k, v in cpu_seconds(stack).items()})
                await asyncio.to_thread(set_shadow, stack, shadow_run)
                shadowed, _ = await measure(stack, market, 1, seconds, False, deflate)
                return one, ranges_one, many, ranges_many, rss_before, shadowed

            one, ranges_one, many, ranges_many, rss_idle, shadowed = asyncio.run(scenario())  # type: ignore[misc]
            rss_now, rss_peak = gateway_rss_mb(stack)
    lat_one = one[0].latencies_ms  # type: ignore[index]
    lat_shadowed = shadowed[0].latencies_ms  # type: ignore[index]
    exp_one, got_one, dup_one = delivered(one, ranges_one)  # type: ignore[arg-type]
    lat_many = [x for listener in many for x in listener.latencies_ms]  # type: ignore[attr-defined]
    exp_many, got_many, dup_many = delivered(many, ranges_many)  # type: ignore[arg-type]
    fmt = lambda v: f"{v:.2f} ms"  # noqa: E731
    rows = [
        (
            "forward p50, one 100x40 window (fast path, 1 thread)",
            fmt(fwd["fast_p50"]),
            f"eager {fmt(fwd['eager_p50'])} ({int(fwd['eager_threads'])} threads); "
            f"eager 1 thread {fmt(fwd['eager1_p50'])}",
            f"<= 1 ms; {fwd['eager_p50'] / fwd['fast_p50']:.1f}x / "
            f"{fwd['eager1_p50'] / fwd['fast_p50']:.1f}x faster",
        ),
        ("forward p99 (fast path)", fmt(fwd["fast_p99"]), "", f"max abs(fast - eager) {fwd['max_abs_diff']:.1e}"),
        (
            "one prediction p50 (push, predict, message), with a shadow (challenger) loaded",
            fmt(rounds["shadow_p50"]),
            f"champion alone {fmt(rounds['alone_p50'])}",
            f"<= 2 ms; {rounds['shadow_p50'] / rounds['alone_p50']:.2f}x; "
            f"p99 {fmt(rounds['shadow_p99'])}",
        ),
        *(
            (
                f"one prediction p50, {name} (its serving path, 1 thread)",
                fmt(p50),
                "",
                "incremental fast path" if name == "deeplob" else "TorchScript, whole window",
            )
            for name, p50 in models.items()
        ),
        (
            "  all the work per snapshot p50: + live scoring + the challenger's prediction",
            fmt(rounds["shadow_total_p50"]),
            f"champion alone, scored {fmt(rounds['alone_total_p50'])}",
            "after publishing: adds no latency",
        ),
        (
            f"snapshot -> WebSocket p50, {SYMBOLS} symbols x {RATE}/s, 1 client",
            fmt(percentile(lat_one, 50)),
            "",
            "<= 5 ms",
        ),
        ("snapshot -> WebSocket p99, same run", fmt(percentile(lat_one, 99)), "", "<= 20 ms"),
        (
            "snapshot -> WebSocket p50 / p99, 1 client, with a shadow loaded",
            f"{fmt(percentile(lat_shadowed, 50))} / {fmt(percentile(lat_shadowed, 99))}",
            f"without {fmt(percentile(lat_one, 50))} / {fmt(percentile(lat_one, 99))}",
            "",
        ),
        ("  delivered (1 client)", f"{got_one}/{exp_one}, {dup_one} doubled", "", "all, none twice"),
        (
            f"{clients} WebSocket clients: delivered",
            f"{got_many}/{exp_many}, {dup_many} doubled",
            "",
            "all, none twice",
        ),
        (f"{clients} clients: latency p50", fmt(percentile(lat_many, 50)), "", ""),
        (f"{clients} clients: latency p99", fmt(percentile(lat_many, 99)), "", "<= 50 ms"),
        (
            "gateway RSS: idle / with clients / peak",
            f"{rss_idle:.0f} / {rss_now:.0f} / {rss_peak:.0f} MB",
            "",
            "",
        ),
        (
            f"CPU seconds during the {clients}-client phase",
            ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()),
            "",
            f"{seconds:.0f} s phase",
        ),
    ]  # fmt: skip
    notes = (
        f"{seconds:.0f} s per phase; clients {'offer' if deflate else 'decline'} "
        "permessage-deflate. Latency = client receive time - producer send time, same "
        "clock; includes Redis stream, inference (batched across symbols), pub/sub, the gateway "
        "relay and the client's JSON parse. The clients run in the benchmark process on the same "
        f"{os.cpu_count()} cores as Redis, inference and the gateway. Load average before the "
        f"run: {load_before:.1f} (anything above ~0.5 is other work competing for the cores)."
    )
    record("Live path (lob bench live)", rows, notes)
