"""The column report (siting.columns): which column fed which field, what was not used and the
closest field for it; on the terminal, in the receipt, over HTTP; and the decision id."""

import dataclasses
import io
import json
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from shapely.geometry import box

from siting.aliases import load_aliases
from siting.check import check_records, option_values
from siting.cli import main
from siting.columns import alias_keys, column_report, guess_field
from siting.errors import InputError, RulePackError
from siting.fields import ALL_FIELDS
from siting.geo.layers import finish_layer
from siting.geo.pipeline import LayerOptions, classify_and_check
from siting.run import check_files
from siting_api.app import create_app
from siting_api.settings import Settings

HOSPITAL = "编号,项目名称,场所类型,停车位数,{count}\nH1,某医院,医院,300,60\n"


def _csv(tmp_path, text, name="sites.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _check_json(path, tmp_path, *extra):
    out = tmp_path / "out.json"
    assert main(["check", str(path), "--as-of", "2024-06-30", "-o", str(out), *extra]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- site lists
def test_a_pile_count_column_is_read_and_a_compliant_hospital_passes(tmp_path):
    doc = _check_json(_csv(tmp_path, HOSPITAL.format(count="充电桩数量")), tmp_path)
    r = doc["results"][0]
    assert (r["status"], r["provided_spaces"], r["shortfall"]) == ("pass", 60, 0)
    used = doc["receipt"]["columns"]["used"]
    assert {"column": "充电桩数量", "field": "charging_spaces", "how": "alias"} in used
    assert doc["receipt"]["warnings"] == []  # 项目名称 is kept quietly, not a warning


def test_an_unknown_count_column_is_suggested_in_the_receipt_and_on_the_terminal(tmp_path, capsys):
    path = _csv(tmp_path, HOSPITAL.format(count="已装充电枪数"))
    doc = _check_json(path, tmp_path)
    message = (
        "已装充电枪数: not used - did you mean charging_spaces? "
        "--field 已装充电枪数=charging_spaces"
    )
    assert message in doc["receipt"]["warnings"]
    unused = {u["column"]: u for u in doc["receipt"]["columns"]["unused"]}
    assert unused["已装充电枪数"]["status"] == "not_used"
    assert unused["已装充电枪数"]["suggestion"] == "charging_spaces"
    assert unused["项目名称"] == {
        "column": "项目名称",
        "status": "kept",
        "suggestion": None,
        "message": "项目名称: kept, not a rule input",
    }
    capsys.readouterr()
    assert main(["check", str(path), "--as-of", "2024-06-30"]) == 0
    out = capsys.readouterr().out
    assert "Columns" in out and "charging_spaces <-" not in out
    assert "parking_spaces <- 停车位数 (alias)" in out
    assert f"warning: {message}" in out
    # the suggested mapping, applied, makes the hospital pass
    mapped = _check_json(path, tmp_path, "--field", "已装充电枪数=charging_spaces")
    assert mapped["results"][0]["status"] == "pass"
    assert {"column": "已装充电枪数", "field": "charging_spaces", "how": "field_map"} in (
        mapped["receipt"]["columns"]["used"]
    )
    assert mapped["receipt"]["options"] == {"field_map": {"已装充电枪数": "charging_spaces"}}


def test_the_report_lists_the_fields_no_column_supplied(tmp_path):
    doc = _check_json(_csv(tmp_path, HOSPITAL.format(count="充电车位数")), tmp_path)
    missing = doc["receipt"]["columns"]["missing_fields"]
    assert "charging_spaces" not in missing and "parking_spaces" not in missing
    assert missing == [
        f for f in ALL_FIELDS if f not in {"id", "category", "parking_spaces", "charging_spaces"}
    ]
    report = column_report(["id", "category"])
    assert "no column for: development," in report.lines()[-1]


def test_the_xlsx_summary_names_the_columns(tmp_path):
    path = _csv(tmp_path, HOSPITAL.format(count="充电桩(个)"))
    out = tmp_path / "out.xlsx"
    assert main(["check", str(path), "--as-of", "2024-06-30", "-o", str(out), "--lang", "en"]) == 0
    rows = list(load_workbook(out)["summary"].iter_rows(values_only=True))
    assert ("column", "充电桩(个) -> charging_spaces (alias)") in rows
    assert ("column", "项目名称: kept, not a rule input") in rows
    assert main(["check", str(path), "--as-of", "2024-06-30", "-o", str(out)]) == 0
    rows = list(load_workbook(out)["汇总"].iter_rows(values_only=True))  # Chinese headers
    assert ("列", "充电桩(个) -> charging_spaces (alias)") in rows


# ---------------------------------------------------------------- the mapping itself
@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("充电桩数量", "charging_spaces"),
        ("充电桩数", "charging_spaces"),
        ("充电桩(个)", "charging_spaces"),
        ("充电桩（个）", "charging_spaces"),  # full-width brackets fold
        ("已建充电车位", "charging_spaces"),
        ("充电车位", "charging_spaces"),
        ("已建充电桩", "charging_spaces"),
        ("预留充电车位", "reserved_spaces"),
        ("预留车位数", "reserved_spaces"),
        ("是否新建", "development"),
        ("新建/改建", "development"),
        ("是否设置充电专区", "dedicated_ev_area"),
        ("是否设立专用充电区域", "dedicated_ev_area"),
        ("专用充电区域", "dedicated_ev_area"),
        ("景区等级", "a_rating"),
        ("A级景区等级", "a_rating"),
        ("服务区类别", "service_area_class"),
        ("服务区等级", "service_area_class"),
        ("快充桩数量", "fast_charging_spaces"),
        ("直流桩数量", "fast_charging_spaces"),
        ("小客车车位数", "small_car_spaces"),
        ("停车泊位", "parking_spaces"),
        ("泊位数", "parking_spaces"),
        ("车位总数", "parking_spaces"),
        ("停车位数（个）", "parking_spaces"),  # a unit in brackets is ignored
        ("是否设置充电专区(是/否)", "dedicated_ev_area"),
    ],
)
def test_headers_reviewers_write(header, field):
    report = column_report(["编号", header])
    assert report.mapping == {"编号": "id", header: field}


