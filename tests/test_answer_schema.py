"""One schema for the answer: the library builds it (siting/check.py), the HTTP layer
describes it (api/models.py). This test holds them to each other, field by field, on real
answers of every kind (site list, map layer, records with every status), so that a field
added to one and not the other fails here rather than in a client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from siting import check_records
from siting.check import RESULT_COLUMNS
from siting.request import CheckOptions, CheckRequest
from siting.run import run_check
from siting_api import models

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2024-06-30"


def _answers() -> list[Any]:
    records = [
        {"id": "p", "category": "hospital", "parking_spaces": 100, "charging_spaces": 20},
        {"id": "f", "category": "hotel", "parking_spaces": 100, "charging_spaces": 2},
        {"id": "i", "category": "scenic_area", "parking_spaces": 100, "charging_spaces": 12},
        {"id": "x", "category": "no such place"},
        {"id": "a", "category": "新建工业园区", "parking_spaces": 100, "charging_spaces": 1},
        {
            "id": "r",
            "category": "5A景区",
            "parking_spaces": 100,
            "charging_spaces": 15,
            "site_constraint": "场地受限",
        },
    ]
    site_list = check_records(records, None, as_of=AS_OF)
    layers = run_check(
        CheckRequest(
            input=str(ROOT / "sample_sites/parking.gpkg"),
            contexts=[
                str(ROOT / "sample_sites/landuse.shp"),
                str(ROOT / "sample_sites/pois.csv"),
            ],
            options=CheckOptions(as_of=AS_OF, context_offset={"pois.csv": "gcj02"}),
        )
    )[0]
    return [site_list, layers]


ANSWERS = _answers()


def _keys_of(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


@pytest.mark.parametrize("answer", ANSWERS, ids=["site list", "map layers"])
def test_every_result_has_exactly_the_fields_the_api_describes(answer):
    doc = answer.as_dict()
    models.BatchAnswer.model_validate(doc)  # what the API promises, on what the library makes
    described = _keys_of(models.SiteResult)
    statuses = set()
    for result in doc["results"]:
        statuses.add(result["status"])
        extra = set(result) - described
        assert not extra, f"the library gives fields the API does not describe: {extra}"
        missing = {k for k in RESULT_COLUMNS if k not in result}
        assert not missing, f"a result lacks fields of RESULT_COLUMNS: {missing}"
        for ev in result["evaluations"]:
            assert set(ev) <= _keys_of(models.Evaluation), set(ev) - _keys_of(models.Evaluation)
    assert set(doc) == _keys_of(models.BatchAnswer)
    assert set(doc["receipt"]) == _keys_of(models.Receipt)
    assert set(doc["summary"]) == _keys_of(models.Summary)
    assert len(statuses) >= 3


def test_the_api_describes_no_result_field_the_library_never_gives():
    given: set[str] = set()
    for answer in ANSWERS:
        for result in answer.as_dict()["results"]:
            given |= set(result)
    assert _keys_of(models.SiteResult) - given == set()


def test_the_status_words_are_the_librarys():
    from typing import get_args

    from siting import statuses

    assert set(get_args(models.Status)) == set(statuses.ORDER)
