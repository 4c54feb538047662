"""Service settings: embedded defaults, overridden by SITING_* environment variables or a
settings file (`siting.env` in the working directory, or the file named by SITING_ENV_FILE).
docs/api.md lists every one, with what it limits and what a request over it gets."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "siting"


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


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
    rules_dir: Path | None = Field(
        None, description="operator rule packs (every *.yaml pack in it), loaded at start-up"
    )
    process_workers: int = Field(1, ge=1, description="processes for batch work and jobs")

    # ------------------------------------------------------------------ size limits
    max_upload_bytes: int = Field(200 * 1024 * 1024, description="413 above this")
    max_sites: int = Field(200_000, description="sites / rows / features per synchronous call")
    max_job_sites: int = Field(2_000_000, description="sites / rows / features per job")
    max_zip_members: int = 1_000
    max_zip_expanded_bytes: int = 2 * 1024 * 1024 * 1024
    max_zip_ratio: float = Field(200.0, description="uncompressed / compressed, zip bomb guard")
    max_json_depth: int = Field(64, ge=2, description="nesting of a JSON body: 422 beyond")
    max_context_files: int = Field(20, ge=0, description="context files in one upload")

    # ------------------------------------------------------------------ time limits
    header_timeout: float = Field(
        10.0, gt=0, description="seconds from a request's first byte to its last header"
    )
    max_header_bytes: int = Field(
        64 * 1024, ge=1024, description="request line + headers: 431 beyond"
    )
    keep_alive_timeout: int = Field(5, ge=1, description="idle keep-alive connection, seconds")
    body_timeout: float = Field(
        30.0, gt=0, description="seconds a request body may send nothing: 408"
    )
    min_body_rate: int = Field(
        1024, ge=0, description="bytes/s a body must average after body_timeout: 408 below"
    )

    # ------------------------------------------------------------------ posture
    api_keys: str = Field(
        "", description="comma-separated keys; when set, every request but /healthz needs one"
    )
    allowed_hosts: str | None = Field(
        None,
        description="Host header allow-list (comma-separated, '*.example.org' allowed); "
        "`siting serve` defaults it to localhost,127.0.0.1,::1 when bound to loopback",
    )
    rate_limit: int = Field(0, ge=0, description="requests per minute per client; 0: off")
    cors_origins: str = Field("", description="comma-separated origins; empty: no CORS")

    # ------------------------------------------------------------------ jobs (api/jobs.py)
    job_lease_seconds: float = Field(
        30.0, ge=1, description="a server's hold on its unfinished jobs, renewed every third"
    )
    job_max_attempts: int = Field(
        3, ge=1, description="runs of a job interrupted by a stop before it fails"
    )
    job_retention_days: float = Field(
        7.0, ge=0, description="finished jobs and their files are deleted after this; 0: kept"
    )

    # ------------------------------------------------------------------ engine=dask jobs
    # (docs/scale.md "Over HTTP"): the operator's, never a request's
    dask_scheduler: str | None = Field(
        None,
        description="jobs with engine=dask (or auto choosing it) run on this existing Dask "
        "cluster (tcp://HOST:8786); unset: a local cluster started by each such job. A "
        "request cannot name a scheduler",
    )
    dask_memory_budget: str = Field(
        "50%",
        description="memory of a dask job's local cluster (8GB, 512MiB, 40% of the machine's); "
        "a job's memory_budget above it is refused, a job without one gets it",
    )

    @field_validator("dask_memory_budget")
    @classmethod
    def _budget(cls, value: str) -> str:
        from siting.scale import checked_budget

        return checked_budget(value)

    def dask_budget_bytes(self) -> int:
        from siting.scale import parse_size

        return int(parse_size(self.dask_memory_budget) or 0)

    def key_list(self) -> list[str]:
        return split_list(self.api_keys)

    def host_list(self) -> list[str]:
        return split_list(self.allowed_hosts) if self.allowed_hosts is not None else ["*"]

    def cors_list(self) -> list[str]:
        return split_list(self.cors_origins)
