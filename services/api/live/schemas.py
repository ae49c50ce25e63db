"""Messages a WebSocket client may send to the relay, and the relay's own replies.

Client -> relay (one JSON object per text frame; every key optional, at least one present):
    {"subscribe": ["BTCUSDT", ...]}        predictions of these symbols
    {"unsubscribe": ["BTCUSDT"]}
    {"subscribe_jobs": ["<job_id>", ...]}  events of these training jobs
    {"unsubscribe_jobs": ["<job_id>"]}
    {"ping": <anything>}                   answered by {"type": "pong"}
Relay -> client: Prediction / LiveScores / JobEvent / ModelPromoted / ModelDegraded JSON exactly
as published on Redis, plus
    {"type": "subscribed", "symbols": [...], "jobs": [...]}   after every (un)subscribe
    {"type": "error", "code": "bad_message", "message": "..."} for a message it cannot use
REST: GET /api/live/symbols -> LiveSymbolsOut, the symbols inference is serving now;
GET /api/live/scores -> LiveScoresOut, how each model version is doing live on each symbol;
GET /api/live/scores/history -> LiveHistoryOut, its minutes from PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.events import LiveScoresReport
from shared.feed.snapshot import SYMBOL_RE

MAX_FRAME_CHARS = 16_384
MAX_SUBSCRIPTIONS = 64  # per client, symbols and jobs each
JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _names(values: list[str], pattern: re.Pattern[str], what: str, upper: bool) -> list[str]:
    out = []
    for value in values:
        name = value.strip().upper() if upper else value.strip()
        if not pattern.fullmatch(name):
            raise ValueError(f"invalid {what} {value[:40]!r}")
        out.append(name)
    return list(dict.fromkeys(out))


class ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscribe: list[str] = Field(default_factory=list, max_length=MAX_SUBSCRIPTIONS)
    unsubscribe: list[str] = Field(default_factory=list, max_length=MAX_SUBSCRIPTIONS)
    subscribe_jobs: list[str] = Field(default_factory=list, max_length=MAX_SUBSCRIPTIONS)
    unsubscribe_jobs: list[str] = Field(default_factory=list, max_length=MAX_SUBSCRIPTIONS)
    ping: Any = None

    @field_validator("subscribe", "unsubscribe")
    @classmethod
    def _symbols(cls, v: list[str]) -> list[str]:
        return _names(v, SYMBOL_RE, "symbol", upper=True)

    @field_validator("subscribe_jobs", "unsubscribe_jobs")
    @classmethod
    def _jobs(cls, v: list[str]) -> list[str]:
        return _names(v, JOB_ID_RE, "job id", upper=False)

    @model_validator(mode="before")
    @classmethod
    def _not_empty(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError('a message is a JSON object, e.g. {"subscribe": ["BTCUSDT"]}')
        if not data:
            raise ValueError(
                "empty message: send subscribe, unsubscribe, subscribe_jobs or unsubscribe_jobs"
            )
        return data


class Subscribed(BaseModel):
    type: Literal["subscribed"] = "subscribed"
    symbols: list[str]
    jobs: list[str]


class ErrorMessage(BaseModel):
    type: Literal["error"] = "error"
    code: str
    message: str


class Pong(BaseModel):
    type: Literal["pong"] = "pong"


class LiveSymbolsOut(BaseModel):
    """Symbols inference is serving now: the relay heard a prediction for each lately."""

    # Sorted by name; empty when no feed runs (or inference does not).
    symbols: list[str]
    # How recent "lately" is: a symbol drops out this many seconds after its last prediction.
    within_s: float


class LiveScoresOut(LiveScoresReport):
    """What inference reports under lob:inference:scores (empty when it has not reported)."""

    # Why there are no figures: Redis unavailable, inference not reporting, an unreadable report.
    inference_error: str | None = None


class LiveMinuteOut(BaseModel):
    """One minute of a model version's live scores on a symbol (table live_scores)."""

    minute: datetime  # UTC start of the minute of the snapshots
    resolved: int  # predictions scored in the minute
    correct: int
    accuracy: float | None  # correct / resolved (None when none)
    confusion: list[list[int]]  # row = realised, column = predicted (DOWN, NEUTRAL, UP)
    # Over the last 1,000 scored, as of the minute's last one: the live figures as they stood.
    window_accuracy: float | None
    window_f1_macro: float | None
    trades: int  # backtest trades closed in the minute
    net_bps: float


class LiveHistoryOut(BaseModel):
    model_version: str
    symbol: str
    minutes: list[LiveMinuteOut]  # oldest first