def test_names_addresses_and_remarks_are_kept_not_questioned():
    report = column_report(["id", "项目名称", "名称", "地址", "备注", "lon", "lat"])
    assert [u.status for u in report.unused] == ["kept"] * 6
    assert report.warnings == []
    assert "项目名称" not in load_aliases().header  # a name, never a field


def test_a_row_number_gives_way_to_a_real_id():
    both = column_report(["序号", "编号", "停车位数"])
    assert both.mapping == {"编号": "id", "停车位数": "parking_spaces"}
    (row_number,) = both.unused
    assert row_number.status == "kept" and "id is read from 编号" in row_number.message
    alone = column_report(["序号", "停车位数"])
    assert alone.mapping["序号"] == "id"
    with pytest.raises(InputError, match="'类型' and '分类' both mean 'category'"):
        column_report(["类型", "分类"])  # two fallbacks, nothing better: ambiguous


def test_two_strong_columns_for_one_field_are_refused_naming_both():
    with pytest.raises(InputError, match="'充电桩数量' and '充电车位数' both mean"):
        column_report(["充电桩数量", "充电车位数"], source="f.csv")


def test_how_each_column_was_matched():
    report = column_report(
        ["ID", "parking_sp", "Charging_Spaces", "泊位X"], field_map={"泊位x": "small_car_spaces"}
    )
    assert [(u.column, u.field, u.how) for u in report.used] == [
        ("ID", "id", "exact"),
        ("parking_sp", "parking_spaces", "shapefile"),
        ("Charging_Spaces", "charging_spaces", "exact"),
        ("泊位X", "small_car_spaces", "field_map"),
    ]


def test_field_map_problems_are_named():
    report = column_report(["id"], field_map={"泊位": "parking_spaces"})
    assert report.warnings == ["field mapping 泊位=parking_spaces: the input has no such column"]
    with pytest.raises(InputError, match="did you mean parking_spaces"):
        column_report(["泊位"], field_map={"泊位": "parking_space"})


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("parking", "parking_spaces"),
        ("charging", "charging_spaces"),
        ("电动汽车车位数", "charging_spaces"),
        ("直流枪数", "fast_charging_spaces"),
        ("预留位", "reserved_spaces"),
        ("小车车位", "small_car_spaces"),
        ("景区级", "a_rating"),
        ("地块用途", "category"),
        ("充电功率(kW)", None),  # power is not a count
        ("负责人", None),
    ],
)
def test_closest_field_for_unknown_headers(header, field):
    assert guess_field(header) == field


def test_a_suggestion_for_a_field_already_read_says_where_it_comes_from():
    report = column_report(["充电车位数", "充电数目"])
    (u,) = report.unused
    assert u.suggestion is None
    assert u.message == "充电数目: not used (charging_spaces is read from 充电车位数)"


