"""`lob models`: model versions, registered by training jobs or from runs of `lob train`.

lob models list               # every version, newest first; * marks the active one
lob models register RUN_ID    # verify a finished `lob train` run and register its served fold
lob models promote 3          # verify version 3's files and make it the served model (or roll back)
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Model versions: list, register a `lob train` run, promote / roll back.",
    no_args_is_help=True,
)


def register_run(run_id: str) -> int:
    """Register run RUN_ID's served fold; prints what was registered and returns the version id."""
    from shared.cli.train import RUN_ID_RE
    from shared.config import get_settings
    from shared.db import registry
    from shared.db.session import session_scope
    from shared.errors import BadConfig

    if not RUN_ID_RE.fullmatch(run_id):
        raise BadConfig(f"invalid run id {run_id!r}: letters, digits, '_', '-', '.'")
    with session_scope() as session:
        version = registry.register_run(session, get_settings().storage.runs / run_id)
        f1 = (version.test_metrics or {}).get("f1_macro")
        f1_s = f" (test macro F1 {f1:.4f})" if isinstance(f1, int | float) else ""
        typer.echo(f"registered model version {version.id}: {version.version}{f1_s}")
        return version.id


@app.command("list")
def list_models() -> None:
    """List model versions, newest first, with test metrics; * marks the active one."""
    from sqlalchemy import select

    from shared.config import get_settings
    from shared.db.models import ModelVersion
    from shared.db.session import session_scope
    from shared.rundir import ModelStore

    active = ModelStore(get_settings().lob_home).active()
    with session_scope() as session:
        rows = session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())).all()
        if not rows:
            typer.echo("no model versions yet (a successful training job registers one)")
            return
        typer.echo(
            f"  {'id':>4}  {'job':<12}  fold  {'version':<20}  {'test acc':>8}  {'macro F1':>8}"
            "  promoted"
        )
        for v in rows:
            mark = "*" if active is not None and active.version_id == v.id else " "
            metrics = v.test_metrics or {}
            acc, f1 = metrics.get("accuracy"), metrics.get("f1_macro")
            acc_s = f"{acc:.4f}" if isinstance(acc, int | float) else "-"
            f1_s = f"{f1:.4f}" if isinstance(f1, int | float) else "-"
            promoted = v.promoted_at.strftime("%Y-%m-%d %H:%M:%S") if v.promoted_at else "candidate"
            typer.echo(
                f"{mark} {v.id:>4}  {v.job_id:<12}  {v.fold:>4}  {v.version:<20}  {acc_s:>8}"
                f"  {f1_s:>8}  {promoted}"
            )
            if v.gate_reason:
                typer.echo(f"        gate: {v.gate_reason}")


@app.command("register")
def register(
    run_id: str = typer.Argument(
        ..., help="A finished run under $LOB_HOME/runs (see `lob train`)."
    ),
) -> None:
    """Verify a finished run's manifest and register its served fold, with its test metrics, as a
    model version (then `lob models promote ID` serves it). Registering twice is harmless.

    lob models register 20261201-101500-btc
    """
    register_run(run_id)


@app.command("promote")
def promote(
    version_id: int = typer.Argument(..., help="Model version id (see `lob models list`)."),
) -> None:
    """Verify VERSION_ID against its manifest, make it active and announce it on lob:models."""
    from shared.config import get_settings
    from shared.db import registry
    from shared.db.session import session_scope
    from shared.rundir import ModelStore

    settings = get_settings()
    with session_scope() as session:
        msg = registry.promote(session, version_id, store=ModelStore(settings.lob_home))
    registry.publish_promoted(settings.redis_url, msg)
    typer.echo(f"promoted model version {msg.version_id} (job {msg.job_id}, fold {msg.fold})")
