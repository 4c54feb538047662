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
from dataclasses import dataclass, field
from pathlib import Path

from siting.check import check_records
from siting.errors import InputError, InputTooLarge
from siting.geo.pipeline import LayerOptions
from siting.io.writers import render
from siting.ruleset import load_ruleset
from siting.run import check_files

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
    file: str
    name: str
    contexts: list[str] = field(default_factory=list)
    fmt: str = "json"
    ruleset: str | None = None
    as_of: str | None = None
    sheet: str | None = None
    layer: str | None = None
    crs: str | None = None
    offset: str | None = None
    context_crs: dict[str, str] = field(default_factory=dict)
    context_offset: dict[str, str] = field(default_factory=dict)
    max_distance: float | None = None
    accept_nearest: bool = False
    field_map: dict[str, str] = field(default_factory=dict)  # COLUMN -> site-record field
    max_records: int | None = None
    lang: str = "en"  # of the html report
    report_to: str | None = None  # also write the html report there (jobs)


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
    already and the answer has at most REPORT_JOB_MAX_SITES sites."""
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
    pack = load_ruleset(spec.ruleset or default_ruleset)
    options = LayerOptions(
        layer=spec.layer,
        crs=spec.crs,
        offset=spec.offset,
        context_crs=spec.context_crs,
        context_offset=spec.context_offset,
        max_distance=spec.max_distance,
        accept_nearest=spec.accept_nearest,
        field_map=spec.field_map,
    )
    answer, geometry = check_files(
        spec.file,
        spec.contexts,
        pack,
        as_of=spec.as_of,
        options=options,
        sheet=spec.sheet,
        output_suffix=".geojson" if spec.fmt == "geojson" else None,
        max_records=spec.max_records,
        name=spec.name,
        progress=lambda stage, f: step(stage, 0.1 + 0.7 * f),
    )
    step(f"writing {spec.fmt}", 0.8)
    report = {"lang": spec.lang, "context_refs": spec.contexts, "options": options}
    out = render(answer, spec.fmt, geometry, **report if spec.fmt == "html" else {})
    if spec.report_to and spec.fmt != "html" and answer.table.n <= REPORT_JOB_MAX_SITES:
        step("writing the report", 0.9)
        data, _ = render(answer, "html", geometry, **report)
        partial = Path(spec.report_to + ".partial")
        partial.write_bytes(data)
        partial.replace(spec.report_to)  # atomic: a report file is always complete
    return out
