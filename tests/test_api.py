"""The HTTP API against the app (httpx via TestClient): every endpoint, errors, limits, jobs."""

import io
import json
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from siting.cli import main
from siting_api.app import create_app
from siting_api.jobs import JobStore
from siting_api.settings import Settings


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "data", max_upload_bytes=5_000_000, max_sites=1000)


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings, executor=ThreadPoolExecutor(2))) as c:
        yield c


def _file(root, name):
    return (root / "sample_sites" / name).read_bytes()


def _problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["detail"]
    return body


def test_healthz_and_rulesets(client):
    assert client.get("/healthz").json()["status"] == "ok"
    ids = [r["id"] for r in client.get("/v1/rulesets").json()]
    assert "guangxi-2021-2025" in ids
    detail = client.get("/v1/rulesets/guangxi-2021-2025").json()
    from siting import load_ruleset

    rules = [r.id for r in load_ruleset("guangxi-2021-2025").rules]
    assert detail["summary"]["sha256"] and [r["id"] for r in detail["pack"]["rules"]] == rules
    _problem(client.get("/v1/rulesets/atlantis"), 404)


def test_single_check(client):
    r = client.post(
        "/v1/check?as_of=2024-06-30",
        json={"id": "S", "category": "超市", "parking_spaces": 333, "charging_spaces": 66},
    )
    body = r.json()
    assert r.status_code == 200
    assert (body["status"], body["required_spaces"], body["shortfall"]) == ("fail", 67, 1)
    assert body["citation"]["section"] == "3(3) 1, paragraph 3"


def test_single_check_invalid_is_422_with_fields(client):
    body = _problem(client.post("/v1/check", json={"category": "hotel", "parking_spaces": -1}), 422)
    assert {e["field"] for e in body["errors"]} == {"id", "parking_spaces"}
    body = _problem(
        client.post(
            "/v1/check?as_of=2024-06-30",
            json={
                "id": "S",
                "category": "hotel",
                "parking_spaces": 10,
                "charging_spaces": 8,
                "reserved_spaces": 5,
            },
        ),
        422,
    )
    assert body["errors"][0]["field"] == "charging_spaces"
    body = _problem(client.post("/v1/check", json={"id": "S", "category": "casino"}), 422)
    assert "unknown 'casino'" in body["detail"]


def test_single_check_dates_and_rulesets(client):
    _problem(client.post("/v1/check?as_of=2019-01-01", json={"id": "S", "category": "hotel"}), 422)
    _problem(client.post("/v1/check?ruleset=atlantis", json={"id": "S"}), 404)
    r = client.post(
        "/v1/check?as_of=2026-06-01", json={"id": "S", "category": "hotel", "parking_spaces": 5}
    )
    assert any("plan period" in n["message"] for n in r.json()["notes"])


def test_batch_keeps_every_row(client):
    r = client.post(
        "/v1/checks",
        json={
            "sites": [
                {"id": "a", "category": "hotel", "parking_spaces": 10, "charging_spaces": 2},
                "not a site",
                {"id": "b", "parking_spaces": -4},
            ],
            "as_of": "2024-06-30",
        },
    )
    body = r.json()
    assert [x["status"] for x in body["results"]] == ["pass", "invalid", "invalid"]
    assert body["receipt"]["ruleset"]["id"] == "guangxi-2021-2025"
    _problem(client.post("/v1/checks", json={"sites": "nope"}), 422)
    _problem(
        client.post("/v1/checks", content=b"{oops", headers={"content-type": "application/json"}),
        422,
    )
    _problem(client.post("/v1/checks", json={"sites": [{"id": str(i)} for i in range(1001)]}), 413)


