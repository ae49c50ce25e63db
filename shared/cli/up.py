"""`lob up`: the whole product on one machine (the stack itself is devstack/up.py's).

lob up                 # Redis + PostgreSQL (embedded unless REDIS_URL / DATABASE_URL are set),
                       # migrations, gateway :8000, worker, Flower :5555, inference :8001, demo feed
lob up --no-demo       # only the services
"""

from __future__ import annotations

import typer


def up(
    no_demo: bool = typer.Option(
        False, "--no-demo", help="Start only the services: no demo dataset, job or feed."
    ),
    api_port: int = typer.Option(
        None, "--api-port", help="Gateway port [env LOB_API_PORT, default 8000]."
    ),
    flower_port: int = typer.Option(
        None, "--flower-port", help="Flower port [env FLOWER_PORT, default 5555]."
    ),
    inference_port: int = typer.Option(
        None,
        "--inference-port",
        help="Inference health/metrics port [env LOB_INFERENCE_PORT, default 8001].",
    ),
    demo_rows: int = typer.Option(
        None, "--demo-rows", help="Rows of the synthetic demo market [default 60,000]."
    ),
) -> None:
    """Run the whole product on this machine, as supervised child processes.

    Starts Redis (REDIS_URL, or an embedded redis-server), PostgreSQL (DATABASE_URL, or an embedded
    server kept under $LOB_HOME/postgres), runs the migrations, then the gateway, one Celery worker,
    Flower, the inference service and (unless --no-demo) a replay feed of the demo dataset.
    On a first run it creates the demo dataset and submits a quick training job, so predictions
    start flowing within minutes. Ctrl-C stops everything.
    """
    # devstack is tooling beside the product (its images leave it out): imported only here.
    from devstack.up import DEMO_ROWS, run_up

    run_up(
        no_demo=no_demo,
        api_port=api_port,
        flower_port=flower_port,
        inference_port=inference_port,
        demo_rows=demo_rows or DEMO_ROWS,
    )
