"""The FastAPI application (built by `create_app`): the server's state (api/server.py), its
posture (api/guard.py, api/limits.py), the routers by resource (api/routes/), the pages
(api/web.py) and the OpenAPI description."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from siting import __version__
from siting_api import models
from siting_api.guard import Access, HostAllowList, RequestContext
from siting_api.jobs import JobStore
from siting_api.limits import BodyLimits, LimitedRoute
from siting_api.problems import install, problem_responses
from siting_api.routes import checks, jobs, rulesets, service
from siting_api.rulesets import Rulesets
from siting_api.server import Server, new_pool, start_job
from siting_api.settings import Settings
from siting_api.web import install_pages

log = logging.getLogger("siting.api")

# Answers any route may give, depending on the server's settings (docs/api.md).
COMMON_RESPONSES = {
    **problem_responses(400, 401, 429, 500),
    400: {**problem_responses(400)[400], "description": "Host header not allowed"},
    401: {**problem_responses(401)[401], "description": "API key missing (keys are set)"},
    429: {**problem_responses(429)[429], "description": "rate limit (Retry-After)"},
    500: {**problem_responses(500)[500], "description": "internal error, with a request_id"},
}


def create_app(settings: Settings | None = None, executor: Executor | None = None) -> FastAPI:
    settings = settings or Settings()
    packs = Rulesets(settings.rules_dir, settings.default_ruleset)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.store = JobStore(settings.data_dir, settings)
        app.state.loop = asyncio.get_running_loop()
        app.state.own_pool = executor is None
        # Workers are made here, on the event-loop thread: their parent-death signal is tied
        # to the thread that spawned them (api/work.py worker_init).
        app.state.pool = executor or new_pool(settings)
        for job_id in app.state.store.recover():
            start_job(app, job_id)
        app.state.store.start(lambda job_id: start_job(app, job_id))  # periodic recovery
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
    app.state.rulesets = packs
    app.state.server = Server(app, settings, packs)
    install(app)
    _install_posture(app, settings)
    for module in (service, rulesets, checks, jobs):
        app.include_router(module.router)
    install_pages(app, sorted(packs.paths), settings.default_ruleset)  # /, /docs, /redoc
    app.openapi_schema = None
    _add_schemas(app)
    return app


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
