"""`lob up`: the whole product on one machine."""

from __future__ import annotations


def up() -> None:
    """Start every service."""
    raise NotImplementedError
