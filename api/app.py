"""The FastAPI application (built by `create_app`): parse, call the library, serialise."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import orjson
from fastapi import Depends, FastAPI, File, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from api import batch, models
from api.coalesce import SingleChecks
from api.guard import Access, HostAllowList, RequestContext
from api.jobs import JobStore, run_job
from api.limits import BodyLimits, LimitedRoute
from api.problems import Problem, field_errors, install, problem_responses
from api.query import CheckQuery, options_of
from api.rulesets import Rulesets, strip_paths
from api.settings import Settings
from api.uploads import save
from api.web import install_pages
from api.work import REPORT_FILE, REPORT_JOB_MAX_SITES, UploadSpec, worker_init
from siting import __version__
from siting.errors import RulePackError
from siting.request import CheckRequest

log = logging.getLogger("siting.api")



def _json(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        orjson.dumps(data), status_code=status, media_type="application/json", headers=headers
    )


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


class Scratch:
    """A request's temporary folder, deleted on exit, or when its work ends if the work
    is still running then (a cancelled call reads its cancel mark there)."""

    def __init__(self, prefix: str):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self.pending: Future | None = None
        self.handed_off = False  # to the response, which deletes it once sent

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc) -> None:
        if self.handed_off and exc[0] is None:
            return
        if self.pending is not None and not self.pending.done():
            self.pending.add_done_callback(lambda f: self.remove())
        else:
            self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def create_app(settings: Settings | None = None, executor: Executor | None = None) -> FastAPI:
    settings = settings or Settings()
    rulesets = Rulesets(settings.rules_dir, settings.default_ruleset)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.store = JobStore(settings.data_dir, settings)
        app.state.loop = asyncio.get_running_loop()
        app.state.own_pool = executor is None
        # Workers are made here, on the event-loop thread: their parent-death signal is tied
        # to the thread that spawned them (api/work.py worker_init).
        app.state.pool = executor or _new_pool(settings)
        for job_id in app.state.store.recover():
            _start_job(app, job_id)
        app.state.store.start(lambda job_id: _start_job(app, job_id))  # periodic recovery
        yield
        if app.state.own_pool:
            # wait: worker processes left behind outlive the server as orphans
            app.state.pool.shutdown(wait=True, cancel_futures=True)
        app.state.store.stop()  # after the pool: queued jobs are handed to the next server

    app = FastAPI(
        title="siting: EV charging space compliance checker",
        version=__version__,
        description=(
            "Checks parking sites against EV charging space rules (default pack "
            f"`{settings.default_ruleset}`): pass or fail, the shortfall, and the clause it "
            "comes from. Errors are RFC 9457 problem details."
        ),
        lifespan=lifespan,
        responses=COMMON_RESPONSES,
        docs_url=None,  # /docs and /redoc from bundled files (api/web.py), never a CDN
        redoc_url=None,
        # multipart: the file and its context files (each spooled to disk past 1 MB), and
        # no form fields beyond a few (the options are query parameters)
        form_limits={
            "max_files": settings.max_context_files + 1,
            "max_fields": settings.max_context_files + 8,
        },
    )
    app.router.route_class = LimitedRoute  # JSON bodies: orjson, depth-limited
    app.state.settings = settings
    app.state.rulesets = rulesets
    default_path = str(rulesets.path(None))

    def ruleset_path(ref: str | None) -> str:
        """A pack id from a request -> its file; 404 for anything else (never a path)."""
        path = rulesets.path(ref)
        if path is None:
            raise Problem(404, rulesets.unknown(ref))
        return str(path)

    def pack_for(ref: str | None):
        path = ruleset_path(ref)
        try:
            return rulesets.load(path)
        except RulePackError as exc:  # a pack file edited into a broken one since start-up
            log.error("ruleset %s cannot be loaded: %s", ref, exc)
            raise Problem(503, f"ruleset cannot be loaded: {strip_paths(str(exc))}") from None

    install(app)
    _install_posture(app, settings)
    single = SingleChecks()  # POST /v1/check: requests that arrive at once, in one pass

    async def off_loop(request: Request, scratch: Scratch, fn, *args):
        """Run `fn(*args)` in the pool; stop it when the client goes away (api/batch.py)."""
        job = scratch.pending = app.state.pool.submit(fn, *args)
        work = asyncio.wrap_future(job)
        gone = asyncio.ensure_future(_client_gone(request))

        def stop():
            job.cancel()  # still queued: it never runs
            batch.cancel(scratch.path, getattr(app.state.pool, "_processes", None))
            work.add_done_callback(lambda f: f.cancelled() or f.exception())  # no warning

        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            stop()
            raise
        finally:
            gone.cancel()
        if not work.done():
            stop()
            log.info("%s %s: the client went away; work cancelled", request.method, request.url)
            return Response(status_code=499)  # nobody reads it
        outcome = work.result()
        if outcome[0] == "problem":
            raise Problem(outcome[1], outcome[2])
        if outcome[0] == "file":  # a large answer: streamed from disk, then deleted
            scratch.handed_off = True
            return FileResponse(
                outcome[1], media_type=outcome[2], background=BackgroundTask(scratch.remove)
            )
        return Response(outcome[1], media_type=outcome[2])

    # ------------------------------------------------------------------ service
    @app.get("/healthz", response_model=models.Health, tags=["service"])
    async def healthz():
        return _json({"status": "ok", "version": __version__, "rulesets": rulesets.ids()})

    # ------------------------------------------------------------------ rulesets
    @app.get("/v1/rulesets", response_model=list[models.RulesetSummary], tags=["rulesets"])
    def list_rulesets():
        return _json([pack_for(ref).summary() for ref in rulesets.ids()])

    @app.get(
        "/v1/rulesets/{ruleset_id}",
        response_model=models.RulesetDetail,
        tags=["rulesets"],
        responses=problem_responses(404),
    )
    def ruleset(ruleset_id: str):
        pack = pack_for(ruleset_id)
        return _json(
            {"summary": pack.summary(), "pack": pack.model_dump(mode="json", by_alias=True)}
        )

    # ------------------------------------------------------------------ checks
    @app.post(
        "/v1/check",
        response_model=models.SiteCheck,
        tags=["checks"],
        responses=BODY_RESPONSES,
    )
    async def check_one(
        site: models.SiteRecord,
        ruleset: Annotated[str | None, Query(description=RULESET_ID)] = None,
        as_of: Annotated[str | None, Query(description="YYYY-MM-DD, default today")] = None,
    ):
        """One site -> one result, with the column report of its keys (a key not used is also
        a warning note, with the closest field). A record the engine finds invalid is a 422
        naming every problem."""
        pack = pack_for(ruleset)
        answer = await single.check(pack, as_of, site.as_record())
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
        return _json(result)

    @app.post(
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
        with Scratch("siting-checks-") as scratch:
            body = scratch.path / "body.json"
            with body.open("wb") as out:  # streamed to disk: never whole in this process
                async for chunk in request.stream():
                    out.write(chunk)
            return await off_loop(
                request,
                scratch,
                batch.check_json_file,
                str(body),
                str(scratch.path),
                {k: str(v) for k, v in rulesets.paths.items()},
                settings.default_ruleset,
                settings.max_sites,
                settings.max_json_depth,
            )

    async def _saved_spec(
        folder: Path,
        file: UploadFile,
        context: list[UploadFile] | None,
        query: CheckQuery,
        max_records: int,
    ) -> UploadSpec:
        """Save the upload into `folder`; the work to do with it is the library's
        CheckRequest, its ruleset the pack file of the id the query named."""
        options = options_of(query)
        if options.ruleset is not None:
            options = options.model_copy(update={"ruleset": ruleset_path(options.ruleset)})
        if len(context or []) > settings.max_context_files:
            raise Problem(
                413,
                f"{len(context or [])} context files; at most {settings.max_context_files} "
                "(SITING_MAX_CONTEXT_FILES)",
            )
        budget = [settings.max_upload_bytes]
        main = await save(file, folder, "upload", settings, budget)
        contexts = [
            await save(c, folder, f"context{k}", settings, budget)
            for k, c in enumerate(context or [])
        ]
        # a context layer named by its uploaded name (context_layer=FILE=LAYER) keeps it
        layers = dict(options.context_layer)
        for upload, saved in zip(context or [], contexts, strict=True):
            if upload.filename and upload.filename in layers:
                layers[saved.name] = layers[upload.filename]
        options = options.model_copy(update={"context_layer": layers})
        request = CheckRequest(
            input=str(main),
            name=main.name,
            contexts=[str(c) for c in contexts],
            options=options,
            format=query.format,
            max_records=max_records,
        )
        return UploadSpec(request)

    @app.post(
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
        """A file (and context layers) -> the batch answer, or CSV / GeoJSON."""
        await _refuse_unknown_parts(request)
        with Scratch("siting-upload-") as scratch:
            spec = await _saved_spec(scratch.path, file, context, query, settings.max_sites)
            return await off_loop(
                request, scratch, batch.check_saved_upload, spec, str(scratch.path), default_path
            )

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
        } | {"url": url, "result_url": f"{url}/result", "report_url": f"{url}/report"}

    @app.post(
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
        await _refuse_unknown_parts(request)
        store: JobStore = app.state.store
        if query.ruleset is not None:
            ruleset_path(query.ruleset)  # refuse an unknown ruleset now, not later
        job_id = store.new_id()
        folder = store.folder(job_id) / "input"
        folder.mkdir(parents=True)
        try:
            spec = await _saved_spec(folder, file, context, query, settings.max_job_sites)
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

    def _done_job(job_id: str) -> dict:
        """The job, once done: 404 when there is none, 409 while it runs or when it failed."""
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
        return job

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
                    "text/html": {},
                },
            },
        },
    )
    def job_result(job_id: str):
        job = _done_job(job_id)
        path = Path(job["result"])
        if not path.exists():
            raise Problem(404, f"the result of job {job_id} is no longer stored")
        return Response(path.read_bytes(), media_type=job["media_type"])

    @app.get(
        "/v1/jobs/{job_id}/report",
        tags=["jobs"],
        responses={
            **problem_responses(404, 409),
            200: {"description": "The job's HTML report", "content": {"text/html": {}}},
        },
        response_class=Response,
    )
    def job_report(job_id: str):
        """The job's self-contained HTML report (docs/report.md), whatever its format."""
        job = _done_job(job_id)
        path = Path(job["result"]) if job["format"] == "html" else Path(job["result"]).parent
        path = path if job["format"] == "html" else path / REPORT_FILE
        if not path.exists():
            raise Problem(
                404,
                f"job {job_id} has no report: reports are made for jobs of up to "
                f"{REPORT_JOB_MAX_SITES:,} sites (or ask for format=html)",
            )
        return FileResponse(path, media_type="text/html; charset=utf-8")

    install_pages(app, sorted(rulesets.paths), settings.default_ruleset)  # /, /docs, /redoc
    app.openapi_schema = None
    _add_schemas(app)
    return app


