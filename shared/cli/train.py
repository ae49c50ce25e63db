"""`lob train`: run walk-forward DeepLOB training locally."""

from __future__ import annotations


def train() -> None:
    """Train DeepLOB (filled in by the training engine)."""
    raise NotImplementedError
