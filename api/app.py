"""The FastAPI application (built by `create_app`): parse, call the library, serialise."""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import tempfile
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import orjson
from fastapi import Depends, FastAPI, File, Query, Request, UploadFile
from fastapi.responses import Response

from api import models
from api.jobs import JobStore, run_job
from api.problems import Problem, field_errors, install, problem_responses
from api.settings import Settings
from api.uploads import save
from api.work import UploadSpec, check_json, check_upload
from siting import __version__
from siting.check import check_records
from siting.ruleset import bundled_pack_files, load_ruleset
from siting.run import parse_pairs

Format = Literal["json", "csv", "geojson"]


def _json(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        orjson.dumps(data), status_code=status, media_type="application/json", headers=headers
    )


UPLOAD_FILE = "site list (.csv .xlsx .json) or parking layer (.gpkg .geojson, .zip shapefile)"


@dataclass
class UploadOptions:
    """Query parameters shared by /v1/checks/upload and /v1/jobs."""

    format: Annotated[Format, Query(description="answer format")] = "json"
    ruleset: Annotated[str | None, Query(description="pack id")] = None
    as_of: Annotated[str | None, Query(description="YYYY-MM-DD, default today")] = None
    layer: Annotated[str | None, Query(description="layer of a multi-layer file")] = None
    crs: Annotated[str | None, Query(description="CRS of a layer without one")] = None
    offset: Annotated[Literal["gcj02", "bd09"] | None, Query()] = None
    context_crs: Annotated[list[str] | None, Query(description="FILE=EPSG:...")] = None
    context_offset: Annotated[list[str] | None, Query(description="FILE=gcj02|bd09")] = None
    context_layer: Annotated[
        list[str] | None, Query(description="FILE=LAYER for a multi-layer context file")
    ] = None
    max_distance: Annotated[float | None, Query(ge=0, description="metres")] = None
    accept_nearest: Annotated[
        bool,
        Query(
            description="treat a category found by proximity (nearest context feature) as "
            "certain: a fail on it stays a fail instead of needs_review"
        ),
    ] = False
    field: Annotated[
        list[str] | None,
        Query(description="COLUMN=FIELD: read an input column as a site-record field"),
    ] = None


