"""`--engine dask` (siting/scale): partitioned checks give exactly the in-memory answer.

One LocalCluster with 2 worker processes serves the module (as the CLI would make one).
Compared between the engines: every result column (status, shortfall, categories, the
classification's source, confidence and context feature ...), the JSON results, the summary
and the receipt (all but its time), and the GeoPackage written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

pytest.importorskip("distributed")

from siting import load_ruleset
from siting.geo.pipeline import LayerOptions, check_layers
from siting.scale import check_partitioned, choose_engine
from siting.scale.engine import Settings, parse_size

AS_OF = "2024-06-30"
GK = "EPSG:4545"
X0, Y0 = 500_000.0, 2_524_000.0  # near Nanning


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def pack():
    return load_ruleset("guangxi-2021-2025")


def same(memory, dask) -> None:
    """The partitioned answer is the in-memory one."""
    pd.testing.assert_frame_equal(memory.frame(), dask.frame())
    assert memory.results == dask.results
    assert memory.summary == dask.summary
    a, b = dict(memory.receipt), dict(dask.receipt)
    a.pop("time")
    b.pop("time")
    assert a == b


def both(parking, contexts, pack, client, options=None, **settings):
    options = options or LayerOptions()
    memory, _ = check_layers(parking, contexts, pack, as_of=AS_OF, options=options)
    dask = check_partitioned(
        parking,
        contexts,
        pack,
        as_of=AS_OF,
        options=options,
        settings=Settings(client=client, **settings),
    )
    return memory, dask


# ------------------------------------------------------------------ the bundled sample


SAMPLE = "sample_sites/parking.gpkg"
SAMPLE_CONTEXT = ["sample_sites/landuse.shp", "sample_sites/pois.csv"]
SAMPLE_OPTIONS = LayerOptions(context_offset={"pois.csv": "gcj02"})


@pytest.mark.parametrize("size", [None, 4])
def test_sample_same_answer(root, pack, client, size, monkeypatch):
    monkeypatch.chdir(root)
    memory, dask = both(SAMPLE, SAMPLE_CONTEXT, pack, client, SAMPLE_OPTIONS, partition_size=size)
    same(memory, dask)
    assert dask.partitions == (1 if size is None else 10)
    frame = dask.frame()
    for col in ("status", "shortfall", "categories", "class_source", "class_confidence"):
        assert frame[col].notna().any()


def test_sample_terminal_and_csv(root, pack, client, tmp_path, monkeypatch):
    """The terminal table and a CSV (outputs put together in memory) come out the same."""
    from rich.console import Console

    from siting.formats import Output, write_answer
    from siting.report import print_report

    monkeypatch.chdir(root)
    memory, geometry = check_layers(
        SAMPLE, SAMPLE_CONTEXT, pack, as_of=AS_OF, options=SAMPLE_OPTIONS
    )
    write_answer(memory, tmp_path / "memory.csv", Output(geometry))
    dask = check_partitioned(
        SAMPLE,
        SAMPLE_CONTEXT,
        pack,
        as_of=AS_OF,
        options=SAMPLE_OPTIONS,
        out=tmp_path / "dask.csv",
        settings=Settings(client=client, partition_size=7),
    )
    assert (tmp_path / "memory.csv").read_bytes() == (tmp_path / "dask.csv").read_bytes()
    screens = []
    for answer in (memory, dask):
        console = Console(record=True, width=200)
        print_report(answer, console, limit=50)
        screens.append(console.export_text())
    assert screens[0] == screens[1]


def test_cli_sample_gpkg_on_a_scheduler(root, tmp_path, client):
    """The README quick start, in-memory and `--engine dask --scheduler` (this module's
    cluster): the same GeoPackage, the same summary line."""
    cmd = [
        sys.executable,
        "-m",
        "siting.cli",
        "check",
        str(root / SAMPLE),
        *(a for c in SAMPLE_CONTEXT for a in ("--context", str(root / c))),
        "--context-offset",
        "pois.csv=gcj02",
        "--as-of",
        AS_OF,
    ]
    env = {**os.environ, "PYTHONPATH": str(root)}
    outs = {}
    for engine in ("memory", "dask"):
        out = tmp_path / f"{engine}.gpkg"
        extra = ["--engine", engine]
        if engine == "dask":
            extra += ["--scheduler", client.scheduler.address]
        done = subprocess.run(
            [*cmd, *extra, "-o", str(out)], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 0, done.stderr
        outs[engine] = (pyogrio.read_dataframe(out), done.stdout.splitlines()[0])
    pd.testing.assert_frame_equal(outs["memory"][0], outs["dask"][0])
    assert outs["dask"][1].split("; wrote")[0] == outs["memory"][1].split("; wrote")[0]
    assert pyogrio.read_info(tmp_path / "dask.gpkg")["crs"] == "EPSG:4545"


# ------------------------------------------------------------------ generated layers


def _generated(tmp_path):
    """Lots scattered over 1.2 km x 1.2 km, many straddling the partitions' edges, against
    land-use polygons (a GeoPackage: read by windows) with exact ties, broad zones and
    polygons only touching lots, a shapefile of large zones and a CSV of POIs (both read
    once and routed). The parking layer is in longitude/latitude (EPSG:4490), so the metric
    CRS is the equal-area one centred on the whole layer; two lots far apart share an id;
    one lot has no geometry, one is a bow-tie (repaired)."""
    rng = np.random.default_rng(14)
    codes = ["A5", "B11", "B14", "R", "B1", "A1", "S42", "B2", "M"]
    # land-use polygons: a jittered grid of squares, some duplicated exactly (a tie won by
    # the first listed), some smaller inside bigger ones (won by the smaller)
    polys, rows = [], []
    for i in range(12):
        for j in range(12):
            x = X0 + i * 100 + rng.uniform(-8, 8)
            y = Y0 + j * 100 + rng.uniform(-8, 8)
            s = rng.uniform(60, 95)
            polys.append(shapely.box(x, y, x + s, y + s))
            rows.append({"YDDM": str(rng.choice(codes)), "name": f"地块{i}-{j}"})
            if (i + j) % 7 == 0:  # an exact duplicate of another code: a tie
                polys.append(shapely.box(x, y, x + s, y + s))
                rows.append({"YDDM": str(rng.choice(codes)), "name": f"重叠{i}-{j}"})
            if (i * j) % 5 == 1:  # a small specific polygon inside
                polys.append(shapely.box(x + 10, y + 10, x + 40, y + 40))
                rows.append({"YDDM": "A5", "name": f"医院{i}-{j}"})
    landuse = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=polys, crs=GK)
    landuse.to_file(tmp_path / "landuse.gpkg", engine="pyogrio")
    # broad zones (a shapefile: no spatial index, routed)
    zones = gpd.GeoDataFrame(
        {"YDDM": ["B1", "B", "R2+B1"], "name": ["商业片区", "商服", "混合"]},
        geometry=[
            shapely.box(X0 - 50, Y0 - 50, X0 + 500, Y0 + 700),
            shapely.box(X0 + 600, Y0 + 300, X0 + 1300, Y0 + 900),
            shapely.box(X0 + 200, Y0 + 900, X0 + 900, Y0 + 1300),
        ],
        crs=GK,
    )
    zones.to_file(tmp_path / "zones.shp", engine="pyogrio", encoding="UTF-8")
    # POIs (CSV, lon/lat): near some lots, a few exactly equally far from one lot
    px = X0 + rng.uniform(-100, 1300, 120)
    py = Y0 + rng.uniform(-100, 1300, 120)
    lon, lat = gpd.GeoSeries(shapely.points(px, py), crs=GK).to_crs(4490).get_coordinates().T.values
    types = ["医疗保健服务;综合医院", "购物服务;商场", "住宿服务;宾馆酒店", "交通设施服务;停车场"]
    pd.DataFrame(
        {
            "名称": [f"POI{i}" for i in range(120)],
            "类型": rng.choice(types, 120),
            "经度": lon,
            "纬度": lat,
        }
    ).to_csv(tmp_path / "pois.csv", index=False, encoding="utf-8")
    # lots: rectangles (some turned), points, across everything and beyond it
    n = 360
    x = X0 + rng.uniform(-150, 1350, n)
    y = Y0 + rng.uniform(-150, 1350, n)
    w, h = rng.uniform(8, 70, n), rng.uniform(8, 50, n)
    lots = list(shapely.box(x, y, x + w, y + h))
    for k in range(0, n, 5):
        lots[k] = shapely.affinity.rotate(lots[k], rng.uniform(0, 90))
    for k in range(3, n, 11):
        lots[k] = shapely.Point(x[k], y[k])
    lots[7] = None
    lots[8] = shapely.Polygon([(x[8], y[8]), (x[8] + 30, y[8] + 30), (x[8] + 30, y[8]),
                               (x[8], y[8] + 30)])  # fmt: skip
    ids = [f"P{i}" for i in range(n)]
    ids[200] = ids[20]  # one id twice, far apart
    spaces = rng.integers(5, 400, n).astype(float)
    spaces[rng.random(n) < 0.25] = np.nan
    parking = gpd.GeoDataFrame(
        {
            "编号": ids,
            "停车位数": spaces,
            "充电车位数": rng.integers(0, 60, n),
        },
        geometry=gpd.GeoSeries(lots, crs=GK).to_crs(4490),
        crs=4490,
    )
    parking.to_file(tmp_path / "parking.gpkg", engine="pyogrio")
    contexts = [str(tmp_path / f) for f in ("landuse.gpkg", "zones.shp", "pois.csv")]
    options = LayerOptions(context_crs={"pois.csv": "EPSG:4490"})
    return str(tmp_path / "parking.gpkg"), contexts, options


def test_generated_layers_with_small_partitions(tmp_path, pack, client):
    parking, contexts, options = _generated(tmp_path)
    memory, dask = both(parking, contexts, pack, client, options, partition_size=15)
    same(memory, dask)
    assert dask.partitions == 24
    frame = memory.frame()
    # what the layers were made to have
    assert set(frame["class_source"].dropna()) >= {"overlap", "within", "nearest"}
    assert frame["class_confidence_reason"].str.contains("tied within 1 %").any()
    assert frame["class_confidence_reason"].str.contains("broad zone").any()
    assert frame["notes"].str.contains("is not unique").sum() == 2
    assert frame["notes"].str.contains("invalid geometry repaired").any()
    # partitions read overlapping windows: features near an edge were read by several
    read = dict(zip(["landuse", "zones", "pois"], dask.context_read, strict=True))
    assert read["landuse"] > len(gpd.read_file(contexts[0]))


def test_generated_layers_streamed_to_gpkg_and_parquet(tmp_path, pack, client):
    from siting.formats import Output, write_answer

    parking, contexts, options = _generated(tmp_path)
    memory, geometry = check_layers(parking, contexts, pack, as_of=AS_OF, options=options)
    write_answer(memory, tmp_path / "memory.gpkg", Output(geometry))
    write_answer(memory, tmp_path / "memory.parquet", Output(geometry))
    expected = pyogrio.read_dataframe(tmp_path / "memory.gpkg")
    settings = Settings(client=client, partition_size=90)
    for out in ("dask.gpkg", "dask.parquet", "parts.parquet/"):
        dask = check_partitioned(
            parking,
            contexts,
            pack,
            as_of=AS_OF,
            options=options,
            out=f"{tmp_path}/{out}",
            settings=settings,
        )
        assert dask.summary == memory.summary
        if out.endswith(".gpkg"):
            got = pyogrio.read_dataframe(tmp_path / out)
            pd.testing.assert_frame_equal(expected, got)
        else:
            got = gpd.read_parquet(tmp_path / out)
            assert got.crs == expected.crs
            # the in-memory engine's GeoParquet is the streamed one
            pd.testing.assert_frame_equal(gpd.read_parquet(tmp_path / "memory.parquet"), got)
            for col in ("id", "row", "status", "shortfall", "categories", "class_source"):
                assert expected[col].astype(object).equals(got[col].astype(object)), col
            a, b = expected.geometry.to_numpy(), got.geometry.to_numpy()
            assert (shapely.equals(a, b) | (shapely.is_missing(a) & shapely.is_missing(b))).all()


def test_geoparquet_inputs(tmp_path, pack, client):
    """GeoParquet layers (a file and a folder of files) read natively, in row groups: the
    same verdicts as the same layers from GeoPackages in memory."""
    parking, contexts, options = _generated(tmp_path)
    memory, _ = check_layers(parking, contexts, pack, as_of=AS_OF, options=options)
    lots = gpd.read_file(parking)
    lots.to_parquet(tmp_path / "parking.parquet", row_group_size=50)
    land = gpd.read_file(contexts[0])
    (tmp_path / "landuse").mkdir()
    land.iloc[:100].to_parquet(tmp_path / "landuse" / "a.parquet", row_group_size=30)
    land.iloc[100:].to_parquet(tmp_path / "landuse" / "b.parquet")
    dask = check_partitioned(
        str(tmp_path / "parking.parquet"),
        [str(tmp_path / "landuse"), *contexts[1:]],
        pack,
        as_of=AS_OF,
        options=options,
        settings=Settings(client=client, partition_size=40),
    )
    a, b = memory.frame(), dask.frame()
    for col in ("status", "shortfall", "categories", "class_source", "class_confidence"):
        assert a[col].astype(object).equals(b[col].astype(object)), col
    # a GeoParquet row is numbered from 0, a GeoPackage feature from 1
    assert (b["row"] == a["row"] - 1).all()


def test_worker_killed_mid_run(root, pack, client, monkeypatch):
    """A worker process killed while partitions run: Dask runs its partitions again on the
    worker the nanny brings back; every lot comes out once, with the same answer."""
    monkeypatch.chdir(root)
    memory, _ = check_layers(SAMPLE, SAMPLE_CONTEXT, pack, as_of=AS_OF, options=SAMPLE_OPTIONS)
    killed = []

    def progress(stage, fraction):
        if not stage.startswith("checking partitions") or killed:
            return
        busy = [w for w, keys in client.processing().items() if keys]
        pids = client.run(os.getpid)
        victim = (busy or list(pids))[0]
        os.kill(pids[victim], signal.SIGKILL)
        killed.append(victim)

    dask = check_partitioned(
        SAMPLE,
        SAMPLE_CONTEXT,
        pack,
        as_of=AS_OF,
        options=SAMPLE_OPTIONS,
        settings=Settings(client=client, partition_size=2),
        progress=progress,
    )
    assert killed
    same(memory, dask)
    assert dask.partitions == 20
    client.wait_for_workers(2, timeout=60)


# ------------------------------------------------------------------ choosing and sizing


def test_auto_rule(root, tmp_path):
    sample = str(root / SAMPLE)
    assert choose_engine("memory", sample, []) == "memory"
    assert choose_engine("dask", sample, []) == "dask"
    assert choose_engine("auto", sample, [], available=24 * 2**30) == "memory"
    assert choose_engine("auto", sample, [], available=2**20) == "dask"
    (tmp_path / "x.parquet").write_bytes(b"")
    assert choose_engine("auto", sample, [str(tmp_path / "x.parquet")]) == "dask"


def test_memory_budget_sizes():
    assert parse_size("8GB") == 8 * 10**9
    assert parse_size("512MiB") == 512 * 2**20
    assert parse_size(None) is None
    assert 0 < parse_size("10%") < parse_size("20%")
    with pytest.raises(Exception, match="memory-budget"):
        parse_size("lots")


def test_hilbert_is_dask_geopandas_curve():
    from dask_geopandas.hilbert_distance import _hilbert_distance

    from siting.scale.hilbert import hilbert_distance

    rng = np.random.default_rng(3)
    geoms = shapely.box(*rng.uniform(0, 1000, (4, 500)))
    gdf = gpd.GeoDataFrame(geometry=geoms)
    extent = gdf.total_bounds
    expected = _hilbert_distance(gdf, extent, level=16).to_numpy()
    assert np.array_equal(expected, hilbert_distance(shapely.bounds(geoms), extent, 16))
