"""Site lists as reviewers really have them (issue 12, the reading part): a merged title row
and a 填报单位 line above the header, 场所类型 merged down over its sites, counts merged
across, blank rows, a 合计 row at the bottom, full-width digits; in .xlsx, .xls, .ods and CSV
(UTF-8 with BOM, GBK). Each is checked through `siting check` and through the library, and
no row is lost: every data row gives one result, and every row left out is named.

tests/data/reviewer_sites.xls is made by tests/data/make_xls.py (xlwt, from PyPI): the same
layout as `reviewer_rows` below.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from siting.cli import main
from siting.io.dates import parse_date_text
from siting.io.header import find_header, is_totals_label
from siting.io.tabular import read_sites
from siting.run import check_files

DATA = Path(__file__).parent / "data"
AS_OF = "2024-06-30"

TITLE = "2024年南宁市公共建筑充电设施配建情况表"
UNIT = "填报单位：南宁市住房和城乡建设局"
HEADER = ["序号", "项目名称", "场所类型", "停车位数", "充电桩数量", "预留车位数", "备注"]


def reviewer_rows() -> tuple[list[list], list[tuple[int, int, int, int]]]:
    """The sheet (row 1 first) and its merged ranges (first row, first column, last row,
    last column; 0-based): what tests/data/make_xls.py writes too."""
    rows = [
        [TITLE, None, None, None, None, None, None],
        [UNIT, None, None, None, None, "填报日期", dt.date(2024, 6, 30)],
        HEADER,
        [1, "第一人民医院", "医院", 333, 66, 0, None],
        [2, "妇幼保健院", None, "１２０", "２４", 0, None],  # full-width digits, as text
        [3, "中医院", None, 100, 10, 0, "二期在建"],
        [None] * 7,
        [4, "会展中心停车场", "公共停车场", 200, 40, 0, None],
        [5, "万象城", "商场", 150, 10, None, None],
        ["合计", None, None, 903, 150, None, None],
    ]
    merges = [(0, 0, 0, 6), (1, 0, 1, 3), (3, 2, 5, 2), (8, 4, 8, 5), (9, 0, 9, 1)]
    return rows, merges


# row -> (id, status, shortfall): 333 x 20 % = 67 > 66; 120 x 20 % = 24; 100 -> 20 > 10;
# 200 -> 40; the mall counts charging only: 150 -> 30 > 10 (its 10 reserved do not count)
EXPECTED = {
    4: ("1", "fail", 1),
    5: ("2", "pass", 0),
    6: ("3", "fail", 10),
    8: ("4", "pass", 0),
    9: ("5", "fail", 20),
}


def _a1(r: int, c: int) -> str:
    return f"{chr(65 + c)}{r + 1}"


def write_xlsx(path: Path, rows, merges, sheet: str = "汇总表") -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    for r0, c0, r1, c1 in merges:
        ws.merge_cells(f"{_a1(r0, c0)}:{_a1(r1, c1)}")  # keeps the top-left value only
    wb.save(path)
    return path


def write_ods(path: Path, rows, merges, sheet: str = "汇总表") -> Path:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import CoveredTableCell, Table, TableCell, TableRow
    from odf.text import P

    spans = {(r0, c0): (r1 - r0 + 1, c1 - c0 + 1) for r0, c0, r1, c1 in merges}
    covered = {
        (r, c)
        for r0, c0, r1, c1 in merges
        for r in range(r0, r1 + 1)
        for c in range(c0, c1 + 1)
        if (r, c) != (r0, c0)
    }
    doc = OpenDocumentSpreadsheet()
    table = Table(name=sheet)
    for r, row in enumerate(rows):
        tr = TableRow()
        for c, v in enumerate(row):
            if (r, c) in covered:
                tr.addElement(CoveredTableCell())
                continue
            kw = {}
            if (r, c) in spans:
                kw = {
                    "numberrowsspanned": spans[r, c][0],
                    "numbercolumnsspanned": spans[r, c][1],
                }
            if v is None:
                tr.addElement(TableCell(**kw))
                continue
            if isinstance(v, dt.date):
                cell = TableCell(valuetype="date", datevalue=v.isoformat(), **kw)
            elif isinstance(v, int | float):
                cell = TableCell(valuetype="float", value=v, **kw)
            else:
                cell = TableCell(valuetype="string", **kw)
            cell.addElement(P(text=str(v)))
            tr.addElement(cell)
        table.addElement(tr)
    doc.spreadsheet.addElement(table)
    doc.save(str(path))
    return path


def write_csv(path: Path, rows, encoding: str) -> Path:
    def cell(v):
        return "" if v is None else str(v)

    text = "\n".join(",".join(cell(v) for v in row) for row in rows) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def run_cli(src: Path, tmp_path: Path, *args: str) -> dict:
    out = tmp_path / f"{src.stem}-out.json"
    assert main(["check", str(src), "--as-of", AS_OF, "-o", str(out), *args]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def by_row(results: list[dict]) -> dict[int, tuple]:
    return {r["row"]: (r["id"], r["status"], r["shortfall"]) for r in results}


def assert_reviewer_answer(doc: dict, *, merged: bool = True) -> None:
    """The verdicts, the notes and that no row is lost, for the reviewer layout."""
    results = doc["results"]
    assert by_row(results) == EXPECTED
    warnings = doc["receipt"]["warnings"]
    assert any(w.startswith("header on row 3 (found); rows 1-2 above it") for w in warnings)
    assert "row 7: blank, skipped (1 blank row)" in warnings
    assert "row 10: 合计 row left out (a totals row, not a site)" in warnings
    columns = doc["receipt"]["columns"]
    assert columns["header_row"] == 3
    assert columns["title"][0] == TITLE and columns["title"][1].startswith(UNIT)
    # full-width digits are counts: １２０ spaces, ２４ chargers
    second = next(r for r in results if r["row"] == 5)
    assert (second["basis_spaces"], second["provided_spaces"]) == (120, 24)
    # never lose a row: results + blank + totals = every row below the header
    assert sorted([*by_row(results), 7, 10]) == list(range(4, 11))
    if merged:
        assert any(
            w.startswith("merged cells filled from their top-left value: C4:C6 ('医院'), E9:F9")
            for w in warnings
        ), warnings
        assert second["categories"] == ["hospital"]
        note = {"level": "info", "message": "场所类型: '医院' filled from the merged cell C4:C6"}
        assert note in second["notes"]
        mall = next(r for r in results if r["row"] == 9)
        assert any("预留车位数" in n["message"] and "E9:F9" in n["message"] for n in mall["notes"])


# ------------------------------------------------------------------------------- workbooks


@pytest.fixture
def reviewer_xlsx(tmp_path) -> Path:
    rows, merges = reviewer_rows()
    return write_xlsx(tmp_path / "报表.xlsx", rows, merges)


def test_reviewer_xlsx_through_the_cli(reviewer_xlsx, tmp_path):
    doc = run_cli(reviewer_xlsx, tmp_path)
    assert_reviewer_answer(doc)
    assert doc["receipt"]["columns"]["sheet"] == "汇总表"


def test_reviewer_xlsx_through_the_library(reviewer_xlsx, pack):
    answer, _ = check_files(str(reviewer_xlsx), [], pack, as_of=AS_OF)
    assert_reviewer_answer(answer.as_dict())
    assert answer.columns.title[0] == TITLE
    # the terminal's column block says where the header was
    assert answer.columns.lines()[0].startswith("header: sheet '汇总表' row 3 (above it, the title")


def test_reviewer_xlsx_on_the_terminal(reviewer_xlsx, capsys):
    assert main(["check", str(reviewer_xlsx), "--as-of", AS_OF]) == 0
    out = capsys.readouterr().out
    assert "row 10: 合计 row left out" in out and "row 7: blank, skipped" in out


def test_reviewer_xls(tmp_path, pack):
    src = DATA / "reviewer_sites.xls"
    assert_reviewer_answer(run_cli(src, tmp_path))
    answer, _ = check_files(str(src), [], pack, as_of=AS_OF)
    assert_reviewer_answer(answer.as_dict())
    assert answer.columns.sheet == "汇总表"


def test_reviewer_ods(tmp_path, pack):
    rows, merges = reviewer_rows()
    src = write_ods(tmp_path / "报表.ods", rows, merges)
    assert_reviewer_answer(run_cli(src, tmp_path))
    answer, _ = check_files(str(src), [], pack, as_of=AS_OF)
    assert_reviewer_answer(answer.as_dict())


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_reviewer_csv_with_title_rows(tmp_path, pack, encoding):
    rows, _ = reviewer_rows()
    rows = [list(r) for r in rows]
    # what a CSV export of the sheet holds: the merged cells' values in their first cell only
    rows[4][2] = rows[5][2] = "医院"  # (the CSV has no merged cells to fill)
    rows[8][5] = 10
    src = write_csv(tmp_path / f"报表-{encoding}.csv", rows, encoding)
    doc = run_cli(src, tmp_path)
    assert_reviewer_answer(doc, merged=False)
    answer, _ = check_files(str(src), [], pack, as_of=AS_OF)
    assert by_row(answer.results) == EXPECTED
    assert answer.columns.header_row == 3 and answer.columns.sheet is None


def test_the_header_row_option(tmp_path, pack):
    """Headers the alias table does not know: the header cannot be found, row 1 (the title)
    would be taken; --header-row says where it is, and --field maps the columns (given
    --field alone, the mapped names are known and the header is found)."""
    rows = [
        ["某某区停车场统计"],
        ["名字", "种类", "位子", "桩"],
        ["甲医院", "医院", 100, 20],
        ["乙酒店", "酒店", 50, 5],
    ]
    src = write_xlsx(tmp_path / "odd.xlsx", rows, [])
    fields = ["--field", "种类=category", "--field", "位子=parking_spaces"]
    fields += ["--field", "桩=charging_spaces"]
    doc = run_cli(src, tmp_path, "--header-row", "2", *fields)
    assert by_row(doc["results"]) == {3: ("3", "pass", 0), 4: ("4", "fail", 5)}
    assert doc["receipt"]["options"]["header_row"] == 2
    assert any("header on row 2 (given with --header-row)" in w for w in doc["receipt"]["warnings"])
    found = run_cli(src, tmp_path, *fields)
    assert by_row(found["results"]) == by_row(doc["results"])
    # without either the title is the header, and the stray values are named per row
    plain = run_cli(src, tmp_path)
    assert len(plain["results"]) == 3  # rows 2-4: one result per row, none lost
    assert all(r["status"] == "invalid" for r in plain["results"])


@pytest.mark.parametrize(("row", "message"), [("3", "is blank"), ("40", "its last row is 4")])
def test_a_header_row_that_is_not_there(tmp_path, capsys, row, message):
    rows = [["编号", "类别", "停车位数"], ["A", "医院", 10], [None, None, None], ["B", "医院", 5]]
    src = write_xlsx(tmp_path / "s.xlsx", rows, [])
    assert main(["check", str(src), "--header-row", row]) == 2
    assert message in capsys.readouterr().err


def test_a_csv_header_row_option(tmp_path):
    src = tmp_path / "s.csv"
    src.write_text("说明:自填\n\nA,B,C\n编号,类别,停车位数,充电车位数\nX,医院,10,2\n", "utf-8")
    doc = run_cli(src, tmp_path, "--header-row", "4")
    assert by_row(doc["results"]) == {5: ("X", "pass", 0)}
    assert doc["receipt"]["columns"]["title"] == ["说明:自填", "A B C"]
    assert main(["check", str(src), "--header-row", "2"]) == 2


def test_choosing_the_sheet(tmp_path, capsys):
    wb = Workbook()
    wb.active.title = "封面"  # empty: skipped by default
    for name, spaces in (("南宁", 100), ("柳州", 50)):
        ws = wb.create_sheet(name)
        ws.append(["编号", "场所类型", "停车位数", "充电桩数量"])
        ws.append([f"{name}1", "医院", spaces, 10])
    src = tmp_path / "book.xlsx"
    wb.save(src)
    doc = run_cli(src, tmp_path)
    assert by_row(doc["results"]) == {2: ("南宁1", "fail", 10)}
    assert doc["receipt"]["columns"]["sheet"] == "南宁"
    assert any("the workbook also has 封面, 柳州" in w for w in doc["receipt"]["warnings"])
    doc = run_cli(src, tmp_path, "--sheet", "柳州")
    assert by_row(doc["results"]) == {2: ("柳州1", "pass", 0)}
    assert doc["receipt"]["options"]["sheet"] == "柳州"
    assert main(["check", str(src), "--sheet", "桂林"]) == 2
    assert "no sheet '桂林'; sheets: 封面, 南宁, 柳州" in capsys.readouterr().err
    assert main(["check", str(src), "--sheet", "封面"]) == 2
    assert "sheet '封面' is empty" in capsys.readouterr().err


def test_a_sheet_without_an_id_column(tmp_path, pack):
    rows = [
        ["项目名称", "场所类型", "停车位数", "充电桩数量"],
        ["甲医院", "医院", 100, 20],
        ["乙酒店", "酒店", 50, 5],
        ["合计", None, 150, 25],
    ]
    src = write_xlsx(tmp_path / "noid.xlsx", rows, [])
    for doc in (run_cli(src, tmp_path), check_files(str(src), [], pack, as_of=AS_OF)[0]):
        doc = doc if isinstance(doc, dict) else doc.as_dict()
        assert by_row(doc["results"]) == {2: ("2", "pass", 0), 3: ("3", "fail", 5)}
        warnings = doc["receipt"]["warnings"]
        assert any(w.startswith("no id column") for w in warnings)
        assert "row 4: 合计 row left out (a totals row, not a site)" in warnings
        assert "id" in doc["receipt"]["columns"]["missing_fields"]


def test_an_id_less_csv_uses_its_xuhao_column(tmp_path):
    src = tmp_path / "s.csv"
    src.write_text("序号,场所类型,停车位数,充电桩数量\n1,医院,100,20\n2,酒店,50,5\n", "utf-8")
    doc = run_cli(src, tmp_path)
    assert by_row(doc["results"]) == {2: ("1", "pass", 0), 3: ("2", "fail", 5)}
    assert not any(w.startswith("no id column") for w in doc["receipt"]["warnings"])


def test_a_two_row_header(tmp_path):
    """停车位 merged over 总数 | 小客车, 场所类型 merged down over both header rows."""
    rows = [
        ["编号", "场所类型", "停车位", None, "充电设施", None],
        [None, None, "总数", "小客车", "已建充电车位", "预留车位"],
        ["H1", "医院", 100, 80, 10, 10],
        ["M1", "商场", 200, 200, 40, 0],
    ]
    merges = [(0, 0, 1, 0), (0, 1, 1, 1), (0, 2, 0, 3), (0, 4, 0, 5)]
    src = write_xlsx(tmp_path / "two.xlsx", rows, merges)
    doc = run_cli(src, tmp_path)
    assert by_row(doc["results"]) == {3: ("H1", "fail", 10), 4: ("M1", "pass", 0)}
    used = {u["column"]: u["field"] for u in doc["receipt"]["columns"]["used"]}
    assert used == {
        "编号": "id",
        "场所类型": "category",
        "停车位总数": "parking_spaces",
        "小客车停车位": "small_car_spaces",
        "已建充电车位": "charging_spaces",
        "预留车位": "reserved_spaces",
    }
    assert any("the header spans rows 1-2" in w for w in doc["receipt"]["warnings"])


def test_subtotals_and_totals_rows(tmp_path):
    rows = [
        ["编号", "项目名称", "场所类型", "停车位数", "充电桩数量"],
        ["Q1", "青秀区医院", "医院", 100, 20],
        [None, "青秀区小计", None, 100, 20],
        ["X1", "西乡塘酒店", "酒店", 100, 10],
        [None, "Subtotal", None, 100, 10],
        ["总计", None, None, 200, 30],
        ["Z1", "合计大厦", "商场", 10, 2],  # a name, not a totals label: a site
    ]
    src = write_xlsx(tmp_path / "t.xlsx", rows, [])
    doc = run_cli(src, tmp_path)
    assert sorted(by_row(doc["results"])) == [2, 4, 7]
    assert (
        "rows 3, 5-6: 3 totals rows (青秀区小计, Subtotal, 总计) left out, not sites"
        in (doc["receipt"]["warnings"])
    )


def test_workbooks_in_disguise(tmp_path, capsys, reviewer_xlsx):
    # a CSV export named .xls (as many systems write): read as CSV, saying so
    text = tmp_path / "export.xls"
    text.write_text("编号,类别,停车位数,充电车位数\nA,医院,100,20\n", "utf-8")
    doc = run_cli(text, tmp_path)
    assert by_row(doc["results"]) == {2: ("A", "pass", 0)}
    assert any("is a text table (CSV) named .xls" in w for w in doc["receipt"]["warnings"])
    # an HTML page named .xls: refused with what to do
    page = tmp_path / "page.xls"
    page.write_text("<html><table><tr><td>编号</td></tr></table></html>", "utf-8")
    assert main(["check", str(page)]) == 2
    assert "a web page (HTML or XML) named .xls" in capsys.readouterr().err
    # a workbook named .csv: read as the workbook it is
    named_csv = tmp_path / "sites.csv"
    named_csv.write_bytes(reviewer_xlsx.read_bytes())
    doc = run_cli(named_csv, tmp_path)
    assert by_row(doc["results"]) == EXPECTED
    assert "sites.csv is a .xlsx workbook, not text; read as .xlsx" in str(doc["receipt"])


def test_error_cells_are_not_blanks(tmp_path):
    """calamine reads #DIV/0! as an empty cell; a count of #REF! must not become 0."""
    wb = Workbook()
    ws = wb.active
    ws.append(["编号", "类别", "停车位数", "充电车位数"])
    ws.append(["A", "医院", 100, "#DIV/0!"])  # openpyxl writes these as error cells
    ws.append(["B", "医院", "#N/A", 20])
    ws.append(["C", "医院", 100, 20])
    src = tmp_path / "errors.xlsx"
    wb.save(src)
    doc = run_cli(src, tmp_path)
    got = {r["id"]: r for r in doc["results"]}
    assert got["A"]["status"] == got["B"]["status"] == "invalid"
    assert "charging_spaces: '#DIV/0!' is not a whole number" in got["A"]["explanation"]
    assert "parking_spaces: '#N/A' is not a whole number" in got["B"]["explanation"]
    assert got["C"]["status"] == "pass"


