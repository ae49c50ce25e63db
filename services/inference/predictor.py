"""Rolling per-symbol windows and the model that turns them into Prediction messages."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from shared.data.schema import ASK_PX, ASK_SZ, BID_PX, BID_SZ, N_FEATURES, WINDOW
from shared.events import Book, Prediction, Probabilities
from shared.feed.snapshot import Snapshot
from shared.ml.checkpoint import ServingModel
from shared.ml.fastpath import WindowCache
from shared.ml.serving_path import ServingPath
from shared.scaler import Scaler

SIGNALS = ("DOWN", "NEUTRAL", "UP")  # class index order of shared.labels


@dataclass
class LoadedModel:
    """A verified model ready to swap in: the serving model plus its serving path (DeepLOB's
    incremental fast path, or a TorchScript copy of another zoo model)."""

    serving: ServingModel
    fast: ServingPath
    fingerprint: tuple[object, ...]

    @property
    def version(self) -> str:
        return self.serving.version

    @property
    def scaler(self) -> Scaler:
        return self.serving.scaler


@dataclass
class SymbolWindow:
    """The last WINDOW snapshots of one symbol, raw and scaled, contiguous for the model."""

    raw: np.ndarray = field(default_factory=lambda: np.zeros((2 * WINDOW, N_FEATURES)))
    scaled: np.ndarray = field(
        default_factory=lambda: np.zeros((2 * WINDOW, N_FEATURES), dtype=np.float32)
    )
    filled: int = 0  # rows in the buffers (the window is the last WINDOW of them)
    seq: int = 0  # snapshots seen for this symbol: the Prediction.seq of the latest one
    cache: WindowCache = field(default_factory=WindowCache)

    def push(self, book: np.ndarray, scaler: Scaler | None) -> None:
        if self.filled == len(self.raw):
            # Keep the newest WINDOW - 1 rows at the front: one copy every WINDOW + 1 rows.
            keep = WINDOW - 1
            self.raw[:keep] = self.raw[self.filled - keep : self.filled]
            self.scaled[:keep] = self.scaled[self.filled - keep : self.filled]
            self.filled = keep
        self.raw[self.filled] = book
        if scaler is not None:
            scaler.transform(book, out=self.scaled[self.filled])
        self.filled += 1
        self.seq += 1

    def copy(self) -> SymbolWindow:
        """The same rows and seq, for a second model (it rescales them with its own scaler)."""
        return SymbolWindow(
            raw=self.raw.copy(), scaled=self.scaled.copy(), filled=self.filled, seq=self.seq
        )

    @property
    def ready(self) -> bool:
        return self.filled >= WINDOW

    def window(self) -> np.ndarray:
        return self.scaled[self.filled - WINDOW : self.filled]

    def rescale(self, scaler: Scaler) -> None:
        """A new model brings a new scaler: rescale what we hold and forget cached features."""
        if self.filled:
            scaler.transform(self.raw[: self.filled], out=self.scaled[: self.filled])
        self.cache = WindowCache()


class Predictor:
    def __init__(self, *, books: bool = True) -> None:
        self.windows: dict[str, SymbolWindow] = {}
        self.model: LoadedModel | None = None
        self.books = books  # the ladder in each message; the shadow's are scored, never sent

    def follow(self, other: Predictor) -> None:
        """Take over `other`'s windows (a challenger starts with the champion's rows, so it
        needs no warm-up); set_model then rescales them."""
        self.windows = {symbol: w.copy() for symbol, w in other.windows.items()}

    def set_model(self, model: LoadedModel) -> None:
        """Swap between two rounds: every later prediction uses the new weights and scaler."""
        self.model = model
        for window in self.windows.values():
            window.rescale(model.scaler)

    def push(self, snap: Snapshot) -> SymbolWindow:
        window = self.windows.get(snap.symbol)
        if window is None:
            window = self.windows[snap.symbol] = SymbolWindow()
        window.push(snap.book, self.model.scaler if self.model else None)
        return window

    def predict(self, snaps: list[Snapshot]) -> tuple[list[Prediction], float]:
        """One round: at most one snapshot per symbol, pushed and predicted as one batch.

        Returns the messages (latency_ms still 0; set just before publishing) and the forward time.
        """
        windows = [self.push(s) for s in snaps]
        ready = [i for i, w in enumerate(windows) if w.ready] if self.model else []
        probs: dict[int, np.ndarray] = {}
        forward_s = 0.0
        if ready and self.model is not None:
            start = time.perf_counter()
            out = self.model.fast.predict(
                [windows[i].window() for i in ready],
                [windows[i].cache for i in ready],
                [windows[i].seq for i in ready],
            )
            forward_s = time.perf_counter() - start
            probs = dict(zip(ready, out, strict=True))
        version = self.model.version if self.model else None
        return [
            _message(snap, windows[i], probs.get(i), version, self.books)
            for i, snap in enumerate(snaps)
        ], forward_s


def _message(
    snap: Snapshot,
    window: SymbolWindow,
    probs: np.ndarray | None,
    version: str | None,
    books: bool = True,
) -> Prediction:
    book = snap.book
    ladder = (
        Book(
            asks=list(zip(book[ASK_PX].tolist(), book[ASK_SZ].tolist(), strict=True)),
            bids=list(zip(book[BID_PX].tolist(), book[BID_SZ].tolist(), strict=True)),
        )
        if books
        else None
    )
    common = {
        "ts": snap.ts,
        "symbol": snap.symbol,
        "best_bid": snap.best_bid,
        "best_ask": snap.best_ask,
        "mid": snap.mid,
        "latency_ms": 0.0,
        "seq": window.seq,
        "model_version": version,
        "book": ladder,
    }
    if probs is None or not np.isfinite(probs).all():
        # Never a made-up prediction: until the window is full (or while no model serves), say so.
        return Prediction(
            status="warming_up",
            warmup_have=min(window.filled, WINDOW),
            warmup_need=WINDOW,
            **common,
        )
    k = int(np.argmax(probs))
    return Prediction(
        status="ok",
        probs=Probabilities(down=float(probs[0]), neutral=float(probs[1]), up=float(probs[2])),
        signal=SIGNALS[k],  # type: ignore[arg-type]
        confidence=float(probs[k]),
        **common,
    )
