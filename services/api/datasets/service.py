"""Datasets live on disk under $LOB_HOME/datasets; this lists them (their meta.json)."""

from __future__ import annotations

from pathlib import Path

from services.api.datasets.schemas import DatasetOut
from shared.data.store import list_datasets


def all_datasets(*, home: Path) -> list[DatasetOut]:
    out = []
    for meta in list_datasets(home):
        out.append(
            DatasetOut(
                name=str(meta["name"]),
                rows=int(meta.get("rows", 0)),
                symbols=[str(s) for s in meta.get("symbols", [])],
                levels=meta.get("levels"),
                ts_start=meta.get("ts_start"),
                ts_end=meta.get("ts_end"),
                sha256=meta.get("sha256"),
                created_at=meta.get("created_at"),
            )
        )
    return out
