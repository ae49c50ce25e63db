"""What `lob data show` prints (and what an API can serve): rows, time span, spread and mid
statistics, and the class balance under the default triple-barrier labels. numpy only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from shared.data.schema import ASK_PX_1, BID_PX_1
from shared.data.store import Dataset


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="milliseconds")


def _stats(x: np.ndarray) -> dict[str, float]:
    p1, p50, p99 = np.percentile(x, [1, 50, 99])
    return {
        "mean": float(x.mean()),
        "min": float(x.min()),
        "p1": float(p1),
        "median": float(p50),
        "p99": float(p99),
        "max": float(x.max()),
    }


def label_balance(ds: Dataset) -> dict[str, Any]:
    """Class counts under the default triple barrier, labelled per symbol (a mid series never
    runs across two symbols)."""
    from shared.labels import class_counts, mid_price, triple_barrier

    counts = {"DOWN": 0, "NEUTRAL": 0, "UP": 0}
    ignore = 0
    symbol_idx = np.asarray(ds.symbol_idx)
    single = len(ds.symbols) <= 1
    for k in range(max(1, len(ds.symbols))):
        rows = slice(None) if single else np.flatnonzero(symbol_idx == k)
        labels = triple_barrier(mid_price(ds.features[rows]))
        for name, c in class_counts(labels).items():
            counts[name] += c
        ignore += int((labels < 0).sum())
    labelled = sum(counts.values())
    return {
        "labeller": "triple_barrier(span=100, k=1.0, h=100, min_return=0)",
        "counts": counts,
        "ignore": ignore,
        "fractions": {k: (v / labelled if labelled else 0.0) for k, v in counts.items()},
    }


def summarize(ds: Dataset, *, labels: bool = True) -> dict[str, Any]:
    ask = np.asarray(ds.features[:, ASK_PX_1], dtype=np.float64)
    bid = np.asarray(ds.features[:, BID_PX_1], dtype=np.float64)
    mid = (ask + bid) / 2.0
    spread = ask - bid
    ts = np.asarray(ds.ts)
    start, end = int(ts[0]), int(ts[-1])
    out: dict[str, Any] = {
        "name": ds.name,
        "path": str(ds.path),
        "rows": ds.rows,
        "symbols": ds.symbols,
        "start": _iso(start),
        "end": _iso(end),
        "duration_s": (end - start) / 1e9,
        "median_interval_ms": float(np.median(np.diff(ts)) / 1e6) if ds.rows > 1 else 0.0,
        "spread": _stats(spread),
        "spread_bps": _stats(spread / mid * 1e4),
        "mid": {**_stats(mid), "first": float(mid[0]), "last": float(mid[-1])},
        "mid_log_return_std": float(np.std(np.diff(np.log(mid)))) if ds.rows > 1 else 0.0,
        "sources": [s.get("name", s.get("path")) for s in ds.meta.get("sources", [])],
        "settings": ds.meta.get("settings", {}),
        "sha256": ds.meta.get("sha256"),
        "created_at": ds.meta.get("created_at"),
    }
    if labels:
        out["labels"] = label_balance(ds)
    return out
