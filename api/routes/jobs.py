"""POST /v1/jobs (an upload run as a job), GET /v1/jobs/{id}, its result and its report."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import FileResponse, Response

from siting_api import models
from siting_api.jobs import JobStore
from siting_api.limits import LimitedRoute
from siting_api.problems import Problem, problem_responses
from siting_api.query import CheckQuery
from siting_api.routes import BODY_RESPONSES, UPLOAD_FILE, refuse_unknown_parts
from siting_api.server import json_response, server_of
from siting_api.work import REPORT_FILE, REPORT_JOB_MAX_SITES

router = APIRouter(route_class=LimitedRoute)


@router.post(
    "/v1/jobs",
    status_code=202,
    response_model=models.Job,
    tags=["jobs"],
    responses={**BODY_RESPONSES, **problem_responses(415)},
)
async def submit_job(
    request: Request,
    file: Annotated[UploadFile, File(description=UPLOAD_FILE)],
    query: Annotated[CheckQuery, Depends()],
    context: Annotated[list[UploadFile] | None, File(description="context layers")] = None,
):
    """The same upload as /v1/checks/upload, run as a job: 202 with the job's URL."""
    server = server_of(request)
    await refuse_unknown_parts(request)
    store: JobStore = server.app.state.store
    if query.ruleset is not None:
        server.ruleset_path(query.ruleset)  # refuse an unknown ruleset now, not later
    job_id = store.new_id()
    folder = store.folder(job_id) / "input"
    folder.mkdir(parents=True)
    try:
        spec = await server.saved_spec(folder, file, context, query, server.settings.max_job_sites)
    except BaseException:
        shutil.rmtree(store.folder(job_id), ignore_errors=True)
        raise
    job = store.create(job_id, spec)
    server.start_job(job_id)
    view = server.job_view(job)
    return json_response(view, status=202, headers={"Location": view["url"]})


@router.get(
    "/v1/jobs/{job_id}",
    response_model=models.Job,
    tags=["jobs"],
    responses=problem_responses(404),
)
def job_status(request: Request, job_id: str):
    server = server_of(request)
    job = server.app.state.store.get(job_id)
    if job is None:
        raise Problem(404, f"no job {job_id!r}")
    return json_response(server.job_view(job))


@router.get(
    "/v1/jobs/{job_id}/result",
    tags=["jobs"],
    responses={
        **problem_responses(404, 409),
        200: {
            "description": "The result in the job's format",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/BatchAnswer"}},
                "text/csv": {},
                "application/geo+json": {},
                "text/html": {},
            },
        },
    },
)
def job_result(request: Request, job_id: str):
    server = server_of(request)
    job = server.done_job(job_id)
    path = Path(job["result"])
    if not path.exists():
        raise Problem(404, f"the result of job {job_id} is no longer stored")
    return Response(path.read_bytes(), media_type=job["media_type"])


@router.get(
    "/v1/jobs/{job_id}/report",
    tags=["jobs"],
    responses={
        **problem_responses(404, 409),
        200: {"description": "The job's HTML report", "content": {"text/html": {}}},
    },
    response_class=Response,
)
def job_report(request: Request, job_id: str):
    """The job's self-contained HTML report (docs/report.md), whatever its format."""
    server = server_of(request)
    job = server.done_job(job_id)
    path = Path(job["result"]) if job["format"] == "html" else Path(job["result"]).parent
    path = path if job["format"] == "html" else path / REPORT_FILE
    if not path.exists():
        raise Problem(
            404,
            f"job {job_id} has no report: reports are made for jobs of up to "
            f"{REPORT_JOB_MAX_SITES:,} sites run with engine=memory (or ask for format=html)",
        )
    return FileResponse(path, media_type="text/html; charset=utf-8")
