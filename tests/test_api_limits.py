"""Limits that hold under the caps (issue 10): JSON depth and numbers, body size and pace,
header deadline and size (raw sockets against a real `siting serve`), memory of large bodies,
work cancelled when the client goes away, `Allow` on 405."""

import contextlib
import json
import multiprocessing
import os
import socket
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import httpx
import pytest
from conftest import free_port, siting_server
from fastapi.testclient import TestClient

from siting_api.app import create_app
from siting_api.settings import Settings

SITE = {"id": "S", "category": "hotel", "parking_spaces": 10, "charging_spaces": 2}


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "data", max_upload_bytes=2_000_000, max_sites=1000)


@pytest.fixture
def client(settings):
    with TestClient(
        create_app(settings, executor=ThreadPoolExecutor(2)), raise_server_exceptions=False
    ) as c:
        yield c


def _status(r, *statuses):
    assert r.status_code in statuses, r.text[:300]
    assert "Traceback" not in r.text
    return r


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


HOSTILE = {
    "nested 100k": _deep(100_000),
    "nested 65": _deep(65),
    "5,000 digits": b"9" * 5000,
    "1e400": b"1e400",
    "-5,000 digits": b"-" + b"9" * 5000,
    "long fraction": b"0." + b"1" * 5000,
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_json_is_refused_not_a_crash(client, name):
    value = HOSTILE[name]
    json_headers = {"content-type": "application/json"}
    r = client.post("/v1/check", content=b'{"id": "a", "x": ' + value + b"}", headers=json_headers)
    _status(r, 200, 422)
    r = client.post(
        "/v1/check", content=b'{"id": "a", "category": ' + value + b"}", headers=json_headers
    )
    _status(r, 422)
    body = b'{"sites": [{"id": "a", "parking_spaces": ' + value + b"}]}"
    r = _status(client.post("/v1/checks", content=body, headers=json_headers), 200, 422)
    if r.status_code == 200:  # a long fraction is a float: that row is invalid, not lost
        assert r.json()["results"][0]["status"] == "invalid"
    body = b'{"sites": [' + value + b"]}"
    _status(client.post("/v1/checks", content=body, headers=json_headers), 200, 422)
    files = {"file": ("sites.json", b'[{"id": "a", "parking_spaces": ' + value + b"}]")}
    _status(client.post("/v1/checks/upload", files=files), 200, 422)


def test_json_depth_limit_and_its_message(client):
    deep = {"sites": [{"id": "a", "x": json.loads(_deep(70).decode())}]}
    body = client.post("/v1/checks", json=deep).json()
    assert body["status"] == 422
    assert body["detail"] == "request body: nested deeper than 64 levels (SITING_MAX_JSON_DEPTH)"
    ok = {"sites": [{"id": "a", "x": json.loads(_deep(50).decode())}]}
    assert client.post("/v1/checks", json=ok).status_code == 200
    r = client.post("/v1/check", json={"id": "a", "x": json.loads(_deep(70).decode())})
    assert "SITING_MAX_JSON_DEPTH" in r.json()["detail"]


def test_body_over_the_cap_while_it_streams(client):
    """No Content-Length (chunked): counted as it arrives, 413 and the connection closed."""

    def chunks():
        for _ in range(50):
            yield b"x" * 100_000

    for url in ("/v1/checks", "/v1/check"):
        r = client.post(url, content=chunks(), headers={"content-type": "application/json"})
        _status(r, 413)
        assert r.headers["connection"] == "close"
        assert "SITING_MAX_UPLOAD_BYTES" in r.json()["detail"]
    # a multipart upload without Content-Length
    boundary = b"b0undary"

    def multipart():
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; '
        yield b'filename="s.csv"\r\nContent-Type: text/csv\r\n\r\nid,category\r\n'
        for _ in range(50):
            yield b"a,hotel\r\n" * 10_000
        yield b"\r\n--" + boundary + b"--\r\n"

    r = client.post(
        "/v1/checks/upload",
        content=multipart(),
        headers={"content-type": "multipart/form-data; boundary=b0undary"},
    )
    _status(r, 413)


def test_too_many_context_files(client):
    files = [("file", ("a.csv", b"id\n1\n"))]
    files += [("context", (f"c{i}.csv", b"id\n1\n")) for i in range(25)]
    r = _status(client.post("/v1/checks/upload", files=files), 400, 413)
    assert r.headers["content-type"].startswith("application/problem+json")


def test_405_says_what_is_allowed(client):
    for method, url, allow in (
        ("PUT", "/v1/check", "POST"),
        ("GET", "/v1/checks", "POST"),
        ("DELETE", "/v1/rulesets", "GET"),
        ("POST", "/healthz", "GET"),
    ):
        r = client.request(method, url)
        assert r.status_code == 405
        assert r.headers["allow"] == allow
        assert r.headers["content-type"].startswith("application/problem+json")


# --------------------------------------------------------------------------- a real server
LIMITS_ENV = {
    "SITING_HEADER_TIMEOUT": "1",
    "SITING_BODY_TIMEOUT": "1",
    "SITING_MIN_BODY_RATE": "2000",
    "SITING_KEEP_ALIVE_TIMEOUT": "1",
    "SITING_MAX_HEADER_BYTES": "8192",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory, root):
    with siting_server(tmp_path_factory.mktemp("limits"), root, **LIMITS_ENV) as (proc, port):
        yield proc, port


def _until_closed(sock: socket.socket, send=None, limit: float = 8.0) -> tuple[float, bytes]:
    """Send `send()` bytes (if any) until the server answers or closes; bounded by `limit`.
    Returns (seconds, what the server said)."""
    start = time.monotonic()
    sock.settimeout(0.1)
    said = b""
    while time.monotonic() - start < limit:
        if send is not None:
            try:
                sock.sendall(send())
            except OSError:
                break
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            break
        if not data:
            break
        said += data
    return time.monotonic() - start, said


def test_slow_headers_are_cut_off(server):
    _, port = server
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        took, said = _until_closed(s, lambda: (time.sleep(0.2), b"X")[1])
    assert took < 3, took  # SITING_HEADER_TIMEOUT=1
    assert said.startswith(b"HTTP/1.1 408")


def test_a_silent_connection_is_cut_off(server):
    _, port = server
    with socket.create_connection(("127.0.0.1", port)) as s:
        took, said = _until_closed(s)
    assert took < 3 and said.startswith(b"HTTP/1.1 408")


def test_many_slow_clients_do_not_hold_the_server(server):
    _, port = server
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
    try:
        for s in socks:
            s.sendall(b"POST /v1/checks HTTP/1.1\r\nHost: local")
        time.sleep(1.5)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        deadline = time.monotonic() + 5
        open_ = list(socks)
        while open_ and time.monotonic() < deadline:
            for s in list(open_):
                s.settimeout(0.05)
                try:
                    data = s.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    data = b""
                if not data or data.startswith(b"HTTP/1.1 408"):
                    open_.remove(s)
        assert not open_, f"{len(open_)} slow connections still open"
    finally:
        for s in socks:
            s.close()


def test_idle_keep_alive_is_closed(server):
    _, port = server
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        took, said = _until_closed(s)
    assert said.startswith(b"HTTP/1.1 200") and took < 3  # SITING_KEEP_ALIVE_TIMEOUT=1


def test_headers_over_the_cap(server):
    _, port = server
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 10_000)
        s.sendall(b"\r\n\r\n")
        _, said = _until_closed(s)
    assert said.startswith(b"HTTP/1.1 431")


