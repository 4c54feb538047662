"""Sites per second for 1,000,000 generated tabular sites (not a test; prints figures).

    python benchmarks/bench_tabular.py [--sites 1000000] [--seed 1] [--repeat 2]
                                       [--xlsx-sites 100000] [--stages] [--one-process]

Prints, in one run: the machine and its load average; the floor - Arrow's bare read and write
of the same CSV file (pyarrow.csv.read_csv with its own type inference, then write_csv of
that table), nothing computed - beside `siting check big.csv -o out.csv` (in this process,
imports done, the pack loaded once before), and their ratio (issue 12's target: at most 4x);
floor and siting runs alternate `--repeat` times, so a slow spell of the shared VM hits both;
the floor is also timed with Arrow's jemalloc pool, the allocator `siting check` sets.
With --one-process, `siting check` is also timed in one process (the list not split into
parts, siting/parts.py) and its file compared with the one made in parts.
Then `siting check` of --xlsx-sites rows to a formatted .xlsx (target: under 8 s). With
--stages, also normalise + evaluate and the flat result table on a frame already in memory
(with Arrow's jemalloc pool, as `siting check` runs: siting/memory.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from siting import load_ruleset
from siting.check import check_table
from siting.memory import large_arrays
from siting.records import normalise

CATS = [
    "regional_agency",
    "state_owned_enterprise",
    "highway_service_area",
    "urban_complex",
    "shopping_mall",
    "supermarket",
    "cultural_sports_venue",
    "医院",
    "宾馆",
    "transport_hub",
    "park_and_ride",
    "public_parking",
    "scenic_area",
    "industrial_park",
    "住宅小区",
    "hospital;residential",
]


def generate(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parking = rng.integers(0, 3000, n)
    charging = (parking * rng.uniform(0, 0.3, n)).astype(int)
    reserved = ((parking - charging) * rng.uniform(0, 1, n) * (rng.random(n) < 0.3)).astype(int)
    frame = pd.DataFrame(
        {
            "id": np.char.add("S", np.arange(n).astype(str)),
            "category": rng.choice(CATS, n),
            "development": rng.choice(["new", "existing", "新建", ""], n),
            "parking_spaces": parking.astype(str),
            "small_car_spaces": (parking * 0.8).astype(int).astype(str),
            "charging_spaces": charging.astype(str),
            "reserved_spaces": reserved.astype(str),
            "fast_charging_spaces": (charging * rng.uniform(0, 1, n)).astype(int).astype(str),
            "a_rating": rng.choice(["", "3A", "4", "AAAAA"], n),
            "service_area_class": rng.choice(["1", "2", "3", ""], n),
            "dedicated_ev_area": rng.choice(["是", "否", ""], n),
            "site_constraint": rng.choice(["", "", "", "场地受限"], n),
        }
    )
    bad = rng.random(n) < 0.001  # a few broken rows, as real lists have
    frame.loc[bad, "parking_spaces"] = "n/a"
    return frame


def floor(src: Path, out: Path) -> float:
    """Arrow's bare read + write of the file: the floor a CSV-to-CSV tool can reach."""
    import pyarrow.csv as pcsv

    t = time.perf_counter()
    table = pcsv.read_csv(src)
    pcsv.write_csv(table, out)
    return time.perf_counter() - t


