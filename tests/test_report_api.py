"""The HTML report over HTTP: `?format=html` on the upload, and `GET /v1/jobs/{id}/report`."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from siting_api.app import create_app
from siting_api.settings import Settings


@pytest.fixture
def client(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", max_upload_bytes=5_000_000, max_sites=1000)
    with TestClient(create_app(settings, executor=ThreadPoolExecutor(2))) as c:
        yield c


def _sample(root, name):
    return (root / "sample_sites" / name).read_bytes()


def _ids(page: str) -> list[str]:
    data = re.search(r'id="siting-data">(.*?)</script>', page, re.S).group(1)
    return json.loads(data)["columns"]["id"]


def _wait(client, url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(url).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job did not finish: {job}")


def _map_files(root):
    files = [("file", ("parking.gpkg", _sample(root, "parking.gpkg")))]
    files.append(("context", ("pois.csv", _sample(root, "pois.csv"))))
    return files


def test_upload_answers_the_report(client, root):
    r = client.post(
        "/v1/checks/upload?format=html&lang=zh&as_of=2024-06-30",
        files={"file": ("sites.csv", _sample(root, "sites.csv"))},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="zh-CN">' in r.text and '<div id="map"' not in r.text
    assert len(_ids(r.text)) == 24
    m = client.post(
        "/v1/checks/upload?format=html&as_of=2024-06-30&context_offset=pois.csv=gcj02",
        files=_map_files(root),
    )
    assert m.status_code == 200, m.text
    assert '<div id="map"' in m.text and len(_ids(m.text)) == 39
    assert '"name":"pois.csv"' in m.text  # its context layer, by the name it was sent as


def test_a_job_has_its_report(client, root):
    r = client.post(
        "/v1/jobs?as_of=2024-06-30&context_offset=pois.csv=gcj02", files=_map_files(root)
    )
    job = _wait(client, r.json()["url"])
    assert job["state"] == "done" and job["report_url"] == f"{job['url']}/report"
    assert client.get(job["result_url"]).json()["summary"]["sites"] == 39
    page = client.get(job["report_url"])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<div id="map"' in page.text and len(_ids(page.text)) == 39
    # a job asked for as html: the result is the report
    html_job = client.post(
        "/v1/jobs?as_of=2024-06-30&format=html",
        files={"file": ("sites.csv", _sample(root, "sites.csv"))},
    ).json()
    html_job = _wait(client, html_job["url"])
    assert client.get(html_job["result_url"]).text == client.get(html_job["report_url"]).text
    # no report before a job is done, nor for a job that failed
    bad = client.post(
        "/v1/jobs?as_of=2019-01-01", files={"file": ("sites.csv", _sample(root, "sites.csv"))}
    ).json()
    _wait(client, bad["url"])
    assert client.get(bad["report_url"]).status_code == 409
    assert client.get("/v1/jobs/nope/report").status_code == 404
