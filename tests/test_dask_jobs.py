"""`engine=dask` declared once (siting.request.CheckOptions): the CLI flag, the query parameter
of POST /v1/jobs and the saved job all come from it, `run_check` chooses the engine, and a
job run on Dask gives exactly the in-memory engine's results and decision id. Over HTTP the
Dask cluster is the operator's (SITING_DASK_SCHEDULER), never a request's.

One LocalCluster of small workers serves the module (as tests/test_dask_engine.py does); the
server is told its address as its operator would, and the jobs run in threads of this
process (a ThreadPoolExecutor, as tests/test_api.py runs them)."""

from __future__ import annotations

import io
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("distributed")

from fastapi.testclient import TestClient

from siting.request import CheckOptions, CheckRequest, http_options, options_from_query
from siting_api.app import create_app
from siting_api.settings import Settings
from siting_api.work import UploadSpec

AS_OF = "2024-06-30"
QUERY = f"as_of={AS_OF}&context_offset=pois.csv=gcj02"


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        memory_limit="1GiB",
        dashboard_address=None,
        host="127.0.0.1",
    ) as c:
        yield c


@pytest.fixture
def settings(tmp_path, cluster):
    return Settings(
        data_dir=tmp_path / "data",
        dask_scheduler=cluster.scheduler_address,
        dask_memory_budget="2GiB",
    )


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings, executor=ThreadPoolExecutor(2))) as c:
        yield c


def _files(root):
    """The bundled sample's parking layer, its land-use shapefile (zipped) and its POIs."""
    data = root / "sample_sites"
    shp = io.BytesIO()
    with zipfile.ZipFile(shp, "w") as zf:
        for ext in ("shp", "shx", "dbf", "prj"):
            zf.writestr(f"landuse.{ext}", (data / f"landuse.{ext}").read_bytes())
    return [
        ("file", ("parking.gpkg", (data / "parking.gpkg").read_bytes())),
        ("context", ("landuse.zip", shp.getvalue())),
        ("context", ("pois.csv", (data / "pois.csv").read_bytes())),
    ]


def _wait(client, url, timeout=50):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(url).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job did not finish: {job}")


def _problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()


def _without_time(receipt):
    return {k: v for k, v in receipt.items() if k != "time"}


# ------------------------------------------------------------------ one declaration


def test_engine_options_are_declared_once_and_never_change_a_verdict():
    for name in ("engine", "memory_budget", "scheduler"):
        extra = CheckOptions.model_fields[name].json_schema_extra
        assert extra["verdict"] is False, name
    assert {"engine", "memory_budget"} <= set(http_options())
    assert "scheduler" not in http_options() and "scheduler" in http_options(offered=False)
    options = CheckOptions(engine="dask", memory_budget="1GB", scheduler="tcp://h:8786")
    assert options.verdict_values() == {}
    assert options.layer_options() == CheckOptions().layer_options()
    assert options_from_query([("engine", "auto")]).engine == "auto"
    with pytest.raises(Exception, match="memory_budget"):
        options_from_query([("memory_budget", "lots")])
    with pytest.raises(Exception, match="engine"):
        options_from_query([("engine", "spark")])


def test_the_cli_flags_come_from_check_options():
    from siting.cli import _parser
    from siting.request import options_from_args

    args = _parser().parse_args(
        [
            "check",
            "x.gpkg",
            "--engine",
            "dask",
            "--memory-budget",
            "40%",
            "--scheduler",
            "tcp://h:1",
        ]
    )
    options = options_from_args(args)
    assert (options.engine, options.memory_budget, options.scheduler) == (
        "dask",
        "40%",
        "tcp://h:1",
    )
    assert options_from_args(_parser().parse_args(["check", "x.gpkg"])).engine == "memory"


def test_the_engine_a_request_runs_on(root):
    from siting.run import engine_of

    sample = str(root / "sample_sites/parking.gpkg")
    sites = str(root / "sample_sites/sites.csv")

    def engine(input, engine, suffix=None):
        request = CheckRequest(input=input, options=CheckOptions(engine=engine))
        return engine_of(request, suffix)

    assert engine(sample, "memory") == "memory"
    assert engine(sample, "dask") == "dask"
    assert engine(sites, "dask") == "memory"  # a site list always runs in memory
    assert engine(sample, "auto") == "memory"  # 39 lots fit
    assert engine(sample, "auto", ".html") == "memory"  # the report needs every lot


def test_a_saved_job_round_trips_with_the_engine():
    request = CheckRequest(
        input="/data/jobs/x/input/parking.gpkg",
        contexts=["/data/jobs/x/input/pois.csv"],
        options=CheckOptions(
            as_of=AS_OF, engine="dask", memory_budget="512MiB", scheduler="tcp://10.0.0.5:8786"
        ),
        format="geojson",
        max_records=1000,
    )
    spec = UploadSpec(request, report_to="/data/jobs/x/report.html")
    back = UploadSpec.from_json(spec.to_json())
    assert back == spec
    assert back.request.options.engine == "dask"
    assert back.request.options.scheduler == "tcp://10.0.0.5:8786"
    # a job saved before the engine was an option runs in memory
    old = spec.to_json().replace('"engine": "dask", ', "")
    assert UploadSpec.from_json(old).request.options.engine == "memory"


# ------------------------------------------------------------------ a job on Dask


