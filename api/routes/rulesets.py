"""GET /v1/rulesets and /v1/rulesets/{id}: the packs the server offers, by id."""

from __future__ import annotations

from fastapi import APIRouter, Request

from siting_api import models
from siting_api.limits import LimitedRoute
from siting_api.problems import problem_responses
from siting_api.server import json_response, server_of

router = APIRouter(route_class=LimitedRoute)


@router.get("/v1/rulesets", response_model=list[models.RulesetSummary], tags=["rulesets"])
def list_rulesets(request: Request):
    server = server_of(request)
    return json_response([server.pack_for(ref).summary() for ref in server.rulesets.ids()])


@router.get(
    "/v1/rulesets/{ruleset_id}",
    response_model=models.RulesetDetail,
    tags=["rulesets"],
    responses=problem_responses(404),
)
def ruleset(request: Request, ruleset_id: str):
    server = server_of(request)
    pack = server.pack_for(ruleset_id)
    return json_response(
        {"summary": pack.summary(), "pack": pack.model_dump(mode="json", by_alias=True)}
    )