def test_reading_keeps_the_files_row_numbers(reviewer_xlsx):
    raw = read_sites(reviewer_xlsx)
    assert raw.row_numbers.tolist() == [4, 5, 6, 8, 9]
    assert raw.header_row == 3 and raw.sheet == "汇总表" and raw.blank_rows == [7]
    assert list(raw.frame.columns) == HEADER
    assert raw.frame["场所类型"].tolist() == ["医院", "医院", "医院", "公共停车场", "商场"]
    assert raw.frame["停车位数"].tolist() == [333, "１２０", 100, 200, 150]  # ints, not 333.0


# ------------------------------------------------------------------------------- pieces


def test_find_header():
    rows = [
        [TITLE, TITLE, TITLE],
        ["填报单位：某局", None, "联系人：张三"],
        ["编号", "场所类型", "停车位数"],
        ["A", "医院", 100],
    ]
    assert find_header(rows) == 2
    assert find_header([["c1", "c2"], ["x", "y"]]) is None  # nothing known: caller's choice
    assert find_header([["a", "b"], ["名字", "种类"]], {"名字": "id", "种类": "category"}) == 1
    # one known cell among many values is a data row, not a header
    assert find_header([["h1", "h2", "h3"], ["1", "type", "3"]]) is None


@pytest.mark.parametrize(
    "label",
    ["合计", "合 计", "小计", "总计", "共计", "Total", "TOTAL:", "Subtotal", "Grand total",
     "青秀区小计", "合计（12处）", "合计：", "ｔｏｔａｌ"],
)  # fmt: skip
def test_totals_labels(label):
    assert is_totals_label(label)


