"""A real `siting serve` process, talked to over a socket."""

import time

import httpx
import pytest
from conftest import siting_server


@pytest.fixture
def server(tmp_path, root):
    with siting_server(tmp_path, root) as (_, port):
        yield f"http://127.0.0.1:{port}"


def test_serve_answers_over_a_socket(server, root):
    assert httpx.get(f"{server}/healthz").json()["status"] == "ok"
    r = httpx.post(
        f"{server}/v1/check?as_of=2024-06-30",
        json={"id": "S", "category": "医院", "parking_spaces": 100, "charging_spaces": 19},
    )
    assert r.json()["shortfall"] == 1
    r = httpx.post(
        f"{server}/v1/checks",
        json={
            "sites": [{"id": "a", "category": "hotel", "parking_spaces": 10, "charging_spaces": 0}],
            "as_of": "2024-06-30",
        },
        timeout=60,
    )
    assert r.json()["results"][0]["required_spaces"] == 2
    assert r.json()["results"][0]["shortfall"] == 2
    files = {"file": ("sites.csv", (root / "sample_sites/sites.csv").read_bytes())}
    job = httpx.post(f"{server}/v1/jobs?as_of=2024-06-30", files=files).json()
    deadline = time.time() + 60
    while (state := httpx.get(f"{server}{job['url']}").json())["state"] not in ("done", "failed"):
        assert time.time() < deadline
        time.sleep(0.2)
    assert state["state"] == "done", state
    assert httpx.get(f"{server}{job['result_url']}").json()["summary"]["sites"] == 24
    assert "/v1/check" in httpx.get(f"{server}/openapi.json").json()["paths"]
    assert httpx.get(f"{server}/docs").status_code == 200
    ids = [r["id"] for r in httpx.get(f"{server}/v1/rulesets").json()]
    assert "guangxi-2021-2025" in ids
    pack = httpx.get(f"{server}/v1/rulesets/guangxi-2021-2025").json()
    from siting import load_ruleset

    loaded = load_ruleset("guangxi-2021-2025")
    assert pack["summary"]["rules"] == len(loaded.rules)
    assert [r["id"] for r in pack["pack"]["rules"]] == [r.id for r in loaded.rules]
    # the sample layers, uploaded: parking GeoPackage + GBK shapefile (zipped) + GCJ-02 POIs
    import io
    import zipfile

    shp = io.BytesIO()
    with zipfile.ZipFile(shp, "w") as zf:
        for ext in ("shp", "shx", "dbf", "prj"):
            zf.write(root / f"sample_sites/landuse.{ext}", f"landuse.{ext}")
    files = [
        ("file", ("parking.gpkg", (root / "sample_sites/parking.gpkg").read_bytes())),
        ("context", ("landuse.zip", shp.getvalue())),
        ("context", ("pois.csv", (root / "sample_sites/pois.csv").read_bytes())),
    ]
    r = httpx.post(
        f"{server}/v1/checks/upload?as_of=2024-06-30&format=geojson&context_offset=pois.csv=gcj02",
        files=files,
        timeout=120,
    )
    assert r.status_code == 200, r.text
    features = r.json()["features"]
    import pyogrio

    # one feature out per parking lot in
    assert len(features) == pyogrio.read_info(root / "sample_sites/parking.gpkg")["features"]
    by_name = {f["properties"]["名称"]: f["properties"] for f in features}
    assert by_name["超市停车场"]["status"] == "fail"
    assert by_name["青秀山停车场"]["rule_id"] == "gx-3.3.1-scenic-a4-5"


def test_the_served_app_leaves_its_start_up_objects_out_of_gc_passes(tmp_path, monkeypatch):
    """`siting serve` freezes what exists once the app has started (a full collection over the
    heap of numpy, pandas and Arrow took 70-120 ms, every request waiting meanwhile)."""
    import gc

    from fastapi.testclient import TestClient

    from siting_api.serve import served_app

    monkeypatch.setenv("SITING_DATA_DIR", str(tmp_path / "data"))
    gc.unfreeze()
    try:
        with TestClient(served_app()) as client:
            assert gc.get_freeze_count() > 0
            assert client.get("/healthz").json()["status"] == "ok"
    finally:
        gc.unfreeze()
