"""The soak test: the whole live path and a training job, for minutes, watched every minute.

lob bench soak                                   # 30 minutes, 10 symbols x 10/s, 200 clients
lob bench soak --minutes 3 --clients 50          # a short run

What runs (devstack.stack): an embedded redis-server; a scratch database (on DATABASE_URL's
server, else 127.0.0.1:5432, else an embedded PostgreSQL); the real gateway, inference service
and one Celery worker as subprocesses; a synthetic market of `symbols` symbols, each at `rate` snapshots/s, XADDed on a fixed schedule;
`clients` WebSocket clients in this process, each subscribed to one symbol; and training jobs
back to back (a new one is submitted whenever one ends), so a job is always running.

Every minute it records, per service, the resident memory (process and children) and a latency:
gateway GET /api/jobs (20 probes), inference stream -> publish (`latency_ms` of the predictions),
snapshot -> WebSocket client, Redis PING, PostgreSQL SELECT 1, and the worker's training samples/s.
At the end: the RSS trend of each service (least-squares slope, MB per minute, over the minutes
after the first), and every prediction lost or delivered twice (per client, by seq). Appends a
table to BENCHMARKS.md and writes test-artifacts/reliability/soak.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import statistics
import tempfile
import time
import uuid
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.bench.report import percentile, record
from devstack.stack import Stack

SOAK_JSON = Path("test-artifacts") / "reliability" / "soak.json"
TOKEN = "soak-" + uuid.uuid4().hex[:12]
# A training job small enough to finish in a few minutes on 2 shared cores, so jobs come and go.
# Each job promotes its model (the soak exercises hot reload, not model quality).
JOB_CONFIG = {"max_rows": 3000, "folds": 2, "epochs": 2, "batch_size": 64, "promote": "always"}


# -- processes -----------------------------------------------------------------------------------


def pids(stack: Stack) -> dict[str, int]:
    """The stack's processes by service name (redis, gateway, inference, worker, postgres)."""
    out = {s.name: s.pid for s in stack.services if s.pid is not None}
    pg_pid = stack.pg.pid() if stack.pg is not None else None
    return out | ({"postgres": int(pg_pid)} if pg_pid else {})


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children, MB."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return float("nan")
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += p.memory_info().rss
    return total / 2**20


# -- clients -------------------------------------------------------------------------------------


@dataclass
class Client:
    """One WebSocket client's record. What it keeps must not grow heavier to keep as the run goes
    on: a list of every (time, latency) tuple made each minute's sample scan the whole run and the
    garbage collector walk millions of tuples, stalling this process and inflating its own p99."""

    symbol: str
    seqs: array[int] = field(default_factory=lambda: array("q"))  # compact and never GC-tracked
    e2e_ms: list[float] = field(default_factory=list)  # this minute's, until `take()`
    infer_ms: list[float] = field(default_factory=list)
    closed: int | None = None

    def take(self) -> tuple[list[float], list[float]]:
        """This minute's latencies (snapshot -> here, stream -> publish); starts the next minute."""
        out = (self.e2e_ms, self.infer_ms)
        self.e2e_ms, self.infer_ms = [], []
        return out


async def listen(url: str, client: Client, ready: asyncio.Event, stop: asyncio.Event) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    try:
        async with connect(url, max_size=2**20, open_timeout=60) as ws:
            await ws.send(json.dumps({"subscribe": [client.symbol]}))
            while json.loads(await ws.recv()).get("type") != "subscribed":
                pass
            ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                now = time.time_ns()
                msg = json.loads(raw)
                if msg.get("type") != "prediction":
                    continue
                client.seqs.append(msg["seq"])
                client.e2e_ms.append((now - msg["ts"]) / 1e6)
                client.infer_ms.append(float(msg["latency_ms"]))
    except ConnectionClosed as exc:
        client.closed = exc.rcvd.code if exc.rcvd else -1
        ready.set()


# -- probes --------------------------------------------------------------------------------------


def _timed(fn: Any, n: int = 20) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        try:
            fn()
        except Exception:  # a failed probe counts as missing, not as fast
            continue
        out.append((time.perf_counter() - t) * 1e3)
    return out


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (NaN with fewer than two points)."""
    pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y == y]
    if len(pts) < 2:
        return float("nan")
    mx = statistics.fmean(x for x, _ in pts)
    my = statistics.fmean(y for _, y in pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / den if den else float("nan")


# -- the run -------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _stop_cleanly_on_signals() -> None:
    """SIGTERM, and SIGINT even where a shell started us in the background (which ignores it),
    unwind through `run`'s cleanup, so a stopped soak leaves no services or database behind."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)