def _alias_file(tmp_path, fields_yaml, extra=""):
    path = tmp_path / "aliases.yaml"
    path.write_text(
        f"kind: aliases\nfields:\n{fields_yaml}{extra}\nvalues: {{}}\n", encoding="utf-8"
    )
    return path


def test_a_spelling_under_two_fields_is_refused(tmp_path):
    bad = _alias_file(tmp_path, "  parking_spaces: [车位数]\n  charging_spaces: [车位数]\n")
    with pytest.raises(RulePackError, match="'车位数' is already a spelling of 'parking_spaces'"):
        load_aliases(bad)
    other = tmp_path / "b"
    other.mkdir()
    name = _alias_file(other, "  city: [parking_spaces]\n")  # another field's own name
    with pytest.raises(RulePackError, match="already a spelling of 'parking_spaces'"):
        load_aliases(name)
    third = tmp_path / "c"
    third.mkdir()
    kept = _alias_file(third, "  id: [编号]\n", "kept_columns: [编号]\n")
    with pytest.raises(RulePackError, match="'编号' is a spelling of 'id'"):
        load_aliases(kept)


def test_the_bundled_alias_table_has_one_field_per_spelling():
    import yaml

    from siting.folding import fold_name
    from siting.resources import shared_dir

    data = yaml.safe_load((shared_dir() / "aliases.yaml").read_text(encoding="utf-8"))
    seen: dict[str, str] = {}
    for section in ("fields", "fallback_fields"):
        for field, names in data[section].items():
            for name in names:
                key = fold_name(str(name))
                assert seen.setdefault(key, field) == field, (name, seen[key], field)


