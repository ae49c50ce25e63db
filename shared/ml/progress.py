"""A one-line progress bar on stderr within an epoch (no dependencies)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """A one-line stderr bar within an epoch; no dependencies, redrawn at most 10× a second."""

    def __init__(self, enabled: bool, label: str, total: int) -> None:
        self.enabled, self.label, self.total = enabled, label, max(1, total)
        self._last = 0.0
        self._t0 = time.perf_counter()

    def update(self, done: int, samples: int, loss: float) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        width = 24
        filled = int(width * done / self.total)
        rate = samples / max(now - self._t0, 1e-9)
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
            f"loss {loss:.4f} · {rate:,.0f} samples/s "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
