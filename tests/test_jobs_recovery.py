"""Jobs never get stuck: leases with a heartbeat, recovery after a kill -9 at any moment, pool
workers that die with their server, user-facing errors, retention (api/jobs.py, api/work.py)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import free_port

from siting.cli import main
from siting.errors import InputError
from siting.request import CheckOptions, CheckRequest
from siting_api import jobs as jobs_module
from siting_api.jobs import JobStore, process_gone, process_id, public_message, run_job
from siting_api.settings import Settings
from siting_api.work import UploadSpec

linux = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _settings(tmp_path, **kw) -> Settings:
    return Settings(data_dir=tmp_path / "data", **kw)


def _job(store: JobStore, root: Path, job_id: str | None = None, rows: bytes | None = None):
    job_id = job_id or store.new_id()
    folder = store.folder(job_id) / "input"
    folder.mkdir(parents=True)
    path = folder / "sites.csv"
    path.write_bytes(rows or (root / "sample_sites/sites.csv").read_bytes())
    store.create(
        job_id,
        UploadSpec(
            CheckRequest(
                input=str(path), name="sites.csv", options=CheckOptions(as_of="2024-06-30")
            )
        ),
    )
    return job_id


def _abandon(store: JobStore, job_id: str, **fields) -> None:
    """As if the server holding the job had stopped long ago (on another host)."""
    store.update(job_id, lease_owner="gone", lease_until=0, lease_proc=None, **fields)


# --------------------------------------------------------------------------- leases
def test_a_live_lease_is_respected_an_expired_one_is_claimed(tmp_path, root):
    settings = _settings(tmp_path)
    a, b = JobStore(settings.data_dir, settings), JobStore(settings.data_dir, settings)
    job = _job(a, root)
    assert b.claim_abandoned() == []  # a holds it, and a lives
    a.update(job, lease_until=time.time() - 1)  # a stopped renewing
    assert b.claim_abandoned() == [job]
    row = b.get(job)
    assert row["state"] == "queued" and row["lease_owner"] == b.owner
    assert row["lease_until"] > time.time() + 25
    assert a.renew() == 0 and b.renew() == 1  # only the holder renews
    assert a.claim_abandoned() == []  # and b's fresh lease holds a off


def test_two_servers_never_take_the_same_job(tmp_path, root):
    settings = _settings(tmp_path)
    maker = JobStore(settings.data_dir, settings)
    ids = [_job(maker, root) for _ in range(30)]
    for job in ids:
        _abandon(maker, job)
    stores = [JobStore(settings.data_dir, settings) for _ in range(4)]
    barrier, claims = threading.Barrier(len(stores)), {}

    def sweep(store):
        barrier.wait()
        claims[store.owner] = store.claim_abandoned()

    threads = [threading.Thread(target=sweep, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    taken = [job for got in claims.values() for job in got]
    assert sorted(taken) == sorted(ids)  # each job exactly once
    for store in stores:
        assert all(maker.get(j)["lease_owner"] == store.owner for j in claims[store.owner])


@linux
def test_a_dead_owner_is_seen_at_once_zombie_or_reused_pid(tmp_path, root):
    assert process_id() and not process_gone(process_id())
    ns, pid, start = process_id().rsplit("/", 2)
    assert process_gone(f"{ns}/{pid}/{int(start) + 1}")  # the PID now names another process
    assert not process_gone(f"another-host/pid:[1]/{pid}/{start}")  # not ours to judge
    child = subprocess.Popen(["sleep", "0.2"])
    ident = process_id(child.pid)
    try:
        deadline = time.time() + 10
        while jobs_module._proc_stat(child.pid)[0] != "Z":  # exited, not reaped: a zombie
            assert time.time() < deadline
            time.sleep(0.05)
        assert process_gone(ident)
        settings = _settings(tmp_path)
        store, other = JobStore(settings.data_dir, settings), JobStore(settings.data_dir, settings)
        job = _job(store, root)
        # running, lease still valid for minutes - but its server process is a zombie
        store.update(
            job, state="running", lease_owner="old", lease_until=time.time() + 600, lease_proc=ident
        )
        assert other.claim_abandoned() == [job]
    finally:
        child.wait()


def test_interrupted_runs_are_retried_then_failed_with_a_clear_message(tmp_path, root):
    settings = _settings(tmp_path, job_max_attempts=3)
    store = JobStore(settings.data_dir, settings)
    job = _job(store, root)
    for attempt in (1, 2, 3):
        assert store.begin_run(job)  # a worker starts it ...
        if attempt == 2:
            store.release(job)  # ... and its pool breaks (the server lets go)
        else:
            _abandon(store, job)  # ... and its server dies
        claimed = store.claim_abandoned()
        row = store.get(job)
        if attempt < 3:
            assert claimed == [job] and row["state"] == "queued"
            assert f"run {attempt + 1} of 3 next" in row["stage"]
            assert (store.folder(job) / "input/sites.csv").exists()
    assert claimed == [] and row["state"] == "failed" and row["finished"]
    assert "interrupted 3 times" in row["error"] and "submit it again" in row["error"]
    assert not (store.folder(job) / "input").exists()  # a failed job's input is deleted


def test_a_superseded_run_cannot_record_its_result(tmp_path, root):
    settings = _settings(tmp_path)
    store = JobStore(settings.data_dir, settings)
    job = _job(store, root)
    old = store.begin_run(job)
    _abandon(store, job)
    assert store.claim_abandoned() == [job]
    assert store.begin_run(job) != old  # the job runs again elsewhere
    assert store.begin_run(job) is None  # nobody else takes a running job
    assert not store.update_run(job, old, state="done")
    assert store.get(job)["state"] == "running"


def test_heartbeat_renews_sweep_resubmits_stop_releases(tmp_path, root):
    settings = _settings(tmp_path, job_lease_seconds=1)
    server = JobStore(settings.data_dir, settings)
    mine = _job(server, root)
    orphan = _job(server, root)
    _abandon(server, orphan)
    submitted = []
    server.start(submit=submitted.append)
    try:
        deadline = time.time() + 10
        while orphan not in submitted:  # the periodic sweep found and handed it over
            assert time.time() < deadline
            time.sleep(0.05)
        time.sleep(1.5)  # longer than the lease: the heartbeat kept both alive
        for job in (mine, orphan):
            assert server.get(job)["lease_until"] > time.time()
            assert server.get(job)["lease_owner"] == server.owner
    finally:
        server.stop()
    assert server.get(mine)["lease_until"] == 0  # released for the next server
    assert sorted(JobStore(settings.data_dir, settings).claim_abandoned()) == sorted([mine, orphan])


def test_the_sweep_submits_on_the_event_loop_thread(tmp_path, root):
    """Pool workers are spawned by the thread that submits: the loop's, never the sweep's
    (a worker's PR_SET_PDEATHSIG fires when its spawning thread ends)."""
    import asyncio

    settings = _settings(tmp_path, job_lease_seconds=1)
    server = JobStore(settings.data_dir, settings)
    orphan = _job(server, root)
    _abandon(server, orphan)
    seen = {}

    async def serve():
        done = asyncio.Event()

        def submit(job_id):
            seen[job_id] = threading.get_ident()
            done.set()

        server.start(submit)
        await asyncio.wait_for(done.wait(), 10)
        return threading.get_ident()

    try:
        loop_thread = asyncio.run(serve())
    finally:
        server.stop()
    assert seen == {orphan: loop_thread}


def test_a_store_from_an_earlier_version_is_migrated_and_recovered(tmp_path, root):
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "jobs.sqlite") as db:
        db.execute(jobs_module.SCHEMA)
        db.execute(
            "insert into jobs (id, state, format, spec, owner, pid, created) values "
            "('old', 'running', 'json', '{}', 999999999, 999999999, '2024-01-01T00:00:00Z')"
        )
    store = JobStore(data, _settings(tmp_path))
    assert store.claim_abandoned() == ["old"]
    assert store.get("old")["attempts"] == 0 and store.get("old")["state"] == "queued"


