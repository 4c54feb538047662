"""Jurisdictions as folders (docs/rules.md): `rules/<jurisdiction>/` holds its pack, its test
cases and `mappings/` that speak its own categories; map layers work with every bundled pack,
a pack with no `mappings/` beside it has none, and a mapping naming a category the pack lacks
is refused, naming the file."""

import json
import shutil

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from siting import load_ruleset
from siting.cli import main
from siting.errors import RulePackError
from siting.geo.mappings import check_mappings, load_mappings, pack_mappings
from siting.resources import rules_dir, shared_dir
from siting.ruleset import bundled_pack_files, mappings_dir_for

CALGREEN = "calgreen-2022-tier1-nonresidential"
GUANGXI = "guangxi-2021-2025"
SAMPLE = [
    "--context",
    "sample_sites/landuse.shp",
    "--context",
    "sample_sites/pois.csv",
    "--context-offset",
    "pois.csv=gcj02",
    "--as-of",
    "2024-06-30",
]


def _check(args, tmp_path, name="r.json") -> dict:
    out = tmp_path / name
    assert main(["check", *args, "-o", str(out)]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ the layout
def test_each_bundled_pack_lives_in_its_jurisdiction_folder_with_its_mappings():
    packs = bundled_pack_files()
    assert set(packs) == {GUANGXI, CALGREEN}
    assert packs[GUANGXI].parent == rules_dir() / "guangxi"
    assert packs[CALGREEN].parent == rules_dir() / "calgreen"
    for pack_id in packs:
        pack = load_ruleset(pack_id)
        folder = mappings_dir_for(pack)
        assert folder == pack.path.parent / "mappings"
        mappings = pack_mappings(pack)  # each speaks the pack's categories, or this raises
        assert mappings and all(m.path.parent == folder for m in mappings)
        assert set().union(*(m.categories() for m in mappings)) <= set(pack.category_ids)
    ids = {pid: {m.id for m in pack_mappings(load_ruleset(pid))} for pid in packs}
    assert ids[GUANGXI] == {
        "amap",
        "baidu",
        "gb50137-2011",
        "gbt21010-2017",
        "government-names",
        "osm",
    }
    assert ids[CALGREEN] == {"osm", "lbcs-function"}
    # shared tables name fields, not categories: one copy for every jurisdiction (the message
    # catalogue too: category names are each pack's own name_zh)
    assert {p.name for p in shared_dir().glob("*.yaml")} == {
        "aliases.yaml",
        "estimation.yaml",
        "messages.yaml",
    }


def test_guangxi_mappings_are_not_used_with_calgreen():
    """The old global mappings spoke Guangxi's categories: with CALGreen they are refused, and
    CALGreen's own are what it reads."""
    guangxi = pack_mappings(load_ruleset(GUANGXI))
    with pytest.raises(RulePackError, match=r"gb50137-2011\.yaml:\d+: .*mapping gb50137-2011"):
        check_mappings(load_ruleset(CALGREEN), [m for m in guangxi if m.id == "gb50137-2011"])


# ------------------------------------------------------------------ the sample, both packs
def test_sample_layers_with_the_guangxi_pack_as_before(root, monkeypatch, tmp_path):
    monkeypatch.chdir(root)
    answer = _check(["sample_sites/parking.gpkg", *SAMPLE], tmp_path)
    assert answer["receipt"]["ruleset"]["id"] == GUANGXI
    assert answer["summary"]["by_status"] == {
        "pass": 13,
        "fail": 6,
        "advisory": 16,
        "needs_review": 3,
        "not_applicable": 0,
        "insufficient_data": 1,
        "invalid": 0,
    }
    assert answer["summary"]["total_shortfall"] == 196
    by_id = {r["id"]: r for r in answer["results"]}
    assert by_id["P001"]["classification"]["matched_by"].startswith("gb50137-2011: YDDM=A1")
    assert by_id["P018"]["categories"] == ["park_and_ride"]


def test_sample_layers_with_the_calgreen_pack(root, monkeypatch, tmp_path, capsys):
    """The same command with CALGreen runs (it used to stop on Guangxi's mappings): the P+R lot
    is nonresidential by its own OSM tag; the Chinese land-use codes and Amap types are not
    this pack's, so the other lots stay unclassified, and the lot typed 宾馆 is invalid."""
    monkeypatch.chdir(root)
    args = ["sample_sites/parking.gpkg", *SAMPLE, "--ruleset", CALGREEN]
    answer = _check(args, tmp_path)
    assert answer["receipt"]["ruleset"]["id"] == CALGREEN
    by_id = {r["id"]: r for r in answer["results"]}
    p018 = by_id["P018"]
    assert p018["categories"] == ["nonresidential"]
    assert p018["classification"]["matched_by"] == "osm: park_ride=yes|bus|train|tram|subway|metro"
    assert p018["status"] == "fail" and p018["rule_id"] == "calgreen-a5.106.5.3.1-capable"
    assert by_id["P021"]["status"] == "invalid"
    counts = answer["summary"]["by_status"]
    assert counts["insufficient_data"] == 37 and sum(counts.values()) == 39
    # and on the terminal, without -o
    capsys.readouterr()
    assert main(["check", *args]) == 0
    assert "mapping" not in capsys.readouterr().err


# ------------------------------------------------------------------ CALGreen from OSM tags
CA = "EPSG:3310"  # California Albers, metres
X0, Y0 = -170_000.0, 60_000.0  # near Sacramento


def sq(x, y, w):
    return box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + w)


