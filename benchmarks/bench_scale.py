"""Partitioned checks on Dask against the in-memory engine, at sizes that stop fitting one
machine's memory (issue 14). Not a test: prints figures.

    python benchmarks/bench_scale.py make                 # once: the layers (streamed)
    python benchmarks/bench_scale.py run                  # 1M x 1M both engines, 1M x 4M dask
    python benchmarks/bench_scale.py growth               # more sizes of each layer

Layers (benchmarks/data/scale/, GeoPackage, EPSG:4545), made the way make_synthetic.py makes
them but in chunks, so no size has to be held whole: context polygons of 129 vertices on a
jittered 200 m grid (buffered points, neighbours overlapping a little), each with a category
and the place's facts; parking rectangles scattered over the same extent, 20 % without a
space count. `parking_N_over_M.gpkg` spreads N lots over the extent of M context polygons.

Each run is `siting check ... -o out.gpkg` in a fresh process (the CLI, Python start-up and
imports included); the peak is the largest sum of the resident set sizes of that process and
all its descendants (the Dask scheduler lives in the CLI's process; the workers and their
nannies are its children), sampled every 50 ms. Verdicts are compared row by row between the
two engines' outputs (id, status, shortfall, category, class_source, class_confidence).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATA = Path(__file__).parent / "data" / "scale"
X0, Y0, CELL = 430_000.0, 2_480_000.0, 200.0
CHUNK = 250_000
CRS = "EPSG:4545"


def _cats() -> list[str]:
    from siting import load_ruleset

    return load_ruleset().category_ids


def _context_batches(m: int, seed: int):
    cats = np.array(_cats(), dtype=object)
    side = int(np.ceil(np.sqrt(m)))
    for a in range(0, m, CHUNK):
        b = min(m, a + CHUNK)
        rng = np.random.default_rng([seed, a])
        n = b - a
        ij = np.arange(a, b)
        x = X0 + (ij % side) * CELL + CELL / 2 + rng.uniform(-20, 20, n)
        y = Y0 + (ij // side) * CELL + CELL / 2 + rng.uniform(-20, 20, n)
        geoms = shapely.buffer(shapely.points(x, y), rng.uniform(85, 115, n), quad_segs=32)
        yield pa.record_batch(
            {
                "category": pa.array(rng.choice(cats, n), pa.string()),
                "development": pa.array(rng.choice(["new", "existing"], n), pa.string()),
                "a_rating": pa.array(rng.choice(["3A", "4A", "5A"], n), pa.string()),
                "service_area_class": pa.array(rng.choice(["1", "2", "3"], n), pa.string()),
                "dedicated_ev_area": pa.array(rng.choice(["是", "否"], n), pa.string()),
                "name": pa.array(np.char.add("place ", ij.astype(str)), pa.string()),
                "geometry": pa.array(shapely.to_wkb(geoms), pa.binary()),
            }
        )


def _lot_batches(n_lots: int, m: int, seed: int):
    side = int(np.ceil(np.sqrt(m)))
    for a in range(0, n_lots, CHUNK):
        b = min(n_lots, a + CHUNK)
        rng = np.random.default_rng([seed, 1, a])
        n = b - a
        x = X0 + rng.uniform(0, side * CELL, n)
        y = Y0 + rng.uniform(0, side * CELL, n)
        w, h = rng.uniform(15, 50, n), rng.uniform(10, 40, n)
        geoms = shapely.box(x, y, x + w, y + h)
        spaces = np.floor(w * h / 25).astype(np.int64)
        charging = (spaces * rng.uniform(0, 0.3, n)).astype(np.int64)
        known = rng.random(n) >= 0.2
        yield pa.record_batch(
            {
                "lot_id": pa.array(np.char.add("P", np.arange(a, b).astype(str)), pa.string()),
                "parking_spaces": pa.array(spaces, mask=~known),
                "charging_spaces": pa.array(charging),
                "reserved_spaces": pa.array(
                    ((spaces - charging) * rng.uniform(0, 0.5, n)).astype(np.int64)
                ),
                "fast_charging_spaces": pa.array(
                    (charging * rng.uniform(0, 1, n)).astype(np.int64)
                ),
                "geometry": pa.array(shapely.to_wkb(geoms), pa.binary()),
            }
        )


def _write(path: Path, batches, geometry_type: str) -> None:
    batches = iter(batches)
    first = next(batches)
    reader = pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], batches))
    tmp = path.with_suffix(".part.gpkg")
    tmp.unlink(missing_ok=True)
    pyogrio.write_arrow(
        reader,
        tmp,
        layer=path.stem,
        driver="GPKG",
        geometry_name="geometry",
        geometry_type=geometry_type,
        crs=CRS,
    )
    tmp.replace(path)


def context_path(m: int) -> Path:
    return DATA / f"context_{m}.gpkg"


def lots_path(n: int, m: int) -> Path:
    return DATA / f"parking_{n}_over_{m}.gpkg"


def make(pairs: list[tuple[int, int]], seed: int = 7) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    for n, m in pairs:
        for path, batches, kind in (
            (context_path(m), lambda m=m: _context_batches(m, seed), "Polygon"),
            (lots_path(n, m), lambda n=n, m=m: _lot_batches(n, m, seed), "Polygon"),
        ):
            if path.exists():
                continue
            t = time.perf_counter()
            _write(path, batches(), kind)
            size = path.stat().st_size / 1e6
            print(f"wrote {path} ({size:,.0f} MB) in {time.perf_counter() - t:.0f} s", flush=True)


# ------------------------------------------------------------------ measuring a run


def run_measured(cmd: list[str], interval: float = 0.05) -> tuple[float, float, int, str]:
    """Run `cmd`; (wall seconds, peak RSS of the process tree in bytes, exit code, output)."""
    import psutil

    t = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            peak = max(peak, total)
            time.sleep(interval)
        wall = time.perf_counter() - t
        log.seek(0)
        out = log.read().decode("utf-8", "replace")
    return wall, peak, proc.returncode, out


def siting_cmd(lots: Path, ctx: Path, out: Path, engine: str, extra=()) -> list[str]:
    return [
        sys.executable,
        "-m",
        "siting.cli",
        "check",
        str(lots),
        "--context",
        str(ctx),
        "--as-of",
        "2024-06-30",
        "--engine",
        engine,
        "-o",
        str(out),
        *extra,
    ]


VERDICT_COLUMNS = [
    "id",
    "row",
    "status",
    "shortfall",
    "categories",
    "class_source",
    "class_confidence",
    "class_context_feature",
]


def same_verdicts(a: Path, b: Path) -> str:
    """Compare two result GeoPackages row by row on the verdict columns, in blocks."""
    info = pyogrio.read_info(a, layer="results")
    n = info["features"]
    if pyogrio.read_info(b, layer="results")["features"] != n:
        return "DIFFERENT row counts"
    step = 200_000
    for start in range(0, n, step):
        ta = pyogrio.read_arrow(
            a,
            layer="results",
            columns=VERDICT_COLUMNS,
            read_geometry=False,
            skip_features=start,
            max_features=step,
        )[1]
        tb = pyogrio.read_arrow(
            b,
            layer="results",
            columns=VERDICT_COLUMNS,
            read_geometry=False,
            skip_features=start,
            max_features=step,
        )[1]
        if not ta.equals(tb):
            return f"DIFFERENT in rows {start}-{start + step}"
    return f"identical ({n:,} rows x {len(VERDICT_COLUMNS)} verdict columns)"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def one_run(lots: Path, ctx: Path, out: Path, engine: str, extra=()) -> tuple[float, float]:
    load = _load()
    wall, peak, rc, text = run_measured(siting_cmd(lots, ctx, out, engine, extra))
    tail = " ".join(text.strip().splitlines()[:1])[:160]
    print(
        f"  {engine:<7} {lots.name} x {ctx.name}: {wall:6.1f} s, peak RSS (tree) "
        f"{peak / 2**30:5.2f} GiB, exit {rc}, load before {load}\n      {tail}",
        flush=True,
    )
    if rc != 0:
        print(text[-3000:])
    return wall, peak


def header() -> None:
    import dask
    import distributed
    import geopandas
    import psutil

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; Python {platform.python_version()}, "
        f"dask {dask.__version__}, distributed {distributed.__version__}, geopandas "
        f"{geopandas.__version__}, pyogrio {pyogrio.__version__}, shapely {shapely.__version__}"
    )
    print(f"load average at start: {_load()}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["make", "run", "growth"])
    ap.add_argument("--lots", type=int, default=1_000_000)
    ap.add_argument("--context", type=int, default=1_000_000)
    ap.add_argument("--big-context", type=int, default=4_000_000)
    ap.add_argument("--skip-memory", action="store_true", help="no in-memory run")
    ap.add_argument("--skip-big", action="store_true", help="no run against the big context")
    ap.add_argument("--out", default=None, help="where outputs go (default a temporary folder)")
    ap.add_argument(
        "--points",
        default="250000x1000000,500000x1000000,1000000x2000000",
        help="growth: LOTSxCONTEXT sizes to run (the run command measures 1Mx1M and 1Mx4M)",
    )
    args = ap.parse_args()
    n, m, big = args.lots, args.context, args.big_context
    if args.what == "make":
        make([(n, m), (n, big)])
        return
    header()
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        tmp = Path(tmp)
        if args.what == "run":
            make([(n, m), *([] if args.skip_big else [(n, big)])])
            print(f"{n:,} lots x {m:,} context polygons", flush=True)
            mem_out, dask_out = tmp / "memory.gpkg", tmp / "dask.gpkg"
            if not args.skip_memory:
                t_mem, p_mem = one_run(lots_path(n, m), context_path(m), mem_out, "memory")
            t_dask, p_dask = one_run(lots_path(n, m), context_path(m), dask_out, "dask")
            if not args.skip_memory:
                print(
                    f"  dask / memory: time {t_dask / t_mem:.2f} x, peak {p_dask / p_mem:.2f} x; "
                    f"verdicts {same_verdicts(mem_out, dask_out)}",
                    flush=True,
                )
                mem_out.unlink(missing_ok=True)
            dask_out.unlink(missing_ok=True)
            if not args.skip_big:
                print(f"{n:,} lots x {big:,} context polygons", flush=True)
                one_run(lots_path(n, big), context_path(big), tmp / "big.gpkg", "dask")
        else:  # growth: more sizes of each layer (the run's two are the others)
            points = [tuple(int(v) for v in p.split("x")) for p in args.points.split(",")]
            make(points)
            print("growth (dask; lots x context polygons):", flush=True)
            for k, c in points:
                one_run(lots_path(k, c), context_path(c), tmp / "g.gpkg", "dask")


if __name__ == "__main__":
    main()
