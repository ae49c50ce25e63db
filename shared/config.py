"""Process settings: the one place that reads the environment.

Every service calls `get_settings()`; tests that change the environment call
`get_settings.cache_clear()` afterwards.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "token"}


class StorageSettings(BaseModel):
    home: Path = Path("var")

    @property
    def datasets(self) -> Path:
        return self.home / "datasets"

    @property
    def runs(self) -> Path:
        return self.home / "runs"


class Settings(BaseSettings):
    """Flat environment names (DATABASE_URL, REDIS_URL, LOB_HOME, ...) mapped into groups."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    env: str = Field("development", alias="LOB_ENV")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    redis_url: str | None = Field(None, alias="REDIS_URL")
    lob_home: Path = Field(Path("var"), alias="LOB_HOME")
    api_token: SecretStr = Field(SecretStr(""), alias="LOB_API_TOKEN")
    api_host: str = Field("127.0.0.1", alias="LOB_API_HOST")
    api_port: int = Field(8000, alias="LOB_API_PORT")
    cors_origins: str = Field("", alias="LOB_CORS_ORIGINS")
    flower_user: str = Field("admin", alias="FLOWER_USER")
    flower_password: SecretStr = Field(SecretStr(""), alias="FLOWER_PASSWORD")
    flower_port: int = Field(5555, alias="FLOWER_PORT")
    flower_url: str = Field("http://127.0.0.1:5555", alias="LOB_FLOWER_URL")
    inference_port: int = Field(8001, alias="LOB_INFERENCE_PORT")
    # Drift (services/inference/scoring.py): inference publishes model_degraded when live macro F1
    # over the last drift_window scored predictions of a symbol is more than drift_margin below
    # the model's test macro F1. The defaults: 1,000 predictions (100 s of one symbol at
    # 10 snapshots/s), 0.10.
    drift_window: int = Field(1000, ge=1, le=1_000_000, alias="LOB_DRIFT_WINDOW")
    drift_margin: float = Field(0.10, ge=0, le=1, alias="LOB_DRIFT_MARGIN")

    # Training jobs (services/worker). A worker renews its lease on a job every min(ttl / 4, 2 s);
    # once a lease has expired the reaper hands the job to another worker, so a SIGKILLed worker's
    # job resumes within about lease_ttl_s + reaper_interval_s. Long enough to ride out a short
    # PostgreSQL restart without giving the job away.
    lease_ttl_s: float = Field(60.0, gt=0, alias="LOB_LEASE_TTL_S")
    reaper_interval_s: float = Field(10.0, gt=0, alias="LOB_REAPER_INTERVAL_S")
    # A queued job whose Celery message is no longer in the broker after this long (e.g. Redis
    # restarted without persistence) is sent again; duplicates are harmless thanks to the lease.
    redispatch_after_s: float = Field(60.0, gt=0, alias="LOB_REDISPATCH_AFTER_S")
    # Sign-in attempts allowed per client address per minute (POST /api/session).
    signin_per_minute: int = Field(10, ge=1, alias="LOB_SIGNIN_PER_MINUTE")
    # Messages queued per WebSocket client before the relay drops it as a slow consumer.
    ws_queue: int = Field(1024, ge=1, alias="LOB_WS_QUEUE")

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.env != "development":
            for name, value in (
                ("LOB_API_TOKEN", self.api_token),
                ("FLOWER_PASSWORD", self.flower_password),
            ):
                if value.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                    raise ValueError(f"{name} must be set to a real secret when LOB_ENV={self.env}")
        return self

    @property
    def storage(self) -> StorageSettings:
        return StorageSettings(home=self.lob_home)


@lru_cache
def get_settings() -> Settings:
    return Settings()
