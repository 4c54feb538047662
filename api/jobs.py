"""Long work as jobs: an embedded SQLite store under the data directory, run in a process pool.

Every job that is not finished is held by one server instance through a *lease*: `lease_owner`
(a random id of the `JobStore` of that server process) and `lease_until` (a Unix time), renewed
by a heartbeat thread every third of `SITING_JOB_LEASE_SECONDS` while the server lives.
`lease_proc` also names the owner's process (boot id, PID namespace, PID, start time), so a
server that restarts on the same host sees at once that the old owner is gone (a zombie or a
reused PID does not look alive) instead of waiting for the lease to run out.

A job whose owner is gone or whose lease ran out is *recovered* by the next sweep of any server
on the data directory (at start-up, then every third of the lease): a queued job is claimed; a
running one is queued again, unless it was already interrupted `SITING_JOB_MAX_ATTEMPTS` times:
then it fails with a message saying so. Claims run in `BEGIN IMMEDIATE` transactions, so two
servers sharing a data directory never both take the same job, and a run records its result
only while its `run_token` is still the job's (a superseded run stops at its next step).

A job's `error` is a message for the user (an input problem, or "internal error (request id
...)"); tracebacks go to the server log only. A finished job's input files are deleted at once;
finished jobs are deleted with all their files `SITING_JOB_RETENTION_DAYS` after they finished
(a sweep every hour, and `siting jobs prune`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from siting.errors import SitingError
from siting.formats import FORMATS
from siting_api.work import REPORT_FILE, UploadSpec, check_upload, guard_worker

log = logging.getLogger("siting.jobs")

SCHEMA = """
create table if not exists jobs (
    id text primary key,
    state text not null,            -- queued | running | done | failed
    progress real not null default 0,
    stage text,
    format text not null,
    spec text not null,             -- UploadSpec as JSON
    owner integer,                  -- pid of the server process that queued it (informative)
    pid integer,                    -- pid of the process running it (informative)
    created text not null,
    started text,
    finished text,
    error text,
    result text,                    -- path of the result file
    media_type text
)
"""
# Added to stores made by earlier versions too (see JobStore._migrate).
COLUMNS = {
    "lease_owner": "text",  # JobStore.owner of the server holding the job
    "lease_until": "real",  # Unix time; the job is free to take after it
    "lease_proc": "text",  # boot id/pid namespace/pid/start time of the owner's process
    "attempts": "integer not null default 0",  # runs started
    "run_token": "text",  # the current run; a superseded run cannot record a result
}
FINAL = ("done", "failed")
ACTIVE = ("queued", "running")
PRUNE_EVERY = 3600.0  # seconds between retention sweeps in a server
ORPHAN_AGE = 3600.0  # a job folder without a row (an upload cut off) is deleted after this
MAX_ERROR = 2000  # characters of a job's error kept


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _iso(days_ago: float) -> str:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- processes
def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a process, from /proc; None if none."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    rest = data[data.rindex(")") + 2 :].split()
    return rest[0], rest[19]  # fields 3 and 22 of proc(5)


def _namespace() -> str | None:
    """This host's boot and PID namespace: PIDs compare only within one."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def process_id(pid: int | None = None) -> str | None:
    """A process named so that a reused PID is not mistaken for it: `boot/ns/pid/start`."""
    pid = pid or os.getpid()
    ns, stat = _namespace(), _proc_stat(pid)
    if ns is None or stat is None:
        return None
    return f"{ns}/{pid}/{stat[1]}"


def process_gone(ident: str | None) -> bool:
    """True only when `ident` (from `process_id`) names a process of this host and PID
    namespace that has exited, is a zombie, or whose PID now belongs to another process.
    Anything else (another host, another container, no /proc) is not known to be gone."""
    if not ident:
        return False
    try:
        ns, pid, start = ident.rsplit("/", 2)
        pid_number = int(pid)
    except ValueError:
        return False
    if ns != _namespace():
        return False
    stat = _proc_stat(pid_number)
    return stat is None or stat[0] in ("Z", "X") or stat[1] != start


# --------------------------------------------------------------------------- messages
_ABS_DIRS = re.compile(r"(?<![\w.~/-])/(?:[^\s'\"/:,;()\[\]]+/)+")


def public_message(message: str, *folders: str | Path) -> str:
    """A job error fit for the user: no traceback, no server path (a file keeps its name)."""
    text = str(message).split("Traceback (most recent call last)")[0].strip()
    for folder in sorted((str(f) for f in folders if f), key=len, reverse=True):
        text = text.replace(folder.rstrip("/") + "/", "").replace(folder, "")
    text = _ABS_DIRS.sub("", text)
    if len(text) > MAX_ERROR:
        text = text[: MAX_ERROR - 3] + "..."
    return text or "the job failed"