# --------------------------------------------------------------------------- errors
def test_job_errors_carry_no_traceback_and_no_server_path(tmp_path, root, monkeypatch, caplog):
    settings = _settings(tmp_path)
    store = JobStore(settings.data_dir, settings)

    def crash(spec, default_ruleset, progress=None):
        raise RuntimeError(f"boom in {sys.prefix}/lib/python3.11/site-packages/x.py")

    monkeypatch.setattr(jobs_module, "check_upload", crash)
    job = _job(store, root)
    with caplog.at_level(logging.ERROR, logger="siting.jobs"):
        run_job(str(settings.data_dir), job, "guangxi-2021-2025")
    row = store.get(job)
    assert row["state"] == "failed" and row["error"].startswith("internal error (request id ")
    request_id = row["error"].split("request id ")[1][:12]
    assert "Traceback" not in row["error"] and "/" not in row["error"]
    logged = caplog.text
    assert request_id in logged and "RuntimeError: boom" in logged and "Traceback" in logged
    assert not (store.folder(job) / "input").exists() and store.folder(job).exists()

    def bad_input(spec, default_ruleset, progress=None):
        raise InputError(f"{spec.file}: row 3: not a number")

    monkeypatch.setattr(jobs_module, "check_upload", bad_input)
    job = _job(store, root)
    run_job(str(settings.data_dir), job, "guangxi-2021-2025")
    assert store.get(job)["error"] == "sites.csv: row 3: not a number"

    # what the app stores when a worker process dies, whatever the text
    job = _job(store, root)
    store.fail(
        job,
        "the worker process failed: Traceback (most recent call last):\n"
        '  File "/opt/venv/lib/python3.11/site-packages/api/jobs.py", line 1\n',
    )
    assert store.get(job)["error"] == "the worker process failed:"
    assert not (store.folder(job) / "input").exists()
    assert public_message(f"{store.folder('x')}/input/a.csv: bad") == "a.csv: bad"
    assert public_message("ratio 20 % / 10 %, 1/3 of m2/space") == (
        "ratio 20 % / 10 %, 1/3 of m2/space"
    )


