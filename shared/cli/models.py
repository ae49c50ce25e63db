"""`lob models`: model versions, registered by training jobs or from runs of `lob train`.

lob models list               # every version, newest first; * the champion, ~ the shadow
lob models register RUN_ID    # verify a finished `lob train` run and register its served fold
lob models promote 3          # verify version 3's files and make it the served model (or roll back)
lob models shadow 4           # score version 4 live beside the champion, unpublished
lob models shadow --clear     # stop scoring the shadow
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Model versions: list, register a `lob train` run, promote / roll back, shadow.",
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
    """List model versions, newest first, with test metrics; * marks the champion (the active
    one), ~ the shadow (the challenger scored live beside it)."""
    from sqlalchemy import select

    from shared.config import get_settings
    from shared.db.models import ModelVersion
    from shared.db.session import session_scope
    from shared.rundir import ModelStore

    store = ModelStore(get_settings().lob_home)
    active, shadow = store.active(), store.shadow()
    shadow_id = shadow.model.version_id if shadow is not None and shadow.model else None
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
            mark = (
                "*"
                if active is not None and active.version_id == v.id
                else "~"
                if v.id == shadow_id
                else " "
            )
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
    from shared.ml.check_fold import check_fold_loads
    from shared.rundir import ModelStore

    settings = get_settings()
    with session_scope() as session:
        done = registry.promote(
            session, version_id, store=ModelStore(settings.lob_home), check=check_fold_loads
        )
    registry.publish(settings.redis_url, *done.messages)
    msg = done.promoted
    typer.echo(f"promoted model version {msg.version_id} (job {msg.job_id}, fold {msg.fold})")
    if done.shadow is not None:
        old = done.shadow.model
        typer.echo(
            f"the old champion, version {old.version_id}, is now the shadow"
            if old is not None
            else "no shadow now"
        )


@app.command("shadow")
def shadow(
    version_id: int = typer.Argument(
        None, help="Model version id to score as the challenger (see `lob models list`)."
    ),
    clear: bool = typer.Option(False, "--clear", help="Stop scoring the shadow."),
) -> None:
    """Load VERSION_ID in inference beside the champion, as the challenger: it predicts on the same
    windows and is scored live the same way, but its predictions never reach clients. At most one
    shadow (this one replaces any other). `lob models promote` of the shadow swaps the two.

    lob models shadow 4
    lob models shadow --clear
    """
    from shared.config import get_settings
    from shared.db import registry
    from shared.db.session import session_scope
    from shared.errors import BadConfig
    from shared.ml.check_fold import check_fold_loads
    from shared.rundir import ModelStore

    if (version_id is None) == (not clear):
        raise BadConfig("give a model version id, or --clear (not both)")
    settings = get_settings()
    with session_scope() as session:
        msg = registry.set_shadow(
            session, version_id, store=ModelStore(settings.lob_home), check=check_fold_loads
        )
    registry.publish(settings.redis_url, msg)
    if msg.model is None:
        typer.echo("no shadow now")
    else:
        typer.echo(f"model version {msg.model.version_id} is the shadow (scored, not published)")