class _Superseded(Exception):
    """This run no longer holds the job (it was recovered and started again elsewhere)."""


# --------------------------------------------------------------------------- the store
class JobStore:
    """The job table and files under `data_dir`. One per server process (its `owner` id is
    the lease owner); workers and the CLI make their own, which never take leases."""

    def __init__(self, data_dir: Path, settings: Any = None):
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "jobs.sqlite"
        self._settings = settings
        self.owner = uuid.uuid4().hex
        self.proc = process_id()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._submit: Callable[[str], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        with closing(self._connect()) as db:
            db.execute("pragma journal_mode=wal")
            db.execute(SCHEMA)
            self._migrate(db)

    # settings are read when needed: a worker's store never needs them
    @property
    def settings(self):
        if self._settings is None:
            from siting_api.settings import Settings

            self._settings = Settings()
        return self._settings

    @property
    def lease_seconds(self) -> float:
        return float(self.settings.job_lease_seconds)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # explicit BEGINs
        db.row_factory = sqlite3.Row
        return db

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        have = {row["name"] for row in db.execute("pragma table_info(jobs)")}
        if set(COLUMNS) <= have:
            return
        db.execute("begin immediate")
        have = {row["name"] for row in db.execute("pragma table_info(jobs)")}
        for name, kind in COLUMNS.items():
            if name not in have:
                db.execute(f"alter table jobs add column {name} {kind}")
        db.execute("commit")

    def folder(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def new_id(self) -> str:
        return uuid.uuid4().hex

    # ------------------------------------------------------------------ rows
    def create(self, job_id: str, spec: UploadSpec) -> dict[str, Any]:
        """A queued job, leased to this store's server (which submits it at once)."""
        with closing(self._connect()) as db:
            db.execute(
                "insert into jobs (id, state, format, spec, owner, created, lease_owner, "
                "lease_until, lease_proc) values (?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    spec.fmt,
                    spec.to_json(),
                    os.getpid(),
                    now(),
                    self.owner,
                    time.time() + self.lease_seconds,
                    self.proc,
                ),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> dict[str, Any] | None:
        with closing(self._connect()) as db:
            row = db.execute("select * from jobs where id = ?", (job_id,)).fetchone()
        return dict(row) if row else None

    def jobs(self, state: str | None = None) -> list[dict[str, Any]]:
        """Every job (or those in `state`), oldest first."""
        query, args = "select * from jobs", ()
        if state:
            query, args = query + " where state = ?", (state,)
        with closing(self._connect()) as db:
            return [dict(r) for r in db.execute(query + " order by created, id", args)]

    def update(self, job_id: str, **fields: Any) -> None:
        keys = ", ".join(f"{k} = ?" for k in fields)
        with closing(self._connect()) as db:
            db.execute(f"update jobs set {keys} where id = ?", (*fields.values(), job_id))

    def fail(self, job_id: str, reason: str) -> None:
        """Fail an unfinished job with a message for the user (tracebacks and server paths
        are cut out) and delete its input; the row and the message stay."""
        message = public_message(reason, self.folder(job_id), self.data_dir)
        with closing(self._connect()) as db:
            db.execute(
                "update jobs set state = 'failed', error = ?, finished = ?, stage = 'failed', "
                "lease_owner = null, lease_until = null where id = ? and state in (?, ?)",
                (message, now(), job_id, *ACTIVE),
            )
        self.delete_inputs(job_id)

    def release(self, job_id: str) -> None:
        """Give up this server's hold on an unfinished job (its pool broke, say): the next
        recovery sweep takes it again - a running one as an interrupted run."""
        with closing(self._connect()) as db:
            db.execute(
                "update jobs set lease_owner = null, lease_until = 0 where id = ? "
                "and state in (?, ?)",
                (job_id, *ACTIVE),
            )

    def spec(self, job_id: str) -> UploadSpec:
        return UploadSpec.from_json(self.get(job_id)["spec"])

    def delete_inputs(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id) / "input", ignore_errors=True)

    # ------------------------------------------------------------------ a run (worker side)
    def begin_run(self, job_id: str) -> str | None:
        """queued -> running for this process; the run's token, or None when the job is not
        queued any more (taken by another run, or finished)."""
        token = uuid.uuid4().hex
        with closing(self._connect()) as db:
            taken = db.execute(
                "update jobs set state = 'running', attempts = attempts + 1, run_token = ?, "
                "pid = ?, started = ?, progress = 0.05, stage = 'starting', error = null "
                "where id = ? and state = 'queued'",
                (token, os.getpid(), now(), job_id),
            ).rowcount
        return token if taken else None

    def update_run(self, job_id: str, token: str, **fields: Any) -> bool:
        """Record progress of a run; False when the run no longer holds the job."""
        keys = ", ".join(f"{k} = ?" for k in fields)
        with closing(self._connect()) as db:
            return bool(
                db.execute(
                    f"update jobs set {keys} where id = ? and run_token = ? and state = 'running'",
                    (*fields.values(), job_id, token),
                ).rowcount
            )

    # ------------------------------------------------------------------ leases (server side)
    def recover(self) -> list[str]:
        """Server start-up: start this server's lease heartbeat (`start`), then claim every
        job whose owner is gone or whose lease ran out, and return the claimed ids, oldest
        first, for the caller to run (a running job among them is queued again, or failed
        after `job_max_attempts` interrupted runs)."""
        self.start()
        return self.claim_abandoned()

    def claim_abandoned(self) -> list[str]:
        """One recovery sweep, in one write transaction (see `recover`)."""
        moment = time.time()
        until = moment + self.lease_seconds
        limit = int(self.settings.job_max_attempts)
        claimed, failed = [], []
        with closing(self._connect()) as db:
            db.execute("begin immediate")
            try:
                rows = db.execute(
                    "select id, state, attempts, lease_owner, lease_until, lease_proc "
                    "from jobs where state in (?, ?) order by created, id",
                    ACTIVE,
                ).fetchall()
                for row in rows:
                    if row["lease_owner"] == self.owner:
                        continue
                    expired = row["lease_until"] is None or row["lease_until"] < moment
                    if not expired and not process_gone(row["lease_proc"]):
                        continue
                    if row["state"] == "running" and row["attempts"] >= limit:
                        db.execute(
                            "update jobs set state = 'failed', stage = 'failed', finished = ?, "
                            "error = ?, lease_owner = null, lease_until = null, "
                            "run_token = null where id = ?",
                            (now(), _gave_up(row["attempts"]), row["id"]),
                        )
                        failed.append(row["id"])
                        continue
                    stage = "queued"
                    if row["state"] == "running":
                        stage = (
                            f"queued again: the server running it stopped "
                            f"(run {row['attempts'] + 1} of {limit} next)"
                        )
                    db.execute(
                        "update jobs set state = 'queued', stage = ?, progress = 0, "
                        "run_token = null, owner = ?, lease_owner = ?, lease_until = ?, "
                        "lease_proc = ? where id = ?",
                        (stage, os.getpid(), self.owner, until, self.proc, row["id"]),
                    )
                    claimed.append(row["id"])
                db.execute("commit")
            except BaseException:
                db.execute("rollback")
                raise
        for job_id in failed:
            self.delete_inputs(job_id)
            log.warning("job %s failed: %s", job_id, _gave_up(limit))
        if claimed:
            log.info("claimed %d abandoned job(s): %s", len(claimed), ", ".join(claimed))
        return claimed

    def renew(self) -> int:
        """Heartbeat: extend the lease of every unfinished job this server holds."""
        with closing(self._connect()) as db:
            return db.execute(
                "update jobs set lease_until = ? where lease_owner = ? and state in (?, ?)",
                (time.time() + self.lease_seconds, self.owner, *ACTIVE),
            ).rowcount

    def start(self, submit: Callable[[str], None] | None = None) -> None:
        """Start this server's background thread: the lease heartbeat (every third of the
        lease), the retention sweep (hourly) and, once `submit` is given, the recovery sweep
        (every third of the lease), which passes each job it claims to `submit` - on the
        event loop running `start`, if any. Idempotent; `stop` ends it."""
        if submit is not None:
            self._submit = submit
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                self._loop = None
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=_keep, args=(weakref.ref(self), self._stop), name="siting-jobs", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Server shut-down (after the process pool): end the background thread and release
        the leases of jobs still queued here, for the next server to take at once."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        with closing(self._connect()) as db:
            db.execute(
                "update jobs set lease_until = 0 where lease_owner = ? and state = 'queued'",
                (self.owner,),
            )

    def _dispatch(self, job_id: str) -> None:
        """Hand a claimed job to the server's `submit`, on its event loop when it has one (a
        pool worker is then spawned by the loop's thread, which lives as long as the pool)."""
        if self._loop is None:
            self._submit_or_release(job_id)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._submit_or_release, job_id)

    def _submit_or_release(self, job_id: str) -> None:
        try:
            self._submit(job_id)
        except Exception:
            # not stuck behind our heartbeat: free it for the next sweep (ours or another's)
            log.exception("job %s could not be started; released for the next sweep", job_id)
            self.release(job_id)

    # ------------------------------------------------------------------ retention
    def prune(self, older_than_days: float, dry_run: bool = False) -> list[dict[str, Any]]:
        """Delete finished jobs (row, input and result) that finished more than
        `older_than_days` ago, and job folders without a row older than an hour; return what
        was (or, dry, would be) deleted: [{"id", "state", "finished", "bytes"}]."""
        cutoff = _iso(older_than_days)
        with closing(self._connect()) as db:
            rows = db.execute(
                "select id, state, coalesce(finished, created) as finished from jobs "
                "where state in (?, ?) and coalesce(finished, created) <= ? order by finished",
                (*FINAL, cutoff),
            ).fetchall()
            gone = [dict(r) for r in rows]
            if not dry_run and gone:
                db.execute("begin immediate")
                db.executemany(
                    "delete from jobs where id = ? and state in (?, ?)",
                    [(r["id"], *FINAL) for r in gone],
                )
                db.execute("commit")
            known = {r["id"] for r in db.execute("select id from jobs")}
        for job in gone:
            job["bytes"] = _size(self.folder(job["id"]))
        horizon = time.time() - ORPHAN_AGE
        for folder in sorted(self.jobs_dir.iterdir()) if self.jobs_dir.exists() else []:
            with contextlib.suppress(OSError):
                if folder.name not in known and folder.stat().st_mtime < horizon:
                    gone.append(
                        {"id": folder.name, "state": "orphan", "finished": None}
                        | {"bytes": _size(folder)}
                    )
        if not dry_run:
            for job in gone:
                shutil.rmtree(self.folder(job["id"]), ignore_errors=True)
        return gone

    def prune_expired(self) -> list[dict[str, Any]]:
        """The retention sweep: `prune(job_retention_days)`; 0 days keeps jobs forever."""
        days = float(self.settings.job_retention_days)
        if days <= 0:
            return []
        gone = self.prune(days)
        if gone:
            log.info("retention: deleted %d job(s) older than %g days", len(gone), days)
        return gone


