"""POST /v1/check under concurrency: requests that arrive at once are checked in one pass
(api/coalesce.py), and each still gets exactly the answer it gets when it comes alone."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient

import siting_api.coalesce
from siting_api.app import create_app
from siting_api.settings import Settings

REQUESTS = [
    {"id": "1", "category": "hospital", "parking_spaces": 100, "charging_spaces": 20},
    {"id": "1", "category": "hospital", "parking_spaces": 100, "charging_spaces": 10},
    {"id": "2", "category": "hospital", "parking_spaces": 100},
    {"id": "3", "category": "scenic_area", "parking_spaces": 200, "a_rating": 4},
    {"id": "4", "category": "医院", "停车位数": 300, "充电桩数量": 70},
    {"id": "5", "category": "hotel", "parking_spaces": -4},
    {"id": "6", "category": "新建小区", "parking_spaces": 50, "charging_spaces": 50},
    {"id": "7", "category": "highway_service_area", "parking_spaces": 80, "development": "new"},
] * 4


def _app(tmp_path):
    return create_app(Settings(data_dir=tmp_path / "data"), executor=ThreadPoolExecutor(2))


def _answer(r: httpx.Response) -> tuple:
    body = r.json()
    body.pop("instance", None)
    return r.status_code, body


async def _all_at_once(app) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        return await asyncio.gather(
            *(c.post("/v1/check", params={"as_of": "2024-06-30"}, json=b) for b in REQUESTS)
        )


def test_requests_at_once_are_checked_together_each_as_if_alone(tmp_path, monkeypatch):
    passes: list[int] = []
    real = siting_api.coalesce.check_alone

    def counting(records, *args, **kwargs):
        passes.append(len(records))
        return real(records, *args, **kwargs)

    monkeypatch.setattr(siting_api.coalesce, "check_alone", counting)
    app = _app(tmp_path)
    with TestClient(app) as c:  # one at a time: the reference answers
        alone = [
            _answer(c.post("/v1/check", params={"as_of": "2024-06-30"}, json=b)) for b in REQUESTS
        ]
        assert passes and set(passes) == {1}
        passes.clear()
        together = asyncio.run(_all_at_once(app))
    assert [_answer(r) for r in together] == alone
    assert max(passes) > 1  # they did share passes
    statuses = [status for status, _ in alone[:8]]
    assert statuses == [200, 200, 200, 200, 200, 422, 200, 200]
    assert [body.get("status") for _, body in alone[:3]] == ["pass", "fail", "insufficient_data"]
    assert "request" not in str(alone[4][1].get("columns", {}).get("unused"))
