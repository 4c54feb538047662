"""Load benchmark of `siting serve` with a real HTTP load tool (wrk), not a timed test.

    python benchmarks/bench_api.py [--workers 2] [--duration 10]

Prints requests/s and p50/p99 latency of POST /v1/check at 1, 16, 64 and 256 connections
(varied site records, rotated by a wrk Lua script), for `siting serve` and, in the same
invocation with the same script and worker count, for a trivial FastAPI app with the same
request body model (benchmarks/trivial_app.py), then the ratio at each level; and the time of
one POST /v1/checks with 100,000 sites. Needs `wrk` (Debian package wrk). Traffic goes to
127.0.0.1 only. `--connections 16` measures one level only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CATS = [
    "hospital",
    "hotel",
    "shopping_mall",
    "public_parking",
    "regional_agency",
    "residential",
    "scenic_area",
    "highway_service_area",
    "industrial_park",
]


def sites(n: int) -> list[dict]:
    out = []
    for i in range(n):
        cat = CATS[i % len(CATS)]
        spaces = 20 + (i * 37) % 2000
        site = {
            "id": f"S{i}",
            "category": cat,
            "parking_spaces": spaces,
            "charging_spaces": (spaces * (i % 30)) // 100,
            "reserved_spaces": (spaces * (i % 7)) // 100,
        }
        if cat in ("residential", "industrial_park"):
            site["development"] = "new" if i % 2 else "existing"
        if cat == "scenic_area":
            site["a_rating"] = 1 + i % 5
        if cat == "highway_service_area":
            site["service_area_class"] = 1 + i % 3
        out.append(site)
    return out


LUA = """
local bodies = {}
local f = io.open("%s", "r")
for line in f:lines() do bodies[#bodies + 1] = line end
f:close()
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "/v1/check?as_of=2024-06-30",
                    {["Content-Type"] = "application/json"}, bodies[i])
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def to_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, script: Path, connections: int, duration: int) -> dict:
    threads = max(1, min(2, connections))
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {
        "connections": connections,
        "rps": rps,
        "p50_ms": to_ms(lat["50"]),
        "p99_ms": to_ms(lat["99"]),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": sock.group(1) if sock else "",
    }


def start(cmd: list[str], env: dict, base: str) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code in (200, 404):
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.terminate()
    sys.exit(f"server did not start: {cmd}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load(name: str, base: str, script: Path, levels: list[int], duration: int) -> dict:
    run_wrk(base, script, 16, 2)  # warm up every worker
    out = {}
    for c in levels:
        r = out[c] = run_wrk(base, script, c, duration)
        print(
            f"{name:>8} {c:>6} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}  "
            f"{r['non_2xx']} non-2xx {r['socket_errors']}",
            flush=True,
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--connections", type=int, nargs="*", default=[1, 16, 64, 256])
    ap.add_argument("--no-trivial", action="store_true", help="skip the trivial FastAPI app")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bodies = tmp / "bodies.txt"
        bodies.write_text("\n".join(json.dumps(s) for s in sites(1000)) + "\n")
        script = tmp / "check.lua"
        script.write_text(LUA % bodies)
        env = {**os.environ, "SITING_DATA_DIR": str(tmp / "data"), "PYTHONPATH": str(ROOT)}
        load1 = os.getloadavg()[0]
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores (load tool on the same "
            f"cores), load average {load1:.2f} at start; {args.workers} server worker(s) each"
        )
        print(f"{'server':>8} {'conns':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}  errors")
        trivial = {}
        if not args.no_trivial:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            proc = start(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "benchmarks.trivial_app:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                    "--http",
                    "httptools",
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                {**env, "PYTHONPATH": str(ROOT)},
                base,
            )
            try:
                trivial = load("trivial", base, script, args.connections, args.duration)
            finally:
                stop(proc)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start(
            [
                sys.executable,
                "-m",
                "siting.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env,
            base,
        )
        try:
            ours = load("siting", base, script, args.connections, args.duration)
            for c, t in trivial.items():
                r = ours[c]
                print(
                    f"{c:>3} connections: siting/trivial req/s {r['rps'] / t['rps']:.2f}, "
                    f"p99 {r['p99_ms']:.1f} ms vs {t['p99_ms']:.1f} ms"
                )
            if args.batch:
                batch(base, args.batch)
        finally:
            stop(server)
        print(f"load average at end {os.getloadavg()[0]:.2f}")


def batch(base: str, n: int) -> None:
    body = json.dumps({"sites": sites(n), "as_of": "2024-06-30"}).encode()
    httpx.post(
        f"{base}/v1/checks",
        content=json.dumps({"sites": sites(10)}).encode(),
        headers={"content-type": "application/json"},
        timeout=60,
    )  # warm the worker process
    t = time.perf_counter()
    r = httpx.post(
        f"{base}/v1/checks",
        content=body,
        headers={"content-type": "application/json"},
        timeout=300,
    )
    elapsed = time.perf_counter() - t
    got = r.json()["summary"]["sites"]
    print(
        f"POST /v1/checks with {n:,} sites: {elapsed:.2f} s "
        f"({len(body) / 1e6:.1f} MB in, {len(r.content) / 1e6:.1f} MB out, "
        f"{got:,} results, HTTP {r.status_code})"
    )


if __name__ == "__main__":
    main()