def _new_pool(settings: Settings) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        settings.process_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=worker_init,
        initargs=(os.getpid(),),
    )


def _renew_pool(app: FastAPI) -> None:
    """Replace a broken pool (on the event-loop thread)."""
    pool = app.state.pool
    if getattr(pool, "_broken", False):
        app.state.pool = _new_pool(app.state.settings)
        pool.shutdown(wait=False, cancel_futures=True)


def _start_job(app: FastAPI, job_id: str) -> None:
    settings: Settings = app.state.settings
    store: JobStore = app.state.store
    future = app.state.pool.submit(
        run_job, str(settings.data_dir), job_id, str(app.state.rulesets.path(None))
    )

    def done(f):
        if f.cancelled():  # shutdown: the next server takes the job
            return
        exc = f.exception()
        if exc is None:
            return
        if isinstance(exc, BrokenProcessPool):
            # A worker was killed (e.g. out of memory): an interrupted run, re-queued by the
            # sweep (and failed after job_max_attempts); the pool is made anew.
            store.release(job_id)
            if app.state.own_pool:
                app.state.loop.call_soon_threadsafe(_renew_pool, app)
            return
        job = store.get(job_id)
        if job and job["state"] not in ("done", "failed"):
            store.fail(job_id, f"the worker process failed: {type(exc).__name__}")

    future.add_done_callback(done)