def test_a_job_on_dask_gives_the_in_memory_results(client, root, settings, monkeypatch):
    import siting.scale

    runs = []
    real = siting.scale.check_partitioned

    def recorded(*args, **kwargs):
        runs.append(kwargs["settings"])
        return real(*args, **kwargs)

    monkeypatch.setattr(siting.scale, "check_partitioned", recorded)
    jobs = {}
    for engine in ("memory", "dask"):
        r = client.post(f"/v1/jobs?{QUERY}&engine={engine}", files=_files(root))
        assert r.status_code == 202, r.text
        jobs[engine] = r.json()
    answers = {}
    for engine, job in jobs.items():
        done = _wait(client, job["url"])
        assert done["state"] == "done", done
        answers[engine] = client.get(job["result_url"]).json()
    # partitioned on the operator's cluster, with the operator's budget
    assert len(runs) == 1
    assert runs[0].scheduler == settings.dask_scheduler
    assert runs[0].memory_budget == 2 * 2**30
    store = client.app.state.store
    saved = store.spec(jobs["dask"]["id"]).request.options
    assert (saved.engine, saved.scheduler, saved.memory_budget) == (
        "dask",
        settings.dask_scheduler,
        "2GiB",
    )
    memory, dask = answers["memory"], answers["dask"]
    assert len(dask["results"]) == len(memory["results"]) == 39
    for a, b in zip(memory["results"], dask["results"], strict=True):
        assert a["id"] == b["id"]
        for key in ("status", "shortfall", "categories"):
            assert a[key] == b[key], (a["id"], key)
        assert a["classification"]["source"] == b["classification"]["source"], a["id"]
    assert {r["classification"]["source"] for r in dask["results"]} >= {"overlap", "nearest"}
    assert dask["results"] == memory["results"]
    assert dask["summary"] == memory["summary"]
    # the engine changes no verdict: the same receipt, the same decision id
    assert dask["receipt"]["decision_id"] == memory["receipt"]["decision_id"]
    assert _without_time(dask["receipt"]) == _without_time(memory["receipt"])
    # the report needs every lot in memory: a job on Dask has none
    assert client.get(f"{jobs['memory']['url']}/report").status_code == 200
    assert "engine=memory" in _problem(client.get(f"{jobs['dask']['url']}/report"), 404)["detail"]


def test_a_geojson_job_on_dask_is_the_in_memory_layer(client, root):
    results = {}
    for engine in ("memory", "dask"):
        job = client.post(
            f"/v1/jobs?{QUERY}&engine={engine}&format=geojson", files=_files(root)
        ).json()
        assert _wait(client, job["url"])["state"] == "done"
        results[engine] = client.get(job["result_url"]).json()
    assert results["dask"] == results["memory"]
    assert len(results["dask"]["features"]) == 39


# ------------------------------------------------------------------ what a request may not do


def test_a_request_cannot_name_a_scheduler(client, root):
    store = client.app.state.store
    for url in (
        "/v1/jobs?engine=dask&scheduler=tcp://203.0.113.9:8786",
        "/v1/jobs?scheduler=tcp://127.0.0.1:8786",
        "/v1/checks/upload?scheduler=tcp://203.0.113.9:8786",
    ):
        body = _problem(client.post(url, files=_files(root)), 422)
        assert "scheduler" in body["detail"] and "operator" in body["detail"]
    assert store.jobs() == []  # refused before anything was saved or run
    body = _problem(
        client.post("/v1/jobs?basemap=https://t/{z}/{x}/{y}.png", files=_files(root)), 422
    )
    assert "basemap" in body["detail"]


def test_engine_dask_is_for_jobs_only(client, root):
    for engine in ("dask", "auto"):
        body = _problem(
            client.post(f"/v1/checks/upload?{QUERY}&engine={engine}", files=_files(root)), 422
        )
        assert "POST /v1/jobs" in body["detail"]
    r = client.post(f"/v1/checks/upload?{QUERY}&engine=memory", files=_files(root))
    assert r.status_code == 200, r.text
    body = _problem(
        client.post(f"/v1/jobs?{QUERY}&engine=dask&format=html", files=_files(root)), 422
    )
    assert "format=html" in body["detail"]
    _problem(client.post(f"/v1/jobs?{QUERY}&engine=spark", files=_files(root)), 422)


def test_the_memory_budget_is_bounded_by_the_operator(client, root):
    body = _problem(
        client.post(f"/v1/jobs?{QUERY}&engine=dask&memory_budget=3GiB", files=_files(root)), 422
    )
    assert "SITING_DASK_MEMORY_BUDGET" in body["detail"]
    body = _problem(
        client.post(f"/v1/jobs?{QUERY}&engine=dask&memory_budget=lots", files=_files(root)), 422
    )
    assert "memory_budget" in body["detail"]
    store = client.app.state.store
    assert store.jobs() == []
    job = client.post(f"/v1/jobs?{QUERY}&engine=dask&memory_budget=1GiB", files=_files(root))
    assert job.status_code == 202, job.text
    assert store.spec(job.json()["id"]).request.options.memory_budget == "1GiB"
    assert _wait(client, job.json()["url"])["state"] == "done"


def test_the_openapi_schema_offers_the_engine_to_jobs(client):
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/v1/jobs"]["post"]["parameters"]}
    assert "engine" in params and "memory_budget" in params
    assert "scheduler" not in params
