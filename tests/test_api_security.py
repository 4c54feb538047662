"""The service's posture (issue 10): rulesets by id only, no secrets in answers, request ids,
API keys, Host allow-list, rate limit, CORS, and `siting serve` refusing an open bind."""

import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from siting.cli import main
from siting.errors import RulePackError
from siting_api.app import create_app
from siting_api.guard import TokenBucket
from siting_api.settings import Settings

SITE = {"id": "S", "category": "hotel", "parking_spaces": 10, "charging_spaces": 2}
ROOT = str(Path(__file__).resolve().parent.parent)
LEAKS = ("Traceback", 'File "', "site-packages", "/work", ROOT, tempfile.gettempdir(), "root:x:")


def _app(tmp_path, **kw):
    return create_app(Settings(data_dir=tmp_path / "data", **kw), executor=ThreadPoolExecutor(2))


@pytest.fixture
def client(tmp_path):
    with TestClient(_app(tmp_path), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def restore_env():
    """`siting serve` exports its settings to the environment (for uvicorn's workers)."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _no_leak(text: str):
    for leak in LEAKS:
        assert leak not in text, (leak, text)


def _problem(r, status, echo: str = ""):
    """The problem, checked for leaks (but for `echo`, the client's own words sent back)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["x-request-id"]
    body = r.json()
    _no_leak(str(body).replace(echo, "") if echo else r.text)
    return body


# --------------------------------------------------------------------------- rulesets
PATHS = ["/etc/passwd", "/etc/hostname", "../../etc/passwd", "/nonexistent/x.yaml", "x.yaml"]


@pytest.mark.parametrize("ref", PATHS)
def test_ruleset_is_an_id_never_a_path(client, root, ref):
    """A path names no pack: 404 the same whether the file exists or not (no oracle), nothing
    of the file quoted back."""
    available = "available: calgreen-2022-tier1-nonresidential, guangxi-2021-2025"
    body = _problem(client.post("/v1/check", params={"ruleset": ref}, json=SITE), 404, ref)
    assert body["detail"] == f"unknown ruleset {ref!r}; {available}"
    r = client.post("/v1/checks", json={"sites": [SITE], "ruleset": ref})
    body = _problem(r, 404, ref)
    assert body["detail"] == f"unknown ruleset {ref!r}; {available}"
    files = {"file": ("sites.csv", (root / "sample_sites/sites.csv").read_bytes())}
    for url in ("/v1/checks/upload", "/v1/jobs"):
        body = _problem(client.post(url, params={"ruleset": ref}, files=files), 404, ref)
        assert body["detail"] == f"unknown ruleset {ref!r}; {available}"


def test_a_large_file_named_as_ruleset_is_not_read(client, tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("a: [" + "1, " * 800_000 + "1]\n")
    import time

    start = time.perf_counter()
    _problem(client.post("/v1/check", params={"ruleset": str(big)}, json=SITE), 404, str(big))
    assert time.perf_counter() - start < 1


def _operator_dir(root, tmp_path, pack_id="nanning-test"):
    folder = tmp_path / "packs"
    folder.mkdir(parents=True)
    text = (root / "rules/guangxi/guangxi-2021-2025.yaml").read_text(encoding="utf-8")
    text = text.replace("id: guangxi-2021-2025", f"id: {pack_id}", 1)
    assert f"id: {pack_id}" in text
    (folder / "nanning.yaml").write_text(text, encoding="utf-8")
    (folder / "notes.tests.yaml").write_text("cases: []\n", encoding="utf-8")  # skipped
    return folder


def test_operator_packs_are_offered_by_id(root, tmp_path):
    folder = _operator_dir(root, tmp_path)
    with TestClient(_app(tmp_path, rules_dir=folder)) as c:
        ids = [p["id"] for p in c.get("/v1/rulesets").json()]
        assert ids == ["calgreen-2022-tier1-nonresidential", "guangxi-2021-2025", "nanning-test"]
        assert "nanning-test" in c.get("/healthz").json()["rulesets"]
        assert c.get("/v1/rulesets/nanning-test").json()["summary"]["id"] == "nanning-test"
        r = c.post("/v1/check?ruleset=nanning-test&as_of=2024-06-30", json=SITE)
        assert r.status_code == 200, r.text
        r = c.post(
            "/v1/checks", json={"sites": [SITE], "ruleset": "nanning-test", "as_of": "2024-06-30"}
        )
        assert r.json()["receipt"]["ruleset"]["id"] == "nanning-test"
        files = {"file": ("sites.csv", (root / "sample_sites/sites.csv").read_bytes())}
        r = c.post("/v1/checks/upload?ruleset=nanning-test&as_of=2024-06-30", files=files)
        assert r.json()["receipt"]["ruleset"]["id"] == "nanning-test"
        # the path of the operator's file is still not a ruleset
        path = str(folder / "nanning.yaml")
        _problem(c.post("/v1/check", params={"ruleset": path}, json=SITE), 404, path)
    # an operator pack can be the default
    with TestClient(_app(tmp_path, rules_dir=folder, default_ruleset="nanning-test")) as c:
        r = c.post("/v1/checks", json={"sites": [SITE], "as_of": "2024-06-30"})
        assert r.json()["receipt"]["ruleset"]["id"] == "nanning-test"


def test_a_broken_operator_pack_stops_start_up(root, tmp_path, capsys, restore_env):
    folder = _operator_dir(root, tmp_path)
    pack = folder / "nanning.yaml"
    text = pack.read_text(encoding="utf-8")
    pack.write_text(text.replace("valid_from:", "valid_from: not-a-date\nxx_from:", 1))
    with pytest.raises(RulePackError, match=r"nanning\.yaml:\d+"):
        _app(tmp_path, rules_dir=folder)
    assert main(["serve", "--rules", str(folder), "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "nanning.yaml:" in err and "valid_from" in err
    # an id that is already bundled is refused too
    other = _operator_dir(root, tmp_path / "b", pack_id="guangxi-2021-2025")
    with pytest.raises(RulePackError, match="already a bundled pack"):
        _app(tmp_path, rules_dir=other)


# --------------------------------------------------------------------------- no leaks
def test_unexpected_errors_are_500_with_a_request_id(tmp_path, monkeypatch, caplog, root):
    import siting_api.batch
    import siting_api.coalesce
    import siting_api.work

    def boom(*args, **kwargs):
        raise RuntimeError("disk /work/main/secret/file.yaml is gone")

    monkeypatch.setattr(siting_api.coalesce, "check_alone", boom)
    monkeypatch.setattr(siting_api.batch, "check_records", boom)
    monkeypatch.setattr(siting_api.work, "run_check", boom)
    files = {"file": ("sites.csv", (root / "sample_sites/sites.csv").read_bytes())}
    with TestClient(_app(tmp_path), raise_server_exceptions=False) as c:
        caplog.set_level(logging.ERROR, logger="siting.api")
        for r in (
            c.post("/v1/check", json=SITE),
            c.post("/v1/checks", json={"sites": [SITE]}),
            c.post("/v1/checks/upload", files=files),
        ):
            body = _problem(r, 500)
            rid = r.headers["x-request-id"]
            assert body["request_id"] == rid and rid in body["detail"]
            assert "secret" not in r.text
            logged = [rec for rec in caplog.records if rid in rec.getMessage()]
            assert logged and logged[0].exc_info is not None  # the traceback, server-side


def test_every_answer_has_a_request_id(client):
    ids = set()
    for r in (
        client.get("/healthz"),
        client.get("/v1/rulesets"),
        client.get("/nope"),
        client.post("/v1/check", json={}),
        client.get("/v1/jobs/x"),
    ):
        assert len(r.headers["x-request-id"]) == 16
        ids.add(r.headers["x-request-id"])
    assert len(ids) == 5


def test_pack_errors_show_file_names_not_server_paths(tmp_path, monkeypatch, root):
    """A pack file edited into a broken one after start-up: the answer names the file, not
    where it is."""
    folder = _operator_dir(root, tmp_path)
    with TestClient(_app(tmp_path, rules_dir=folder), raise_server_exceptions=False) as c:
        pack = folder / "nanning.yaml"
        pack.write_text(pack.read_text(encoding="utf-8") + "\nrules: 7\n", encoding="utf-8")
        for r in (
            c.post("/v1/check?ruleset=nanning-test", json=SITE),
            c.get("/v1/rulesets/nanning-test"),
        ):
            body = _problem(r, 503)
            assert "nanning.yaml" in body["detail"] and str(folder) not in r.text
        r = c.post("/v1/checks", json={"sites": [SITE], "ruleset": "nanning-test"})
        assert r.status_code in (422, 503), r.text
        assert "nanning.yaml" in r.text and str(folder) not in r.text
        _no_leak(r.text)


# --------------------------------------------------------------------------- posture
def test_api_keys(tmp_path):
    with TestClient(_app(tmp_path, api_keys="k-one, k-two")) as c:
        body = _problem(c.post("/v1/check", json=SITE), 401)
        assert "Authorization: Bearer" in body["detail"]
        assert c.post("/v1/check", json=SITE).headers["www-authenticate"].startswith("Bearer")
        _problem(c.post("/v1/check", json=SITE, headers={"Authorization": "Bearer nope"}), 401)
        _problem(c.post("/v1/check", json=SITE, headers={"Authorization": "k-one"}), 401)
        _problem(c.get("/v1/rulesets", headers={"Authorization": "Basic k-one"}), 401)
        for key in ("k-one", "k-two"):
            r = c.post("/v1/check", json=SITE, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200, r.text
        assert c.get("/healthz").status_code == 200  # open, for probes
        spec = c.get("/openapi.json").json()
        assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert spec["paths"]["/healthz"]["get"]["security"] == []
    with TestClient(_app(tmp_path)) as c:  # no keys: open, as for a single user
        assert c.post("/v1/check", json=SITE).status_code == 200
        assert "securitySchemes" not in c.get("/openapi.json").json()["components"]


def test_host_allow_list(tmp_path):
    app = _app(tmp_path, allowed_hosts="localhost,127.0.0.1,::1,*.example.org")
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        assert c.get("/v1/rulesets").status_code == 200
        for host in ("localhost:8000", "[::1]:8000", "api.example.org", "LOCALHOST"):
            assert c.get("/v1/rulesets", headers={"Host": host}).status_code == 200, host
        for host in ("attacker.test", "attacker.test:8000", "example.org.attacker.test", ""):
            _problem(c.get("/v1/rulesets", headers={"Host": host}), 400)
        assert c.get("/healthz", headers={"Host": "10.0.0.7:8000"}).status_code == 200


def test_rate_limit(tmp_path):
    with TestClient(_app(tmp_path, rate_limit=3)) as c:
        assert [c.get("/v1/rulesets").status_code for _ in range(3)] == [200] * 3
        body = _problem(c.get("/v1/rulesets"), 429)
        assert "SITING_RATE_LIMIT" in body["detail"]
        assert 1 <= int(c.get("/v1/rulesets").headers["retry-after"]) <= 20
        assert c.get("/healthz").status_code == 200  # not counted
    with TestClient(_app(tmp_path, rate_limit=2, api_keys="a,b")) as c:  # per key
        for key in ("a", "b"):
            auth = {"Authorization": f"Bearer {key}"}
            assert [c.get("/v1/rulesets", headers=auth).status_code for _ in range(3)] == [
                200,
                200,
                429,
            ]


def test_token_bucket_refills():
    bucket = TokenBucket(60, max_clients=2)  # one a second, a minute's burst
    assert all(bucket.take("a", now=0.0) == 0 for _ in range(60))
    assert bucket.take("a", now=0.0) == pytest.approx(1.0)
    assert bucket.take("a", now=1.0) == 0
    assert bucket.take("b", now=1.0) == 0  # clients are separate
    bucket.take("c", now=200.0)  # over max_clients: full buckets are forgotten
    assert set(bucket.buckets) == {"c"}


def test_no_cors_by_default(tmp_path):
    origin = {"Origin": "https://evil.example"}
    with TestClient(_app(tmp_path)) as c:
        r = c.get("/v1/rulesets", headers=origin)
        assert "access-control-allow-origin" not in r.headers
        pre = c.options("/v1/check", headers={**origin, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers
    with TestClient(_app(tmp_path, cors_origins="https://portal.example")) as c:
        ok = {"Origin": "https://portal.example"}
        r = c.get("/v1/rulesets", headers=ok)
        assert r.headers["access-control-allow-origin"] == "https://portal.example"
        assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
        pre = c.options("/v1/check", headers={**ok, "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 200
        r = c.get("/v1/rulesets", headers=origin)
        assert "access-control-allow-origin" not in r.headers


def test_serve_refuses_an_open_bind_without_keys(tmp_path, monkeypatch, capsys, restore_env):
    import uvicorn

    runs = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: runs.append(kw))
    for name in [k for k in os.environ if k.startswith("SITING_")]:
        monkeypatch.delenv(name)
    data = ["--data-dir", str(tmp_path / "d")]
    assert main(["serve", "--host", "0.0.0.0", *data]) == 2
    err = capsys.readouterr().err
    assert "refusing to start" in err and "SITING_API_KEYS" in err and "--insecure" in err
    assert runs == []
    assert main(["serve", "--host", "0.0.0.0", "--insecure", *data]) == 0
    assert "WARNING" in capsys.readouterr().err and len(runs) == 1
    monkeypatch.setenv("SITING_API_KEYS", "secret")
    assert main(["serve", "--host", "0.0.0.0", *data]) == 0
    assert "1 set" in capsys.readouterr().out and "secret" not in str(runs[-1])
    # loopback: no keys needed; the Host allow-list defaults to the loopback names
    monkeypatch.delenv("SITING_API_KEYS")
    monkeypatch.delenv("SITING_ALLOWED_HOSTS")
    assert main(["serve", "--host", "127.0.0.1", *data]) == 0
    assert os.environ["SITING_ALLOWED_HOSTS"] == "localhost,127.0.0.1,::1"
    assert runs[-1]["http"] == "siting_api.serve:GuardedHttpToolsProtocol"
