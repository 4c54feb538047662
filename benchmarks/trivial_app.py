"""The yardstick for benchmarks/bench_api.py: FastAPI itself, with the same request body model
as POST /v1/check (siting_api.models.SiteRecord) and a small JSON answer, served by the same uvicorn
settings. What `siting serve` costs beyond this is siting's own work."""

from __future__ import annotations

from fastapi import FastAPI

from siting_api.models import SiteRecord

app = FastAPI()


@app.post("/v1/check")
async def check(site: SiteRecord, as_of: str | None = None):
    return {"id": site.id, "status": "pass", "record": site.as_record()}