# ---------------------------------------------------------------- JSON records and HTTP
@pytest.fixture
def client(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", max_upload_bytes=5_000_000, max_sites=1000)
    with TestClient(create_app(settings, executor=ThreadPoolExecutor(2))) as c:
        yield c


def test_an_unknown_key_over_http_is_reported_with_its_suggestion(client):
    r = client.post(
        "/v1/check?as_of=2024-06-30", json={"id": "S", "category": "hospital", "parking": 333}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "insufficient_data"  # the count was not read ...
    message = "parking: not used - did you mean parking_spaces?"
    assert {"level": "warning", "message": message} in body["notes"]  # ... and it says why
    assert body["columns"]["unused"] == [
        {
            "column": "parking",
            "status": "not_used",
            "suggestion": "parking_spaces",
            "message": message,
        }
    ]
    assert "parking_spaces" in body["columns"]["missing_fields"]
    batch = client.post(
        "/v1/checks",
        json={
            "sites": [{"id": "S", "category": "hospital", "parking": 333}],
            "as_of": "2024-06-30",
        },
    ).json()
    assert message in batch["receipt"]["warnings"]
    assert batch["receipt"]["columns"]["unused"][0]["suggestion"] == "parking_spaces"


def test_alias_keys_are_accepted_over_http_as_in_a_csv(client):
    site = {"编号": "S", "场所类型": "医院", "停车位数": 333, "充电桩数量": 67}
    r = client.post("/v1/check?as_of=2024-06-30", json=site)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["id"], body["status"], body["required_spaces"]) == ("S", "pass", 67)
    assert {"column": "编号", "field": "id", "how": "alias"} in body["columns"]["used"]
    batch = client.post("/v1/checks", json={"sites": [site], "as_of": "2024-06-30"}).json()
    assert batch["results"][0]["status"] == "pass"
    # alias keys are validated as their fields: a negative count is refused
    bad = client.post("/v1/check", json={"编号": "S", "停车位数": -1})
    assert bad.status_code == 422
    assert any(e["field"] == "parking_spaces" for e in bad.json()["errors"])
    # two keys for one field: refused, naming both
    twice = client.post("/v1/check", json={"id": "S", "编号": "T"})
    assert twice.status_code == 422 and "'id' and '编号' both mean 'id'" in twice.text


def test_upload_takes_a_field_map(client):
    csv = HOSPITAL.format(count="已装充电枪数").encode()
    r = client.post(
        "/v1/checks/upload",
        params={"as_of": "2024-06-30", "field": "已装充电枪数=charging_spaces"},
        files={"file": ("sites.csv", io.BytesIO(csv), "text/csv")},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["results"][0]["status"] == "pass"
    assert body["receipt"]["options"]["field_map"] == {"已装充电枪数": "charging_spaces"}
    assert body["receipt"]["columns"]["source"] == "sites.csv"


def test_alias_keys_renames_and_keeps_unknown_keys():
    record, keys = alias_keys({"编号": "a", "parking": 3, "category": "hotel"})
    assert record == {"id": "a", "parking": 3, "category": "hotel"}
    assert keys == {"id": "编号"}


def test_the_openapi_schema_describes_the_column_report(client):
    schema = client.get("/openapi.json").json()
    comps = schema["components"]["schemas"]
    assert "ColumnReport" in comps and "columns" in comps["SiteCheck"]["required"]
    assert "columns" in comps["Receipt"]["properties"]


# ---------------------------------------------------------------- map layers
GK = "EPSG:4545"


def _layer(rows, geoms, name):
    gdf = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=GK)
    return finish_layer(gdf, name, np.arange(1, len(gdf) + 1), crs=None, offset=None)


def _lots(options=None, rows=None):
    lot = box(500_000, 2_524_000, 500_100, 2_524_100)
    rows = rows or [{"编号": "L", "amenity": "parking", "充电桩数量": 20, "车位数目": 100}]
    answer, _ = classify_and_check(
        _layer(rows, [lot], "lots"),
        [_layer([{"category": "hospital"}], [box(500_150, 2_524_000, 500_200, 2_524_100)], "ctx")],
        pack=__import__("siting").load_ruleset(),
        as_of="2024-06-30",
        options=options or LayerOptions(),
        input_sha256="x",
    )
    return answer


def test_a_parking_layer_gets_a_column_report():
    answer = _lots()
    columns = answer.receipt["columns"]
    assert columns["source"] == "lots"
    assert {"column": "充电桩数量", "field": "charging_spaces", "how": "alias"} in columns["used"]
    unused = {u["column"]: u for u in columns["unused"]}
    assert unused["amenity"]["status"] == "kept"  # read by the OSM mapping, not unused
    assert "category mapping osm" in unused["amenity"]["message"]
    assert unused["车位数目"]["suggestion"] == "parking_spaces"


# ---------------------------------------------------------------- decision id
def test_every_option_that_can_change_a_verdict_changes_the_decision_id():
    base = _lots().decision_id
    assert _lots().decision_id == base  # same options, same id
    for options in (
        LayerOptions(max_distance=100),
        LayerOptions(max_distance=0),
        LayerOptions(area_per_space=30),
        LayerOptions(field_map={"车位数目": "parking_spaces"}),
        LayerOptions(offset="gcj02"),
        LayerOptions(context_offset={"ctx": "bd09"}),
        LayerOptions(accept_nearest=True),
    ):
        got = _lots(options)
        assert got.decision_id != base, options
        assert got.receipt["options"], options
    assert _lots(LayerOptions(max_distance=100)).decision_id == (
        _lots(LayerOptions(max_distance=100)).decision_id
    )


def test_decision_id_follows_as_of_field_map_and_the_column_mapping(tmp_path, pack):
    path = _csv(tmp_path, HOSPITAL.format(count="已装充电枪数"))

    def decision(**kw):
        options = LayerOptions(**{k: v for k, v in kw.items() if k != "as_of"})
        answer, _ = check_files(
            str(path), [], pack, as_of=kw.get("as_of", "2024-06-30"), options=options
        )
        return answer.decision_id

    base = decision()
    assert decision() == base
    assert decision(as_of="2024-07-01") != base
    assert decision(field_map={"已装充电枪数": "charging_spaces"}) != base
    assert decision(area_per_space=30.0) != base
    assert decision(max_distance=10.0) != base
    # the same input and options with the columns read differently (e.g. after an edit of
    # the alias table) -> another id
    answer = check_records([{"id": "a", "parking": 3}], pack, as_of="2024-06-30")
    again = check_records([{"id": "a", "parking": 3}], pack, as_of="2024-06-30")
    assert again.decision_id == answer.decision_id
    read_otherwise = column_report(["id", "parking"], field_map={"parking": "parking_spaces"})
    other = dataclasses.replace(answer, columns=read_otherwise)
    assert other.input_sha256 == answer.input_sha256 and other.options == answer.options
    assert other.decision_id != answer.decision_id


def test_option_values_covers_every_dataclass_field_generically():
    @dataclasses.dataclass
    class Later(LayerOptions):
        accept_nearest: bool = False

    assert option_values(Later()) == {}
    assert option_values(Later(accept_nearest=True)) == {"accept_nearest": True}
    assert option_values(LayerOptions(max_distance=0.0)) == {"max_distance": 0.0}
    assert option_values(LayerOptions(), sheet="二") == {"sheet": "二"}
    assert option_values(LayerOptions(context_crs={"b": "x", "a": "y"})) == {
        "context_crs": {"a": "y", "b": "x"}
    }