def _post_head(port: int, length: int) -> bytes:
    return (
        f"POST /v1/checks HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_a_stalled_body_is_cut_off(server):
    _, port = server
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(_post_head(port, 1000) + b'{"sites": [')
        took, said = _until_closed(s)
    assert took < 4, took
    assert said.startswith(b"HTTP/1.1 408") and b"SITING_BODY_TIMEOUT" in said
    assert b"connection: close" in said.lower()


def test_a_trickling_body_is_cut_off(server):
    _, port = server
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(_post_head(port, 100_000) + b'{"sites": [')
        took, said = _until_closed(s, lambda: (time.sleep(0.1), b" ")[1])
    assert took < 5, took
    assert said.startswith(b"HTTP/1.1 408") and b"SITING_MIN_BODY_RATE" in said


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_large_bodies_are_not_held_in_the_server_process(tmp_path, root):
    """A 30 MB JSON body and a 30 MB CSV upload: the server process streams them to disk
    (the pool worker parses); its peak memory grows by far less than the body."""
    filler = "x" * 3000
    sites = [{"id": f"S{i}", "category": "hotel", "remark": filler} for i in range(10_000)]
    body = json.dumps({"sites": sites, "as_of": "2024-06-30"}).encode()
    csv = b"id,category,remark\n" + b"".join(
        f"S{i},hotel,{filler}\n".encode() for i in range(10_000)
    )
    assert len(body) > 30_000_000 and len(csv) > 30_000_000
    with siting_server(tmp_path, root) as (proc, port):
        base = f"http://127.0.0.1:{port}"
        httpx.post(f"{base}/v1/checks", json={"sites": [SITE]}, timeout=60)  # pool started
        before = _peak_rss_mb(proc.pid)
        r = httpx.post(
            f"{base}/v1/checks",
            content=body,
            headers={"content-type": "application/json"},
            timeout=120,
        )
        assert r.status_code == 200 and r.json()["summary"]["sites"] == 10_000
        files = {"file": ("sites.csv", csv)}
        r = httpx.post(f"{base}/v1/checks/upload?as_of=2024-06-30", files=files, timeout=120)
        assert r.status_code == 200 and r.json()["summary"]["sites"] == 10_000
        grew = _peak_rss_mb(proc.pid) - before
    assert grew < 15, f"server process peak grew {grew:.0f} MB for 30 MB bodies"


# --------------------------------------------------------------------------- client gone
@contextlib.contextmanager
def _in_process_server(app):
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            http="siting_api.serve:GuardedHttpToolsProtocol",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _post_and_leave(port: int, until) -> None:
    """POST a small batch, wait until `until()` is true (bounded), then disconnect."""
    body = json.dumps({"sites": [SITE], "as_of": "2024-06-30"}).encode()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(_post_head(port, len(body)) + body)
        deadline = time.time() + 20
        while not until():
            assert time.time() < deadline, "the work never started"
            time.sleep(0.02)


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_client_gone_interrupts_work_in_a_pool_process(tmp_path, monkeypatch, caplog):
    """A slow check running in a pool process is interrupted as soon as its client leaves,
    and the process is free for the next call."""
    import siting_api.batch

    started, stopped = tmp_path / "started", tmp_path / "stopped"

    def slow_check(sites, pack, as_of=None):
        started.touch()
        try:
            for _ in range(2000):  # 20 s unless interrupted
                time.sleep(0.01)
        except BaseException as exc:
            stopped.write_text(type(exc).__name__)
            raise
        stopped.write_text("ran to the end")
        raise AssertionError("not cancelled")

    monkeypatch.setattr(siting_api.batch, "check_records", slow_check)
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    pool.submit(int).result()  # fork the worker now, before the server's thread exists
    try:
        app = create_app(Settings(data_dir=tmp_path / "data"), executor=pool)
        with _in_process_server(app) as port:
            caplog.set_level("INFO", logger="siting.api")
            left = time.time()
            _post_and_leave(port, started.exists)
            assert _wait_for(stopped.exists, 5), "the work was not stopped"
            assert stopped.read_text() == "Cancelled"
            assert time.time() - left < 6
            assert pool.submit(os.getpid).result(timeout=10) in pool._processes  # still there
            assert _wait_for(lambda: "work cancelled" in caplog.text, 5)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def test_client_gone_drops_work_in_a_thread(tmp_path, monkeypatch):
    """In a thread the work stops at its next checkpoint: here the answer is never
    rendered; a call still queued behind it never starts."""
    import siting_api.batch

    calls, rendered = [], []
    real_write = siting_api.batch.write_json_answer

    def slow_check(sites, pack, as_of=None):
        calls.append(time.time())
        time.sleep(1.5)
        return siting_api.batch.check_records_real(sites, pack, as_of=as_of)

    monkeypatch.setattr(
        siting_api.batch, "check_records_real", siting_api.batch.check_records, raising=False
    )
    monkeypatch.setattr(siting_api.batch, "check_records", slow_check)
    monkeypatch.setattr(
        siting_api.batch, "write_json_answer", lambda *a: rendered.append(1) or real_write(*a)
    )
    pool = ThreadPoolExecutor(1)
    app = create_app(Settings(data_dir=tmp_path / "data"), executor=pool)
    with _in_process_server(app) as port:
        _post_and_leave(port, lambda: len(calls) == 1)
        # a second call queued behind a third, both left: the queued one never starts
        threads = [
            threading.Thread(target=_post_and_leave, args=(port, lambda: True)) for _ in range(2)
        ]
        for t in threads:
            t.start()
            time.sleep(0.2)
        for t in threads:
            t.join()
        time.sleep(4)
        assert rendered == []
        assert len(calls) <= 2  # the first, and perhaps one that had started
    pool.shutdown()


def test_the_streamed_json_answer_is_the_rendered_one(tmp_path, pack):
    """/v1/checks writes its answer a chunk at a time: the same bytes as `render`."""
    from siting.check import check_records
    from siting.formats import render
    from siting_api.batch import write_json_answer

    sites = [dict(SITE, id=f"S{i}", parking_spaces=i) for i in range(57)] + ["junk", {}]
    answer = check_records(sites, pack, as_of="2024-06-30")
    kind, path, media = write_json_answer(answer, str(tmp_path), chunk=10)
    assert kind == "ok" and media == "application/json"
    assert path == render(answer, "json")[0]
    empty = check_records([], pack, as_of="2024-06-30")
    assert write_json_answer(empty, str(tmp_path))[1] == render(empty, "json")[0]
