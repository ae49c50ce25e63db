"""`lob train`: run walk-forward training of a zoo model (DeepLOB by default) locally.

lob train --dataset btc --quick
lob train --dataset btc --quick --model tlob
lob train --dataset btc --epochs 20 --labels smoothed --smooth-k 10 --alpha 2e-5
lob train --resume 20260101-120000-btc
lob train --dataset btc --quick --promote     # then serve it (register + promote)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from shared.errors import BadConfig, NotFound
from shared.train_config import MODEL_NAMES

RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
MODEL_HELP = f"the network: {' | '.join(MODEL_NAMES)} (docs/ARCHITECTURE.md, 'Models')"


def _flag_error(exc: ValidationError) -> str:
    """One line naming the flag: `--select: Input should be 'val_loss' or 'val_f1' (got 'x')`."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        flag = "--" + field.replace("_", "-")
        got = f" (got {err['input']!r})" if field != "settings" else ""
        parts.append(f"{flag}: {err['msg']}{got}")
    return "; ".join(parts)


def _new_run_id(dataset: str, runs: Path) -> str:
    base = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{dataset}"
    run_id, n = base, 1
    while (runs / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def train(
    dataset: Annotated[str | None, typer.Option(help="dataset name (see `lob data list`)")] = None,
    model: Annotated[
        str,
        typer.Option(help=MODEL_HELP),
    ] = "deeplob",
    labels: Annotated[str, typer.Option(help="triple_barrier | smoothed")] = "triple_barrier",
    span: Annotated[int, typer.Option(help="triple barrier: EWMA volatility span")] = 100,
    k: Annotated[float, typer.Option(help="triple barrier: barrier width in sigmas")] = 1.0,
    h: Annotated[int, typer.Option(help="triple barrier: horizon in rows")] = 100,
    min_return: Annotated[float, typer.Option(help="triple barrier: minimum barrier")] = 0.0,
    smooth_k: Annotated[int, typer.Option(help="smoothed: rows averaged ahead")] = 10,
    alpha: Annotated[float, typer.Option(help="smoothed: threshold")] = 2e-5,
    folds: Annotated[int, typer.Option(help="walk-forward folds")] = 5,
    epochs: Annotated[int, typer.Option()] = 20,
    batch_size: Annotated[int, typer.Option()] = 128,
    batching: Annotated[
        str,
        typer.Option(
            help="windows | segments (conv work of overlapping windows shared: ~2.5x faster, "
            "less proven, deeplob only; see BENCHMARKS.md)"
        ),
    ] = "windows",
    lr: Annotated[float, typer.Option(help="Adam learning rate")] = 1e-4,
    patience: Annotated[int, typer.Option(help="early stopping patience (epochs)")] = 5,
    select: Annotated[
        str, typer.Option(help="best epoch by val_f1 (validation macro F1) | val_loss")
    ] = "val_f1",
    norm: Annotated[
        str, typer.Option(help="inputs: mid_bps (price-level free) | zscore (the paper's)")
    ] = "mid_bps",
    dropout_lstm: Annotated[
        float, typer.Option(help="dropout on the LSTM's inputs (deeplob only)")
    ] = 0.0,
    dropout_head: Annotated[
        float, typer.Option(help="dropout before the output layer (not binctabl)")
    ] = 0.0,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay (0: Adam)")] = 0.0,
    mirror: Annotated[
        bool, typer.Option(help="also train on mirrored books, UP and DOWN swapped (mid_bps)")
    ] = False,
    noise: Annotated[float, typer.Option(help="std of Gaussian noise on scaled inputs")] = 0.0,
    gamma: Annotated[float, typer.Option(help="focal loss gamma")] = 2.0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    seed: Annotated[int, typer.Option()] = 0,
    max_rows: Annotated[int | None, typer.Option(help="use only the first N rows")] = None,
    amp: Annotated[bool | None, typer.Option("--amp/--no-amp", help="bf16 autocast")] = None,
    compile: Annotated[bool | None, typer.Option("--compile/--no-compile")] = None,
    quick: Annotated[bool, typer.Option(help="5,000 rows and 1 epoch: a smoke run")] = False,
    resume: Annotated[
        str | None, typer.Option(help="continue run RUN_ID from its last epoch")
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="name the run (default: time-dataset)")] = None,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="progress bar (default: on a tty)"),
    ] = None,
    register: Annotated[
        bool,
        typer.Option(help="register the served fold as a model version (needs DATABASE_URL)"),
    ] = False,
    promote: Annotated[
        bool,
        typer.Option(help="register, then serve it (needs DATABASE_URL; implies --register)"),
    ] = False,
) -> None:
    """Train a model (DeepLOB unless --model) on a dataset with walk-forward cross-validation;
    prints the run directory and the test-set table (model vs the baselines).

    lob train --dataset btc --quick
    lob train --dataset btc --quick --model tlob
    """
    from shared.config import get_settings
    from shared.ml.prepare import prepare
    from shared.ml.training import run_training
    from shared.rundir import RunDir
    from shared.train_config import TrainConfig

    settings = get_settings()
    runs = settings.storage.runs
    if (register or promote) and not settings.database_url:
        flag = "--promote" if promote else "--register"
        raise BadConfig(
            f"{flag} needs DATABASE_URL (or a running `lob up` on this LOB_HOME, which it joins); "
            "without it, train, then run `lob models register RUN_ID` where the database is"
        )
    if resume is not None:
        if not RUN_ID_RE.fullmatch(resume):
            raise BadConfig(f"invalid run id {resume!r}")
        run = RunDir(runs / resume)
        if not run.exists():
            raise NotFound(f"unknown run {resume!r} (no {run.config})")
        if run.finished():
            raise BadConfig(f"run {resume!r} already finished; nothing to resume")
        doc = run.read_config()
        cfg = TrainConfig(**doc["settings"])
        dataset = doc["dataset"]["name"]
    else:
        if dataset is None:
            raise BadConfig("--dataset NAME is required (or --resume RUN_ID)")
        try:
            cfg = TrainConfig(
                model=model,
                labels=labels,
                span=span,
                k=k,
                h=h,
                min_return=min_return,
                smooth_k=smooth_k,
                alpha=alpha,
                folds=folds,
                epochs=epochs,
                batch_size=batch_size,
                batching=batching,
                lr=lr,
                patience=patience,
                select=select,
                norm=norm,
                dropout_lstm=dropout_lstm,
                dropout_head=dropout_head,
                weight_decay=weight_decay,
                mirror=mirror,
                noise=noise,
                gamma=gamma,
                device=device,
                seed=seed,
                max_rows=max_rows,
                amp=amp,
                compile=compile,
                quick=quick,
            )
        except ValidationError as exc:
            raise BadConfig(_flag_error(exc)) from exc
        if run_id is not None and not RUN_ID_RE.fullmatch(run_id):
            raise BadConfig(f"invalid run id {run_id!r}: letters, digits, '_', '-', '.'")
        if run_id is not None and (runs / run_id).exists():
            raise BadConfig(f"run {run_id!r} already exists (resume it with --resume {run_id})")
        run = RunDir(runs / (run_id or _new_run_id(dataset, runs)))
    run_dir = run.path
    # Checks first (unknown dataset, too small, single class, no CUDA) so a bad command leaves
    # no run directory behind.
    prepare(cfg, dataset)
    typer.echo(f"run directory: {run_dir}")
    result = run_training(cfg, dataset=dataset, run_dir=run_dir, echo=typer.echo, progress=progress)
    if result.get("finished") is False:
        typer.echo("not every fold finished; nothing scored")
        return
    typer.echo(f"run directory: {run_dir}")
    if register or promote:
        from shared.cli.models import promote as promote_version
        from shared.cli.models import register_run

        version_id = register_run(run_dir.name)
        if promote:
            promote_version(version_id)