def _calgreen_layers(tmp_path):
    """Lots at 300 m from each other (beyond the 50 m search), each inside one context
    polygon, and one lot with OSM tags of its own."""
    lots = [
        ("shop", {}, sq(20, 20, 40)),
        ("office", {}, sq(320, 20, 40)),
        ("zone", {}, sq(620, 20, 40)),
        ("apartments", {}, sq(920, 20, 40)),
        ("hotel", {}, sq(1220, 20, 40)),
        ("shop-no", {}, sq(1520, 20, 40)),
        ("parcel-2110", {}, sq(1820, 20, 40)),
        ("parcel-1100", {}, sq(2120, 20, 40)),
        ("customers", {"amenity": "parking", "access": "customers"}, sq(2420, 20, 40)),
    ]
    rows = [
        {"id": i, "parking_spaces": 30, "charging_spaces": 0, "reserved_spaces": 0, **tags}
        for i, tags, _ in lots
    ]
    parking = tmp_path / "lots.gpkg"
    gpd.GeoDataFrame(pd.DataFrame(rows), geometry=[g for *_, g in lots], crs=CA).to_file(parking)
    ctx = [
        ({"name": "Grocer", "shop": "supermarket"}, sq(0, 0, 100)),
        ({"name": "County offices", "office": "government"}, sq(300, 0, 100)),
        ({"name": "Downtown", "landuse": "commercial"}, sq(600, 0, 100)),
        ({"name": "Flats", "building": "apartments"}, sq(900, 0, 100)),
        ({"name": "Motel", "tourism": "motel"}, sq(1200, 0, 100)),
        ({"name": "Closed", "shop": "no"}, sq(1500, 0, 100)),
        ({"name": "Parcel A", "lbcs_function": 2110}, sq(1800, 0, 100)),
        ({"name": "Parcel B", "lbcs_function": 1100}, sq(2100, 0, 100)),
    ]
    context = tmp_path / "osm.gpkg"
    frame = pd.DataFrame([r for r, _ in ctx])
    gpd.GeoDataFrame(frame, geometry=[g for _, g in ctx], crs=CA).to_file(context)
    return parking, context


def test_calgreen_lots_are_classified_from_osm_tags_and_land_use_codes(tmp_path):
    parking, context = _calgreen_layers(tmp_path)
    args = [str(parking), "--context", str(context), "--ruleset", CALGREEN]
    answer = _check([*args, "--as-of", "2024-06-30"], tmp_path)
    by_id = {r["id"]: r for r in answer["results"]}
    how = {i: r["classification"]["matched_by"] for i, r in by_id.items()}
    assert how["shop"] == "osm: shop=*"
    assert how["office"] == "osm: office=*"
    assert how["zone"] == "osm: landuse=commercial|retail|industrial"
    assert how["parcel-2110"] == "lbcs-function: lbcs_function=2"
    assert how["customers"] == "osm: amenity=parking,access=yes|public|customers"
    for i in ("shop", "office", "parcel-2110", "customers"):
        assert by_id[i]["categories"] == ["nonresidential"], i
        assert by_id[i]["status"] == "fail" and by_id[i]["shortfall"] == 11  # 26-50: 11
        assert by_id[i]["classification"]["confidence"] == "high"
    # a commercial zone is a broad guess: its fail is needs_review
    assert by_id["zone"]["classification"]["confidence"] == "low"
    assert by_id["zone"]["status"] == "needs_review"
    # homes, motels (CALGreen's residential chapter), shop=no and LBCS 1xxx give no category
    for i in ("apartments", "hotel", "shop-no", "parcel-1100"):
        assert by_id[i]["categories"] == [], i
        assert by_id[i]["status"] == "insufficient_data", i


