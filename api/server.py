"""The server's state and the work its routes share: packs by id, the process pool, the job
store, single checks in passes, and requests' scratch folders. The routes (api/routes/) get it
with `server_of(request)`; `api/app.py` builds it."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request, UploadFile
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from siting.errors import RulePackError
from siting.request import CheckOptions, CheckRequest
from siting.ruleset import RulePack
from siting.scale import parse_size
from siting_api import batch
from siting_api.coalesce import SingleChecks
from siting_api.jobs import JobStore, run_job
from siting_api.problems import Problem
from siting_api.query import CheckQuery, options_of
from siting_api.rulesets import Rulesets, strip_paths
from siting_api.settings import Settings
from siting_api.uploads import save
from siting_api.work import UploadSpec, worker_init

log = logging.getLogger("siting.api")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(data), status_code=status, media_type="application/json", headers=headers
    )


class AnswerFile(FileResponse):
    """A large answer streamed from disk in 1 MiB reads (Starlette's 64 KiB made a 200 MB
    answer 3,000 thread hops and sends)."""

    chunk_size = 1024 * 1024


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


class Server:
    """What the routes of one app share (also on `app.state`: settings, rulesets, pool,
    store, loop, own_pool, as tests and the job runner read them)."""

    def __init__(self, app: FastAPI, settings: Settings, rulesets: Rulesets) -> None:
        self.app = app
        self.settings = settings
        self.rulesets = rulesets
        self.default_path = str(rulesets.path(None))
        self.single = SingleChecks()  # POST /v1/check: requests that arrive at once, in one pass

    def ruleset_path(self, ref: str | None) -> str:
        """A pack id from a request -> its file; 404 for anything else (never a path)."""
        path = self.rulesets.path(ref)
        if path is None:
            raise Problem(404, self.rulesets.unknown(ref))
        return str(path)

    def pack_for(self, ref: str | None) -> RulePack:
        path = self.rulesets.path(ref)  # the Path itself: no Path made per request
        if path is None:
            raise Problem(404, self.rulesets.unknown(ref))
        try:
            return self.rulesets.load(path)
        except RulePackError as exc:  # a pack file edited into a broken one since start-up
            log.error("ruleset %s cannot be loaded: %s", ref, exc)
            raise Problem(503, f"ruleset cannot be loaded: {strip_paths(str(exc))}") from None

    async def off_loop(self, request: Request, scratch: Scratch, fn, *args):
        """Run `fn(*args)` in the pool; stop it when the client goes away (api/batch.py)."""
        job = scratch.pending = self.app.state.pool.submit(fn, *args)
        work = asyncio.wrap_future(job)
        gone = asyncio.ensure_future(client_gone(request))

        def stop():
            job.cancel()  # still queued: it never runs
            batch.cancel(scratch.path, getattr(self.app.state.pool, "_processes", None))
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
            return AnswerFile(
                outcome[1], media_type=outcome[2], background=BackgroundTask(scratch.remove)
            )
        return Response(outcome[1], media_type=outcome[2])

    async def saved_spec(
        self,
        folder: Path,
        file: UploadFile,
        context: list[UploadFile] | None,
        query: CheckQuery,
        max_records: int,
    ) -> UploadSpec:
        """Save the upload into `folder`; the work to do with it is the library's
        CheckRequest, its ruleset the pack file of the id the query named."""
        options = self.engine_options(options_of(query), query.format)
        if options.ruleset is not None:
            options = options.model_copy(update={"ruleset": self.ruleset_path(options.ruleset)})
        if len(context or []) > self.settings.max_context_files:
            raise Problem(
                413,
                f"{len(context or [])} context files; at most {self.settings.max_context_files} "
                "(SITING_MAX_CONTEXT_FILES)",
            )
        budget = [self.settings.max_upload_bytes]
        main = await save(file, folder, "upload", self.settings, budget)
        contexts = [
            await save(c, folder, f"context{k}", self.settings, budget)
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

    def engine_options(self, options: CheckOptions, fmt: str) -> CheckOptions:
        """A request's options with the operator's say on the engine (docs/scale.md, "Over
        HTTP"): for engine=dask or auto, the scheduler is the server's (SITING_DASK_SCHEDULER;
        a request cannot name one) and the memory budget at most the server's
        (SITING_DASK_MEMORY_BUDGET, also the default). The engine changes no verdict."""
        if options.engine == "memory":
            return options
        if options.engine == "dask":
            if importlib.util.find_spec("distributed") is None:
                raise Problem(
                    422, "engine=dask: this server does not have Dask (pip install 'siting[scale]')"
                )
            if fmt == "html":
                raise Problem(
                    422,
                    "engine=dask with format=html: the report needs every lot in memory "
                    "(engine=memory); ask for another format",
                )
        cap = self.settings.dask_budget_bytes()
        budget = options.memory_budget
        if budget is not None and (parse_size(budget) or 0) > cap:
            raise Problem(
                422,
                f"memory_budget={budget}: at most {self.settings.dask_memory_budget} "
                f"({cap:,} bytes) on this server (SITING_DASK_MEMORY_BUDGET)",
            )
        return options.model_copy(
            update={
                "scheduler": self.settings.dask_scheduler,
                "memory_budget": budget or self.settings.dask_memory_budget,
            }
        )

    @staticmethod
    def job_view(job: dict) -> dict:
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

    def done_job(self, job_id: str) -> dict:
        """The job, once done: 404 when there is none, 409 while it runs or when it failed."""
        job = self.app.state.store.get(job_id)
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

    def start_job(self, job_id: str) -> None:
        start_job(self.app, job_id)


def server_of(request: Request) -> Server:
    server: Server = request.app.state.server
    return server


async def client_gone(request: Request) -> None:
    """Returns when the client disconnects (call once the request body has been read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def new_pool(settings: Settings) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        settings.process_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=worker_init,
        initargs=(os.getpid(),),
    )


def renew_pool(app: FastAPI) -> None:
    """Replace a broken pool (on the event-loop thread)."""
    pool = app.state.pool
    if getattr(pool, "_broken", False):
        app.state.pool = new_pool(app.state.settings)
        pool.shutdown(wait=False, cancel_futures=True)


def start_job(app: FastAPI, job_id: str) -> None:
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
                app.state.loop.call_soon_threadsafe(renew_pool, app)
            return
        job = store.get(job_id)
        if job and job["state"] not in ("done", "failed"):
            store.fail(job_id, f"the worker process failed: {type(exc).__name__}")

    future.add_done_callback(done)
