"""How a caller watches and stops a training run. Torch-free: the worker imports it freely."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from shared.events import JobEvent


@runtime_checkable
class TrainHooks(Protocol):
    def on_event(self, event: JobEvent) -> None:
        """Called with started / progress / epoch / fold_done events, in order, from the
        training thread. Keep it quick: it runs between batches."""

    def should_stop(self) -> bool:
        """Checked at every batch boundary; True makes the engine raise shared.errors.Cancelled
        without saving anything new (the last epoch's resume checkpoint stays)."""


class NoHooks:
    """Hooks that watch nothing and never stop."""

    def on_event(self, event: JobEvent) -> None:
        return None

    def should_stop(self) -> bool:
        return False
