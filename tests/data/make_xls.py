"""Makes reviewer_sites.xls, the .xls fixture of tests/test_spreadsheets.py (an .xls cannot be
written by any library the project depends on, so the file is committed).

    pip install xlwt==1.3.0 && python tests/data/make_xls.py

The sheet is laid out as reviewers' sheets are: a merged title row, a 填报单位 line with a
date cell, the header on row 3, 场所类型 merged down over three sites, a blank row, two
counts merged across, full-width digits in a text cell, and a 合计 row merged across A:B.
"""

import datetime as dt
from pathlib import Path

import xlwt

book = xlwt.Workbook(encoding="utf-8")
sheet = book.add_sheet("汇总表")
sheet.write_merge(0, 0, 0, 6, "2024年南宁市公共建筑充电设施配建情况表")
sheet.write_merge(1, 1, 0, 3, "填报单位：南宁市住房和城乡建设局")
sheet.write(1, 5, "填报日期")
sheet.write(1, 6, dt.datetime(2024, 6, 30), xlwt.easyxf(num_format_str="yyyy-mm-dd"))
for col, name in enumerate(
    ["序号", "项目名称", "场所类型", "停车位数", "充电桩数量", "预留车位数", "备注"]
):
    sheet.write(2, col, name)
rows = [
    (3, [1, "第一人民医院", "医院", 333, 66, 0, None]),
    (4, [2, "妇幼保健院", None, "１２０", "２４", 0, None]),
    (5, [3, "中医院", None, 100, 10, 0, "二期在建"]),
    (7, [4, "会展中心停车场", "公共停车场", 200, 40, 0, None]),
    (8, [5, "万象城", "商场", 150, 10, None, None]),
]
for r, values in rows:
    for c, v in enumerate(values):
        if v is not None and (r, c) not in {(3, 2), (8, 4)}:  # merged cells: written below
            sheet.write(r, c, v)
sheet.write_merge(3, 5, 2, 2, "医院")  # 场所类型 merged down over rows 4-6
sheet.write_merge(8, 8, 4, 5, 10)  # 充电桩数量 and 预留车位数 merged across on row 9
sheet.write_merge(9, 9, 0, 1, "合计")
sheet.write(9, 3, 903)
sheet.write(9, 4, 150)
book.save(str(Path(__file__).with_name("reviewer_sites.xls")))
