"""Classify and check parking polygons against context polygons, end to end, three ways, in
one run (not a test; prints figures):

1. I/O floor: read both layers and write the output with the result columns, nothing computed
   (constant columns of the same types and similar text lengths, same GeoPackage writer).
2. siting: read, classify (bulk STRtree, shortcut, threaded exact intersections), estimate,
   evaluate, write a GeoPackage.
3. a straightforward geopandas pipeline: read_file, sjoin + intersection areas + groupby
   idxmax, sjoin_nearest for the rest, then the same checks, to_file.

    python benchmarks/make_synthetic.py            # once: benchmarks/data/*.gpkg
    python benchmarks/bench_layers.py [--lots 1000000 --context 100000] [--repeat 3]
    python benchmarks/make_synthetic.py --rotated  # lots turned by random angles
    python benchmarks/bench_layers.py --rotated
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from siting import load_ruleset
from siting.check import RESULT_COLUMNS as RESULT_FIELDS
from siting.check import check_table
from siting.geo.output import write_geopackage, write_layer
from siting.geo.pipeline import CLASSIFICATION_COLUMNS, check_layers
from siting.records import normalise
from siting.textcols import text_labels

# The floor writes exactly the columns siting writes: result fields, then classification.
RESULT_COLUMNS = [*RESULT_FIELDS, *(f"class_{c}" for c in CLASSIFICATION_COLUMNS)]


def io_floor(lots: Path, ctx: Path, out: Path) -> float:
    """Read both layers, add the result columns (same names, types and about the same text
    lengths as siting writes, nothing computed) and write the GeoPackage with the same
    writer siting uses."""
    t = time.perf_counter()
    a = pyogrio.read_dataframe(lots, use_arrow=True)
    pyogrio.read_dataframe(ctx, use_arrow=True)
    n = len(a)
    zeros = np.zeros(n, np.int64)
    texts = {
        "explanation": "ceil(20% x 333) = 67 required; 66 provided (charging); short 1",
        "notes": "recommendation: the rule prefers fast charging (宜优先配置快充) and "
        "fast_charging_spaces is 0",
        "citation": "广西电动汽车充电基础设施发展规划（2021—2025年） 3(3) 1, paragraph 3",
    }
    for col in RESULT_COLUMNS:  # columns of constants, made by Arrow without a Python loop
        if col in {"row", "basis_spaces", "required_spaces", "provided_spaces", "shortfall"}:
            a[col] = zeros
        else:
            a[col] = text_labels(zeros, [texts.get(col, "hospital")])
    write_geopackage(a, out)
    return time.perf_counter() - t


def ours(lots: Path, ctx: Path, out: Path, pack) -> tuple[float, dict]:
    t = time.perf_counter()
    answer, geometry = check_layers(str(lots), [str(ctx)], pack, as_of="2024-06-30")
    write_layer(answer, geometry, out)
    return time.perf_counter() - t, answer.summary["by_status"]


def plain_geopandas(lots: Path, ctx: Path, out: Path, pack) -> tuple[float, dict]:
    t = time.perf_counter()
    p = gpd.read_file(lots)
    c = gpd.read_file(ctx)
    p["pid"] = np.arange(len(p))
    j = gpd.sjoin(p[["pid", "geometry"]], c[["geometry"]], predicate="intersects")
    right = gpd.GeoSeries(c.geometry.loc[j["index_right"]].values, index=j.index, crs=c.crs)
    inter = j.geometry.intersection(right, align=False)
    j["overlap"] = inter.area.to_numpy()
    j = j[j["overlap"] > 0]
    best = j.loc[j.groupby("pid")["overlap"].idxmax()]
    ctx_idx = pd.Series(best["index_right"].to_numpy(), index=best["pid"].to_numpy())
    rest = p[~p["pid"].isin(ctx_idx.index)]
    near = gpd.sjoin_nearest(rest[["pid", "geometry"]], c[["geometry"]], max_distance=50)
    near = near.drop_duplicates("pid")
    ctx_idx = pd.concat(
        [ctx_idx, pd.Series(near["index_right"].to_numpy(), index=near["pid"].to_numpy())]
    ).sort_index()
    records = pd.DataFrame(p.drop(columns="geometry")).astype(object)
    records["id"] = records["lot_id"]
    for f in ("category", "development", "a_rating", "service_area_class", "dedicated_ev_area"):
        records[f] = None
        records.loc[ctx_idx.index, f] = c[f].to_numpy()[ctx_idx.to_numpy()]
    missing = records["parking_spaces"].isna()
    records.loc[missing, "parking_spaces"] = np.floor(p.area[missing] / 25).astype(int)
    table = normalise(records, pack, source="lots", row_kind="feature")
    answer = check_table(table, pack, "2024-06-30")
    result = gpd.GeoDataFrame(answer.frame(keep_input=False), geometry=p.geometry.values, crs=p.crs)
    result.to_file(out, layer="results")
    return time.perf_counter() - t, answer.summary["by_status"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lots", type=int, default=1_000_000)
    ap.add_argument("--context", type=int, default=100_000)
    ap.add_argument("--data", default=str(Path(__file__).parent / "data"))
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="floor and siting runs (alternated)")
    ap.add_argument("--rotated", action="store_true", help="lots turned by random angles")
    args = ap.parse_args()
    data = Path(args.data)
    suffix = "_rotated" if args.rotated else ""
    lots = data / f"parking_{args.lots}{suffix}.gpkg"
    ctx = data / f"context_{args.context}.gpkg"
    if not lots.exists() or not ctx.exists():
        sys.exit(
            f"missing {lots} / {ctx}: run benchmarks/make_synthetic.py --lots {args.lots} "
            f"--context {args.context}{' --rotated' if args.rotated else ''} first"
        )
    pack = load_ruleset()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, shapely {shapely.__version__}, geopandas "
        f"{gpd.__version__}, pyogrio {pyogrio.__version__}"
    )
    shape = "rotated rectangles" if args.rotated else "axis-aligned rectangles"
    print(f"data: {args.lots:,} parking polygons ({shape}) vs {args.context:,} context polygons")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        floors, runs = [], []
        for _ in range(args.repeat):  # alternated, so a slow spell of the machine hits both
            floors.append(io_floor(lots, ctx, tmp / "floor.gpkg"))
            print(f"I/O floor (read both, write results):  {floors[-1]:7.1f} s")
            t_ours, s_ours = ours(lots, ctx, tmp / "ours.gpkg", pack)
            runs.append(t_ours)
            print(
                f"siting end to end:                     {t_ours:7.1f} s  "
                f"{args.lots / t_ours:,.0f} lots/s  ({t_ours / floors[-1]:.2f} x the I/O floor)"
            )
        print(f"  statuses: {s_ours}")
        if args.repeat > 1:
            print(
                f"best of {args.repeat}: I/O floor {min(floors):.1f} s, siting {min(runs):.1f} s "
                f"({min(runs) / min(floors):.2f} x); medians {statistics.median(floors):.1f} s "
                f"and {statistics.median(runs):.1f} s"
            )
        if not args.skip_baseline:
            t_base, s_base = plain_geopandas(lots, ctx, tmp / "base.gpkg", pack)
            print(
                f"plain geopandas pipeline:              {t_base:7.1f} s  "
                f"{args.lots / t_base:,.0f} lots/s"
            )
            print(f"  statuses: {s_base}")
            print(
                f"speed-up, same run: {t_base / statistics.median(runs):.2f} x "
                f"(plain pipeline / siting{' median' if args.repeat > 1 else ''})"
            )


if __name__ == "__main__":
    main()
