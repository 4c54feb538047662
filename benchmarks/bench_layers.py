"""Classify and check parking polygons against context polygons, end to end, three ways, in
one run (not a test; prints figures):

1. I/O floor: read both layers and write the output with the result columns, nothing computed.
2. siting: read, classify (bulk STRtree, shortcut, threaded exact intersections), estimate,
   evaluate, write a GeoPackage.
3. a straightforward geopandas pipeline: read_file, sjoin + intersection areas + groupby
   idxmax, sjoin_nearest for the rest, then the same checks, to_file.

    python benchmarks/make_synthetic.py            # once: benchmarks/data/*.gpkg
    python benchmarks/bench_layers.py [--lots 1000000 --context 100000]
"""

from __future__ import annotations

import argparse
import os
import platform
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
from siting.geo.output import write_layer
from siting.geo.pipeline import CLASSIFICATION_COLUMNS, check_layers
from siting.records import normalise

# The floor writes exactly the columns siting writes: result fields, then classification.
RESULT_COLUMNS = [*RESULT_FIELDS, *(f"class_{c}" for c in CLASSIFICATION_COLUMNS)]


def io_floor(lots: Path, ctx: Path, out: Path) -> float:
    t = time.perf_counter()
    a = pyogrio.read_dataframe(lots, use_arrow=True)
    pyogrio.read_dataframe(ctx, use_arrow=True)
    n = len(a)
    for col in RESULT_COLUMNS:  # same shapes and types as the real output, nothing computed
        a[col] = (
            np.full(
                n, "ceil(20% x 333) = 67 required; 66 provided (charging); short 1", dtype=object
            )
            if col in {"explanation", "notes"}
            else np.zeros(n, np.int64)
            if col in {"row", "basis_spaces", "required_spaces", "provided_spaces", "shortfall"}
            else np.full(n, "hospital", dtype=object)
        )
    pyogrio.write_dataframe(a, out, driver="GPKG", layer="results", use_arrow=True)
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
    args = ap.parse_args()
    data = Path(args.data)
    lots, ctx = data / f"parking_{args.lots}.gpkg", data / f"context_{args.context}.gpkg"
    if not lots.exists() or not ctx.exists():
        sys.exit(
            f"missing {lots} / {ctx}: run benchmarks/make_synthetic.py --lots {args.lots} "
            f"--context {args.context} first"
        )
    pack = load_ruleset()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, shapely {shapely.__version__}, geopandas "
        f"{gpd.__version__}, pyogrio {pyogrio.__version__}"
    )
    print(f"data: {args.lots:,} parking polygons vs {args.context:,} context polygons")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        floor = io_floor(lots, ctx, tmp / "floor.gpkg")
        print(f"I/O floor (read both, write results):  {floor:7.1f} s")
        t_ours, s_ours = ours(lots, ctx, tmp / "ours.gpkg", pack)
        print(
            f"siting end to end:                     {t_ours:7.1f} s  "
            f"{args.lots / t_ours:,.0f} lots/s  ({t_ours / floor:.2f} x the I/O floor)"
        )
        print(f"  statuses: {s_ours}")
        if not args.skip_baseline:
            t_base, s_base = plain_geopandas(lots, ctx, tmp / "base.gpkg", pack)
            print(
                f"plain geopandas pipeline:              {t_base:7.1f} s  "
                f"{args.lots / t_base:,.0f} lots/s"
            )
            print(f"  statuses: {s_base}")
            print(f"speed-up, same run: {t_base / t_ours:.2f} x")


if __name__ == "__main__":
    main()