def siting_csv(src: Path, out: Path, parts: bool = True) -> float:
    """`siting check src -o out` as the CLI runs it; parts=False: in one process (a list of
    200,000 rows or more is otherwise checked in two, siting/parts.py)."""
    from siting import parts as parts_module
    from siting.cli import main as cli

    saved = parts_module.PARTS_MIN_ROWS
    if not parts:
        parts_module.PARTS_MIN_ROWS = 10**12
    try:
        t = time.perf_counter()
        code = cli(["check", str(src), "--as-of", "2024-06-30", "-o", str(out)])
        took = time.perf_counter() - t
    finally:
        parts_module.PARTS_MIN_ROWS = saved
    assert code == 0
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sites", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--xlsx-sites", type=int, default=100_000)
    ap.add_argument("--stages", action="store_true", help="also time the engine's stages")
    ap.add_argument(
        "--one-process",
        action="store_true",
        help="also time siting check in one process (the list not split), and compare files",
    )
    args = ap.parse_args()
    import pyarrow

    pack = load_ruleset()
    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"pyarrow {pyarrow.__version__}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    frame = generate(args.sites, args.seed)
    n = args.sites
    if args.stages:  # with Arrow's allocator as `siting check` sets it (siting/memory.py)
        with large_arrays():
            t0 = time.perf_counter()
            table = normalise(frame, pack, source="generated")
            t1 = time.perf_counter()
            answer = check_table(table, pack, "2024-06-30")
            t2 = time.perf_counter()
            flat = answer.frame(keep_input=False)
            t3 = time.perf_counter()
        print(f"sites: {n:,}; statuses: {answer.summary['by_status']}")
        print(f"normalise:           {t1 - t0:6.2f} s  {n / (t1 - t0):>12,.0f} sites/s")
        print(f"evaluate:            {t2 - t1:6.2f} s  {n / (t2 - t1):>12,.0f} sites/s")
        print(f"result table:        {t3 - t2:6.2f} s  ({len(flat):,} rows with explanations)")
        # gone before the timed runs: a process holding them forks (and copies) more
        del table, answer, flat
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "big.csv", Path(tmp) / "out.csv"
        frame.to_csv(src, index=False)
        print(f"CSV in: {n:,} rows, {src.stat().st_size / 1e6:,.0f} MB")
        from siting import parts as parts_module

        split = n >= parts_module.PARTS_MIN_ROWS and parts_module.usable()
        print(
            f"checked in parts: {'yes, 2 processes' if split else 'no'} "
            f"({parts_module.cores()} cores; lists of {parts_module.PARTS_MIN_ROWS:,} rows or more)"
        )
        floors, runs, jemalloc, single = [], [], [], []
        one = Path(tmp) / "one.csv"
        for _ in range(args.repeat):
            floors.append(floor(src, Path(tmp) / "floor.csv"))
            runs.append(siting_csv(src, out))
            with large_arrays():  # the floor with the allocator siting uses, for comparison
                jemalloc.append(floor(src, Path(tmp) / "floor.csv"))
            if args.one_process:
                single.append(siting_csv(src, one, parts=False))
        if single:  # the same file either way
            assert one.read_bytes() == out.read_bytes(), "parts and one process differ"
        print(
            f"CSV out: {out.stat().st_size / 1e6:,.0f} MB (floor's: "
            f"{(Path(tmp) / 'floor.csv').stat().st_size / 1e6:,.0f} MB)"
        )
        for k, (a, b, j) in enumerate(zip(floors, runs, jemalloc, strict=True), 1):
            alone = f"   one process {single[k - 1]:6.2f} s" if single else ""
            print(
                f"run {k}: Arrow read+write {a:6.2f} s   siting check -o out.csv {b:6.2f} s"
                f"   ratio {b / a:5.2f}x   (floor with jemalloc {j:6.2f} s: {b / j:5.2f}x)" + alone
            )
        ratio = sorted(runs)[len(runs) // 2] / sorted(floors)[len(floors) // 2]
        je = sorted(runs)[len(runs) // 2] / sorted(jemalloc)[len(jemalloc) // 2]
        print(f"median ratio to the floor with jemalloc: {je:.2f}x")
        print(f"median ratio: {ratio:.2f}x (target: at most 4x)")
        if single:
            gain = sorted(single)[len(single) // 2] / sorted(runs)[len(runs) // 2]
            print(f"one process / in parts (median): {gain:.2f}x; the files are identical")
        if args.xlsx_sites:
            small = Path(tmp) / "sites_xlsx.csv"
            frame.head(args.xlsx_sites).to_csv(small, index=False)
            from siting.cli import main as cli

            t = time.perf_counter()
            code = cli(
                ["check", str(small), "--as-of", "2024-06-30", "-o", str(Path(tmp) / "o.xlsx")]
            )
            took = time.perf_counter() - t
            assert code == 0
            size = (Path(tmp) / "o.xlsx").stat().st_size / 1e6
            print(
                f"siting check -o out.xlsx, {args.xlsx_sites:,} rows: {took:6.2f} s "
                f"({size:,.1f} MB; target: under 8 s)"
            )
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
