"""Request and response models (SPEC sections 3 and 4), with examples for /docs."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from siting.columns import alias_keys
from siting.records import MAX_COUNT

Status = Literal[
    "pass", "fail", "advisory", "needs_review", "not_applicable", "insufficient_data", "invalid"
]

SITE_EXAMPLE = {
    "id": "NN-007",
    "category": "supermarket",
    "parking_spaces": 333,
    "charging_spaces": 66,
    "fast_charging_spaces": 6,
    "city": "南宁市",
}


class Charger(BaseModel):
    power_kw: float = Field(..., ge=0, le=1e6)
    guns: int = Field(1, ge=1, le=MAX_COUNT)
    current: Literal["AC", "DC", "ac", "dc"]


class SiteRecord(BaseModel):
    """One site (SPEC section 3). Text values may be Chinese (医院, 新建, 4A, 是). Keys may be
    the field names or any header the alias table knows (编号, 场所类型, 停车位数 ...), as in a
    CSV; other keys are not an error: the answer's column report names them, with the closest
    field."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [SITE_EXAMPLE]})
    # field -> key as sent; a plain default: a default_factory costs an inspect.signature
    # per instance in pydantic 2
    _keys: dict[str, str] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _known_keys(cls, data: Any, handler):
        """Alias keys are read as their fields (validated as such); two keys for one field
        are refused, naming both."""
        if not isinstance(data, dict):
            return handler(data)
        data, keys = alias_keys(data)
        site = handler(data)
        site._keys = keys
        return site

    def as_record(self) -> dict[str, Any]:
        """The validated record with its keys as sent (so the column report names them)."""
        dumped = self.model_dump(exclude_none=True, mode="json")
        keys = self._keys or {}
        return {keys.get(k, k): v for k, v in dumped.items()}

    id: str = Field(..., min_length=1)
    category: str | list[str] | None = Field(
        None, description="ids or Chinese names; ';' or a list"
    )
    development: str | None = Field(None, description="new | existing (新建 / 既有)")
    parking_spaces: int | None = Field(None, ge=0, le=MAX_COUNT)
    small_car_spaces: int | None = Field(None, ge=0, le=MAX_COUNT)
    charging_spaces: int | None = Field(None, ge=0, le=MAX_COUNT)
    reserved_spaces: int | None = Field(None, ge=0, le=MAX_COUNT)
    fast_charging_spaces: int | None = Field(None, ge=0, le=MAX_COUNT)
    a_rating: int | str | None = Field(None, description="1-5, A..AAAAA, 3A, 4A, 5A")
    service_area_class: int | str | None = None
    dedicated_ev_area: bool | str | None = None
    site_constraint: str | None = None
    city: str | None = None
    chargers: list[Charger] | None = None


