"""POST /v1/check (one site), /v1/checks (a list), /v1/checks/upload (a file and its context
layers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from siting_api import batch, models
from siting_api.limits import LimitedRoute
from siting_api.problems import Problem, field_errors, problem_responses
from siting_api.query import CheckQuery
from siting_api.routes import BODY_RESPONSES, RULESET_ID, UPLOAD_FILE, refuse_unknown_parts
from siting_api.server import Scratch, json_response, server_of

router = APIRouter(route_class=LimitedRoute)


@router.post(
    "/v1/check",
    response_model=models.SiteCheck,
    tags=["checks"],
    responses=BODY_RESPONSES,
)
async def check_one(
    request: Request,
    site: models.SiteRecord,
    ruleset: Annotated[str | None, Query(description=RULESET_ID)] = None,
    as_of: Annotated[str | None, Query(description="YYYY-MM-DD, default today")] = None,
):
    """One site -> one result, with the column report of its keys (a key not used is also
    a warning note, with the closest field). A record the engine finds invalid is a 422
    naming every problem."""
    server = server_of(request)
    pack = server.pack_for(ruleset)
    answer = await server.single.check(pack, as_of, site.as_record())
    if answer.error is not None:
        raise answer.error
    result = answer.result
    if result["status"] == "invalid":
        problems = [n["message"] for n in result["notes"] if n["level"] == "error"]
        raise Problem(
            422, "the site record is invalid: " + "; ".join(problems), field_errors(problems)
        )
    result["notes"] += [{"level": "warning", "message": w} for w in answer.warnings]
    result["columns"] = answer.columns
    return json_response(result)


@router.post(
    "/v1/checks",
    response_model=models.BatchAnswer,
    tags=["checks"],
    responses=BODY_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ChecksRequest"},
                    "example": models.ChecksRequest.model_config["json_schema_extra"]["examples"][
                        0
                    ],
                }
            },
        }
    },
)
async def check_many(request: Request):
    """A list of sites -> the batch answer: one result per site, in order; a bad site is
    an `invalid` result, never a lost one. Parsed and checked in a worker process."""
    server = server_of(request)
    with Scratch("siting-checks-") as scratch:
        body = scratch.path / "body.json"
        with body.open("wb") as out:  # streamed to disk: never whole in this process
            async for chunk in request.stream():
                out.write(chunk)
        return await server.off_loop(
            request,
            scratch,
            batch.check_json_file,
            str(body),
            str(scratch.path),
            {k: str(v) for k, v in server.rulesets.paths.items()},
            server.settings.default_ruleset,
            server.settings.max_sites,
            server.settings.max_json_depth,
        )


@router.post(
    "/v1/checks/upload",
    response_model=models.BatchAnswer,
    tags=["checks"],
    responses={
        **BODY_RESPONSES,
        **problem_responses(415),
        200: {
            "description": "The batch answer (json), a CSV, a GeoJSON layer or the report",
            "content": {"text/csv": {}, "application/geo+json": {}, "text/html": {}},
        },
    },
)
async def check_upload_route(
    request: Request,
    file: Annotated[UploadFile, File(description=UPLOAD_FILE)],
    query: Annotated[CheckQuery, Depends()],
    context: Annotated[list[UploadFile] | None, File(description="context layers")] = None,
):
    """A file (and context layers) -> the batch answer, or CSV / GeoJSON. Checked at once,
    in memory: `engine=dask` (and `auto`) is for jobs (POST /v1/jobs)."""
    server = server_of(request)
    await refuse_unknown_parts(request)
    if query.engine != "memory":
        raise Problem(
            422,
            f"engine={query.engine}: a check at once runs in memory; submit a job "
            "(POST /v1/jobs) to run a map check on Dask",
        )
    with Scratch("siting-upload-") as scratch:
        spec = await server.saved_spec(
            scratch.path, file, context, query, server.settings.max_sites
        )
        return await server.off_loop(
            request, scratch, batch.check_saved_upload, spec, str(scratch.path), server.default_path
        )
