"""Time and size of the HTML report (not a test; prints figures for docs/report.md).

    python benchmarks/bench_report.py [--sizes 5000 100000] [--no-browser]

For each size: synthetic map layers (benchmarks/make_synthetic.py: rectangles on a jittered
grid of land-use polygons, EPSG:4545) are checked, then the report is made with its context
layer; timed: the check (for scale), `render_html`, the file's size, and - when Debian's
chromium and Playwright are there - the time a headless Chromium takes from opening the file
to a drawn page (table and map built), then to a status filter applied. The same for a site
list of the same size (no map).
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from make_synthetic import context, lots

from siting import check_records, load_ruleset
from siting.geo.pipeline import LayerOptions
from siting.report_html import read_contexts, render_html
from siting.run import check_files

CHROMIUM = "/usr/bin/chromium"


def browser_times(path: Path) -> tuple[float, float] | None:
    if not Path(CHROMIUM).exists():
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = b.new_page(viewport={"width": 1280, "height": 900})
        page.route(
            "**/*",
            lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort(),
        )
        t = time.perf_counter()
        page.goto(path.as_uri(), timeout=600_000)
        page.wait_for_selector("html[data-ready='1']", timeout=600_000)
        opened = time.perf_counter() - t
        t = time.perf_counter()
        page.select_option("#sites-filter", "fail")
        page.locator("#sites tbody tr[data-site-id]").first.wait_for(timeout=600_000)
        filtered = time.perf_counter() - t
        b.close()
    return opened, filtered


def report(name: str, answer, tmp: Path, browser: bool, **kw) -> None:
    t = time.perf_counter()
    text = render_html(answer, "en", **kw)
    render_s = time.perf_counter() - t
    path = tmp / f"{name}.html"
    path.write_text(text, encoding="utf-8")
    size = path.stat().st_size
    line = f"{name:>22}: render {render_s:6.2f} s, file {size / 1e6:7.1f} MB"
    if browser:
        got = browser_times(path)
        if got is not None:
            line += f", Chromium open {got[0]:6.1f} s, filter {got[1]:5.2f} s"
    print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[5_000, 100_000])
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    pack = load_ruleset()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for n in args.sizes:
            n_ctx = max(100, n // 10)
            ctx_path, lot_path = tmp / f"context_{n}.gpkg", tmp / f"parking_{n}.gpkg"
            context(n_ctx, rng).to_file(ctx_path, engine="pyogrio")
            gdf = lots(n, n_ctx, rng)
            gdf["parking_spaces"] = (
                gdf["parking_spaces"].astype("Int64").mask(gdf["parking_spaces"] < 0)
            )
            gdf.to_file(lot_path, engine="pyogrio")
            t = time.perf_counter()
            answer, geometry = check_files(str(lot_path), [str(ctx_path)], pack)
            check_s = time.perf_counter() - t
            print(f"{n:,} lots, {n_ctx:,} context polygons: check {check_s:.2f} s")
            contexts = read_contexts([str(ctx_path)], LayerOptions())
            report(
                f"map {n:,}", answer, tmp, not args.no_browser, geometry=geometry, contexts=contexts
            )
            sites = [
                {
                    "id": f"S{i}",
                    "category": "医院",
                    "parking_spaces": 100 + i % 50,
                    "charging_spaces": i % 40,
                    "city": ["南宁", "柳州", "桂林"][i % 3],
                }
                for i in range(n)
            ]
            listed = check_records(sites, pack)
            report(f"site list {n:,}", listed, tmp, not args.no_browser)


if __name__ == "__main__":
    main()