class ChecksRequest(BaseModel):
    """A batch. Rows are not validated one by one here: a bad row comes back `invalid`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sites": [
                        SITE_EXAMPLE,
                        {
                            "id": "NN-019",
                            "category": "住宅小区",
                            "development": "新建",
                            "parking_spaces": 500,
                            "charging_spaces": 100,
                            "reserved_spaces": 400,
                        },
                    ],
                    "ruleset": "guangxi-2021-2025",
                    "as_of": "2024-06-30",
                }
            ]
        },
    )

    sites: list[Any] = Field(
        ..., description="site records (objects); anything else comes back as an invalid result"
    )
    ruleset: str | None = None
    as_of: dt.date | None = None


class Note(BaseModel):
    level: Literal["error", "warning", "info", "recommendation"]
    message: str


class Citation(BaseModel):
    document: str
    section: str
    clause: str
    summary: str | None = None


class _Verdict(BaseModel):
    """Fields a site result and each of its evaluations share (SPEC section 4)."""

    rule_id: str | None
    status: Status
    status_zh: str
    basis_spaces: int | None
    ratio: str | None
    required_spaces: int | None
    provided_spaces: int | None
    shortfall: int | None
    counted: list[str]
    citation: Citation | None
    explanation: str
    notes: list[Note]


class Evaluation(_Verdict):
    category: str | None
    strength: Literal["mandatory", "advisory"] | None
    basis_field: str | None


class Classification(BaseModel):
    source: Literal["attribute", "overlap", "within", "nearest"] | None
    context_layer: str | None
    context_feature: int | None
    context_name: str | None
    context_category: str | None
    matched_by: str | None
    confidence: Literal["high", "medium", "low"] | None = Field(
        None,
        description="how sure the category is: high (the lot's own attribute, a specific "
        "feature containing or mostly covering it), medium, low (proximity, a broad zone, a "
        "tie between features of different requirements: a fail is needs_review)",
    )
    confidence_reason: str | None = None
    overlap_m2: float | None
    distance_m: float | None
    spaces_estimated: bool
    m2_per_space: float | None


class SiteResult(_Verdict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "NN-007",
                    "row": 1,
                    "status": "fail",
                    "status_zh": "不达标",
                    "categories": ["supermarket"],
                    "rule_id": "gx-3.3.1-public",
                    "basis_spaces": 333,
                    "ratio": "20%",
                    "required_spaces": 67,
                    "provided_spaces": 66,
                    "shortfall": 1,
                    "counted": ["charging_spaces"],
                    "citation": {
                        "document": "广西电动汽车充电基础设施发展规划（2021—2025年）",
                        "section": "3(3) 1, paragraph 3",
                        "clause": "……按不低于停车位20%的比例进行配置充电基础设施。",
                    },
                    "explanation": "ceil(20% x 333) = 67 required; 66 provided (charging); short 1",
                    "notes": [],
                    "evaluations": [],
                }
            ]
        }
    )

    id: str | None
    row: int
    categories: list[str]
    evaluations: list[Evaluation]
    classification: Classification | None = None


class UsedColumn(BaseModel):
    column: str = Field(..., description="as named in the input")
    field: str = Field(..., description="the site-record field it feeds")
    how: Literal["field_map", "exact", "shapefile", "alias", "fallback"]


class UnusedColumn(BaseModel):
    column: str
    status: Literal["kept", "not_used"] = Field(
        ..., description="kept: a pass-through column (name, address, remark); not_used: unknown"
    )
    suggestion: str | None = Field(None, description="the closest site-record field, if any")
    message: str


class ColumnReport(BaseModel):
    """Which input column (or JSON key) fed which site-record field, and which were not used."""

    source: str
    used: list[UsedColumn]
    unused: list[UnusedColumn]
    missing_fields: list[str] = Field(..., description="fields no column supplied")
    unmatched_field_map: list[str] = Field(
        default_factory=list, description="field-map entries that named no input column"
    )


class SiteCheck(SiteResult):
    """POST /v1/check: the site's result and the column report of the record's keys."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **SiteResult.model_config["json_schema_extra"]["examples"][0],
                    "columns": {
                        "source": "request",
                        "used": [
                            {"column": "编号", "field": "id", "how": "alias"},
                            {"column": "category", "field": "category", "how": "exact"},
                        ],
                        "unused": [
                            {
                                "column": "parking",
                                "status": "not_used",
                                "suggestion": "parking_spaces",
                                "message": "parking: not used - did you mean parking_spaces?",
                            }
                        ],
                        "missing_fields": ["development", "parking_spaces"],
                        "unmatched_field_map": [],
                    },
                }
            ]
        }
    )

    columns: ColumnReport


class RulesetRef(BaseModel):
    id: str
    version: str
    sha256: str


class Receipt(BaseModel):
    ruleset: RulesetRef
    engine: dict[str, str]
    as_of: dt.date
    input_sha256: str
    decision_id: str
    time: str
    warnings: list[str]
    options: dict[str, Any] = Field(
        default_factory=dict, description="options given that can change a verdict"
    )
    columns: ColumnReport | None = None


class Summary(BaseModel):
    sites: int
    by_status: dict[str, int]
    total_shortfall: int


class BatchAnswer(BaseModel):
    receipt: Receipt
    summary: Summary
    results: list[SiteResult]


class RulesetSummary(BaseModel):
    id: str
    version: str
    title: str
    title_zh: str | None
    jurisdiction: str
    valid_from: str
    valid_to: str | None
    plan_period_end: str | None
    sha256: str
    categories: int
    rules: int


class RulesetDetail(BaseModel):
    summary: RulesetSummary
    pack: dict[str, Any] = Field(..., description="The pack as loaded (SPEC section 5)")


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    rulesets: list[str]


JobState = Literal["queued", "running", "done", "failed"]


class Job(BaseModel):
    id: str
    state: JobState
    progress: float = Field(..., ge=0, le=1)
    stage: str | None
    created: str
    started: str | None
    finished: str | None
    error: str | None
    format: Literal["json", "csv", "geojson", "html"]
    url: str
    result_url: str
    report_url: str = Field(..., description="the job's HTML report (docs/report.md)")


class ProblemModel(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
    request_id: str | None = Field(
        None, description="on a 500: the id the server log files the error under"
    )