def _gave_up(attempts: int) -> str:
    return (
        f"the job was interrupted {attempts} times (the server or its worker process stopped "
        "while it ran) and is not retried again; submit it again, or split the input if it "
        "is very large"
    )


def _size(path: Path) -> int:
    total = 0
    for p in path.rglob("*") if path.exists() else []:
        with contextlib.suppress(OSError):
            if p.is_file():
                total += p.stat().st_size
    return total


def _keep(ref: weakref.ref, stop: threading.Event) -> None:
    """The server's background thread (see JobStore.start); ends with `stop`, or when the
    store is gone or its data directory was removed."""
    next_prune = 0.0
    while True:
        store = ref()
        if store is None or not store.path.exists():
            return
        interval = max(store.lease_seconds / 3, 0.2)
        try:
            store.renew()
            if store._submit is not None:
                for job_id in store.claim_abandoned():
                    store._dispatch(job_id)
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_EVERY
                store.prune_expired()
        except Exception:
            log.exception("job store maintenance failed (will retry)")
        del store
        if stop.wait(interval):
            return


# --------------------------------------------------------------------------- the work
def run_job(data_dir: str, job_id: str, default_ruleset: str) -> None:
    """Runs in a worker process: check the job's files, store the result, record progress.
    A job already taken by another run, or finished, is left alone."""
    guard_worker()  # a pool worker dies with its server
    store = JobStore(Path(data_dir))
    token = store.begin_run(job_id)
    if token is None:
        return
    spec = store.spec(job_id)

    def progress(stage: str, fraction: float) -> None:
        if not store.update_run(job_id, token, stage=stage, progress=fraction):
            raise _Superseded

    folder = store.folder(job_id)
    try:
        spec.report_to = str(folder / REPORT_FILE)  # the job's report, beside its result
        body, media_type = check_upload(spec, default_ruleset, progress)
        progress("storing the result", 0.95)
        ext = FORMATS[spec.fmt].extensions[0].lstrip(".")
        out = folder / f"result.{ext}"
        tmp = folder / f"result.{token}.partial"
        tmp.write_bytes(body)
        tmp.replace(out)  # atomic: a result file is always complete
        final = {
            "state": "done",
            "progress": 1.0,
            "stage": "done",
            "result": str(out),
            "media_type": media_type,
        }
    except _Superseded:
        log.warning("job %s: this run was superseded by a newer one; stopped", job_id)
        return
    except SitingError as exc:  # the user's input: the message says what to fix
        final = {
            "state": "failed",
            "stage": "failed",
            "error": public_message(exc, folder / "input", folder),
        }
    except Exception:  # the job fails, the server lives on; the details stay in the log
        request_id = uuid.uuid4().hex[:12]
        log.exception("job %s: internal error (request id %s)", job_id, request_id)
        final = {
            "state": "failed",
            "stage": "failed",
            "error": f"internal error (request id {request_id}); the server log has the details",
        }
    final |= {"finished": now(), "lease_owner": None, "lease_until": None}
    if store.update_run(job_id, token, **final):
        store.delete_inputs(job_id)
