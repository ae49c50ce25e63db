from __future__ import annotations

from pydantic import BaseModel, Field


class ConfigOut(BaseModel):
    """What the web UI needs to know about this deployment."""

    flower_url: str
    version: str
    # Symbols of the imported datasets: suggestions for the Predict page's picker.
    symbols: list[str] = Field(default_factory=list)
    token_configured: bool


class ReadyOut(BaseModel):
    status: str
    checks: dict[str, str]