@pytest.mark.parametrize(
    "label", ["合计大厦", "总计划停车场", "医院", "Totalenergies station", "", None, 12]
)
def test_not_totals_labels(label):
    assert not is_totals_label(label)


@pytest.mark.parametrize(
    "text",
    [
        "2024-06-30",
        "2024/06/30",
        "2024/6/30",
        "2024-6-30",
        "2024.06.30",
        "2024年6月30日",
        "2024年06月30号",
        "２０２４年６月３０日",
        "二〇二四年六月三十日",
        "20240630",
        "2024-06-30 00:00:00",
        dt.date(2024, 6, 30),
        dt.datetime(2024, 6, 30, 8, 0),
        45473,  # an Excel date cell read without its format
    ],
)
def test_dates_in_chinese_forms(text):
    assert parse_date_text(text) == dt.date(2024, 6, 30)


@pytest.mark.parametrize("text", ["2024-6/30", "30/06/2024", "2024-02-30", "明天", ""])
def test_not_dates(text):
    with pytest.raises(ValueError, match="not a date"):
        parse_date_text(text)


def test_as_of_in_chinese(tmp_path, capsys):
    src = tmp_path / "s.csv"
    src.write_text("编号,类别,停车位数,充电车位数\nA,医院,100,20\n", "utf-8")
    out = tmp_path / "o.json"
    assert main(["check", str(src), "--as-of", "2024年6月30日", "-o", str(out)]) == 0
    assert json.loads(out.read_text("utf-8"))["receipt"]["as_of"] == "2024-06-30"
    assert main(["check", str(src), "--as-of", "2024/13/01"]) == 2
    assert "--as-of: '2024/13/01' is not a date" in capsys.readouterr().err