def run(
    minutes: float = 30.0, symbols: int = 10, rate: float = 10.0, clients: int = 200
) -> dict[str, Any]:
    import httpx
    import redis
    import sqlalchemy as sa

    from devstack import seed
    from devstack.bench.live import Market, _raise_fd_limit
    from shared.config import get_settings

    _raise_fd_limit(clients * 2 + 256)
    _stop_cleanly_on_signals()
    with tempfile.TemporaryDirectory(prefix="lob-soak-") as tmp:
        base = Path(tmp)
        home = base / "home"
        seed.point_active(home, seed.servable_run(home, "bench"), 1)
        seed.dataset(home, "soak", 20_000, seed=7, symbol="SOAK")
        with Stack(base, {"LOB_HOME": str(home), "LOB_API_TOKEN": TOKEN}) as stack:
            redis_url = stack.redis().url
            db_url = stack.database(get_settings().database_url, prefix="lob_soak")
            gateway = stack.gateway(log_level="warning", ready=True, timeout=120)
            stack.inference(timeout=120)
            stack.worker("worker", "--loglevel", "WARNING", wait=False)
            result = asyncio.run(
                _scenario(
                    api=gateway.url,
                    ws=f"ws://127.0.0.1:{gateway.port}/ws",
                    redis_url=redis_url,
                    db_url=db_url,
                    stack=stack,
                    market=Market(redis_url, symbols),
                    minutes=minutes,
                    rate=rate,
                    clients=clients,
                    http=httpx.Client(
                        base_url=gateway.url,
                        headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=10,
                    ),
                    probes=(redis.Redis.from_url(redis_url), sa.create_engine(db_url)),
                )
            )
    result.update(minutes=minutes, symbols=symbols, rate=rate, clients=clients)
    _report(result)
    return result