async def _client_gone(request: Request) -> None:
    """Returns when the client disconnects (call once the request body has been read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _install_posture(app: FastAPI, settings: Settings) -> None:
    """The middleware of docs/api.md "Deployment", outermost last; each only when its
    setting is on. Also: `Allow` (and `Connection: close`) headers kept on problems."""
    app.add_middleware(
        BodyLimits,
        limit=settings.max_upload_bytes,
        idle=settings.body_timeout,
        min_rate=settings.min_body_rate,
    )
    if settings.key_list() or settings.rate_limit:
        app.add_middleware(Access, keys=settings.key_list(), per_minute=settings.rate_limit)
    if settings.cors_list():
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_list(),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["X-Request-ID", "Retry-After", "Location"],
        )
    if "*" not in settings.host_list():
        app.add_middleware(HostAllowList, allowed_hosts=settings.host_list())
    app.add_middleware(RequestContext)

    plain = app.exception_handlers[StarletteHTTPException]

    async def with_headers(request: Request, exc: StarletteHTTPException):
        response = await plain(request, exc)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    app.exception_handlers[StarletteHTTPException] = with_headers


def _describe_rulesets_and_forms(schema: dict, ids: list[str], max_context: int) -> None:
    """The OpenAPI description says what the server accepts: a `ruleset` is one of the ids
    it offers; an upload's form has `file` and at most `max_context` `context` parts."""
    for item in schema["paths"].values():
        for operation in item.values():
            for param in operation.get("parameters", []):
                if param["name"] == "ruleset":
                    param["schema"] = {"type": "string", "enum": ids, "title": "Ruleset"}
    jobs = schema["paths"].get("/v1/jobs", {}).get("post")
    if jobs is not None:  # a submitted job's id opens its status and result (links)
        jobs["responses"]["202"]["links"] = {
            name: {
                "operationId": schema["paths"][path]["get"]["operationId"],
                "parameters": {"job_id": "$response.body#/id"},
            }
            for name, path in (
                ("JobStatus", "/v1/jobs/{job_id}"),
                ("JobResult", "/v1/jobs/{job_id}/result"),
            )
        }
    comps = schema["components"]["schemas"]
    comps["ChecksRequest"]["properties"]["ruleset"] = {
        "anyOf": [{"type": "string", "enum": ids}, {"type": "null"}],
        "title": "Ruleset",
    }
    for name, sub in comps.items():
        if name.startswith("Body_") and "file" in sub.get("properties", {}):
            sub["additionalProperties"] = False
            context = sub["properties"].get("context", {})
            for variant in [context, *context.get("anyOf", [])]:
                if variant.get("type") == "array":
                    variant["maxItems"] = max_context


async def _refuse_unknown_parts(request: Request) -> None:
    unknown = sorted(set((await request.form()).keys()) - FORM_PARTS)
    if unknown:
        raise Problem(
            422, f"unknown form part(s) {', '.join(map(repr, unknown))}; send file and context"
        )


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
        _describe_rulesets_and_forms(
            schema, app.state.rulesets.ids(), app.state.settings.max_context_files
        )
        if app.state.settings.key_list():
            schema["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            schema["security"] = [{"bearer": []}]
            for path in ("/healthz",):
                for operation in schema["paths"].get(path, {}).values():
                    operation["security"] = []
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
