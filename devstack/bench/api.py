"""The jobs API benchmark: request latency under 50 concurrent clients, and submit -> running.

lob bench api                            # ~1 minute; appends a table to BENCHMARKS.md
lob bench api --seconds 5 --samples 5    # a quick run

What runs: a scratch PostgreSQL database (on DATABASE_URL's server, else the machine's
127.0.0.1:5432, else an embedded one), an embedded redis-server, the real gateway
(`python -m services.api`, one uvicorn process) and, for the second part, one real Celery worker.
All on this machine: the load generator shares the CPU with the server it measures.

1. POST /api/jobs and GET /api/jobs?size=20 with 50 concurrent clients, each on its own
   keep-alive connection sending its next request as soon as the last one is answered (closed
   loop: the hardest case, the server is saturated), for --seconds each; p50 / p99 / throughput.
   Then the same 50 clients paced, each sending --rate requests per second (default 1: a UI
   that refreshes its job list every second; 50 req/s in all): latency below saturation, the
   figure the budget is judged on. GET /healthz (no database, no Redis), closed loop at the
   same concurrency, is the floor of this server on this machine.
2. Submit -> running on an idle worker: POST a job, then the time from the request to the row
   turning `running` (jobs.started_at, set by the worker's lease) over --samples jobs; each is
   cancelled once running, and the next is submitted when the worker is idle again.
Budgets (issue 4): p99 <= 30 ms for POST and GET; submit -> running <= 1 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack import seed
from devstack.bench.report import median, percentile, record
from devstack.stack import Stack, wait_until

CLIENTS = 50
TOKEN = "bench-token"


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def describe(self) -> str:
        ms = [x * 1000 for x in self.latencies]
        return (
            f"p50 {median(ms):.1f} ms, p99 {percentile(ms, 99):.1f} ms "
            f"({self.rate:,.0f} req/s{f', {self.errors} errors' if self.errors else ''})"
        )


# The load generator: raw HTTP/1.1 over keep-alive sockets, so the client costs little CPU ---------


def _request(method: str, path: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _client(
    port: int, request: bytes, until: float, out: Sample, interval: float | None, start: float
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    next_at = start
    try:
        while (now := time.perf_counter()) < until:
            if interval is not None:
                if now < next_at:
                    await asyncio.sleep(next_at - now)
                next_at += interval
            t0 = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            if status >= 400:
                out.errors += 1
            else:
                out.latencies.append(time.perf_counter() - t0)
    finally:
        writer.close()


async def _load(
    port: int, request: bytes, seconds: float, clients: int, interval: float | None = None
) -> Sample:
    # One second of warm-up (connections, caches, the JIT of nothing), then the measured run.
    warm = Sample()
    t = time.perf_counter()
    await asyncio.gather(
        *(_client(port, request, t + 1.0, warm, interval, t) for _ in range(clients))
    )
    out = Sample()
    start = time.perf_counter()
    # Paced clients start spread over one interval, not all at once.
    offsets = [(interval or 0) * i / clients for i in range(clients)]
    await asyncio.gather(
        *(_client(port, request, start + seconds, out, interval, start + off) for off in offsets)
    )
    out.seconds = time.perf_counter() - start
    return out


def _submit_to_running(api: str, db_url: str, samples: int) -> list[float]:
    import httpx
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    out = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"dataset": "bench", "config": {"span": 5, "h": 5, "folds": 2, "epochs": 50}}
    with httpx.Client(base_url=api, headers=headers, timeout=30) as http:
        for _ in range(samples):
            t0 = time.time()
            job_id = http.post("/api/jobs", json=body).json()["id"]

            def started(job_id: str = job_id) -> float | None:
                with engine.connect() as conn:
                    row = conn.execute(
                        sa.text("SELECT started_at FROM jobs WHERE id = :i"), {"i": job_id}
                    ).one()
                return row[0].timestamp() if row[0] else None

            started_at = wait_until(started, 60, "the job to start", every=0.02)
            assert isinstance(started_at, float)
            out.append(started_at - t0)
            http.post(f"/api/jobs/{job_id}/cancel")
            wait_until(
                lambda job_id=job_id: (
                    http.get(f"/api/jobs/{job_id}").json()["status"] == "cancelled"
                ),
                120,
                "the job to stop",
                every=0.02,
            )
            time.sleep(0.5)  # the worker acks and goes back to waiting: idle again
    engine.dispose()
    return out


def run(
    *, seconds: float = 10.0, clients: int = CLIENTS, samples: int = 10, rate: float = 1.0
) -> str:
    from shared.config import get_settings

    with (
        tempfile.TemporaryDirectory(prefix="lob-bench-api-") as tmp_s,
        Stack(
            Path(tmp_s), {"LOB_HOME": str(Path(tmp_s) / "home"), "LOB_API_TOKEN": TOKEN}
        ) as stack,
    ):
        seed.dataset(stack.base / "home", "bench", 2_000, symbol="BENCH")
        redis_url = stack.redis().url
        db_url = stack.database(get_settings().database_url, prefix="lob_bench")
        gateway = stack.gateway(log_level="warning")
        port = gateway.port
        assert port is not None
        load_before = os.getloadavg()[0]

        post = _request(
            "POST",
            "/api/jobs",
            json.dumps({"dataset": "bench", "config": {"quick": True}}).encode(),
        )
        get = _request("GET", "/api/jobs?size=20")
        health = _request("GET", "/healthz")
        closed = {
            name: asyncio.run(_load(port, req, seconds, clients))
            for name, req in (("post", post), ("get", get), ("health", health))
        }
        paced = {
            name: asyncio.run(_load(port, req, seconds, clients, 1.0 / rate))
            for name, req in (("post", post), ("get", get))
        }

        stack.worker("bench", "--without-gossip", "--without-mingle", timeout=120)
        # The closed-loop POSTs left thousands of queued jobs: cancel them first.
        import sqlalchemy as sa

        from shared.db import jobstate
        from shared.db.models import Job

        engine = sa.create_engine(db_url)
        with engine.begin() as conn:
            conn.execute(
                jobstate.statement(
                    jobstate.CANCELLED, Job, states=("queued",), cancel_requested=True
                )
            )
        engine.dispose()
        import redis

        redis.Redis.from_url(redis_url).delete("training")
        time.sleep(1.0)
        to_running = _submit_to_running(gateway.url, db_url, samples)
        load_after = os.getloadavg()[0]

    def p99(s: Sample) -> float:
        return percentile([x * 1000 for x in s.latencies], 99)

    def budget(s: Sample) -> str:
        return f"p99 ≤ 30 ms: {'met' if p99(s) <= 30 else 'NOT met'}"

    run_ms = [x * 1000 for x in to_running]
    rows = [
        (
            f"POST /api/jobs, {clients} clients × {rate:g} req/s",
            paced["post"].describe(),
            "-",
            budget(paced["post"]),
        ),
        (
            f"GET /api/jobs?size=20, {clients} clients × {rate:g} req/s",
            paced["get"].describe(),
            "-",
            budget(paced["get"]),
        ),
        (
            f"POST /api/jobs, {clients} clients, closed loop (saturated)",
            closed["post"].describe(),
            f"GET /healthz: {closed['health'].describe()}",
            "(capacity; not the budget case)",
        ),
        (
            f"GET /api/jobs?size=20, {clients} clients, closed loop (saturated)",
            closed["get"].describe(),
            f"GET /healthz: {closed['health'].describe()}",
            "(capacity; not the budget case)",
        ),
        (
            f"submit → running, idle worker ({len(run_ms)} jobs)",
            f"p50 {median(run_ms):.0f} ms, max {max(run_ms):.0f} ms",
            "-",
            f"≤ 1 s: {'met' if max(run_ms) <= 1000 else 'NOT met'}",
        ),
    ]
    notes = (
        "One uvicorn process (`python -m services.api`), real PostgreSQL and an embedded "
        "redis-server; the load generator (raw keep-alive HTTP/1.1, asyncio) runs on the same "
        f"{os.cpu_count()} cores. Closed loop: each client sends its next request as soon as the "
        "last is answered, so the server is saturated and latency is mostly queueing "
        "(50 / throughput). Submit → running: from before the POST to jobs.started_at, which the "
        f"worker's lease sets. Load average: {load_before:.1f} before, {load_after:.1f} after."
    )
    return record("Jobs API (`lob bench api`)", rows, notes)
