"""Deterministic synthetic layers for benchmarks: parking lots and land-use context polygons.

    python benchmarks/make_synthetic.py --lots 1000000 --context 100000 --out benchmarks/data

Context: jittered grid of ~130-vertex polygons (buffered points, neighbours overlapping a
little), each with a category and the place's facts. Parking: small rectangles scattered over
the same extent: most inside one context polygon, some across two, some outside everything;
about 20 % without a space count (to be estimated). Both as GeoPackage in EPSG:4545.
Axis-aligned rectangles take siting's cheapest exact overlap path; --rotated turns each lot
by a random angle (same sizes and places), which real lots are more like.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from siting import load_ruleset

CATS = load_ruleset().category_ids
X0, Y0, CELL = 430_000.0, 2_480_000.0, 200.0


def context(n: int, rng) -> gpd.GeoDataFrame:
    side = int(np.ceil(np.sqrt(n)))
    ij = np.arange(n)
    x = X0 + (ij % side) * CELL + CELL / 2 + rng.uniform(-20, 20, n)
    y = Y0 + (ij // side) * CELL + CELL / 2 + rng.uniform(-20, 20, n)
    geoms = shapely.buffer(shapely.points(x, y), rng.uniform(85, 115, n), quad_segs=32)
    cat = rng.choice(CATS, n)
    return gpd.GeoDataFrame(
        {
            "category": cat,
            "development": rng.choice(["new", "existing"], n),
            "a_rating": rng.choice(["3A", "4A", "5A"], n),
            "service_area_class": rng.choice(["1", "2", "3"], n),
            "dedicated_ev_area": rng.choice(["是", "否"], n),
            "name": np.char.add("place ", ij.astype(str)),
        },
        geometry=geoms,
        crs="EPSG:4545",
    )


def lots(n: int, n_ctx: int, rng, rotated: bool = False) -> gpd.GeoDataFrame:
    side = int(np.ceil(np.sqrt(n_ctx)))
    x = X0 + rng.uniform(0, side * CELL, n)
    y = Y0 + rng.uniform(0, side * CELL, n)
    w, h = rng.uniform(15, 50, n), rng.uniform(10, 40, n)
    if rotated:  # turned about their corner by a random angle: convex, not axis-aligned
        a = rng.uniform(0, np.pi, n)
        dx = np.stack([np.zeros(n), w, w, np.zeros(n), np.zeros(n)], 1)
        dy = np.stack([np.zeros(n), np.zeros(n), h, h, np.zeros(n)], 1)
        cos, sin = np.cos(a)[:, None], np.sin(a)[:, None]
        ring = np.stack([x[:, None] + dx * cos - dy * sin, y[:, None] + dx * sin + dy * cos], 2)
        geoms = shapely.polygons(ring)
    else:
        geoms = shapely.box(x, y, x + w, y + h)
    spaces = np.floor(w * h / 25).astype(np.int64)
    charging = (spaces * rng.uniform(0, 0.3, n)).astype(np.int64)
    known = rng.random(n) >= 0.2
    return gpd.GeoDataFrame(
        {
            "lot_id": np.char.add("P", np.arange(n).astype(str)),
            "parking_spaces": np.where(known, spaces, -1),
            "charging_spaces": charging,
            "reserved_spaces": ((spaces - charging) * rng.uniform(0, 0.5, n)).astype(np.int64),
            "fast_charging_spaces": (charging * rng.uniform(0, 1, n)).astype(np.int64),
        },
        geometry=geoms,
        crs="EPSG:4545",
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lots", type=int, default=1_000_000)
    ap.add_argument("--context", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--rotated",
        action="store_true",
        help="lots turned by random angles (parking_N_rotated.gpkg): overlaps take the convex path",
    )
    ap.add_argument("--out", default=str(Path(__file__).parent / "data"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    t = time.perf_counter()
    ctx = context(args.context, rng)
    lot = lots(args.lots, args.context, rng, rotated=args.rotated)
    lot["parking_spaces"] = lot["parking_spaces"].astype("Int64").mask(lot["parking_spaces"] < 0)
    suffix = "_rotated" if args.rotated else ""
    ctx_path = out / f"context_{args.context}.gpkg"
    lot_path = out / f"parking_{args.lots}{suffix}.gpkg"
    for path, gdf in ((ctx_path, ctx), (lot_path, lot)):
        path.unlink(missing_ok=True)
        gdf.to_file(path, layer=path.stem, engine="pyogrio", use_arrow=True)
    print(f"wrote {lot_path} and {ctx_path} in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
