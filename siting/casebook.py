"""YAML test cases beside a pack (`<pack>.tests.yaml`), run by `siting rules test` and pytest.

    kind: rulepack-tests
    ruleset: guangxi-2021-2025
    as_of: 2024-06-30
    cases:
      - name: hospital one space short
        site: {id: h1, category: hospital, parking_spaces: 333, charging_spaces: 66}
        expect: {status: fail, required_spaces: 67, shortfall: 1}

`expect` keys are result fields (SPEC section 4); `evaluations` may list expected per-rule
fields in order; `notes_include` lists substrings one of the notes must contain.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from siting.check import check_records
from siting.errors import InputError
from siting.ruleset import RulePack, cases_file_for
from siting.yamlfile import YamlDocument


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    site: dict[str, Any]
    as_of: dt.date | None = None
    expect: dict[str, Any] = Field(default_factory=dict)
    evaluations: list[dict[str, Any]] | None = None
    notes_include: list[str] = Field(default_factory=list)
    error_includes: str | None = Field(None, description="The check is refused with this text")


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["rulepack-tests"]
    ruleset: str
    as_of: dt.date
    cases: list[Case] = Field(..., min_length=1)


@dataclass
class Outcome:
    name: str
    ok: bool
    problems: list[str]


def load_cases(path: Path) -> CaseFile:
    return YamlDocument(path).parse(CaseFile)


def run_case(pack: RulePack, case: Case, as_of: dt.date) -> Outcome:
    problems: list[str] = []
    try:
        answer = check_records([case.site], pack, as_of=case.as_of or as_of, source="case")
    except InputError as exc:
        if case.error_includes and case.error_includes in str(exc):
            return Outcome(case.name, True, [])
        return Outcome(case.name, False, [f"refused: {exc}"])
    if case.error_includes:
        return Outcome(case.name, False, [f"expected refusal with {case.error_includes!r}"])
    result = answer.results[0]
    for key, want in case.expect.items():
        got = result.get(key)
        if got != want:
            problems.append(f"{key}: expected {want!r}, got {got!r}")
    if case.evaluations is not None:
        got_evals = result["evaluations"]
        if len(got_evals) != len(case.evaluations):
            problems.append(f"evaluations: expected {len(case.evaluations)}, got {len(got_evals)}")
        for k, (want, got) in enumerate(zip(case.evaluations, got_evals, strict=False)):
            for key, value in want.items():
                if got.get(key) != value:
                    problems.append(
                        f"evaluations[{k}].{key}: expected {value!r}, got {got.get(key)!r}"
                    )
    texts = [n["message"] for n in result["notes"]]
    for needle in case.notes_include:
        if not any(needle in t for t in texts):
            problems.append(f"notes: none contains {needle!r} (notes: {texts})")
    if problems:
        problems.append(f"explanation was: {result['explanation']}")
    return Outcome(case.name, not problems, problems)


def run_pack_tests(pack: RulePack, path: Path | None = None) -> list[Outcome]:
    path = path or cases_file_for(pack)
    if path is None:
        return []
    cases = load_cases(path)
    if cases.ruleset != pack.id:
        return [Outcome(str(path), False, [f"tests are for {cases.ruleset!r}, not {pack.id!r}"])]
    return [run_case(pack, case, cases.as_of) for case in cases.cases]
