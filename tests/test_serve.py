"""A real `siting serve` process, talked to over a socket."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, root):
    port = _free_port()
    env = {
        **os.environ,
        "SITING_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "siting.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read().decode())
    else:
        proc.kill()
        raise AssertionError("siting serve did not start")
    yield base
    proc.terminate()
    proc.wait(timeout=20)


def test_serve_answers_over_a_socket(server, root):
    assert httpx.get(f"{server}/healthz").json()["status"] == "ok"
    r = httpx.post(
        f"{server}/v1/check?as_of=2024-06-30",
        json={"id": "S", "category": "医院", "parking_spaces": 100, "charging_spaces": 19},
    )
    assert r.json()["shortfall"] == 1
    r = httpx.post(
        f"{server}/v1/checks",
        json={
            "sites": [{"id": "a", "category": "hotel", "parking_spaces": 10}],
            "as_of": "2024-06-30",
        },
        timeout=60,
    )
    assert r.json()["results"][0]["required_spaces"] == 2
    files = {"file": ("sites.csv", (root / "sample_sites/sites.csv").read_bytes())}
    job = httpx.post(f"{server}/v1/jobs?as_of=2024-06-30", files=files).json()
    deadline = time.time() + 60
    while (state := httpx.get(f"{server}{job['url']}").json())["state"] not in ("done", "failed"):
        assert time.time() < deadline
        time.sleep(0.2)
    assert state["state"] == "done", state
    assert httpx.get(f"{server}{job['result_url']}").json()["summary"]["sites"] == 24
    assert "/v1/check" in httpx.get(f"{server}/openapi.json").json()["paths"]
