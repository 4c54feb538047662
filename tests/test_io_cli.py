"""Site lists in files (CSV encodings, Chinese headers, Excel, JSON) and the `siting check` CLI."""

import json

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from siting.cli import main
from siting.errors import InputError
from siting.io.tabular import read_sites

HEADER_ZH = "编号,场所类型,新建/既有,停车位数,充电车位数,预留车位数,快充车位数,景区等级,城市\n"
ROWS_ZH = (
    "S1,医院,,100,20,0,2,,南宁\nS2,住宅小区,新建,200,20,170,0,,南宁市\nS3,景区,,80,7,0,1,3A,桂林\n"
)


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_csv_encodings_with_chinese_headers(tmp_path, encoding):
    path = tmp_path / f"sites-{encoding}.csv"
    path.write_bytes((HEADER_ZH + ROWS_ZH).encode(encoding))
    raw = read_sites(path)
    assert list(raw.frame.columns)[:2] == ["编号", "场所类型"]
    assert raw.frame.iloc[1, 1] == "住宅小区"
    out = tmp_path / "out.json"
    assert main(["check", str(path), "--as-of", "2024-01-01", "-o", str(out)]) == 0
    results = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert [r["status"] for r in results] == ["pass", "fail", "fail"]
    assert results[1]["shortfall"] == 10 and results[2]["required_spaces"] == 8
    assert [r["row"] for r in results] == [2, 3, 4]