class BodyLimit:
    """Refuse uploads over the size cap with 413 before they are read into memory or disk."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            from api.problems import problem_response

            resp = problem_response(
                413,
                f"the request is larger than {self.limit:,} bytes (SITING_MAX_UPLOAD_BYTES)",
                scope["path"],
            )
            return await resp(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise Problem(413, f"the request is larger than {self.limit:,} bytes")
            return message

        return await self.app(scope, limited, send)


def create_app(settings: Settings | None = None, executor: Executor | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.store = JobStore(settings.data_dir)
        own_pool = executor is None
        app.state.pool = executor or ProcessPoolExecutor(
            settings.process_workers, mp_context=multiprocessing.get_context("spawn")
        )
        for job_id in app.state.store.recover():
            _start_job(app, job_id)
        yield
        if own_pool:
            # wait: worker processes left behind outlive the server as orphans
            app.state.pool.shutdown(wait=True, cancel_futures=True)

    app = FastAPI(
        title="siting: EV charging space compliance checker",
        version=__version__,
        description=(
            "Checks parking sites against EV charging space rules (default pack "
            f"`{settings.default_ruleset}`): pass or fail, the shortfall, and the clause it "
            "comes from. Errors are RFC 9457 problem details."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    pack_paths = bundled_pack_files()  # ids resolved once; edits to a pack are still reloaded

    def pack_for(ref: str | None):
        ref = ref or settings.default_ruleset
        return load_ruleset(pack_paths.get(ref, ref))

    install(app)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)

    async def off_loop(fn, *args):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(app.state.pool, fn, *args)

    # ------------------------------------------------------------------ service
    @app.get("/healthz", response_model=models.Health, tags=["service"])
    async def healthz():
        return _json({"status": "ok", "version": __version__, "rulesets": list(pack_paths)})

    # ------------------------------------------------------------------ rulesets
    @app.get("/v1/rulesets", response_model=list[models.RulesetSummary], tags=["rulesets"])
    def rulesets():
        return _json([load_ruleset(p).summary() for p in pack_paths.values()])

    @app.get(
        "/v1/rulesets/{ruleset_id}",
        response_model=models.RulesetDetail,
        tags=["rulesets"],
        responses=problem_responses(404),
    )
    def ruleset(ruleset_id: str):
        path = pack_paths.get(ruleset_id)
        if path is None:
            raise Problem(404, f"no ruleset {ruleset_id!r}; see /v1/rulesets")
        pack = load_ruleset(path)
        return _json(
            {"summary": pack.summary(), "pack": pack.model_dump(mode="json", by_alias=True)}
        )

    # ------------------------------------------------------------------ checks
    @app.post(
        "/v1/check",
        response_model=models.SiteCheck,
        tags=["checks"],
        responses=problem_responses(404, 422),
    )
    async def check_one(
        site: models.SiteRecord,
        ruleset: Annotated[str | None, Query(description="pack id")] = None,
        as_of: Annotated[str | None, Query(description="YYYY-MM-DD, default today")] = None,
    ):
        """One site -> one result, with the column report of its keys (a key not used is also
        a warning note, with the closest field). A record the engine finds invalid is a 422
        naming every problem."""
        pack = pack_for(ruleset)
        answer = check_records([site.as_record()], pack, as_of=as_of)
        result = answer.results[0]
        if result["status"] == "invalid":
            problems = [n["message"] for n in result["notes"] if n["level"] == "error"]
            raise Problem(
                422, "the site record is invalid: " + "; ".join(problems), field_errors(problems)
            )
        result["notes"] += [{"level": "warning", "message": w} for w in answer.all_warnings]
        result["columns"] = answer.columns.as_dict()
        return _json(result)

    @app.post(
        "/v1/checks",
        response_model=models.BatchAnswer,
        tags=["checks"],
        responses=problem_responses(413, 422),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/ChecksRequest"},
                        "example": models.ChecksRequest.model_config["json_schema_extra"][
                            "examples"
                        ][0],
                    }
                },
            }
        },
    )
    async def check_many(request: Request):
        """A list of sites -> the batch answer: one result per site, in order; a bad site is
        an `invalid` result, never a lost one. Parsed and checked in a worker process."""
        body = await request.body()
        data, media_type = await off_loop(
            check_json, body, settings.default_ruleset, settings.max_sites
        )
        return Response(data, media_type=media_type)

    async def _saved_spec(
        folder: Path,
        file: UploadFile,
        context: list[UploadFile] | None,
        opts: UploadOptions,
        max_records: int,
    ) -> UploadSpec:
        """Save the upload into `folder` and describe the work to do with it."""
        budget = [settings.max_upload_bytes]
        main = await save(file, folder, "upload", settings, budget)
        contexts = [
            await save(c, folder, f"context{k}", settings, budget)
            for k, c in enumerate(context or [])
        ]
        layers = parse_pairs(opts.context_layer, "context_layer", commas=True)
        refs = []
        for upload, saved in zip(context or [], contexts, strict=True):
            layer = layers.get(upload.filename or "") or layers.get(saved.name)
            refs.append(f"{saved}:{layer}" if layer else str(saved))
        return UploadSpec(
            file=str(main),
            name=main.name,
            contexts=refs,
            fmt=opts.format,
            ruleset=opts.ruleset,
            as_of=opts.as_of,
            layer=opts.layer,
            crs=opts.crs,
            offset=opts.offset,
            context_crs=parse_pairs(opts.context_crs, "context_crs", commas=True),
            context_offset=parse_pairs(opts.context_offset, "context_offset", commas=True),
            max_distance=opts.max_distance,
            accept_nearest=opts.accept_nearest,
            field_map=parse_pairs(opts.field, "field", commas=True),
            max_records=max_records,
        )

    @app.post(
        "/v1/checks/upload",
        response_model=models.BatchAnswer,
        tags=["checks"],
        responses={
            **problem_responses(413, 415, 422),
            200: {
                "description": "The batch answer (json), a CSV, or a GeoJSON layer",
                "content": {"text/csv": {}, "application/geo+json": {}},
            },
        },
    )
    async def check_upload_route(
        file: Annotated[UploadFile, File(description=UPLOAD_FILE)],
        opts: Annotated[UploadOptions, Depends()],
        context: Annotated[list[UploadFile] | None, File(description="context layers")] = None,
    ):
        """A file (and context layers) -> the batch answer, or CSV / GeoJSON."""
        folder = Path(tempfile.mkdtemp(prefix="siting-upload-"))
        try:
            spec = await _saved_spec(folder, file, context, opts, settings.max_sites)
            data, media_type = await off_loop(check_upload, spec, settings.default_ruleset)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return Response(data, media_type=media_type)

    # ------------------------------------------------------------------ jobs
    def _job_view(job: dict) -> dict:
        url = f"/v1/jobs/{job['id']}"
        return {
            k: job[k]
            for k in (
                "id",
                "state",
                "progress",
                "stage",
                "created",
                "started",
                "finished",
                "error",
                "format",
            )
        } | {"url": url, "result_url": f"{url}/result"}

    @app.post(
        "/v1/jobs",
        status_code=202,
        response_model=models.Job,
        tags=["jobs"],
        responses=problem_responses(413, 415, 422),
    )
    async def submit_job(
        file: Annotated[UploadFile, File(description=UPLOAD_FILE)],
        opts: Annotated[UploadOptions, Depends()],
        context: Annotated[list[UploadFile] | None, File(description="context layers")] = None,
    ):
        """The same upload as /v1/checks/upload, run as a job: 202 with the job's URL."""
        store: JobStore = app.state.store
        if opts.ruleset is not None:
            pack_for(opts.ruleset)  # refuse an unknown ruleset now, not later
        job_id = store.new_id()
        folder = store.folder(job_id) / "input"
        folder.mkdir(parents=True)
        try:
            spec = await _saved_spec(folder, file, context, opts, settings.max_job_sites)
        except BaseException:
            shutil.rmtree(store.folder(job_id), ignore_errors=True)
            raise
        job = store.create(job_id, spec)
        _start_job(app, job_id)
        view = _job_view(job)
        return _json(view, status=202, headers={"Location": view["url"]})

    @app.get(
        "/v1/jobs/{job_id}",
        response_model=models.Job,
        tags=["jobs"],
        responses=problem_responses(404),
    )
    def job_status(job_id: str):
        job = app.state.store.get(job_id)
        if job is None:
            raise Problem(404, f"no job {job_id!r}")
        return _json(_job_view(job))

    @app.get(
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
                },
            },
        },
    )
    def job_result(job_id: str):
        job = app.state.store.get(job_id)
        if job is None:
            raise Problem(404, f"no job {job_id!r}")
        if job["state"] == "failed":
            raise Problem(409, f"job {job_id} failed: {job['error']}", state="failed")
        if job["state"] != "done":
            raise Problem(
                409,
                f"job {job_id} is {job['state']} ({job['progress']:.0%}); "
                "poll its status URL until it is done",
                state=job["state"],
            )
        path = Path(job["result"])
        if not path.exists():
            raise Problem(404, f"the result of job {job_id} is no longer stored")
        return Response(path.read_bytes(), media_type=job["media_type"])

    app.openapi_schema = None
    _add_schemas(app)
    return app


def _start_job(app: FastAPI, job_id: str) -> None:
    settings: Settings = app.state.settings
    store: JobStore = app.state.store
    future = app.state.pool.submit(
        run_job, str(settings.data_dir), job_id, settings.default_ruleset
    )

    def done(f):
        exc = f.exception()
        if exc is not None:  # the worker process itself died
            job = store.get(job_id)
            if job and job["state"] not in ("done", "failed"):
                store.fail(job_id, f"the worker process failed: {type(exc).__name__}: {exc}")

    future.add_done_callback(done)


def _add_schemas(app: FastAPI) -> None:
    """Models referenced only from openapi_extra / problem responses."""
    original = app.openapi

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (models.ChecksRequest, models.ProblemModel, models.BatchAnswer):
            defs = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in defs.pop("$defs", {}).items():
                comps.setdefault(name, sub)
            comps.setdefault(model.__name__, defs)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
