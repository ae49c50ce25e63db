"""`lob feed` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="feed commands", no_args_is_help=True)
