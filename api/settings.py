"""Service settings: embedded defaults, overridden by SITING_* environment variables or a
settings file (`siting.env` in the working directory, or the file named by SITING_ENV_FILE)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "siting"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SITING_",
        env_file=os.environ.get("SITING_ENV_FILE", "siting.env"),
        extra="ignore",
    )

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(1, ge=1, description="uvicorn worker processes")
    data_dir: Path = Field(default_factory=_default_data_dir, description="job store")
    default_ruleset: str = "guangxi-2021-2025"
    process_workers: int = Field(1, ge=1, description="processes for batch work and jobs")
    max_upload_bytes: int = Field(200 * 1024 * 1024, description="413 above this")
    max_sites: int = Field(200_000, description="sites / rows / features per synchronous call")
    max_job_sites: int = Field(2_000_000, description="sites / rows / features per job")
    max_zip_members: int = 1_000
    max_zip_expanded_bytes: int = 2 * 1024 * 1024 * 1024
    max_zip_ratio: float = Field(200.0, description="uncompressed / compressed, zip bomb guard")
