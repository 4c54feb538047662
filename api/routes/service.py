"""GET /healthz."""

from __future__ import annotations

from fastapi import APIRouter, Request

from siting import __version__
from siting_api import models
from siting_api.limits import LimitedRoute
from siting_api.server import json_response, server_of

router = APIRouter(route_class=LimitedRoute)


@router.get("/healthz", response_model=models.Health, tags=["service"])
async def healthz(request: Request):
    server = server_of(request)
    return json_response(
        {"status": "ok", "version": __version__, "rulesets": server.rulesets.ids()}
    )