def test_field_mapping_from_the_command_line(tmp_path):
    path = tmp_path / "odd.csv"
    # charging_spaces given (0): a file with no column for it leaves it unknown, not 0
    path.write_text("code,kind,泊位,charging_spaces\nA,hotel,10,0\n", encoding="utf-8")
    out = tmp_path / "o.json"
    assert (
        main(
            [
                "check",
                str(path),
                "--field",
                "泊位=parking_spaces",
                "--field",
                "kind=category",
                "--as-of",
                "2024-01-01",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    r = json.loads(out.read_text())["results"][0]
    assert r["required_spaces"] == 2 and r["id"] == "A"
    assert (r["status"], r["shortfall"]) == ("fail", 2)


def test_two_columns_for_one_field_is_an_error(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("id,停车位数,parking_spaces\nA,1,2\n", encoding="utf-8")
    code, _, err = _run(["check", str(path)], capsys)
    assert code == 2 and "'停车位数' and 'parking_spaces' both mean 'parking_spaces'" in err


def test_ragged_and_blank_rows_keep_every_record(tmp_path):
    path = tmp_path / "ragged.csv"
    # C is short of cells: its parking count is missing, its 2 chargers pass at up to 10
    path.write_text(
        "id,category,charging_spaces,parking_spaces\nA,hotel,0,10\n\nB,hotel,0,10,oops\nC,hotel,2\n",
        encoding="utf-8",
    )
    raw = read_sites(path)
    assert len(raw.frame) == 3 and list(raw.row_numbers) == [2, 4, 5]
    out = tmp_path / "o.json"
    assert main(["check", str(path), "--as-of", "2024-01-01", "-o", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert [r["status"] for r in results] == ["fail", "invalid", "insufficient_data"]
    assert "row 4" in results[1]["explanation"] and "'oops'" in results[1]["explanation"]
    assert "missing parking_spaces" in results[2]["explanation"]


def test_blank_cell_is_zero_and_absent_column_is_unknown(tmp_path):
    blank = tmp_path / "blank.csv"
    blank.write_text(
        "id,category,parking_spaces,charging_spaces\nA,医院,100,\nB,国有企业,100,5\n",
        encoding="utf-8",
    )
    out = tmp_path / "o.json"
    assert main(["check", str(blank), "--as-of", "2024-06-30", "-o", str(out)]) == 0
    a, b = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert (a["status"], a["shortfall"]) == ("fail", 20)
    assert {"level": "info", "message": "charging_spaces blank: read as 0"} in a["notes"]
    # the file has no reserved_spaces column: an SOE short on chargers alone is not settled
    assert b["status"] == "insufficient_data"
    assert "passes if reserved_spaces comes to 5 or more" in b["explanation"]
    absent = tmp_path / "absent.csv"
    absent.write_text("id,category,parking_spaces\nA,医院,100\n", encoding="utf-8")
    assert main(["check", str(absent), "--as-of", "2024-06-30", "-o", str(out)]) == 0
    answer = json.loads(out.read_text(encoding="utf-8"))
    assert answer["results"][0]["status"] == "insufficient_data"
    assert "missing charging_spaces" in answer["results"][0]["explanation"]
    assert "charging_spaces" in answer["receipt"]["columns"]["missing_fields"]


def test_xlsx_in_and_out(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["项目名称 sheet title"])  # a title row above the header is common
    ws.append([])
    wb.remove(ws)
    ws = wb.create_sheet("场所")
    ws.append(["编号", "类别", "停车位数", "充电车位数"])
    ws.append(["X1", "商场", 333, 66])
    ws.append([None, None, None, None])
    ws.append(["X2", "hotel", 10.0, 2])
    ws.append(["X3", "hotel", "abc", 2])
    src = tmp_path / "in.xlsx"
    wb.save(src)
    out = tmp_path / "out.xlsx"
    assert main(["check", str(src), "--as-of", "2024-01-01", "-o", str(out), "--lang", "en"]) == 0
    book = load_workbook(out)
    assert book.sheetnames == ["results", "summary", "by category"]  # no city: no city sheet
    rows = list(book["results"].iter_rows(values_only=True))
    header = rows[0]
    got = {r[header.index("id")]: r for r in rows[1:]}
    assert got["X1"][header.index("status")] == "fail"
    assert got["X1"][header.index("shortfall")] == 1
    assert got["X2"][header.index("row")] == 4  # Excel row numbers, the blank row skipped
    assert got["X3"][header.index("status")] == "invalid"
    summary = {r[0]: r[1] for r in book["summary"].iter_rows(values_only=True)}
    assert summary["fail"] == 1 and summary["ruleset"].startswith("guangxi")
    # the input's headers are Chinese: without --lang the workbook is in Chinese
    assert main(["check", str(src), "--as-of", "2024-01-01", "-o", str(out)]) == 0
    book = load_workbook(out)
    assert book.sheetnames == ["结果", "汇总", "按类别"]
    summary = {r[0]: r[1] for r in book["汇总"].iter_rows(values_only=True)}
    assert summary["不达标"] == 1 and summary["规则集"].startswith("guangxi")


def test_csv_out_has_bom_and_chinese(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(
        "id,category,parking_spaces,charging_spaces,note\nA,医院,10,0,备注文字\n", encoding="utf-8"
    )
    out = tmp_path / "out.csv"
    assert main(["check", str(src), "--as-of", "2024-01-01", "-o", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(out, encoding="utf-8-sig")
    assert frame.loc[0, "status_zh"] == "不达标" and frame.loc[0, "note"] == "备注文字"
    assert (
        frame.loc[0, "explanation"] == "ceil(20% x 10) = 2 required; 0 provided (charging); short 2"
    )


def test_json_input_shapes(tmp_path):
    for doc in (
        [{"id": "a", "category": "hotel", "parking_spaces": 5}],
        {"sites": [{"id": "a", "category": "hotel", "parking_spaces": 5}]},
    ):
        path = tmp_path / "s.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        raw = read_sites(path)
        assert len(raw.frame) == 1


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "the file is empty"),
        (b"{not json", "not valid JSON"),
    ],
)
def test_unusable_files(tmp_path, content, message):
    path = tmp_path / ("f.csv" if not content.startswith(b"{") else "f.json")
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_sites(path)


def test_cli_exit_codes_and_messages(tmp_path, capsys):
    code, _, err = _run(["check", str(tmp_path / "nope.csv")], capsys)
    assert code == 2 and "nope.csv: file not found" in err
    bad = tmp_path / "x.docx"
    bad.write_bytes(b"PK")
    code, _, err = _run(["check", str(bad)], capsys)
    assert code == 2 and "unsupported file type .docx" in err
    good = tmp_path / "g.csv"
    good.write_text("id,category,parking_spaces\nA,hotel,10\n")
    code, _, err = _run(["check", str(good), "--as-of", "2019-01-01"], capsys)
    assert code == 2 and "before ruleset" in err
    code, _, err = _run(["check", str(good), "--ruleset", "atlantis"], capsys)
    assert code == 2 and "unknown ruleset 'atlantis'" in err


def test_cli_table_on_the_sample(root, capsys):
    code, out, _ = _run(
        ["check", str(root / "sample_sites/sites.csv"), "--as-of", "2024-06-30"], capsys
    )
    assert code == 0  # English headers: an English table; details with --verbose
    assert "fail" in out and "NN-007" in out and "Summary" in out
    assert "ceil(20% x 333)" not in out
    code, out, _ = _run(
        ["check", str(root / "sample_sites/sites.csv"), "--as-of", "2024-06-30", "--verbose"],
        capsys,
    )
    assert "ceil(20% x 333) = 67 required" in out
    code, out, _ = _run(
        ["check", str(root / "sample_sites/sites.csv"), "--as-of", "2024-06-30", "--lang", "zh"],
        capsys,
    )
    assert "不达标" in out and "汇总" in out and "某大型超市" in out


def test_cli_writes_each_format_for_the_sample(root, tmp_path):
    for ext in ("json", "csv", "xlsx"):
        out = tmp_path / f"r.{ext}"
        assert (
            main(
                [
                    "check",
                    str(root / "sample_sites/sites.csv"),
                    "--as-of",
                    "2024-06-30",
                    "-o",
                    str(out),
                ]
            )
            == 0
        )
        assert out.stat().st_size > 500
    answer = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert set(answer) == {"receipt", "summary", "results"}
    n_rows = len(pd.read_csv(root / "sample_sites/sites.csv"))
    assert len(answer["results"]) == n_rows == answer["summary"]["sites"]
    r = answer["results"][0]
    for key in (
        "id",
        "status",
        "categories",
        "rule_id",
        "basis_spaces",
        "ratio",
        "required_spaces",
        "provided_spaces",
        "shortfall",
        "counted",
        "citation",
        "explanation",
        "notes",
        "evaluations",
    ):
        assert key in r


def test_progress_is_reported_in_order(root, pack):
    from siting.run import check_files

    seen = []
    check_files(
        str(root / "sample_sites/sites.csv"),
        [],
        pack,
        as_of="2024-06-30",
        progress=lambda stage, f: seen.append((stage, f)),
    )
    assert [s for s, _ in seen] == ["reading", "checking"]
    seen.clear()
    from siting.geo.pipeline import LayerOptions

    check_files(
        str(root / "sample_sites/parking.gpkg"),
        [str(root / "sample_sites/pois.csv")],
        pack,
        as_of="2024-06-30",
        progress=lambda stage, f: seen.append((stage, f)),
        options=LayerOptions(context_offset={"pois.csv": "gcj02"}),
    )
    assert [s for s, _ in seen] == ["reading layers", "classifying and checking"]
    assert [f for _, f in seen] == sorted(f for _, f in seen)


def test_a_large_csv_goes_through_the_column_paths(tmp_path):
    """Above a few hundred rows, text columns are handled by Arrow (pandas reads CSV text as
    Arrow strings): the answers must be those of a small file."""
    rows = [f" S{k} ,医院,100,{k % 30}" for k in range(600)]
    rows[7] = " S7 ,医院,n/a,3"  # an invalid row: its explanation names its row and id
    src = tmp_path / "big.csv"
    src.write_text("编号,场所类型,停车位数,充电车位数\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    argv = ["check", str(src), "--as-of", "2024-06-30", "-o", str(out), "--lang", "en"]
    assert main(argv) == 0
    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(got) == 600 and got["id"].iloc[0] == "S0" and got["id"].iloc[-1] == "S599"
    assert got["status"].iloc[20] == "pass" and got["shortfall"].iloc[19] == "1"
    assert got["status"].iloc[7] == "invalid"
    said = got["explanation"].iloc[7]
    assert said.endswith("big.csv row 9 (id S7): parking_spaces: 'n/a' is not a whole number")


def test_name_value_options_parse_the_same_for_cli_and_api():
    from siting.errors import InputError
    from siting.run import parse_pairs

    wkt = 'pois.csv=GEOGCS["WGS 84",DATUM["WGS_1984"]]'  # commas inside the value
    assert parse_pairs([wkt], "--context-crs") == {"pois.csv": wkt.split("=", 1)[1]}
    assert parse_pairs(["a.shp=gcj02, b.csv = bd09", " "], "context_offset", commas=True) == {
        "a.shp": "gcj02",
        "b.csv": "bd09",
    }
    assert parse_pairs(None, "--field") == {}
    with pytest.raises(InputError, match="--field 'spaces': expected NAME=VALUE"):
        parse_pairs(["spaces"], "--field")
