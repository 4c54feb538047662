"""Facts as shapefiles store them: flags as 1.0 / 0.0 (DBF has no boolean), ratings as text,
names cut to ten characters, GBK text without a .cpg - read as the user meant them."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from siting import load_ruleset
from siting.geo.pipeline import check_layers


@pytest.fixture
def scenic_shapefile(tmp_path):
    box = shapely.box(500000, 2520000, 500100, 2520100)
    frame = gpd.GeoDataFrame(
        {
            "编号": ["S1", "S2", "S3", "S4"],
            "类别": ["4A景区", "scenic_area", "旅游景区", "新建小区"],
            "景区等级": [None, "AAAA", "3A", None],
            "停车位数": [100.0, 100.0, 100.0, 50.0],
            "充电车位数": [20.0, 20.0, 10.0, 10.0],
            "预留车位数": [0.0, 0.0, 0.0, 40.0],
            # shapefile name of dedicated_ev_area, a flag stored as a double
            "dedicated_": [1.0, 0.0, None, None],
        },
        geometry=[shapely.affinity.translate(box, 200 * i, 0) for i in range(4)],
        crs="EPSG:4545",
    )
    path = tmp_path / "parks.shp"
    frame.to_file(path, encoding="GBK")
    path.with_suffix(".cpg").unlink(missing_ok=True)  # as desktop GIS often leaves it
    return path


def test_flags_stored_as_doubles_and_names_with_facts(scenic_shapefile):
    answer, _ = check_layers(str(scenic_shapefile), [], load_ruleset(), as_of="2024-06-30")
    by_id = {r["id"]: r for r in answer.results}
    # 4A景区 carries a_rating 4; dedicated_ = 1.0 is true: 20 % met with an area
    assert by_id["S1"]["status"] == "pass"
    assert by_id["S1"]["rule_id"] == "gx-3.3.1-scenic-a4-5"
    # 0.0 is false: the AAAA rule fails for the missing area even with 20 % met
    assert by_id["S2"]["status"] == "fail"
    assert any("dedicated_ev_area is false" in n["message"] for n in by_id["S2"]["notes"])
    # AAA at exactly 10 %: the area does not matter
    assert (by_id["S3"]["status"], by_id["S3"]["required_spaces"]) == ("pass", 10)
    # 新建小区 carries development new: 100 % of 50, charging 10 + reserved 40
    assert (by_id["S4"]["status"], by_id["S4"]["rule_id"]) == (
        "pass",
        "gx-3.3.2-residential-new",
    )
    assert by_id["S4"]["categories"] == ["residential"]
    used = {u["field"]: (u["column"], u["how"]) for u in answer.receipt["columns"]["used"]}
    assert used["dedicated_ev_area"] == ("dedicated_", "shapefile")
    assert used["charging_spaces"] == ("充电车位数", "alias")  # GBK names read right
