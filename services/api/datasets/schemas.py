from __future__ import annotations

from pydantic import BaseModel, Field


class DatasetOut(BaseModel):
    name: str
    rows: int
    symbols: list[str] = Field(default_factory=list)
    levels: int | None = None
    ts_start: int | None = None  # ns since epoch, UTC
    ts_end: int | None = None
    sha256: str | None = None
    created_at: str | None = None