async def _scenario(
    *,
    api: str,
    ws: str,
    redis_url: str,
    db_url: str,
    stack: Stack,
    market: Any,
    minutes: float,
    rate: float,
    clients: int,
    http: Any,
    probes: tuple[Any, Any],
) -> dict[str, Any]:
    from sqlalchemy import text

    market.warm_up()
    listeners = [Client(market.names[i % len(market.names)]) for i in range(clients)]
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in listeners]
    tasks = []
    for i, (client, ready) in enumerate(zip(listeners, readies, strict=True)):
        tasks.append(asyncio.create_task(listen(f"{ws}/model-test-soak{i}", client, ready, stop)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    async with asyncio.timeout(180):
        await asyncio.gather(*(r.wait() for r in readies))
    await asyncio.sleep(1.0)
    first = {name: market.sent[k] + 1 for k, name in enumerate(market.names)}

    jobs: dict[str, str] = {}  # id -> last status
    current: list[str | None] = [None]
    api_errors: list[str] = []

    def keep_training() -> None:
        job = current[0]
        try:
            if job is not None:
                status = http.get(f"/api/jobs/{job}").json()["status"]
                jobs[job] = status
                if status in ("queued", "running"):
                    return
            r = http.post("/api/jobs", json={"dataset": "soak", "config": JOB_CONFIG})
        except Exception as exc:  # counted and reported; the next poll tries again
            api_errors.append(f"{type(exc).__name__}: {exc}")
            return
        if r.status_code == 202:
            current[0] = r.json()["id"]
            jobs[current[0]] = "queued"

    redis_client, engine = probes
    samples: list[dict[str, Any]] = []
    n = len(market.names)
    step = 1.0 / (n * rate)
    start = time.monotonic()
    next_minute = start + 60.0
    end = start + minutes * 60.0
    i = 0
    minute_started = start

    def sample(t1: float, taken: list[tuple[list[float], list[float]]]) -> dict[str, Any]:
        e2e = [ms for got, _ in taken for ms in got]
        inf = [ms for _, got in taken[:n] for ms in got]  # one client per symbol is enough
        gw = _timed(lambda: http.get("/api/jobs", params={"size": 5}).raise_for_status())
        rd = _timed(redis_client.ping)

        def select1() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        pg = _timed(select1)
        speed = None
        with contextlib.suppress(Exception):
            if current[0]:
                metrics = http.get(f"/api/jobs/{current[0]}").json().get("metrics") or []
                if metrics:
                    speed = metrics[-1].get("extra", {}).get("samples_per_s")
        return {
            "minute": round((t1 - start) / 60.0, 2),
            "rss_mb": {name: rss_mb(pid) for name, pid in pids(stack).items()},
            "gateway_get_ms": {"p50": percentile(gw, 50), "p99": percentile(gw, 99)},
            "inference_ms": {"p50": percentile(inf, 50), "p99": percentile(inf, 99)},
            "ws_e2e_ms": {"p50": percentile(e2e, 50), "p99": percentile(e2e, 99)},
            "redis_ping_ms": percentile(rd, 50),
            "postgres_select_ms": percentile(pg, 50),
            "worker_samples_per_s": speed,
            "jobs": dict(jobs),
        }

    keep_training()
    last_poll = time.monotonic()
    while (due := start + i * step) < end:
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        market.send(i % n)
        i += 1
        now = time.monotonic()
        if now - last_poll > 3.0:
            await asyncio.to_thread(keep_training)
            last_poll = now
        if now >= next_minute:
            taken = [c.take() for c in listeners]  # on the loop: no append races the swap
            row = await asyncio.to_thread(sample, now, taken)
            samples.append(row)
            print(json.dumps(row), flush=True)
            minute_started, next_minute = now, next_minute + 60.0
    last = {name: market.sent[k] for k, name in enumerate(market.names)}
    await asyncio.sleep(3.0)
    if time.monotonic() - minute_started > 10:
        taken = [c.take() for c in listeners]
        samples.append(await asyncio.to_thread(sample, time.monotonic(), taken))
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.to_thread(keep_training)

    expected = got = doubled = 0
    for c in listeners:
        lo, hi = first[c.symbol], last[c.symbol]
        have = [s for s in c.seqs if lo <= s <= hi]
        expected += hi - lo + 1
        got += len(set(have))
        doubled += len(have) - len(set(have))
    return {
        "samples": samples,
        "sent": sum(market.sent) - sum(first.values()) + len(first),
        "expected": expected,
        "delivered": got,
        "lost": expected - got,
        "doubled": doubled,
        "dropped_clients": sum(1 for c in listeners if c.closed is not None),
        "jobs": dict(jobs),
        "api_errors": api_errors,
    }


def rss_trends(samples: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """Per service: the RSS slope (MB/min) after the warm-up minute, and over the second half.

    The second half is the verdict on growth: capped buffers (the snapshot stream holds 50,000
    entries, ~8 minutes at 100/s) fill during the first minutes and then stay level.
    """
    services = sorted({s for row in samples for s in row["rss_mb"]})

    def fit(rows: list[dict[str, Any]]) -> dict[str, float]:
        xs = [row["minute"] for row in rows]
        return {
            s: slope(xs, [row["rss_mb"].get(s, float("nan")) for row in rows]) for s in services
        }

    steady = samples[1:] if len(samples) > 2 else samples  # the first minute is warm-up
    return fit(steady), fit(samples[len(samples) // 2 :])


def _report(result: dict[str, Any]) -> None:
    samples = result["samples"]
    services = sorted({s for row in samples for s in row["rss_mb"]})
    trend, late = rss_trends(samples)
    result["rss_slope_mb_per_min"] = trend
    result["rss_slope_second_half_mb_per_min"] = late
    SOAK_JSON.parent.mkdir(parents=True, exist_ok=True)
    SOAK_JSON.write_text(json.dumps(result, indent=2, default=str) + "\n")

    def series(get: Any) -> str:
        return " / ".join(f"{get(row):.0f}" for row in samples)

    def series_f(get: Any) -> str:
        return " / ".join(f"{get(row):.1f}" for row in samples)

    jobs = result["jobs"]
    done = sum(1 for s in jobs.values() if s == "succeeded")
    failed = sum(1 for s in jobs.values() if s == "failed")
    rows = [
        (
            f"{s} RSS per minute (MB)",
            series(lambda row, s=s: row["rss_mb"].get(s, float("nan"))),
            "",
            f"trend {trend[s]:+.2f} MB/min; second half {late[s]:+.2f} MB/min",
        )
        for s in services
    ]
    rows += [
        ("gateway GET /api/jobs p50 per minute (ms)", series_f(lambda r: r["gateway_get_ms"]["p50"]), "", ""),
        ("inference stream -> publish p50 / min (ms)", series_f(lambda r: r["inference_ms"]["p50"]), "", ""),
        ("inference stream -> publish p99 / min (ms)", series_f(lambda r: r["inference_ms"]["p99"]), "", ""),
        ("snapshot -> WebSocket p50 per minute (ms)", series_f(lambda r: r["ws_e2e_ms"]["p50"]), "", "<= 5 ms"),
        ("snapshot -> WebSocket p99 per minute (ms)", series_f(lambda r: r["ws_e2e_ms"]["p99"]), "", "<= 20 ms"),
        ("Redis PING p50 per minute (ms)", series_f(lambda r: r["redis_ping_ms"]), "", ""),
        ("PostgreSQL SELECT 1 p50 per minute (ms)", series_f(lambda r: r["postgres_select_ms"]), "", ""),
        (
            "predictions delivered / expected",
            f"{result['delivered']}/{result['expected']}",
            "",
            f"lost {result['lost']}, doubled {result['doubled']}, clients dropped "
            f"{result['dropped_clients']}",
        ),
        ("training jobs during the run", f"{done} succeeded, {failed} failed, {len(jobs)} in all", "", ""),
        ("job API calls that failed (client side)", str(len(result.get("api_errors", []))), "", ""),
    ]  # fmt: skip
    notes = (
        f"{result['minutes']:g} min, {result['symbols']} symbols x {result['rate']:g} snapshots/s, "
        f"{result['clients']} WebSocket clients (one symbol each), training jobs back to back "
        f"({JOB_CONFIG}). RSS includes child processes. Trend = least-squares slope after the "
        "first (warm-up) minute, and over the second half of the run. Clients, market and probes "
        "share the machine's cores with every service."
    )
    record(f"Soak (lob bench soak, {result['minutes']:g} min)", rows, notes)
