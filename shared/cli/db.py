"""`lob db`: database migrations.

lob db upgrade            # apply every migration (DATABASE_URL)
lob db current            # print the applied revision
"""

from __future__ import annotations

import typer

app = typer.Typer(help="Database migrations (DATABASE_URL).", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from shared.db import migrate

    migrate.upgrade(revision)
    typer.echo(f"database at revision {migrate.current()}")


@app.command("downgrade")
def downgrade(
    revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base."),
) -> None:
    """Undo migrations down to REVISION."""
    from shared.db import migrate

    migrate.downgrade(revision)
    typer.echo(f"database at revision {migrate.current()}")


@app.command("current")
def current() -> None:
    """Print the revision the database is at."""
    from shared.db import migrate

    typer.echo(migrate.current() or "(empty database)")
