"""In-process micro-benchmark of the single-site path of POST /v1/check (issue 10): what
`siting.check.check_alone` costs per record for passes of 1, 8 and 16 records (the passes
`siting_api.coalesce` forms under load), over the records `benchmarks/bench_api.py` sends.

    python benchmarks/bench_single.py [--repeat 5] [--records 1000] [--profile 8]

Prints the load average, then per pass size the best and median milliseconds per record over
`--repeat` rounds (each round checks every record once, in passes of that size; the sizes are
interleaved round by round, so a busy machine slows them alike), as CPU time of this process
(`time.process_time`: on a shared machine, wall time also counts the waits for a core) and
as wall time. `--profile N` prints a cProfile of passes of N records instead.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_api import sites
from siting import load_ruleset
from siting.check import check_alone

AS_OF = "2024-06-30"


def one_round(records: list[dict], pack, size: int) -> tuple[float, float]:
    """(CPU, wall) seconds per record to check every record in passes of `size`."""
    passes = [records[i : i + size] for i in range(0, len(records), size)]
    c, t = time.process_time(), time.perf_counter()
    for part in passes:
        check_alone(part, pack, AS_OF)
    n = len(records)
    return (time.process_time() - c) / n, (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--sizes", type=int, nargs="*", default=[1, 8, 16])
    ap.add_argument("--profile", type=int, default=0, help="profile passes of this size")
    args = ap.parse_args()
    pack = load_ruleset("guangxi-2021-2025")
    records = sites(args.records)
    one_round(records[:64], pack, 8)  # warm up (imports, caches)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        one_round(records, pack, args.profile)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
        return
    print(f"load average {os.getloadavg()[0]:.2f} at start; {args.records} records per round")
    cpu: dict[int, list[float]] = {n: [] for n in args.sizes}
    wall: dict[int, list[float]] = {n: [] for n in args.sizes}
    for _ in range(args.repeat):
        for n in args.sizes:
            c, w = one_round(records, pack, n)
            cpu[n].append(c * 1000)
            wall[n].append(w * 1000)
    print(f"{'pass':>5}  ms/record: {'CPU best':>9} {'median':>7} {'wall best':>10} {'median':>7}")
    for n in args.sizes:
        print(
            f"{n:>5}  {'':>10} {min(cpu[n]):>9.3f} {statistics.median(cpu[n]):>7.3f} "
            f"{min(wall[n]):>10.3f} {statistics.median(wall[n]):>7.3f}"
        )
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
