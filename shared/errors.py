"""Small domain exceptions. The gateway maps them to HTTP in one place; the CLI to exit code 2."""

from __future__ import annotations


class LobError(Exception):
    """Base of every error this project raises on purpose."""


class NotFound(LobError):
    pass


class Conflict(LobError):
    pass


class BadConfig(LobError):
    """A setting (job config, CLI flag) that cannot work; raised before any work starts."""


class DataError(LobError):
    """Bad input data. The message names the file, the row (or line) and the problem."""

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.row = row
        self.column = column
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{': '.join([', '.join(where), problem]) if where else problem}")


class Cancelled(LobError):
    """A training run was asked to stop (TrainHooks.should_stop); nothing new was saved."""


class BadCheckpoint(LobError):
    """A run's checkpoint cannot be served: missing file, sha256 mismatch, bad weights, NaN output."""
