"""Rule packs: schema, loading errors, bundled packs and their YAML test cases."""

import json
import os
import shutil
from pathlib import Path

import pytest

from siting.casebook import load_cases, run_pack_tests
from siting.cli import main
from siting.errors import RulePackError
from siting.ruleset import RulePack, bundled_pack_files, cases_file_for, load_ruleset

# every decision pinned here, on the scalar path and on the whole-column path (conftest)
pytestmark = pytest.mark.usefixtures("decision_path")


def test_bundled_packs_include_guangxi_and_an_example():
    ids = set(bundled_pack_files())
    assert "guangxi-2021-2025" in ids
    assert "calgreen-2022-tier1-nonresidential" in ids


@pytest.mark.parametrize("pack_id", sorted(bundled_pack_files()))
def test_pack_cases_pass(pack_id):
    pack = load_ruleset(pack_id)
    assert cases_file_for(pack) is not None, "every bundled pack ships test cases"
    outcomes = run_pack_tests(pack)
    assert outcomes
    failures = {o.name: o.problems for o in outcomes if not o.ok}
    assert not failures


def test_published_schema_is_current(root):
    published = json.loads((root / "rules/schema/rulepack.schema.json").read_text())
    assert published == RulePack.model_json_schema(by_alias=True)


# The plan text lives beside the repository (../shared/seeds), here and in CI.
SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_c708c645b8f9c32c.txt"


def _seed_text() -> str:
    if not SEED.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the plan text {SEED} is missing (CI is set: it must be checked)")
        pytest.skip(f"the plan text {SEED} is not here")
    return SEED.read_text(encoding="utf-8").replace("\n", "")


def test_guangxi_pack_covers_every_clause_of_section_3_3(pack):
    cats = {c for r in pack.rules for c in r.categories}
    assert cats == set(pack.category_ids)
    ratios = {r.id: (str(r.ratio) if r.ratio is not None else None, r.strength) for r in pack.rules}
    assert ratios == {
        # 3(3) 1 and 2: the ratios
        "gx-3.3.1-agency": ("1/10", "mandatory"),
        "gx-3.3.1-soe": ("1/10", "mandatory"),
        "gx-3.3.1-highway": ("1/5", "mandatory"),
        "gx-3.3.1-public": ("1/5", "mandatory"),
        "gx-3.3.1-scenic-a": ("1/10", "mandatory"),
        "gx-3.3.1-scenic-a4-5": ("1/5", "mandatory"),
        "gx-3.3.1-park-new": ("3/20", "mandatory"),
        "gx-3.3.1-park-existing": (None, "advisory"),
        "gx-3.3.2-residential-new": ("1", "mandatory"),
        "gx-3.3.2-residential-existing": ("1/10", "advisory"),
        # 4(1): new service areas build or reserve (at least one space), the rest encouraged
        "gx-4.1-highway-new": (None, "mandatory"),
        "gx-4.1-highway-existing": (None, "advisory"),
        "gx-4.1-key-areas": (None, "advisory"),
        "gx-4.1-driving": (None, "advisory"),
        "gx-4.1-dedicated": (None, "advisory"),
        "gx-4.1-fuel-station": (None, "advisory"),
    }
    by_id = {r.id: r for r in pack.rules}
    assert by_id["gx-4.1-highway-new"].minimum == 1
    assert set(by_id["gx-4.1-highway-new"].counts) == {"charging_spaces", "reserved_spaces"}
    # the 10 % floor is every A-level site's; AAAA/AAAAA ones have the 20 % rule as well
    assert by_id["gx-3.3.1-scenic-a"].when["a_rating"].in_ == [1, 2, 3, 4, 5]
    assert by_id["gx-3.3.1-scenic-a4-5"].when["a_rating"].in_ == [4, 5]
    # only region-level agencies carry the 10 % rule; 党政机关 below it are advisory
    assert by_id["gx-3.3.1-agency"].categories == ["regional_agency"]
    assert "government_agency" in by_id["gx-4.1-dedicated"].categories
    for name in ("党政机关", "政府机关", "机关"):
        assert pack.resolve_category(name)[0] != "regional_agency", name
    seed = _seed_text()
    for rule in pack.rules:
        assert rule.citation.section.startswith(("3(3)", "4(1)")), rule.id
        # the clause is quoted from the plan itself: every part of it ("……" marks a cut; a
        # residential clause adds the 4(1) sentence in brackets)
        quoted, _, also = rule.citation.clause.partition("（4(1)：")
        parts = quoted.split("……") + (also.removesuffix("）").split("……") if also else [])
        for part in parts:
            assert part.strip().rstrip("。，；") in seed, (rule.id, part)


def _broken(tmp_path, text: str):
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _guangxi_text(root):
    return (root / "rules/guangxi/guangxi-2021-2025.yaml").read_text(encoding="utf-8")


