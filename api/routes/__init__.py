"""The HTTP routes, one router per resource: service (/healthz), rulesets, checks (one site,
a list, an upload), jobs. Each parses into the library's types, calls it (heavy work in the
server's process pool, api/server.py) and serialises; none holds rule logic."""

from __future__ import annotations

from fastapi import Request

from siting_api.problems import Problem, problem_responses
from siting_api.query import refuse_withheld

UPLOAD_FILE = "site list (.csv .xlsx .json) or parking layer (.gpkg .geojson, .zip shapefile)"
RULESET_ID = "pack id (GET /v1/rulesets); the server's default when absent"

# Answers any route may give, depending on the server's settings (docs/api.md).
COMMON_RESPONSES = {
    **problem_responses(400, 401, 429, 500),
    400: {**problem_responses(400)[400], "description": "Host header not allowed"},
    401: {**problem_responses(401)[401], "description": "API key missing (keys are set)"},
    429: {**problem_responses(429)[429], "description": "rate limit (Retry-After)"},
    500: {**problem_responses(500)[500], "description": "internal error, with a request_id"},
}
BODY_RESPONSES = problem_responses(404, 408, 413, 422)
FORM_PARTS = {"file", "context"}


async def refuse_unknown_parts(request: Request) -> None:
    """Form parts other than the files, and options a request may not give (the Dask
    scheduler, the report's base map: siting_api.query.refuse_withheld), are refused."""
    refuse_withheld(request.query_params.keys())
    unknown = sorted(set((await request.form()).keys()) - FORM_PARTS)
    if unknown:
        raise Problem(
            422, f"unknown form part(s) {', '.join(map(repr, unknown))}; send file and context"
        )
