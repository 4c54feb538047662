"""The Excel template reviewers fill in (`siting template -o 模板.xlsx`, `GET /v1/template.xlsx`):
the accepted headers in Chinese (the catalogue's field labels, each one the alias table reads
as its field), drop-down lists for 场所类型 (the pack's Chinese category names), 是否新建,
景区等级, 服务区类别 and 是否设置充电专区, whole-number checks on the counts, an example row, and a
guide sheet with every accepted header and value form (`siting fields` prints the same)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

from siting.fields import INT_FIELDS
from siting.messages import Lang, load_messages
from siting.ruleset import RulePack, load_ruleset

ROWS = 2_000  # rows offered with drop-downs and checks below the header


def template_headers() -> list[tuple[str, str]]:
    """(header, field) of the template's columns, in order ('name' for the site's name)."""
    m = load_messages()
    t = m.template
    return [(t.name_header if f == "name" else m.fields[f].zh, f) for f in t.columns]


def category_names(pack: RulePack) -> list[str]:
    return [c.name_zh or c.id for c in pack.categories]


def value_forms(pack: RulePack | None = None) -> dict[str, list[str]]:
    """Per field, the value spellings the checker reads (aliases.yaml `values:`; categories
    from the pack)."""
    from siting.aliases import alias_spellings

    raw = alias_spellings()
    out: dict[str, list[str]] = {}
    for kind, table in raw.values.items():
        field = {"boolean": "dedicated_ev_area", "current": "chargers"}.get(kind, kind)
        forms: list[str] = []
        for canonical, spellings in table.items():
            forms.append(" / ".join(dict.fromkeys(str(x) for x in [canonical, *spellings])))
        out[field] = forms
    if pack is not None:
        out["category"] = [
            " / ".join(dict.fromkeys([c.id, c.name_zh or c.id, *c.aliases]))
            for c in pack.categories
        ]
    return out


def header_forms() -> dict[str, tuple[list[str], list[str]]]:
    """Per field: (its headers, its fallback headers) from the alias table, the field's own
    name first."""
    from siting.aliases import alias_spellings
    from siting.fields import ALL_FIELDS

    raw = alias_spellings()
    return {
        f: (
            [f, *(str(x) for x in raw.fields.get(f, []))],
            [str(x) for x in raw.fallback_fields.get(f, [])],
        )
        for f in ALL_FIELDS
    }


def write_template(out: Path | io.BytesIO, pack: RulePack | None = None, lang: Lang = "zh") -> None:
    """Write the template workbook to a path or a binary buffer."""
    import xlsxwriter

    pack = pack or load_ruleset()
    m = load_messages()
    t = m.template
    target: Any = str(out) if isinstance(out, Path) else out
    book = xlsxwriter.Workbook(target, {"in_memory": True, "strings_to_numbers": False})
    # the same bytes every time (the template can be cached, compared, served as a file)
    book.set_properties({"created": dt.datetime(2021, 1, 1, tzinfo=dt.UTC)})
    header_fmt = book.add_format(
        {"bold": True, "bg_color": "#D9E1F2", "border": 1, "font_name": "等线", "valign": "top"}
    )
    example_fmt = book.add_format({"font_color": "#7F7F7F", "italic": True, "font_name": "等线"})
    text_fmt = book.add_format({"font_name": "等线", "num_format": "@"})
    count_fmt = book.add_format({"font_name": "等线", "num_format": "0"})
    ws = book.add_worksheet(t.sheet(lang))
    lists = book.add_worksheet(t.lists_sheet(lang))
    guide = book.add_worksheet(t.guide_sheet(lang))
    headers = template_headers()
    choices = dict(t.lists)
    choices["category"] = category_names(pack)
    ranges: dict[str, str] = {}
    for list_col, (field, values) in enumerate(choices.items()):
        lists.write_string(0, list_col, m.field_label(field, "zh"), header_fmt)
        for i, v in enumerate(values, start=1):
            lists.write_string(i, list_col, v)
        letter = _letters(list_col)
        sheet = t.lists_sheet(lang)
        ranges[field] = f"='{sheet}'!${letter}$2:${letter}${len(values) + 1}"
    lists.hide()
    for j, (header, field) in enumerate(headers):
        count = field in INT_FIELDS and field not in ("a_rating", "service_area_class")
        ws.set_column(j, j, max(10, 2 * len(header) + 2), count_fmt if count else text_fmt)
        ws.write_string(0, j, header, header_fmt)
        words = m.fields.get(field)
        if words is not None:
            ws.write_comment(0, j, f"{field}: {words.en}", {"x_scale": 2})
        if field in ranges:
            ws.data_validation(
                1,
                j,
                ROWS,
                j,
                {
                    "validate": "list",
                    "source": ranges[field],
                    "error_type": "warning",  # another accepted spelling is allowed
                    "error_message": t.invalid_value(lang),
                },
            )
        elif count:
            ws.data_validation(
                1,
                j,
                ROWS,
                j,
                {
                    "validate": "integer",
                    "criteria": ">=",
                    "value": 0,
                    "error_type": "warning",
                    "error_message": t.invalid_value(lang),
                },
            )
        value = t.example.get(field)
        if value is None:
            continue
        if isinstance(value, int):
            ws.write_number(1, j, value, example_fmt)
        else:
            ws.write_string(1, j, value, example_fmt)
    ws.freeze_panes(1, 1)
    wrap_fmt = book.add_format({"text_wrap": True, "valign": "top", "font_name": "等线"})
    _guide(guide, header_fmt, wrap_fmt, pack, lang)
    ws.activate()
    book.close()


def template_bytes(pack: RulePack | None = None, lang: Lang = "zh") -> bytes:
    buffer = io.BytesIO()
    write_template(buffer, pack, lang)
    return buffer.getvalue()


def _guide(ws: Any, header_fmt: Any, wrap: Any, pack: RulePack, lang: Lang) -> None:
    m = load_messages()
    t = m.template
    ws.write_string(0, 0, t.guide_note(lang))
    for j, h in enumerate(t.guide_columns[lang]):
        ws.write_string(2, j, h, header_fmt)
    heads = header_forms()
    values = value_forms(pack)
    row = 3
    for header, field in template_headers():
        if field == "name":
            continue
        names, fallback = heads[field]
        forms = "; ".join(names + [f"{x} ({m.fields_command['fallback'](lang)})" for x in fallback])
        ws.write_string(row, 0, header)
        ws.write_string(row, 1, field)
        ws.write_string(row, 2, m.fields[field].en)
        ws.write_string(
            row, 3, forms + ("\n" + "; ".join(values[field]) if field in values else "")
        )
        row += 1
    ws.set_column(0, 0, 18)
    ws.set_column(1, 1, 22)
    ws.set_column(2, 2, 50, wrap)
    ws.set_column(3, 3, 100, wrap)


def _letters(j: int) -> str:
    out = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        out = chr(65 + r) + out
    return out


__all__ = ["header_forms", "template_bytes", "template_headers", "value_forms", "write_template"]
