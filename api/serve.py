"""`siting serve`: run the API with uvicorn (settings from SITING_* or siting.env)."""

from __future__ import annotations

import os


def serve(
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    data_dir: str | None = None,
) -> int:
    import uvicorn

    from api.settings import Settings

    overrides = {
        k: v
        for k, v in {"host": host, "port": port, "workers": workers, "data_dir": data_dir}.items()
        if v is not None
    }
    settings = Settings(**overrides)
    # Worker processes rebuild the app from the environment: pass the overrides on.
    for key, value in overrides.items():
        os.environ[f"SITING_{key.upper()}"] = str(value)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"siting API on http://{settings.host}:{settings.port} (docs at /docs), "
        f"{settings.workers} worker(s), job store {settings.data_dir}"
    )
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="warning",
        access_log=False,
    )
    return 0
