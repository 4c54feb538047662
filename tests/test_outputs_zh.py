"""Outputs for people who work in Chinese (issue 12): `--lang zh|en` for CSV, XLSX, JSON, map
layers and the terminal from one message catalogue (rules/shared/messages.yaml), numbers kept
as numbers, the XLSX workbook made for people, the Excel template and its round trip, the
terminal table at 80 columns, and the Arrow CSV reader against pandas'."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from rich.console import Console

from siting import load_ruleset
from siting.cli import main
from siting.columns import column_report
from siting.io import tabular
from siting.io.tabular import read_sites
from siting.labels import input_lang, resolve_lang, texts_for
from siting.messages import load_messages
from siting.report import print_report
from siting.run import check_files
from siting.template import template_bytes, template_headers, write_template

AS_OF = "2024-06-30"
ZH_SITES = (
    "编号,项目名称,场所类型,停车位数,充电车位数,预留车位数,景区等级,城市\n"
    "H1,某医院,医院,333,66,0,,南宁市\n"
    "H2,某宾馆,宾馆,60,12,0,,柳州市\n"
    "A1,某机关,自治区级机关,120,8,4,,南宁市\n"
    "S1,某景区,景区,300,40,0,4A,桂林市\n"
    "X1,错行,医院,abc,1,0,,南宁市\n"
)


def _csv(tmp_path, text=ZH_SITES, name="sites.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _check(path, out, *extra):
    assert main(["check", str(path), "--as-of", AS_OF, "-o", str(out), *extra]) == 0
    return out


# ------------------------------------------------------------------------ language


def test_the_default_language_follows_the_input_headers(tmp_path):
    zh = _csv(tmp_path)
    en = _csv(tmp_path, "id,category,parking_spaces,charging_spaces\nA,hospital,10,2\n", "en.csv")
    pack = load_ruleset()
    answer_zh, _ = check_files(str(zh), [], pack, as_of=AS_OF)
    answer_en, _ = check_files(str(en), [], pack, as_of=AS_OF)
    assert input_lang(answer_zh) == "zh" and input_lang(answer_en) == "en"
    assert resolve_lang(None, answer_zh) == "zh" and resolve_lang("en", answer_zh) == "en"
    # JSON texts and map layers follow only a language given
    assert resolve_lang(None, answer_zh, explicit_only=True) == "en"


def test_csv_in_chinese(tmp_path):
    out = _check(_csv(tmp_path), tmp_path / "out.csv", "--lang", "zh")
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    cols = list(frame.columns)
    assert cols[:4] == ["编号", "行号", "结论", "场所类别"] and "status_zh" not in cols
    # the input's own columns come back as they were, a clash with a result name prefixed
    assert cols[-8:] == ["原表_编号", "项目名称", "场所类型", "停车位数", *cols[-4:]]
    row = frame.set_index("编号").loc["H1"]
    assert row["结论"] == "不达标" and row["场所类别"] == "医院" and row["缺口车位"] == "1"
    assert row["计算说明"] == "向上取整(20% × 333) = 应配 67；已配 66（充电车位）；缺 1"
    assert row["计入"] == "充电车位数" and "：" in row["依据"]  # the plan's own clause
    assert "不达标" in frame.set_index("编号").loc["S1", "各条款结论"]
    invalid = frame.set_index("编号").loc["X1"]
    assert invalid["结论"] == "数据无效" and "不是整数" in invalid["计算说明"]
    # the same file without --lang: Chinese, as its headers are
    default = _check(_csv(tmp_path), tmp_path / "default.csv")
    assert default.read_bytes() == out.read_bytes()


def test_csv_in_english_is_spec_s_table(tmp_path):
    out = _check(_csv(tmp_path), tmp_path / "out.csv", "--lang", "en")
    frame = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(frame.columns[:4]) == ["id", "row", "status", "status_zh"]
    assert frame.loc[0, "explanation"] == (
        "ceil(20% x 333) = 67 required; 66 provided (charging); short 1"
    )


def test_json_keeps_spec_names_and_words_in_every_language(tmp_path):
    src = _csv(tmp_path)
    plain = json.loads(_check(src, tmp_path / "a.json").read_text(encoding="utf-8"))
    zh = json.loads(_check(src, tmp_path / "b.json", "--lang", "zh").read_text(encoding="utf-8"))
    for doc in (plain, zh):
        assert set(doc) == {"receipt", "summary", "results"}
        assert [r["status"] for r in doc["results"]][:2] == ["fail", "pass"]
        assert doc["results"][0]["categories"] == ["hospital"]
        assert set(doc["summary"]["by_status"]) == {
            "pass",
            "fail",
            "advisory",
            "needs_review",
            "not_applicable",
            "insufficient_data",
            "invalid",
        }
    # without --lang the texts stay English (JSON is the machine interface) ...
    assert plain["results"][0]["explanation"].startswith("ceil(20% x 333) = 67 required")
    # ... with --lang zh given, only the explanation and note texts are Chinese
    assert zh["results"][0]["explanation"].startswith("向上取整(20% × 333) = 应配 67")
    assert set(zh["results"][0]) == set(plain["results"][0])
    scenic = next(r for r in zh["results"] if r["id"] == "S1")
    assert scenic["evaluations"][0]["rule_id"] == plain["results"][3]["evaluations"][0]["rule_id"]


def test_map_layers_change_field_names_only_when_asked(tmp_path, root, monkeypatch):
    import pyogrio

    monkeypatch.chdir(root)
    base = [
        "check",
        "sample_sites/parking.gpkg",
        "--context",
        "sample_sites/landuse.shp",
        "--context",
        "sample_sites/pois.csv",
        "--context-offset",
        "pois.csv=gcj02",
        "--as-of",
        AS_OF,
    ]
    plain, zh = tmp_path / "plain.geojson", tmp_path / "zh.geojson"
    assert main([*base, "-o", str(plain)]) == 0  # Chinese attributes, no --lang: SPEC names
    assert main([*base, "-o", str(zh), "--lang", "zh"]) == 0
    a, b = pyogrio.read_dataframe(plain), pyogrio.read_dataframe(zh)
    assert {"id", "status", "shortfall", "class_confidence"} <= set(a.columns)
    assert {"编号", "结论", "缺口车位", "置信度", "原表_编号"} <= set(b.columns)
    assert len(a) == len(b) and set(b["结论"]) <= {
        load_messages().status(s, "zh")
        for s in (
            "pass",
            "fail",
            "advisory",
            "needs_review",
            "not_applicable",
            "insufficient_data",
            "invalid",
        )
    }
    assert (a["shortfall"].fillna(-1).to_numpy() == b["缺口车位"].fillna(-1).to_numpy()).all()
    # why each category was taken, and the notes on uncertain ones, are in Chinese too: no run
    # of English words is left (quoted names and codes such as 'gb50137-2011: YDDM=B1' are)
    english = re.compile(r"[a-z]{3,} [a-z]{2,} [a-z]{3,}")
    reasons = b["置信度说明"].dropna()
    assert len(reasons) > 30 and not reasons.str.contains(english).any()
    assert reasons.str.contains("按邻近关系推断：最近的参考要素").any()
    notes = b["提示"].dropna()
    assert notes.str.contains("为低置信度推断").any()
    assert not notes.str.contains(english).any(), notes[notes.str.contains(english)].tolist()
    assert a["class_confidence_reason"].str.contains(english).any()  # English as it was


# ------------------------------------------------------------------------ XLSX


def test_xlsx_for_people(tmp_path):
    out = _check(_csv(tmp_path), tmp_path / "out.xlsx", "--lang", "zh")
    book = load_workbook(out)
    assert book.sheetnames == ["结果", "汇总", "按类别", "按城市"]
    ws = book["结果"]
    assert ws.freeze_panes == "C2"  # the header and the id stay in view
    header = [c.value for c in ws[1]]
    assert ws.auto_filter.ref == f"A1:{get_column_letter(len(header))}6"
    assert header[:3] == ["编号", "行号", "结论"] and "依据" in header
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert rows["H1"][header.index("结论")] == "不达标"
    assert ws.column_dimensions["M"].width > 20  # the explanation is wide
    # status cells coloured: a fail red, a pass green
    status = header.index("结论") + 1
    fills = {
        ws.cell(row=r, column=status).value: ws.cell(row=r, column=status).fill.fgColor.rgb
        for r in range(2, 7)
    }
    assert fills["不达标"].endswith("FFC7CE") and fills["达标"].endswith("C6EFCE")
    # counts from a CSV file are numbers (SUM works), both the result's and the input's own
    for name in ("应配车位", "缺口车位", "停车位数", "充电车位数"):
        cell = ws.cell(row=2, column=header.index(name) + 1)
        assert cell.data_type == "n" and isinstance(cell.value, int), name
    bad = ws.cell(row=6, column=header.index("停车位数") + 1)  # 'abc' stays text
    assert bad.value == "abc" and bad.data_type == "s"
    assert ws.cell(row=2, column=header.index("行号") + 1).number_format == "0"
    assert ws.cell(row=2, column=header.index("应配车位") + 1).number_format == "#,##0"
    summary = {r[0]: r[1] for r in book["汇总"].iter_rows(values_only=True)}
    assert summary["场所数"] == 5 and summary["不达标"] == 2 and summary["总缺口车位"] == 21
    cats = list(book["按类别"].iter_rows(values_only=True))
    assert cats[0][:4] == ("场所类别", "场所数", "达标", "不达标")
    assert ("医院", 2, 0, 1, 0, 0, 0, 0, 1, 1) in cats and cats[-1][0] == "合计"
    cities = list(book["按城市"].iter_rows(values_only=True))
    assert cities[0] == ("城市", "场所数", "达标", "不达标", "其他结论", "总缺口车位")
    assert ("南宁市", 3, 1, 1, 1, 1) in cities and ("桂林市", 1, 0, 1, 0, 20) in cities
    assert cities[-1] == ("合计", 5, 2, 2, 1, 21)


def test_xlsx_in_english_and_without_a_city(tmp_path):
    src = _csv(tmp_path, "id,category,parking_spaces,charging_spaces\nA,hospital,10,2\n", "e.csv")
    book = load_workbook(_check(src, tmp_path / "out.xlsx"))
    assert book.sheetnames == ["results", "summary", "by category"]
    assert [c.value for c in book["results"][1]][:3] == ["id", "row", "status"]


def test_xlsx_rows_in_blocks_and_over_several_sheets(tmp_path, monkeypatch):
    """The rows are written as XML in blocks and, past Excel's row limit, on more sheets:
    every value read back as the CSV output has it."""
    from siting.io import workbook

    rows = [f"S{k},{'医院' if k % 3 else '宾馆'},{100 + k},{k % 40},南宁市" for k in range(50)]
    src = _csv(tmp_path, "编号,场所类型,停车位数,充电车位数,城市\n" + "\n".join(rows) + "\n")
    csv_out = pd.read_csv(_check(src, tmp_path / "o.csv"), encoding="utf-8-sig", dtype=str)
    monkeypatch.setattr(workbook, "BLOCK", 7)
    monkeypatch.setattr(workbook, "MAX_ROWS", 20)
    book = load_workbook(_check(src, tmp_path / "o.xlsx"))
    assert book.sheetnames[:3] == ["结果", "结果 2", "结果 3"]
    got = [
        r
        for name in book.sheetnames[:3]
        for r in book[name].iter_rows(values_only=True)
        if r[0] != "编号"
    ]
    assert len(got) == 50 and [r[0] for r in got] == list(csv_out["编号"])
    assert book["结果 3"].auto_filter.ref == "A1:T11"
    for k in (0, 19, 20, 49):
        assert [str(v) if v is not None else "nan" for v in got[k]] == [
            str(v) for v in csv_out.iloc[k]
        ]


def test_xlsx_output_reads_back_as_a_site_list(tmp_path):
    out = _check(_csv(tmp_path), tmp_path / "out.xlsx")
    raw = read_sites(out)  # calamine reads the XML written by Arrow
    assert len(raw.frame) == 5 and list(raw.frame["编号"]) == ["H1", "H2", "A1", "S1", "X1"]


# ------------------------------------------------------------------------ texts


def test_texts_keep_their_numbers():
    pack = load_ruleset()
    texts = texts_for(pack)
    values = [
        "ceil(20% x 333) = 67 required; 66 provided (charging); short 1",
        "ceil(10% x 120) = 12 required; 12 provided (charging 8 + reserved 4); met",
        "info: a_rating not given: every value gives the same verdict (a_rating 1-3: fails, "
        "short 51; a_rating 4-5: fails, short 193)",
        None,
        "",
        "gx-3.3.2-residential-new=fail 500/321; gx-3.3.1-public=pass 67/70",
    ] * 30
    out = texts.array(pa.array(values, pa.string())).to_pylist()
    assert out == [None if v is None else texts.one(v) for v in values]
    assert out[2] == (
        "信息：未给出 景区等级：任一取值结论相同（景区等级 1-3：不达标，缺 51；"
        "景区等级 4-5：不达标，缺 193）"
    )
    assert out[5] == "gx-3.3.2-residential-new=不达标 500/321；gx-3.3.1-public=达标 67/70"
    for v, z in zip(values, out, strict=True):  # every number comes through
        if v:
            assert re.findall(r"\d+", v) == re.findall(r"\d+", z)


def test_the_catalogue_names_every_status_and_its_template_headers_are_read():
    m = load_messages()
    assert {m.status(s, "zh") for s in m.statuses} == {
        "达标",
        "不达标",
        "倡导性要求",
        "需复核",
        "不适用",
        "信息不足",
        "数据无效",
    }
    report = column_report([h for h, _ in template_headers()])
    fields = {f for _, f in template_headers() if f != "name"}
    assert set(report.mapping.values()) == fields and not report.warnings


# ------------------------------------------------------------------------ terminal


def test_the_terminal_table_fits_80_columns(tmp_path):
    rows = "\n".join(
        f"N{k},广西壮族自治区南宁市青秀区某某大型综合医院第{k}住院部停车场,医院;宾馆,{300 + k},{k}"
        for k in range(12)
    )
    src = _csv(tmp_path, "编号,项目名称,场所类型,停车位数,充电车位数\n" + rows + "\n")
    answer, _ = check_files(str(src), [], load_ruleset(), as_of=AS_OF)
    console = Console(width=80, record=True, color_system=None)
    print_report(answer, console)
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    table = [line for line in lines if re.match(r"^N\d+ +│", line)]
    assert len(table) == 12  # one line per site
    assert table[0].split("│")[0].strip() == "N0" and "广西壮族自治区" in table[0]
    assert "不达标" in table[0] and "医院" in table[0]
    head = next(line for line in lines if "编号" in line)
    for word in ("名称", "类别", "结论", "应配", "已配", "缺口"):
        assert word in head
    assert "向上取整" not in text  # details with --verbose
    console = Console(width=80, record=True, color_system=None)
    print_report(answer, console, verbose=True, lang="en")
    text = console.export_text()
    flat = re.sub(r"\s*│\s*", " ", text)
    assert "ceil(20%" in flat and "required" in flat and "gx-3.3.1-public" in flat
    assert max(len(line) for line in text.splitlines()) <= 80


def test_the_terminal_says_it_in_english_for_english_headers(root):
    answer, _ = check_files(str(root / "sample_sites/sites.csv"), [], load_ruleset(), as_of=AS_OF)
    console = Console(width=80, record=True, color_system=None)
    print_report(answer, console, limit=3)
    text = console.export_text()
    assert "status" in text and "fail" in text and "Summary" in text
    assert "21 more rows not shown" in text


# ------------------------------------------------------------------------ template


def test_the_template_has_lists_and_an_example(tmp_path):
    out = tmp_path / "模板.xlsx"
    assert main(["template", "-o", str(out)]) == 0
    book = load_workbook(out)
    ws = book.worksheets[0]
    header = [c.value for c in ws[1]]
    assert header[:4] == ["编号", "项目名称", "场所类型", "是否新建"]
    validations = {str(dv.sqref).split(":")[0]: dv for dv in ws.data_validations.dataValidation}
    letter = {h: chr(65 + k) for k, h in enumerate(header)}
    for name in ("场所类型", "是否新建", "景区等级"):
        dv = validations[f"{letter[name]}2"]
        assert dv.type == "list", name
    lists = book.worksheets[1]
    values = {c[0].value: [x.value for x in c[1:] if x.value] for c in lists.iter_cols()}
    assert "医院" in values["场所类型"] and values["是否新建"] == ["是", "否"]
    assert "4A级" in values["景区等级"]
    assert validations[f"{letter['停车位数']}2"].type == "whole"
    example = [c.value for c in ws[2]]
    assert example[0] == "GX-001" and example[header.index("停车位数")] == 333


def test_the_template_round_trip(tmp_path):
    """Fill the template, check it: the same verdicts as the same sites in a CSV file."""
    path = tmp_path / "模板.xlsx"
    write_template(path)
    book = load_workbook(path)
    ws = book.worksheets[0]
    header = [c.value for c in ws[1]]
    sites = [
        {"编号": "T1", "项目名称": "某医院", "场所类型": "医院", "停车位数": 333, "充电车位数": 66},
        {
            "编号": "T2",
            "项目名称": "新小区",
            "场所类型": "住宅小区",
            "是否新建": "是",
            "停车位数": 500,
            "充电车位数": 100,
            "预留车位数": 400,
        },
        {
            "编号": "T3",
            "场所类型": "A级旅游景区",
            "景区等级": "4A级",
            "停车位数": 300,
            "充电车位数": 40,
            "是否设置充电专区": "否",
        },
        {
            "编号": "T4",
            "场所类型": "高速公路服务区",
            "服务区类别": "一类",
            "是否新建": "否",
            "停车位数": 200,
            "小客车停车位数": 150,
            "充电车位数": 29,
            "城市": "南宁市",
        },
    ]
    ws.delete_rows(2)  # the example row
    for k, site in enumerate(sites, start=2):
        for name, value in site.items():
            ws.cell(row=k, column=header.index(name) + 1, value=value)
    book.save(path)
    csv_path = tmp_path / "same.csv"
    pd.DataFrame(sites, columns=header).to_csv(csv_path, index=False)
    a = json.loads(_check(path, tmp_path / "a.json").read_text(encoding="utf-8"))
    b = json.loads(_check(csv_path, tmp_path / "b.json").read_text(encoding="utf-8"))
    keys = ("id", "status", "categories", "rule_id", "required_spaces", "shortfall")
    got = [{k: r[k] for k in keys} for r in a["results"]]
    assert got == [{k: r[k] for k in keys} for r in b["results"]]
    assert [r["status"] for r in a["results"]] == ["fail", "pass", "fail", "fail"]
    # the template's other sheets (its lists and guide) are named, nothing else
    assert all("also has" in w for w in a["receipt"]["warnings"])


def test_the_template_over_http():
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from siting_api.app import create_app
    from siting_api.settings import Settings

    with TestClient(create_app(Settings(), executor=ThreadPoolExecutor(1))) as client:
        r = client.get("/v1/template.xlsx")
        assert r.status_code == 200 and r.content == template_bytes(load_ruleset())
        assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert client.get("/v1/template.xlsx?ruleset=atlantis").status_code == 404
        # an empty ruleset is no id (the schema's enum says so), not the default
        assert client.get("/v1/template.xlsx?ruleset=").status_code == 404
        # and the 404 is documented, as the live schemathesis run checks
        op = client.get("/openapi.json").json()["paths"]["/v1/template.xlsx"]["get"]
        assert "404" in op["responses"]


def test_siting_fields_prints_headers_and_values(capsys):
    assert main(["fields"]) == 0
    out = capsys.readouterr().out
    for word in ("充电桩数量", "景区等级", "4A级", "是否设置充电专区", "一类", "序号", "医院"):
        assert word in out, word


# ------------------------------------------------------------------------ Arrow CSV reader


def _tricky_texts() -> list[str]:
    header = "id,category,parking_spaces,charging_spaces,reserved_spaces"
    rows = [f"S{i},hotel,{10 * i},{2 * i},0" for i in range(1, 11)]
    stray = list(rows)
    stray[3] = stray[3].replace(",", ',"', 1)
    closing = list(stray)
    closing[4] = closing[4].replace(",", ',"', 1)
    longer = list(rows)
    longer[0] += ",extra"
    shorter = list(rows)
    shorter[5] = "S6,hotel"
    remark = [r + "," for r in rows]
    remark[2] += '"first line\nsecond line, with a comma"'
    return [
        header + "\n" + "\n".join(rows) + "\n",
        header + "\n" + "\n".join(stray) + "\n",
        header + "\n" + "\n".join(closing),
        header + "\n" + "\n".join(longer) + "\n",
        header + "\n" + "\n".join(shorter) + "\n",
        header + "\n" + "\n".join(rows[:4]) + "\n\n" + "\n".join(rows[4:]) + "\n",
        header + ",remark\n" + "\n".join(remark) + "\n",
        header + "\n" + "\n".join(rows) + "\nS11,hotel,1",  # cut short
        "编号,场所类型,编号\nA,医院,B\n",  # a repeated header
        header.replace(",", "\t") + "\n" + "\n".join(r.replace(",", "\t") for r in rows) + "\n",
        "\n\n" + header + "\n" + "\n".join(rows) + "\n",
    ]


@pytest.mark.parametrize("k", range(11))
def test_the_arrow_csv_reader_reads_as_pandas_does(tmp_path, monkeypatch, k):
    text = _tricky_texts()[k]
    path = tmp_path / "s.csv"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(tabular, "ARROW_CSV_MIN", 1 << 62)
    slow = read_sites(path)
    monkeypatch.setattr(tabular, "ARROW_CSV_MIN", 0)
    fast = read_sites(path)
    assert list(fast.frame.columns) == list(slow.frame.columns)
    pd.testing.assert_frame_equal(
        fast.frame.astype(object), slow.frame.astype(object), check_dtype=False
    )
    assert fast.errors == slow.errors and fast.notes == slow.notes
    assert np.array_equal(fast.row_numbers, slow.row_numbers)


def test_a_large_regular_csv_is_read_by_arrow(tmp_path, monkeypatch):
    rows = [f"S{i},医院,{100 + i},{i % 30}" for i in range(5_000)]
    path = tmp_path / "big.csv"
    path.write_text(
        "编号,场所类型,停车位数,充电车位数\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    called = []
    original = tabular._read_csv_arrow

    def spy(text, delimiter, utf8=None):
        out = original(text, delimiter, utf8)
        called.append(out is not None)
        return out

    monkeypatch.setattr(tabular, "_read_csv_arrow", spy)
    raw = read_sites(path)
    assert called == [True] and len(raw.frame) == 5_000 and raw.frame["编号"].iloc[-1] == "S4999"
    assert list(raw.row_numbers[:2]) == [2, 3]


@pytest.mark.parametrize(
    "layout, own_bytes",
    [("plain", True), ("bom", True), ("crlf", False), ("title", False), ("blank lines", False)],
)
def test_arrow_reads_the_files_own_bytes_when_they_are_the_text(
    tmp_path, monkeypatch, layout, own_bytes
):
    """A UTF-8 file (with or without a BOM) goes to Arrow as it is, without being encoded
    again; where the text was changed first (line ends, a title cut off) the text is
    encoded. Either way the same values and row numbers."""
    rows = [f'S{i},"医院, 二期",{100 + i},{i % 30}' for i in range(5_000)]
    head = "编号,场所类型,停车位数,充电车位数"
    lines = {
        "plain": [head, *rows],
        "bom": [head, *rows],
        "crlf": [head, *rows],
        "title": ["2024年配建情况表,,,", head, *rows],
        "blank lines": ["", "", head, *rows],
    }[layout]
    end = "\r\n" if layout == "crlf" else "\n"
    data = (end.join(lines) + end).encode("utf-8")
    if layout == "bom":
        data = b"\xef\xbb\xbf" + data
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    given = []
    original = tabular._read_csv_arrow

    def spy(text, delimiter, utf8=None):
        given.append(utf8 is not None)
        if utf8 is not None:
            assert bytes(utf8) == text.encode("utf-8")  # the bytes are the text's
        return original(text, delimiter, utf8)

    monkeypatch.setattr(tabular, "_read_csv_arrow", spy)
    raw = read_sites(path)
    assert given == [own_bytes]
    assert len(raw.frame) == 5_000
    assert raw.frame["场所类型"].iloc[7] == "医院, 二期" and raw.frame["编号"].iloc[-1] == "S4999"
    first = {"plain": 2, "bom": 2, "crlf": 2, "title": 3, "blank lines": 4}[layout]
    assert list(raw.row_numbers[:2]) == [first, first + 1]


def test_csv_output_is_written_by_arrow_with_a_plain_header(tmp_path):
    from siting.io.writers import write_csv

    frame = pd.DataFrame(
        {"id": ["=A", "b,c"], "n": pd.array([1, None], dtype="Int64"), "ok": [True, False]}
    )
    sink = io.BytesIO()
    write_csv(frame, sink)
    text = sink.getvalue().decode("utf-8-sig")
    assert text.splitlines()[0] == "id,n,ok"
    back = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert list(back["id"]) == ["'=A", "b,c"] and list(back["n"]) == ["1", ""]
    assert list(back["ok"]) == ["True", "False"]
