"""`lob`: the DeepLOB Hub command line.

lob --help
lob data import ../shared/data/binance-spot-btcusdt/*.gz --name btc
lob train --dataset btc --quick
lob up
"""

from __future__ import annotations

import sys

import typer

from shared.cli import bench, data, db, evaluate, feed, models, train, up
from shared.errors import LobError

app = typer.Typer(
    name="lob",
    help="DeepLOB Hub: train DeepLOB on level-2 order books and serve live predictions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _join_local_stack(ctx: typer.Context) -> None:
    """With REDIS_URL / DATABASE_URL unset, use those of the `lob up` running on this LOB_HOME."""
    if ctx.invoked_subcommand in (None, "up") or "--help" in sys.argv:
        return
    from shared import local_stack
    from shared.config import get_settings

    settings = get_settings()
    joined = local_stack.join(settings)
    if joined is not None:
        typer.secho(
            f"using the stack of lob up (pid {joined.pid}) in {settings.lob_home.resolve()}",
            err=True,
            dim=True,
        )


app.add_typer(data.app, name="data")
app.add_typer(db.app, name="db")
app.add_typer(feed.app, name="feed")
app.add_typer(bench.app, name="bench")
app.add_typer(models.app, name="models")
app.command("train")(train.train)
app.command("eval")(evaluate.eval_run)
app.command("up")(up.up)


def main() -> None:
    try:
        app()
    except LobError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