# ------------------------------------------------------------------ a pack of one's own
def _own_pack(tmp_path, name="mine"):
    folder = tmp_path / name
    folder.mkdir()
    src = rules_dir() / "calgreen" / f"{CALGREEN}.yaml"
    text = src.read_text(encoding="utf-8").replace(f"id: {CALGREEN}", f"id: {name}", 1)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_pack_whose_folder_has_no_mappings_reads_category_attributes_only(tmp_path, capsys):
    parking, context = _calgreen_layers(tmp_path)
    path = _own_pack(tmp_path)
    pack = load_ruleset(path)
    assert mappings_dir_for(pack) is None and pack_mappings(pack) == ()
    assert main(["rules", "validate", str(path)]) == 0
    assert "0 mappings" in capsys.readouterr().out
    # the bundled CALGreen mappings beside the original are not read for the copy
    answer = _check([str(parking), "--context", str(context), "--ruleset", str(path)], tmp_path)
    assert answer["receipt"]["ruleset"]["id"] == "mine"
    assert {r["status"] for r in answer["results"]} == {"insufficient_data"}
    # a `category` attribute still classifies
    labelled = tmp_path / "labelled.gpkg"
    gdf = gpd.read_file(context)
    gdf["category"] = "commercial"  # an alias of nonresidential in the pack
    gdf.to_file(labelled)
    answer = _check(
        [str(parking), "--context", str(labelled), "--ruleset", str(path)], tmp_path, "b.json"
    )
    got = {r["id"]: r for r in answer["results"]}
    assert got["apartments"]["categories"] == ["nonresidential"]
    assert got["apartments"]["classification"]["matched_by"] == "category attribute"


def test_a_pack_of_ones_own_reads_the_mappings_beside_it(tmp_path):
    parking, context = _calgreen_layers(tmp_path)
    path = _own_pack(tmp_path)
    mappings = path.parent / "mappings"
    mappings.mkdir()
    (mappings / "osm.yaml").write_text(
        "kind: category-mapping\nid: my-osm\ntitle: mine\n"
        "tags:\n  - {match: {building: apartments}, category: nonresidential}\n",
        encoding="utf-8",
    )
    # its own area-per-space figures instead of the shared ones
    (mappings / "estimation.yaml").write_text(
        "kind: space-estimation\ndefault_m2_per_space: 40\n", encoding="utf-8"
    )
    pack = load_ruleset(path)
    assert [m.id for m in pack_mappings(pack)] == ["my-osm"]
    gdf = gpd.read_file(parking)
    gdf["parking_spaces"] = None  # estimated from 40 m x 40 m = 1600 m2
    gdf.to_file(tmp_path / "uncounted.gpkg")
    args = [str(tmp_path / "uncounted.gpkg"), "--context", str(context), "--ruleset", str(path)]
    answer = _check(args, tmp_path)
    got = {r["id"]: r for r in answer["results"]}
    assert got["apartments"]["classification"]["matched_by"] == "my-osm: building=apartments"
    assert got["shop"]["categories"] == []  # not in this folder's mappings
    assert got["apartments"]["basis_spaces"] == 40
    assert got["apartments"]["classification"]["m2_per_space"] == 40


def test_a_mapping_naming_a_category_the_pack_lacks_is_refused_naming_the_file(tmp_path, capsys):
    parking, context = _calgreen_layers(tmp_path)
    path = _own_pack(tmp_path)
    mappings = path.parent / "mappings"
    mappings.mkdir()
    bad = mappings / "osm.yaml"
    bad.write_text(
        "kind: category-mapping\nid: copied\ntitle: copied from Guangxi\ntags:\n"
        "  - {match: {shop: mall}, category: nonresidential}\n"
        "  - {match: {amenity: hospital}, category: hospital}\n",
        encoding="utf-8",
    )
    pack = load_ruleset(path)
    with pytest.raises(RulePackError) as info:
        pack_mappings(pack)
    msg = str(info.value)
    assert f"{bad}:6: tags[1].category: mapping copied: categories ['hospital']" in msg
    assert "are not in ruleset mine" in msg and "nonresidential" in msg
    # the check stops with exit 2 and the same message; so does `rules validate`
    assert main(["check", str(parking), "--context", str(context), "--ruleset", str(path)]) == 2
    assert f"{bad}:6:" in capsys.readouterr().err
    assert main(["rules", "validate", str(path)]) == 2
    assert "categories ['hospital']" in capsys.readouterr().err


def test_operator_rules_folder_may_hold_jurisdiction_folders(tmp_path):
    from siting_api.rulesets import operator_pack_files

    folder = tmp_path / "ops"
    folder.mkdir()
    path = _own_pack(folder, "county")
    shutil.copytree(rules_dir() / "calgreen" / "mappings", path.parent / "mappings")
    found = operator_pack_files(folder)
    assert found == {"county": path.resolve()}  # the mapping files are not packs
    assert [m.id for m in pack_mappings(load_ruleset(found["county"]))] == ["lbcs-function", "osm"]
    assert load_mappings(path.parent / "mappings")
