"""`lob bench` commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Benchmarks: print figures and append them to BENCHMARKS.md (machine, date, reference).",
    no_args_is_help=True,
)


@app.command("data")
def data(
    rows: int = typer.Option(
        3_700_000, "--rows", min=1000, help="Rows of the synthetic CSV (budgets are for 3.7M)."
    ),
) -> None:
    """Import / reopen / label a synthetic canonical CSV beside pandas.read_csv and a plain loop.

    Appends the table to BENCHMARKS.md. Example: lob bench data --rows 200000
    """
    from devstack.bench import data as bench_data

    bench_data.run(rows)


@app.command("live")
def live(
    seconds: float = typer.Option(20.0, "--seconds", min=2.0, help="Length of each phase."),
    clients: int = typer.Option(1000, "--clients", min=1, help="WebSocket clients for fan-out."),
    deflate: bool = typer.Option(
        False, "--deflate", help="Clients offer permessage-deflate, as browsers do."
    ),
) -> None:
    """Forward p50 vs eager, snapshot -> WebSocket latency, 1,000-client fan-out.

    Starts its own redis-server, inference service and gateway. Appends to BENCHMARKS.md.
    Example: lob bench live --seconds 10 --clients 200
    """
    from devstack.bench import live as bench_live

    bench_live.run(seconds=seconds, clients=clients, deflate=deflate)


@app.command("api")
def api(
    seconds: float = typer.Option(10.0, "--seconds", min=1.0, help="Length of each load phase."),
    clients: int = typer.Option(50, "--clients", min=1, help="Concurrent HTTP clients."),
    samples: int = typer.Option(10, "--samples", min=1, help="Jobs timed from submit to running."),
    rate: float = typer.Option(
        1.0, "--rate", min=0.1, help="Requests per second per client in the paced phase."
    ),
) -> None:
    """POST/GET /api/jobs p50 and p99 at 50 concurrent clients; submit -> running on an idle worker.

    Starts its own redis-server, a scratch database, the gateway and one worker. Appends to
    BENCHMARKS.md. Example: lob bench api --seconds 5 --samples 5
    """
    from devstack.bench import api as bench_api

    bench_api.run(seconds=seconds, clients=clients, samples=samples, rate=rate)


@app.command("train")
def train(
    rows: int = typer.Option(12_000, "--rows", min=2_000, help="Rows of the synthetic market."),
    batch_size: int = typer.Option(128, "--batch-size", min=1),
    rounds: int = typer.Option(10, "--rounds", min=1, help="Interleaved rounds per variant."),
    per_round: int = typer.Option(4, "--per-round", min=1, help="Batches per variant per round."),
    quality: bool = typer.Option(
        True,
        "--quality/--no-quality",
        help="Also train a short planted-market run with each batching (about 8 minutes a seed).",
    ),
    seeds: int = typer.Option(
        3, "--seeds", min=1, help="Training seeds of that run; the budget is on their mean."
    ),
) -> None:
    """This training engine (window and segment batching) vs a reference-style loop
    (materialised windows, shuffled DataLoader, eager fp32), same model and data; samples/s,
    ratios, window memory and the two batchings' macro F1 to BENCHMARKS.md.

    lob bench train --rows 12000 --no-quality
    """
    from devstack.bench import train as bench_train

    bench_train.run(
        rows=rows,
        batch_size=batch_size,
        rounds=rounds,
        per_round=per_round,
        quality=quality,
        seeds=seeds,
    )


@app.command("quality")
def quality(
    rows: int = typer.Option(30_000, "--rows", min=5_000, help="Rows of the planted market."),
    epochs: int = typer.Option(4, "--epochs", min=1, help="Epochs per fold."),
    samples: bool = typer.Option(
        True, "--samples/--no-samples", help="Also train on the real samples in ../shared/data."
    ),
    zoo: bool = typer.Option(
        True,
        "--zoo/--no-zoo",
        help="Also train TLOB, MLPLOB and BiN-CTABL on the planted market, same settings and "
        "rows, for the four-model table.",
    ),
) -> None:
    """DeepLOB against an oracle on a planted-signal market and against the book baselines (test
    macro F1, net bps per trade after costs, seconds per epoch); the four models of the zoo on
    the same rows; then the real samples.

    lob bench quality --rows 30000 --epochs 4
    lob bench quality --rows 12000 --epochs 2 --no-samples   # a shorter four-model table
    """
    from devstack.bench import quality as bench_quality
    from shared.ml.zoo import MODELS

    others = tuple(m for m in MODELS if m != "deeplob") if zoo else ()
    bench_quality.run(rows=rows, epochs=epochs, samples=samples, models=others)


@app.command("soak")
def soak(
    minutes: float = typer.Option(30.0, "--minutes", min=0.5, help="How long to run."),
    symbols: int = typer.Option(10, "--symbols", min=1, help="Symbols in the synthetic market."),
    rate: float = typer.Option(10.0, "--rate", min=0.1, help="Snapshots per second per symbol."),
    clients: int = typer.Option(200, "--clients", min=1, help="WebSocket clients."),
) -> None:
    """Replay + WebSocket clients + a training job for minutes; RSS and latency every minute.

    Reports each service's RSS trend and every lost or doubled prediction; appends to
    BENCHMARKS.md and writes test-artifacts/reliability/soak.json.
    Example: lob bench soak --minutes 3 --clients 50
    """
    from devstack.bench import soak as bench_soak

    bench_soak.run(minutes=minutes, symbols=symbols, rate=rate, clients=clients)


@app.command("all")
def run_all() -> None:
    """data, train, api and live with their default sizes, one after another (`make bench`).

    The soak test is not included: it runs for 30 minutes (`lob bench soak`).
    """
    from devstack.bench import api as bench_api
    from devstack.bench import data as bench_data
    from devstack.bench import live as bench_live
    from devstack.bench import train as bench_train

    bench_data.run(3_700_000)
    bench_train.run(rows=12_000, batch_size=128, rounds=4, per_round=8)
    bench_api.run(seconds=10.0, clients=50, samples=10, rate=1.0)
    bench_live.run(seconds=20.0, clients=1000, deflate=False)
