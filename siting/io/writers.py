"""Write a batch answer: .json (SPEC section 4), .csv (UTF-8 with BOM for Excel), .xlsx
(results and summary sheets); map formats (.geojson, .gpkg) live in `siting.geo.output`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from siting import statuses as st
from siting.check import BatchAnswer
from siting.errors import InputError

TABLE_FORMATS = {".json", ".csv", ".xlsx"}
MAP_FORMATS = {".geojson", ".gpkg"}


def write_answer(answer: BatchAnswer, out: str | Path, geometry=None) -> Path:
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix in MAP_FORMATS:
        if geometry is None:
            raise InputError(
                f"{out}: {suffix} output needs map input (a layer with geometry); "
                "use .json, .csv or .xlsx for a site list"
            )
        from siting.geo.output import write_layer

        return write_layer(answer, geometry, out)
    if suffix not in TABLE_FORMATS:
        raise InputError(
            f"{out}: unknown output format {suffix or '(none)'}; use "
            ".json, .csv, .xlsx, .geojson or .gpkg"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".json":
        write_json(answer, out)
    elif suffix == ".csv":
        answer.frame().to_csv(out, index=False, encoding="utf-8-sig")
    else:
        write_xlsx(answer, out)
    return out


def write_json(answer: BatchAnswer, out: Path) -> None:
    with out.open("w", encoding="utf-8") as fh:
        json.dump(answer.as_dict(), fh, ensure_ascii=False, indent=1)
        fh.write("\n")


def summary_rows(answer: BatchAnswer) -> list[tuple[str, object]]:
    r, s = answer.receipt, answer.summary
    rows: list[tuple[str, object]] = [
        ("ruleset 规则集", f"{r['ruleset']['id']} {r['ruleset']['version']}"),
        ("ruleset sha256", r["ruleset"]["sha256"]),
        ("engine 引擎", f"siting {r['engine']['version']}"),
        ("as of 检查日期", r["as_of"]),
        ("input sha256", r["input_sha256"]),
        ("decision id 决定编号", r["decision_id"]),
        ("time 时间", r["time"]),
        ("sites 场所数", s["sites"]),
    ]
    rows += [(st.label(k), v) for k, v in s["by_status"].items()]
    rows.append(("total shortfall 总缺口车位", s["total_shortfall"]))
    rows += [("warning 提示", w) for w in r["warnings"]]
    if r["options"]:
        rows.append(("options 选项", json.dumps(r["options"], ensure_ascii=False)))
    columns = r["columns"]
    if columns is not None:  # the column report (siting.columns)
        rows += [
            ("column 列", f"{u['column']} -> {u['field']} ({u['how']})") for u in columns["used"]
        ]
        rows += [("column 列", u["message"]) for u in columns["unused"] if u["status"] == "kept"]
        if columns["missing_fields"]:
            rows.append(("no column for 无此列", ", ".join(columns["missing_fields"])))
    return rows


def write_xlsx(answer: BatchAnswer, out: Path) -> None:
    frame = answer.frame()
    with pd.ExcelWriter(out, engine="openpyxl") as xl:
        frame.to_excel(xl, sheet_name="results", index=False)
        pd.DataFrame(summary_rows(answer), columns=["item 项目", "value 值"]).to_excel(
            xl, sheet_name="summary", index=False
        )
        ws = xl.sheets["results"]
        ws.freeze_panes = "B2"
        for col, width in zip(
            "ABCDEFGHIJKLMNOP",
            (14, 6, 16, 10, 22, 26, 8, 8, 10, 10, 10, 30, 30, 60, 60, 40),
            strict=False,
        ):
            ws.column_dimensions[col].width = width
        xl.sheets["summary"].column_dimensions["A"].width = 28
        xl.sheets["summary"].column_dimensions["B"].width = 70


MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "geojson": "application/geo+json",
}


def render(answer: BatchAnswer, fmt: str, geometry=None) -> tuple[bytes, str]:
    """The answer as bytes in `fmt` (json, csv or geojson), with its media type."""
    if fmt == "json":
        import orjson

        return orjson.dumps(answer.as_dict()), MEDIA_TYPES["json"]
    if fmt == "csv":
        return answer.frame().to_csv(index=False).encode("utf-8-sig"), MEDIA_TYPES["csv"]
    if fmt == "geojson":
        if geometry is None:
            raise InputError(
                "format=geojson needs map input (a layer with geometry); "
                "use json or csv for a site list",
                status_code=422,
            )
        import tempfile

        from siting.geo.output import write_layer

        with tempfile.TemporaryDirectory() as tmp:
            out = write_layer(answer, geometry, Path(tmp) / "results.geojson")
            return out.read_bytes(), MEDIA_TYPES["geojson"]
    raise InputError(f"unknown format {fmt!r}; use json, csv or geojson", status_code=422)