def test_batch_equals_cli(client, root, tmp_path):
    """POST /v1/checks and `siting check` give the same results for the same sites."""
    out = tmp_path / "cli.json"
    assert (
        main(
            ["check", str(root / "sample_sites/sites.csv"), "--as-of", "2024-06-30", "-o", str(out)]
        )
        == 0
    )
    cli = json.loads(out.read_text(encoding="utf-8"))
    import pandas as pd

    frame = pd.read_csv(root / "sample_sites/sites.csv", dtype=str, keep_default_na=False)
    sites = [{k: v for k, v in row.items() if v != ""} for row in frame.to_dict("records")]
    api = client.post("/v1/checks", json={"sites": sites, "as_of": "2024-06-30"}).json()
    up = client.post(
        "/v1/checks/upload?as_of=2024-06-30",
        files={"file": ("sites.csv", _file(root, "sites.csv"))},
    ).json()
    assert up["receipt"]["input_sha256"] == cli["receipt"]["input_sha256"]
    assert up["summary"] == api["summary"] == cli["summary"]
    # JSON records are numbered 1..n, CSV rows 2..n+1; an invalid row's text says where it is
    strip = ("row", "explanation", "notes")
    for a, b, c in zip(api["results"], cli["results"], up["results"], strict=True):
        same = {k: v for k, v in b.items() if k not in strip}
        assert {k: v for k, v in a.items() if k not in strip} == same
        assert {k: v for k, v in c.items() if k not in strip} == same
        assert c["row"] == b["row"]
        if b["status"] != "invalid":
            assert a["explanation"] == b["explanation"] == c["explanation"]
            assert a["notes"] == b["notes"] == c["notes"]


def test_upload_layers_in_each_format(client, root):
    files = [
        ("file", ("parking.gpkg", _file(root, "parking.gpkg"))),
        ("context", ("pois.csv", _file(root, "pois.csv"))),
    ]
    shp = io.BytesIO()
    with zipfile.ZipFile(shp, "w") as zf:
        for ext in ("shp", "shx", "dbf", "prj"):
            zf.writestr(f"data/landuse.{ext}", _file(root, f"landuse.{ext}"))
    files.append(("context", ("landuse.zip", shp.getvalue())))
    q = "?as_of=2024-06-30&context_offset=pois.csv=gcj02"
    body = client.post(f"/v1/checks/upload{q}", files=files).json()
    import pyogrio

    lots = pyogrio.read_info(root / "sample_sites/parking.gpkg")["features"]
    assert body["summary"]["sites"] == lots == len(body["results"])
    assert {r["classification"]["source"] for r in body["results"]} >= {"overlap", "nearest"}
    geo = client.post(f"/v1/checks/upload{q}&format=geojson", files=files)
    assert geo.headers["content-type"] == "application/geo+json"
    assert len(geo.json()["features"]) == lots
    csv = client.post(f"/v1/checks/upload{q}&format=csv&lang=en", files=files)
    assert csv.text.lstrip("\ufeff").startswith("id,row,status")
    csv = client.post(f"/v1/checks/upload{q}&format=csv", files=files)  # Chinese attributes
    assert csv.text.lstrip("\ufeff").startswith("编号,行号,结论")
    body = _problem(
        client.post(
            "/v1/checks/upload?format=geojson", files={"file": ("s.csv", _file(root, "sites.csv"))}
        ),
        422,
    )
    assert "needs lon/lat" in body["detail"] and "/tmp" not in body["detail"]


def test_upload_errors(client, root, settings):
    _problem(client.post("/v1/checks/upload", files={"file": ("x.docx", b"PK")}), 415)
    _problem(client.post("/v1/checks/upload", files={"file": ("x.shp", b"...")}), 415)
    big = b"id,category\n" + b"a,hotel\n" * 700_000
    _problem(client.post("/v1/checks/upload", files={"file": ("big.csv", big)}), 413)
    many = b"id,category\n" + b"".join(f"s{i},hotel\n".encode() for i in range(1001))
    _problem(client.post("/v1/checks/upload", files={"file": ("many.csv", many)}), 413)
    # a layer without CRS
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for ext in ("shp", "shx", "dbf"):
            zf.writestr(f"landuse.{ext}", _file(root, f"landuse.{ext}"))
    body = _problem(
        client.post("/v1/checks/upload", files={"file": ("lu.zip", buf.getvalue())}), 422
    )
    assert "has no CRS" in body["detail"]


def test_zip_traversal_and_bomb_are_refused(client):
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../etc/x.shp", b"x")
    body = _problem(
        client.post("/v1/checks/upload", files={"file": ("e.zip", evil.getvalue())}), 422
    )
    assert "path traversal" in body["detail"]
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.shp", b"\0" * 50_000_000)
    body = _problem(
        client.post("/v1/checks/upload", files={"file": ("b.zip", bomb.getvalue())}), 413
    )
    assert "zip bomb" in body["detail"]


