import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def pack():
    from siting import load_ruleset

    return load_ruleset("guangxi-2021-2025")


@pytest.fixture(params=["scalar", "columns"])
def decision_path(request, monkeypatch):
    """Run a test on both of the engine's decision paths: `scalar` (tables of up to
    siting.scalar.SCALAR_SITES sites, one site at a time - what a small test table takes by
    default) and `columns` (siting/evaluate.py's whole-column code, which every larger table
    takes). A decision test module opts in with
    `pytestmark = pytest.mark.usefixtures("decision_path")`, so each decision it pins is
    pinned on both."""
    if request.param == "columns":
        from siting import scalar

        monkeypatch.setattr(scalar, "SCALAR_SITES", -1)
    return request.param


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def check_one(site: dict, pack, as_of="2024-06-30") -> dict:
    from siting import check_records

    return check_records([site], pack, as_of=as_of).results[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def siting_server(tmp_path, root, **env):
    """A real `siting serve` on 127.0.0.1 (SITING_* settings from `env` only), stopped on
    exit; yields (process, port)."""
    port = free_port()
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SITING_")},
        "SITING_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "siting.cli", "serve", "--port", str(port)],
        env=full,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
            assert proc.poll() is None, proc.stdout.read().decode()
        else:
            raise AssertionError("siting serve did not start")
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