def test_broken_pack_names_file_line_path_and_reason(tmp_path, root):
    text = _guangxi_text(root).replace('ratio: "15%"', 'ratio: "fifteen"')
    path = _broken(tmp_path, text)
    with pytest.raises(RulePackError) as info:
        load_ruleset(path)
    msg = str(info.value)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"fifteen"' in t)
    # the only 15 % rule: the new industrial parks'
    index = [r.id for r in load_ruleset(root / "rules/guangxi/guangxi-2021-2025.yaml").rules].index(
        "gx-3.3.1-park-new"
    )
    assert str(path) in msg
    assert f":{line}: rules[{index}].ratio" in msg
    assert "'fifteen' is not a ratio" in msg


def test_unknown_category_in_rule_is_named(tmp_path, root):
    text = _guangxi_text(root).replace("categories: [regional_agency]", "categories: [agencyy]")
    expected = r"rules\[0\]\.categories\[0\]: unknown category 'agencyy'"
    with pytest.raises(RulePackError, match=expected):
        load_ruleset(_broken(tmp_path, text))


def test_missing_citation_and_unknown_key(tmp_path):
    path = _broken(
        tmp_path,
        """kind: rulepack
id: tiny
version: "1"
title: t
jurisdiction: j
source: {title: s}
valid_from: 2020-01-01
categories: [{id: a, name: A, name_zh: 甲}]
rules:
  - id: r1
    title: r
    categories: [a]
    strength: mandatory
    ratio: "10%"
    counts: [charging_spaces]
    colour: red
""",
    )
    with pytest.raises(RulePackError) as info:
        load_ruleset(path)
    msg = str(info.value)
    assert "rules[0].citation: Field required" in msg
    assert "rules[0].colour: Extra inputs are not permitted" in msg
    assert "2 problem(s)" in msg


def test_mandatory_rule_needs_an_amount(tmp_path):
    path = _broken(
        tmp_path,
        """kind: rulepack
id: tiny
version: "1"
title: t
jurisdiction: j
source: {title: s}
valid_from: 2020-01-01
categories: [{id: a, name: A, name_zh: 甲}]
rules:
  - {id: r1, title: r, categories: [a], strength: mandatory, counts: [charging_spaces],
     citation: {section: "1", clause: c}}
""",
    )
    with pytest.raises(RulePackError, match="needs a `ratio`, a `table` or a `minimum`"):
        load_ruleset(path)


def test_new_jurisdiction_is_a_new_file_not_python(tmp_path, root):
    """A copy of the example pack under another id loads and checks with no code change."""
    src = root / "rules/calgreen/calgreen-2022-tier1-nonresidential.yaml"
    dst = tmp_path / "my-city.yaml"
    shutil.copy(src, dst)
    dst.write_text(
        dst.read_text().replace("id: calgreen-2022-tier1-nonresidential", "id: my-city"),
        encoding="utf-8",
    )
    from siting import check_records

    answer = check_records(
        [
            {
                "id": "x",
                "category": "nonresidential",
                "parking_spaces": 30,
                "charging_spaces": 0,
                "reserved_spaces": 0,
            }
        ],
        load_ruleset(dst),
        as_of="2024-01-01",
    )
    assert answer.results[0]["required_spaces"] == 11
    assert answer.results[0]["status"] == "fail"
    assert answer.receipt["ruleset"]["id"] == "my-city"


def test_cases_file_is_validated(tmp_path):
    path = _broken(tmp_path, "kind: rulepack-tests\nruleset: x\nas_of: 2024-01-01\ncases: []\n")
    with pytest.raises(RulePackError, match="cases"):
        load_cases(path)


def test_cli_rules_commands(capsys, tmp_path):
    assert main(["rules", "list"]) == 0
    assert "guangxi-2021-2025" in capsys.readouterr().out
    assert main(["rules", "show", "guangxi-2021-2025"]) == 0
    assert "gx-3.3.1-public" in capsys.readouterr().out
    assert main(["rules", "validate"]) == 0
    assert main(["rules", "test"]) == 0
    assert "0 failed" in capsys.readouterr().out
    bad = _broken(tmp_path, "kind: rulepack\nid: x\n")
    assert main(["rules", "validate", str(bad)]) == 2
    assert "Field required" in capsys.readouterr().err


def test_failing_case_is_reported(tmp_path, root, capsys):
    pack_path = tmp_path / "gx.yaml"
    shutil.copy(root / "rules/guangxi/guangxi-2021-2025.yaml", pack_path)
    (tmp_path / "gx.tests.yaml").write_text(
        """kind: rulepack-tests
ruleset: guangxi-2021-2025
as_of: 2024-01-01
cases:
  - name: wrong on purpose
    site: {id: a, category: hospital, parking_spaces: 100, charging_spaces: 20}
    expect: {status: fail}
""",
        encoding="utf-8",
    )
    assert main(["rules", "test", str(pack_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL wrong on purpose" in out and "expected 'fail', got 'pass'" in out