def test_a_real_job_run_records_done_and_deletes_its_input(tmp_path, root):
    settings = _settings(tmp_path)
    store = JobStore(settings.data_dir, settings)
    job = _job(store, root)
    run_job(str(settings.data_dir), job, "guangxi-2021-2025")
    row = store.get(job)
    assert row["state"] == "done" and row["attempts"] == 1 and row["lease_owner"] is None
    assert Path(row["result"]).exists() and not (store.folder(job) / "input").exists()
    run_job(str(settings.data_dir), job, "guangxi-2021-2025")  # a second delivery: no-op
    assert store.get(job)["attempts"] == 1


# --------------------------------------------------------------------------- retention
def test_retention_sweep_and_siting_jobs_prune(tmp_path, root, capsys):
    settings = _settings(tmp_path, job_retention_days=7)
    store = JobStore(settings.data_dir, settings)
    old_done, old_failed, recent, running, old_queued = (_job(store, root) for _ in range(5))
    for job in (old_done, old_failed, recent):
        (store.folder(job) / "result.json").write_text("{}")
    store.update(old_done, state="done", finished="2020-01-01T00:00:00Z")
    store.update(old_failed, state="failed", finished="2020-01-02T00:00:00Z")
    store.update(recent, state="done", finished=jobs_module.now())
    store.update(running, state="running", created="2020-01-01T00:00:00Z")
    store.update(old_queued, created="2020-01-01T00:00:00Z")
    orphan = store.folder("cutoff-upload")
    (orphan / "input").mkdir(parents=True)
    os.utime(orphan, (time.time() - 7200, time.time() - 7200))
    fresh_orphan = store.folder("upload-in-progress")
    fresh_orphan.mkdir()

    gone = store.prune_expired()
    assert {g["id"] for g in gone} == {old_done, old_failed, "cutoff-upload"}
    assert all(not store.folder(g["id"]).exists() for g in gone)
    assert store.get(old_done) is None and store.get(old_failed) is None
    for job in (recent, running, old_queued):  # unfinished jobs are never pruned
        assert store.get(job) is not None and store.folder(job).exists()
    assert fresh_orphan.exists()
    keep_all = _settings(tmp_path, job_retention_days=0)
    assert JobStore(settings.data_dir, keep_all).prune_expired() == []

    data = str(settings.data_dir)
    assert main(["jobs", "list", "--data-dir", data]) == 0
    listed = capsys.readouterr().out
    assert recent in listed and running in listed and "running" in listed
    assert main(["jobs", "prune", "--older-than", "0", "--dry-run", "--data-dir", data]) == 0
    assert recent in capsys.readouterr().out and store.get(recent) is not None
    assert main(["jobs", "prune", "--older-than", "0", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert recent in out and "deleted 1 job" in out
    assert store.get(recent) is None and not store.folder(recent).exists()
    assert store.get(running) is not None
    assert main(["jobs", "prune", "--data-dir", str(tmp_path / "nowhere")]) == 2
    assert "no job store" in capsys.readouterr().err


# --------------------------------------------------------------------------- real servers
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := jobs_module._proc_stat(int(entry.name))):
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if stat[0] not in ("Z", "X"):
                tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    stat = jobs_module._proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


class Server:
    """A real `siting serve` on 127.0.0.1 with its own data dir; kill() is kill -9."""

    def __init__(self, tmp_path: Path, root: Path, name: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "SITING_DATA_DIR": str(tmp_path / "data"),
            "SITING_JOB_LEASE_SECONDS": "3",
            "SITING_PROCESS_WORKERS": "1",
            "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        self.log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "siting.cli", "serve", "--port", str(self.port)],
            env=env,
            cwd=tmp_path,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
            assert self.proc.poll() is None, (tmp_path / f"{name}.log").read_text()
        self.stop()
        raise AssertionError("siting serve did not start")

    def submit(self, name: str, data: bytes) -> str:
        r = httpx.post(
            f"{self.base}/v1/jobs?as_of=2024-06-30", files={"file": (name, data)}, timeout=60
        )
        assert r.status_code == 202, r.text
        return r.json()["id"]

    def job(self, job_id: str) -> dict:
        return httpx.get(f"{self.base}/v1/jobs/{job_id}", timeout=10).json()

    def kill(self, *also: int) -> None:
        for pid in (self.proc.pid, *also):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # not reaped on purpose until stop(): the dead server stays a zombie, like a
        # server whose parent has not waited for it; it must not look alive

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()
        self.log.close()


def _big_csv(root: Path, rows: int) -> bytes:
    lines = (root / "sample_sites/sites.csv").read_text(encoding="utf-8-sig").splitlines()
    head, body = lines[0], lines[1:]
    out = [head]
    for i in range(rows):
        line = body[i % len(body)]
        out.append(f"X{i}" + line[line.index(",") :])
    return ("\n".join(out) + "\n").encode()


def _until_running(server: Server, job_id: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while (state := server.job(job_id)["state"]) != "running":
        assert state == "queued" and time.time() < deadline, state
        time.sleep(0.05)


def _all_finished(server: Server, ids: list[str], timeout: float) -> dict[str, dict]:
    deadline = time.time() + timeout
    while True:
        states = {j: server.job(j) for j in ids}
        if all(s["state"] in ("done", "failed") for s in states.values()):
            return states
        assert time.time() < deadline, states
        time.sleep(0.1)


def _attempts(data_dir: Path, job_id: str) -> int:
    with sqlite3.connect(data_dir / "jobs.sqlite") as db:
        return db.execute("select attempts from jobs where id = ?", (job_id,)).fetchone()[0]


POOL_SCRIPT = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing


def init(parent, watchdog_only):
    import siting_api.work as work

    if watchdog_only:
        work.PR_SET_PDEATHSIG = 0  # an invalid prctl option: only the watchdog thread is left
    work.worker_init(parent)


if __name__ == "__main__":
    pool = ProcessPoolExecutor(
        2,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init,
        initargs=(os.getpid(), sys.argv[1] == "watchdog"),
    )
    pids = {pool.submit(os.getpid).result() for _ in range(4)}
    print(" ".join(map(str, sorted(pids))), flush=True)
    time.sleep(120)
"""


@linux
@pytest.mark.parametrize("guard", ["prctl", "watchdog"])
def test_idle_pool_workers_die_with_their_parent(tmp_path, root, guard):
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = tmp_path / "pool.log"  # the pool's resource tracker warns there, not on the terminal
    with log.open("w") as err:
        parent = subprocess.Popen(
            [sys.executable, str(script), guard],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert workers and all(_alive(w) for w in workers), log.read_text()
        parent.kill()
        deadline = time.time() + 5
        while alive := [w for w in workers if _alive(w)]:
            assert time.time() < deadline, f"orphaned workers {alive}"
            time.sleep(0.05)
    finally:
        parent.kill()
        parent.wait()


# Bound after a restart on the same host (docs/api.md): jobs are claimed at start-up, so each
# ends within its own run time; 60 s covers the 50,000-row job run twice on a slow machine.
BOUND = 60


@linux
@pytest.mark.parametrize("kill_workers_too", [False, True], ids=["server", "server+workers"])
def test_kill_9_and_immediate_restart_loses_no_job(tmp_path, root, kill_workers_too):
    small = (root / "sample_sites/sites.csv").read_bytes()
    first = Server(tmp_path, root, "first")
    try:
        slow = first.submit("big.csv", _big_csv(root, 50_000))  # seconds of work
        queued = [first.submit("sites.csv", small) for _ in range(2)]  # behind it: 1 worker
        _until_running(first, slow)
        workers = _descendants(first.proc.pid)
        assert workers, "the job runs in a pool worker process"
        first.kill(*(workers if kill_workers_too else ()))
        # the workers die with the server (PR_SET_PDEATHSIG / watchdog), within seconds
        deadline = time.time() + 5
        while alive := [w for w in workers if _alive(w)]:
            assert time.time() < deadline, f"orphaned workers {alive}"
            time.sleep(0.05)
        second = Server(tmp_path, root, "second")  # at once, on the same data dir
    finally:
        first.stop()
    try:
        states = _all_finished(second, [slow, *queued], BOUND)
        assert all(s["state"] == "done" for s in states.values()), states
        assert _attempts(tmp_path / "data", slow) == 2  # interrupted once, run again
        result = httpx.get(f"{second.base}/v1/jobs/{slow}/result", timeout=60).json()
        assert result["summary"]["sites"] == 50_000
    finally:
        second.stop()
