"""The heavy work, run in a process pool (so the event loop stays free). Plain functions of
picklable arguments; every one calls the `siting` library and returns bytes."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from siting.check import check_records
from siting.errors import InputError, InputTooLarge
from siting.formats import Output, render
from siting.request import CheckRequest
from siting.ruleset import load_ruleset
from siting.run import context_refs, run_check

log = logging.getLogger("siting.work")

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_SECONDS = 1.0  # the fallback watchdog's period
_guarded = False


def worker_init(parent_pid: int | None = None) -> None:
    """Initializer of a pool worker process: the worker dies with its parent (the server).

    On Linux the kernel sends SIGKILL when the parent goes (prctl PR_SET_PDEATHSIG); a
    watchdog thread also exits the worker once its parent PID changes (other systems, or a
    worker busy in C code when the signal cannot be set). Note: the kernel counts the *thread*
    that spawned the worker as its parent, so submit to the pool from a thread that lives as
    long as the pool (the event loop's), not from a short-lived thread. Idempotent."""
    global _guarded
    if _guarded:
        return
    _guarded = True
    if parent_pid is None:
        parent = multiprocessing.parent_process()
        parent_pid = parent.pid if parent is not None else os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as exc:
            log.warning("prctl(PR_SET_PDEATHSIG) unavailable: %s", exc)
    if os.getppid() != parent_pid:  # the parent was gone before the signal was set
        os._exit(70)
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="siting-parent-watch", daemon=True
    ).start()


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(WATCH_SECONDS)
        if os.getppid() != parent_pid:
            os._exit(70)


def guard_worker() -> None:
    """`worker_init` from inside a task, for a pool created without the initializer: acts
    only in a process-pool worker (not when the task runs in a thread of the server)."""
    if _guarded or threading.current_thread() is not threading.main_thread():
        return
    import concurrent.futures.process as pool

    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is pool._process_worker.__code__:
            worker_init()
            return
        frame = frame.f_back


@dataclass
class UploadSpec:
    """The work for an upload: the library's CheckRequest (input and context paths where the
    server saved them, the pack file of the ruleset asked for, the answer format), and where a
    job also writes its HTML report. A saved job is this, serialised (`to_json`)."""

    request: CheckRequest
    report_to: str | None = None  # also write the html report there (jobs)

    @property
    def fmt(self) -> str:
        return self.request.format or "json"

    @property
    def name(self) -> str:
        return self.request.name or Path(self.request.input).name

    @property
    def file(self) -> str:
        return self.request.input

    def to_json(self) -> str:
        return json.dumps(
            {"request": self.request.model_dump(mode="json"), "report_to": self.report_to}
        )

    @classmethod
    def from_json(cls, text: str) -> UploadSpec:
        doc = json.loads(text)
        return cls(CheckRequest.model_validate(doc["request"]), doc.get("report_to"))


# A job also writes its HTML report (GET /v1/jobs/{id}/report) when it has at most this many
# sites (docs/report.md has the time and size it takes).
REPORT_JOB_MAX_SITES = 100_000
REPORT_FILE = "report.html"


def check_json(body: bytes, default_ruleset: str, max_sites: int) -> tuple[bytes, str]:
    """POST /v1/checks: parse, check, render JSON."""
    guard_worker()
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"request body: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sites"), list):
        raise InputError('request body: expected {"sites": [...], "ruleset"?, "as_of"?}')
    unknown = set(doc) - {"sites", "ruleset", "as_of"}
    if unknown:
        raise InputError(f"request body: unknown field(s) {', '.join(sorted(unknown))}")
    sites = doc["sites"]
    if len(sites) > max_sites:
        raise InputTooLarge(
            f"{len(sites):,} sites; at most {max_sites:,} per request (submit a job for more)"
        )
    for key in ("ruleset", "as_of"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise InputError(f"request body: {key} must be a string")
    pack = load_ruleset(doc.get("ruleset") or default_ruleset)
    answer = check_records(sites, pack, as_of=doc.get("as_of"))
    return render(answer, "json")


def check_upload(spec: UploadSpec, default_ruleset: str, progress=None) -> tuple[bytes, str]:
    """POST /v1/checks/upload and jobs: check saved files, render in the chosen format.
    `spec.report_to`: also write the HTML report there (jobs), when the format is not html
    already and the answer has at most REPORT_JOB_MAX_SITES sites (and was checked in
    memory: a partitioned answer, engine=dask, has no report). The engine is the request's
    (`siting.run.engine_of`)."""
    guard_worker()
    step = progress or (lambda stage, fraction: None)
    step("reading and checking", 0.1)
    try:
        return _check_upload(spec, default_ruleset, step)
    except InputError as exc:
        # Name the files as the user uploaded them, not where the server saved them.
        folder = str(Path(spec.file).parent) + "/"
        exc.args = (str(exc).replace(folder, ""),)  # the same kind of error, path-free
        raise exc from None


def _check_upload(spec: UploadSpec, default_ruleset: str, step) -> tuple[bytes, str]:
    request = spec.request
    pack = load_ruleset(request.options.ruleset or default_ruleset)
    answer, geometry = run_check(
        request, pack, progress=lambda stage, f: step(stage, 0.1 + 0.7 * f)
    )
    step(f"writing {spec.fmt}", 0.8)
    output = Output(geometry, tuple(context_refs(request)), request.options)
    out = render(answer, spec.fmt, output)
    table = getattr(answer, "table", None)  # none: partitioned (engine=dask), no report
    if (
        spec.report_to
        and spec.fmt != "html"
        and table is not None
        and table.n <= REPORT_JOB_MAX_SITES
    ):
        step("writing the report", 0.9)
        data, _ = render(answer, "html", output)
        partial = Path(spec.report_to + ".partial")
        partial.write_bytes(data)
        partial.replace(spec.report_to)  # atomic: a report file is always complete
    return out