@pytest.mark.parametrize("label", ["Total", "ＴＯＴＡＬ", "ｓｕｍ", "SUM", "合计", "青秀区小计"])
def test_a_totals_label_in_the_id_column_of_a_csv_is_left_out(tmp_path, label):
    """The id column is first looked at as bytes (any 计, total, sum, full-width form);
    a totals label written as the id is found whatever its case or width."""
    lines = ["编号,场所类型,停车位数,充电车位数"] + [f"S{k},医院,100,20" for k in range(50)]
    lines.append(f"{label},,5000,1000")
    src = tmp_path / "t.csv"
    src.write_text("\n".join(lines) + "\n", "utf-8")
    raw = read_sites(src)
    assert len(raw.frame) == 50 and label not in raw.frame["编号"].tolist()
    assert any("left out (a totals row, not a site)" in n for n in raw.notes)


HINTED = ["total", "TOTAL", "Sum", "ſum", "ＳＵＭ", "ｔｏｔａｌ", "小计", "A计B", "s", "tota"]


@given(st.lists(st.one_of(st.text(max_size=8), st.sampled_from(HINTED)), max_size=30))
@settings(max_examples=300, deadline=None)
def test_ids_without_a_totals_hint_are_told_apart_by_their_bytes(ids):
    """_no_hint (bytes) says "none" only when the expression finds no hint in any id."""
    import re

    import pandas as pd

    from siting.io.header import TOTALS_HINT
    from siting.io.tabular import _no_hint

    series = pd.Series(ids, dtype=pd.StringDtype("pyarrow"))
    if _no_hint(series):
        assert not any(re.search(TOTALS_HINT, x, re.IGNORECASE) for x in ids)
    assert not _no_hint(pd.Series(["S1", "ſum"], dtype=pd.StringDtype("pyarrow")))
