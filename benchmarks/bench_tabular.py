"""Sites per second for 1,000,000 generated tabular sites (not a test; prints figures).

    python benchmarks/bench_tabular.py [--sites 1000000] [--seed 1]

Stages timed separately: normalise + evaluate (the engine on a frame already in memory),
explanations + flat result table, and the whole CLI job CSV in -> CSV out.
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sites", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    pack = load_ruleset()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}"
    )
    frame = generate(args.sites, args.seed)
    t0 = time.perf_counter()
    table = normalise(frame, pack, source="generated")
    t1 = time.perf_counter()
    answer = check_table(table, pack, "2024-06-30")
    t2 = time.perf_counter()
    flat = answer.frame(keep_input=False)
    t3 = time.perf_counter()
    n = args.sites
    print(f"sites: {n:,}; statuses: {answer.summary['by_status']}")
    print(f"normalise:           {t1 - t0:6.2f} s  {n / (t1 - t0):>12,.0f} sites/s")
    print(f"evaluate:            {t2 - t1:6.2f} s  {n / (t2 - t1):>12,.0f} sites/s")
    print(f"normalise+evaluate:  {t2 - t0:6.2f} s  {n / (t2 - t0):>12,.0f} sites/s")
    print(f"result table:        {t3 - t2:6.2f} s  ({len(flat):,} rows with explanations)")
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "sites.csv", Path(tmp) / "results.csv"
        frame.to_csv(src, index=False)
        from siting.cli import main as cli

        t4 = time.perf_counter()
        code = cli(["check", str(src), "--as-of", "2024-06-30", "-o", str(out)])
        t5 = time.perf_counter()
        assert code == 0
        print(f"CLI CSV -> CSV:      {t5 - t4:6.2f} s  {n / (t5 - t4):>12,.0f} sites/s end to end")


if __name__ == "__main__":
    main()
