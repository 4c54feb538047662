"""Long work as jobs: an embedded SQLite store under the data directory, run in a process pool.

A restart loses nothing: finished results stay fetchable; a job whose process died while
running is marked failed with the reason; a queued job is picked up again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import traceback
import uuid
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import Any

from api.work import UploadSpec, check_upload
from siting.errors import SitingError

SCHEMA = """
create table if not exists jobs (
    id text primary key,
    state text not null,            -- queued | running | done | failed
    progress real not null default 0,
    stage text,
    format text not null,
    spec text not null,             -- UploadSpec as JSON
    owner integer,                  -- pid of the server process that queued it
    pid integer,                    -- pid of the process running it
    created text not null,
    started text,
    finished text,
    error text,
    result text,                    -- path of the result file
    media_type text
)
"""
FINAL = ("done", "failed")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobStore:
    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.jobs_dir = self.data_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "jobs.sqlite"
        with closing(self._connect()) as db:
            db.execute("pragma journal_mode=wal")
            db.execute(SCHEMA)
            db.commit()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def folder(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def new_id(self) -> str:
        return uuid.uuid4().hex

    def create(self, job_id: str, spec: UploadSpec) -> dict[str, Any]:
        with closing(self._connect()) as db:
            db.execute(
                "insert into jobs (id, state, format, spec, owner, created) values "
                "(?, 'queued', ?, ?, ?, ?)",
                (job_id, spec.fmt, json.dumps(asdict(spec)), os.getpid(), now()),
            )
            db.commit()
        return self.get(job_id)

    def get(self, job_id: str) -> dict[str, Any] | None:
        with closing(self._connect()) as db:
            row = db.execute("select * from jobs where id = ?", (job_id,)).fetchone()
        return dict(row) if row else None

    def update(self, job_id: str, **fields: Any) -> None:
        keys = ", ".join(f"{k} = ?" for k in fields)
        with closing(self._connect()) as db:
            db.execute(f"update jobs set {keys} where id = ?", (*fields.values(), job_id))
            db.commit()

    def fail(self, job_id: str, reason: str) -> None:
        self.update(job_id, state="failed", error=reason, finished=now())

    def recover(self) -> list[str]:
        """After a restart: fail jobs whose running process is gone; return queued jobs whose
        server process is gone, claimed for this process, to run again."""
        resume = []
        with closing(self._connect()) as db:
            rows = db.execute(
                "select id, state, owner, pid from jobs where state in ('queued', 'running')"
            ).fetchall()
            for row in rows:
                if row["state"] == "running" and not pid_alive(row["pid"]):
                    db.execute(
                        "update jobs set state = 'failed', finished = ?, error = ? "
                        "where id = ? and state = 'running'",
                        (
                            now(),
                            "the server stopped while this job was running; submit it again",
                            row["id"],
                        ),
                    )
                elif row["state"] == "queued" and not pid_alive(row["owner"]):
                    claimed = db.execute(
                        "update jobs set owner = ? where id = ? and owner = ?",
                        (os.getpid(), row["id"], row["owner"]),
                    ).rowcount
                    if claimed:
                        resume.append(row["id"])
            db.commit()
        return resume

    def spec(self, job_id: str) -> UploadSpec:
        return UploadSpec(**json.loads(self.get(job_id)["spec"]))

    def delete_inputs(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id) / "input", ignore_errors=True)


def run_job(data_dir: str, job_id: str, default_ruleset: str) -> None:
    """Runs in a worker process: check the job's files, store the result, record progress."""
    store = JobStore(Path(data_dir))
    job = store.get(job_id)
    if job is None or job["state"] in FINAL:
        return
    store.update(
        job_id, state="running", pid=os.getpid(), started=now(), progress=0.05, stage="starting"
    )
    spec = store.spec(job_id)

    def progress(stage: str, fraction: float) -> None:
        store.update(job_id, stage=stage, progress=fraction)

    try:
        body, media_type = check_upload(spec, default_ruleset, progress)
        ext = {"json": "json", "csv": "csv", "geojson": "geojson"}[spec.fmt]
        out = store.folder(job_id) / f"result.{ext}"
        tmp = out.with_suffix(".partial")
        tmp.write_bytes(body)
        tmp.replace(out)  # atomic: a result file is always complete
        store.update(
            job_id,
            state="done",
            progress=1.0,
            stage="done",
            finished=now(),
            result=str(out),
            media_type=media_type,
        )
    except SitingError as exc:
        store.fail(job_id, str(exc))
    except Exception as exc:  # the job fails, the server lives on
        store.fail(
            job_id, f"internal error: {type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=3)
        )
    finally:
        store.delete_inputs(job_id)