def _wait(client, url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(url).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job did not finish: {job}")


def test_job_lifecycle(client, root):
    r = client.post(
        "/v1/jobs?as_of=2024-06-30", files={"file": ("sites.csv", _file(root, "sites.csv"))}
    )
    assert r.status_code == 202 and r.headers["location"] == r.json()["url"]
    job = _wait(client, r.json()["url"])
    assert job["state"] == "done" and job["progress"] == 1.0
    result = client.get(job["result_url"]).json()
    assert result["summary"]["sites"] == 24
    _problem(client.get("/v1/jobs/nope"), 404)
    bad = client.post(
        "/v1/jobs?as_of=2019-01-01", files={"file": ("sites.csv", _file(root, "sites.csv"))}
    ).json()
    failed = _wait(client, bad["url"])
    assert failed["state"] == "failed" and "before ruleset" in failed["error"]
    body = _problem(client.get(bad["result_url"]), 409)
    assert "failed" in body["detail"]


def test_job_store_survives_a_restart(settings, root):
    with TestClient(create_app(settings, executor=ThreadPoolExecutor(1))) as c:
        r = c.post(
            "/v1/jobs?as_of=2024-06-30&format=csv",
            files={"file": ("sites.csv", _file(root, "sites.csv"))},
        ).json()
        _wait(c, r["url"])
    # A job that was running in a process that is gone, and one still queued.
    store = JobStore(settings.data_dir)
    from siting.request import CheckOptions, CheckRequest
    from siting_api.work import UploadSpec

    for jid, state, pid in (("deadrunning", "running", 999_999_999), ("waiting", "queued", None)):
        folder = store.folder(jid) / "input"
        folder.mkdir(parents=True)
        (folder / "sites.csv").write_bytes(_file(root, "sites.csv"))
        store.create(
            jid,
            UploadSpec(
                CheckRequest(
                    input=str(folder / "sites.csv"),
                    name="sites.csv",
                    options=CheckOptions(as_of="2024-06-30"),
                )
            ),
        )
        store.update(jid, state=state, pid=pid, owner=999_999_999, lease_until=0)
    with TestClient(create_app(settings, executor=ThreadPoolExecutor(1))) as c:
        assert c.get(r["url"]).json()["state"] == "done"
        assert c.get(r["result_url"]).text.lstrip("\ufeff").startswith("id,row,status")
        # a job whose server died mid-run is run again (its lease expired), not lost
        dead = _wait(c, "/v1/jobs/deadrunning")
        assert dead["state"] == "done"
        assert _wait(c, "/v1/jobs/waiting")["state"] == "done"


def test_openapi_describes_every_endpoint_and_error(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/check",
        "/v1/checks",
        "/v1/checks/upload",
        "/v1/rulesets",
        "/v1/rulesets/{ruleset_id}",
        "/healthz",
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/result",
    ):
        assert path in paths
    assert "422" in paths["/v1/check"]["post"]["responses"]
    assert "413" in paths["/v1/checks/upload"]["post"]["responses"]
    assert "ProblemModel" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_context_layer_of_a_multi_layer_geopackage(client, root, tmp_path):
    import geopandas as gpd

    both = tmp_path / "context.gpkg"
    lu = gpd.read_file(root / "sample_sites/landuse.shp", encoding="gb18030")
    lu.to_file(both, layer="landuse", engine="pyogrio")
    lu.iloc[:1].to_file(both, layer="other", engine="pyogrio")
    files = [
        ("file", ("parking.gpkg", _file(root, "parking.gpkg"))),
        ("context", ("context.gpkg", both.read_bytes())),
    ]
    body = _problem(client.post("/v1/checks/upload?as_of=2024-06-30", files=files), 422)
    assert "holds 2 layers (landuse, other)" in body["detail"]
    r = client.post(
        "/v1/checks/upload?as_of=2024-06-30&context_layer=context.gpkg=landuse", files=files
    )
    assert r.status_code == 200, r.text
    hospital = next(x for x in r.json()["results"] if x["id"] == "P004")
    assert hospital["categories"] == ["hospital"]
    assert hospital["classification"]["context_layer"] == "context.gpkg layer 'landuse'"
