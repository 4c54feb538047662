"""A check's answer as one self-contained HTML page: receipt, summary, charts, a map of the
lots (map input only) and a table of every site. Nothing in the page is fetched: scripts,
styles, the map library (Leaflet, vendored under assets/), its images and the favicon are
inlined; only a base-map tile URL the user gives (`basemap`) is ever requested.

    html = render_html(answer, lang="en", geometry=geometry, contexts=read_contexts(...))

Hooks (stable, for tests and users): `#summary`, `#charts` (inline <svg>), `#map` (absent for
a site list; one element per lot carrying `data-site-id` / `data-status` up to
MAP_ELEMENT_LIMIT lots), `#sites` (one `<tr data-site-id data-status>` per site; every row in
the page up to TABLE_LIMIT sites, virtualised beyond), `#sites-filter` (a select of statuses).
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from siting import __version__
from siting import statuses as st
from siting.errors import InputError, InvalidOption

if TYPE_CHECKING:
    from siting.check import BatchAnswer
    from siting.geo.pipeline import LayerOptions
    from siting.ruleset import RulePack

Bars = list[tuple[str, list[tuple[float, str, str]]]]  # per bar: label, (value, colour, name)
Strings = dict[str, str]

ASSETS = Path(__file__).parent / "assets"
STRINGS = Path(__file__).parent / "strings.json"
LANGS = ("zh", "en")
TABLE_LIMIT = 5_000  # every row is in the page up to this many sites; virtualised beyond
MAP_ELEMENT_LIMIT = 5_000  # one SVG element per lot up to this many; one canvas beyond
CONTEXT_FEATURE_LIMIT = 20_000  # features drawn per context layer
CHART_ROWS = 15  # bars per chart (the largest; the rest summed as "...")
DECIMALS = 6  # of a degree in the page's coordinates (~0.1 m)
CONTEXT_SIMPLIFY = 1e-5  # degrees (~1 m): context outlines are drawn simplified
# Columns a site's name may be in (the first found is shown).
NAME_COLUMNS = (
    "name",
    "名称",
    "NAME",
    "Name",
    "项目名称",
    "场所名称",
    "停车场名称",
    "单位名称",
    "地块名称",
    "mc",
    "MC",
    "name_zh",
)


@dataclass
class ContextLayer:
    """A context layer as drawn on the map: its name, its features in WGS84 and a label each."""

    name: str
    geometry: Any  # geopandas.GeoSeries in EPSG:4326
    labels: list[str | None]
    total: int  # features in the layer (more than drawn when capped)


# ---------------------------------------------------------------------------- assets
@cache
def strings() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(STRINGS.read_text(encoding="utf-8")))


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _data_uri(path: Path, media: str) -> str:
    return f"data:{media};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


@cache
def leaflet_css() -> str:
    """Leaflet's stylesheet with its images inlined as data: URIs."""
    css = _asset("leaflet/leaflet.css")

    def inline(m: re.Match[str]) -> str:
        path = ASSETS / "leaflet" / m.group(1)
        return f"url({_data_uri(path, 'image/png')})"

    return re.sub(r"url\((images/[\w.-]+\.png)\)", inline, css)


@cache
def leaflet_js() -> str:
    """Leaflet as shipped, minus its source-map comment and the link in its attribution
    prefix (the page links nowhere; the prefix is set to plain text anyway)."""
    js = _asset("leaflet/leaflet.js")
    js = re.sub(r"//# sourceMappingURL=\S+\s*$", "", js)
    return js.replace('<a href="https://leafletjs.com" title=', "<a title=")


@cache
def favicon() -> str:
    return _data_uri(ASSETS / "favicon.svg", "image/svg+xml")


def _script_json(value: Any) -> str:
    """JSON for a <script type=application/json> element: nothing in it can close the
    element or open a comment."""
    import orjson

    text = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode("utf-8")
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _fmt(template: str, **values: object) -> str:
    for k, v in values.items():
        template = template.replace("{" + k + "}", str(v))
    return template


# ---------------------------------------------------------------------------- entry points
def render_html(
    answer: BatchAnswer,
    lang: str = "en",
    basemap: str | None = None,
    *,
    geometry: Any = None,
    contexts: list[ContextLayer] | None = None,
) -> str:
    """The report of `answer` (a `siting.check.BatchAnswer`) as one HTML page.

    geometry: the lots' geometries for map input (`siting.geo.output.Geometries`, a
    GeoSeries or a GeoDataFrame, one per site in order; what `check_files` returns); None for
    a site list (no map). contexts: context layers to draw (`read_contexts`). basemap: a tile
    URL template with {z}/{x}/{y} (fetched by the browser; none by default)."""
    if lang not in LANGS:
        raise InvalidOption(f"lang {lang!r}: use one of {', '.join(LANGS)}")
    if basemap is not None:
        basemap = check_basemap(basemap)
    cat = strings()
    s = cat[lang]
    frame = answer.frame(keep_input=True)
    data = _site_columns(answer, frame, lang)
    statuses = [
        {
            "id": k,
            "label": _status_label(k, lang),
            "color": cat["status_colors"][k],
            "count": v,
        }
        for k, v in answer.summary["by_status"].items()
    ]
    geom_json = None
    map_info = None
    if geometry is not None:
        lots_json, missing = _geometry_json(geometry, answer.table.n)
        geom_json = (
            '{"lots":'
            + lots_json
            + ',"contexts":['
            + ",".join(_context_geometry(c) for c in contexts or [])
            + "]}"
        )
        map_info = {
            "basemap": basemap,
            "elementLimit": MAP_ELEMENT_LIMIT,
            "missing": missing,
            "contexts": [_context_json(c) for c in contexts or []],
        }
    payload = {
        "lang": lang,
        "strings": s,
        "statuses": statuses,
        "columns": data,
        "rules": _rules(answer.pack, lang),
        "tableLimit": TABLE_LIMIT,
        "map": map_info,
    }
    title = _pack_title(answer.pack, lang)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{s["html_lang"]}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # no request may leave the page (a base map, if asked for, may fetch its tiles)
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        f'img-src data: {_csp_origin(basemap)}">',
        f"<title>{html.escape(s['title'])} - {html.escape(answer.pack.id)}</title>",
        f'<link rel="icon" href="{favicon()}">',
        f"<style>{leaflet_css() if map_info else ''}\n{_asset('report.css')}</style>",
        "</head>",
        f'<body class="{"with-map" if map_info else "no-map"}">',
        "<header>",
        f"<h1>{html.escape(s['title'])}</h1>",
        f'<p class="pack-title">{html.escape(title)}</p>',
        _receipt_html(answer, s),
        "</header>",
        "<main>",
        _summary_html(answer, s, lang),
        _charts_html(answer, frame, s, lang),
    ]
    if map_info:
        parts.append(
            '<section class="map-section" aria-labelledby="map-h">'
            f'<h2 id="map-h">{html.escape(s["map"])}</h2>'
            '<p id="map-notes" class="note"></p>'
            '<div id="map" role="region" aria-label="' + html.escape(s["map"]) + '"></div>'
            "</section>"
        )
    parts += [
        _table_shell(s, data, map_info is not None),
        "</main>",
        "<footer><p>"
        + html.escape(
            _fmt(
                s["footer"],
                version=__version__,
                basemap_note=_fmt(s["basemap_note"], url=basemap) if basemap else "",
            )
        )
        + "</p></footer>",
        f'<script type="application/json" id="siting-data">{_script_json(payload)}</script>',
    ]
    if geom_json is not None:
        parts.append(f'<script type="application/json" id="siting-geometry">{geom_json}</script>')
    if map_info:
        parts.append(f"<script>{leaflet_js()}</script>")
    parts += [f"<script>{_asset('report.js')}</script>", "</body>", "</html>", ""]
    return "\n".join(parts)


def write_html(
    answer: BatchAnswer,
    out: str | Path,
    *,
    lang: str = "en",
    basemap: str | None = None,
    geometry: Any = None,
    contexts: list[ContextLayer] | None = None,
) -> Path:
    out = Path(out)
    text = render_html(answer, lang, basemap, geometry=geometry, contexts=contexts)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


def check_basemap(url: str) -> str:
    """A tile URL template: http(s), with {z}, {x} and {y}."""
    url = url.strip()
    if not re.match(r"^https?://[^\s\"'<>]+$", url) or not all(
        k in url for k in ("{z}", "{x}", "{y}")
    ):
        raise InvalidOption(
            f"basemap {url!r}: give a tile URL template such as "
            "https://tiles.example.org/{z}/{x}/{y}.png"
        )
    return url


def _csp_origin(basemap: str | None) -> str:
    if not basemap:
        return ""
    m = re.match(r"^(https?://[^/]+)", basemap)
    origin = m.group(1) if m else ""
    # a {s} subdomain placeholder: allow any subdomain of the rest
    return re.sub(r"://\{s\}\.", "://*.", origin)


def read_contexts(refs: list[str], options: LayerOptions | None = None) -> list[ContextLayer]:
    """The context layers of a map run, read as the check read them (CRS and offset options
    per file), in WGS84, for drawing. A layer that cannot be read is left out of the map
    (the check itself has read it already)."""
    from siting.geo.layers import read_layer
    from siting.geo.pipeline import NAME_COLUMNS as CONTEXT_NAMES
    from siting.geo.pipeline import LayerOptions, _for_file
    from siting.io.paths import parse_layer_ref

    opts = options or LayerOptions()
    out = []
    for ref in refs:
        try:
            layer = read_layer(
                ref,
                crs=_for_file(opts.context_crs, ref),
                offset=_for_file(opts.context_offset, ref),
            )
        except InputError:
            continue
        frame = layer.frame
        total = len(frame)
        frame = frame.iloc[:CONTEXT_FEATURE_LIMIT]
        geoms = frame.geometry
        if geoms.crs is not None:
            geoms = geoms.to_crs(4326)
        name_col = next((c for c in CONTEXT_NAMES if c in frame.columns), None)
        labels: list[str | None] = (
            [None if pd.isna(v) else str(v) for v in frame[name_col]]
            if name_col
            else [None] * len(frame)
        )
        out.append(ContextLayer(Path(parse_layer_ref(ref)[0]).name, geoms, labels, total))
    return out


# ---------------------------------------------------------------------------- texts
def _status_label(status: str, lang: str) -> str:
    return st.LABEL_ZH[status] if lang == "zh" else strings()["status_en"][status]


def _pack_title(pack: RulePack, lang: str) -> str:
    if lang == "zh" and pack.title_zh:
        return pack.title_zh
    return pack.title


def _category_names(pack: RulePack, lang: str) -> dict[str, str]:
    out = {}
    for c in pack.categories:
        zh, en = getattr(c, "name_zh", None), getattr(c, "name", None)
        out[c.id] = (zh or en or c.id) if lang == "zh" else (en or zh or c.id)
    return out


def _rules(pack: RulePack, lang: str) -> dict[str, Any]:
    out = {}
    for r in pack.rules:
        c = r.citation
        out[r.id] = {
            "document": c.document or pack.source.title,
            "section": c.section,
            "clause": c.clause,
            "summary": c.summary,
            "strength": r.strength,
        }
    return out


def _receipt_html(answer: BatchAnswer, s: Strings) -> str:
    r = answer.receipt
    rows = [
        (s["ruleset"], f"{r['ruleset']['id']}"),
        (s["version"], r["ruleset"]["version"]),
        (s["as_of"], r["as_of"]),
        (s["input_sha256"], r["input_sha256"]),
        (s["decision_id"], r["decision_id"]),
        (s["engine"], f"{r['engine']['name']} {r['engine']['version']}"),
        (s["time"], r["time"]),
        (s["ruleset_sha256"], r["ruleset"]["sha256"]),
    ]
    keys = ("ruleset", "version", "as_of", "input_sha256", "decision_id", "engine", "time")
    items = "".join(
        f'<div data-receipt="{k}"><dt>{html.escape(str(label))}</dt>'
        f"<dd><code>{html.escape(str(value))}</code></dd></div>"
        for k, (label, value) in zip((*keys, "ruleset_sha256"), rows, strict=True)
    )
    warnings = ""
    if r["warnings"]:
        warnings = (
            f'<div class="warnings"><h3>{html.escape(s["warnings"])}</h3><ul>'
            + "".join(f"<li>{html.escape(str(w))}</li>" for w in r["warnings"])
            + "</ul></div>"
        )
    return (
        f'<section id="receipt" aria-labelledby="receipt-h"><h2 id="receipt-h">'
        f"{html.escape(s['receipt'])}</h2><dl>{items}</dl>{warnings}</section>"
    )


def _summary_html(answer: BatchAnswer, s: Strings, lang: str) -> str:
    summ = answer.summary
    colors = strings()["status_colors"]
    cells = [
        f'<div class="tile total"><span class="n">{summ["sites"]:,}</span>'
        f'<span class="k">{html.escape(s["sites"])}</span></div>'
    ]
    for k, v in summ["by_status"].items():
        cells.append(
            f'<div class="tile" data-status="{k}" data-count="{v}">'
            f'<span class="swatch" style="background:{colors[k]}"></span>'
            f'<span class="n">{v:,}</span>'
            f'<span class="k">{html.escape(_status_label(k, lang))}'
            + (f' <code class="status-word">{k}</code>' if lang == "zh" else "")
            + "</span></div>"
        )
    cells.append(
        f'<div class="tile shortfall" data-total-shortfall="{summ["total_shortfall"]}">'
        f'<span class="n">{summ["total_shortfall"]:,}</span>'
        f'<span class="k">{html.escape(s["total_shortfall"])}</span></div>'
    )
    return (
        f'<section id="summary" aria-labelledby="summary-h"><h2 id="summary-h">'
        f'{html.escape(s["summary"])}</h2><div class="tiles">{"".join(cells)}</div></section>'
    )


# ---------------------------------------------------------------------------- charts (SVG)
def _bar_chart(chart_id: str, title: str, bars: Bars, empty: str) -> str:
    """A horizontal bar chart: per bar a label and its stacked parts (value, colour, name)."""
    label_w, bar_w, row_h, top = 170, 300, 22, 8
    width = label_w + bar_w + 70
    if not bars or not any(v for _, parts in bars for v, _, _ in parts):
        return (
            f'<figure class="chart" id="{chart_id}"><figcaption>{html.escape(title)}</figcaption>'
            f'<p class="note">{html.escape(empty)}</p></figure>'
        )
    top_value = max(sum(v for v, _, _ in parts) for _, parts in bars) or 1
    height = top + row_h * len(bars) + 4
    out = [
        f'<figure class="chart" id="{chart_id}"><figcaption>{html.escape(title)}</figcaption>',
        f'<svg role="img" aria-label="{html.escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">',
    ]
    for i, (label, parts) in enumerate(bars):
        y = top + i * row_h
        short = label if len(label) <= 16 else label[:15] + "…"
        out.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" class="lbl">'
            f"<title>{html.escape(label)}</title>{html.escape(short)}</text>"
        )
        x = float(label_w)
        total = 0.0
        for value, color, name in parts:
            if not value:
                continue
            w = max(1.0, bar_w * value / top_value)
            out.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                f'fill="{color}"><title>{html.escape(label)}: {html.escape(name)} '
                f"{_count(value)}</title></rect>"
            )
            x += w
            total += value
        out.append(f'<text x="{x + 4:.1f}" y="{y + 14}" class="val">{_count(total)}</text>')
    out.append("</svg></figure>")
    return "".join(out)


def _charts_html(answer: BatchAnswer, frame: pd.DataFrame, s: Strings, lang: str) -> str:
    colors = strings()["status_colors"]
    by_status = answer.summary["by_status"]
    status_bars = [(_status_label(k, lang), [(v, colors[k], k)]) for k, v in by_status.items() if v]
    charts = [_bar_chart("chart-status", s["chart_status"], status_bars, s["none"])]

    names = _category_names(answer.pack, lang)
    short = _shortfall_by_category(answer)
    cat_bars: Bars = [
        (names.get(c, c) if c else s["unknown"], [(float(v), colors["fail"], s["shortfall"])])
        for c, v in sorted(short.items(), key=lambda kv: -kv[1])
        if v > 0
    ]
    cat_bars = _capped(cat_bars)
    charts.append(_bar_chart("chart-shortfall", s["chart_shortfall"], cat_bars, s["no_shortfall"]))

    city = getattr(answer.table, "city", None)
    if city is not None and pd.notna(pd.Series(city, dtype=object)).any():
        status = frame["status"].astype(str).to_numpy()
        cities = pd.Series(city, dtype=object).fillna(s["unknown"]).astype(str)
        table = pd.crosstab(cities, status)
        table = table.loc[table.sum(axis=1).sort_values(ascending=False).index]
        city_bars: Bars = [
            (
                str(name),
                [(float(row.get(k, 0)), colors[k], _status_label(k, lang)) for k in by_status],
            )
            for name, row in table.iterrows()
        ]
        charts.append(_bar_chart("chart-city", s["chart_city"], _capped(city_bars), s["none"]))
    return (
        f'<section id="charts" aria-labelledby="charts-h"><h2 id="charts-h">'
        f'{html.escape(s["charts"])}</h2><div class="charts">{"".join(charts)}</div></section>'
    )


def _count(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def _table_shell(s: Strings, data: dict[str, Any], has_map: bool) -> str:
    """The table's section: filters (filled in by the page's script), the table and the
    details panel."""
    city = (
        f'<label for="sites-filter-city">{html.escape(s["filter_city"])}'
        '<select id="sites-filter-city"></select></label>'
        if "city" in data
        else ""
    )
    help_text = _fmt(s["table_help"], map_help=s["map_help"] if has_map else "")
    return (
        '<section id="sites-section" aria-labelledby="sites-h">'
        f'<h2 id="sites-h">{html.escape(s["sites_table"])}</h2>'
        f'<p class="note">{html.escape(help_text)}</p>'
        '<div class="controls" role="search">'
        f'<label for="sites-filter">{html.escape(s["filter_status"])}'
        '<select id="sites-filter"></select></label>'
        f'<label for="sites-filter-category">{html.escape(s["filter_category"])}'
        '<select id="sites-filter-category"></select></label>'
        f"{city}"
        f'<label for="sites-search">{html.escape(s["filter_search"])}'
        '<input id="sites-search" type="search" placeholder="'
        f'{html.escape(s["search_placeholder"])}">'
        "</label>"
        '<span id="sites-count" aria-live="polite"></span>'
        "</div>"
        '<p id="sites-note" class="note"></p>'
        '<div class="table-and-detail">'
        '<div id="sites-wrap"><table id="sites"><thead></thead><tbody></tbody></table></div>'
        '<aside id="site-detail-panel" aria-live="polite">'
        f'<h2>{html.escape(s["detail"])}</h2><div id="site-detail">'
        f'<p class="note">{html.escape(s["detail_empty"])}</p></div></aside>'
        "</div></section>"
    )


def _capped(bars: Bars) -> Bars:
    if len(bars) <= CHART_ROWS:
        return bars
    head, rest = bars[: CHART_ROWS - 1], bars[CHART_ROWS - 1 :]
    sums: dict[str, list[Any]] = {}
    for _, parts in rest:
        for v, color, name in parts:
            sums.setdefault(name, [0, color])[0] += v
    return [*head, (f"… (+{len(rest)})", [(v, c, n) for n, (v, c) in sums.items()])]


def _shortfall_by_category(answer: BatchAnswer) -> dict[str | None, int]:
    """The summary's total shortfall (headline evaluations of mandatory rules), split by the
    category of the headline evaluation."""
    e, prim = answer.evals, answer.sites.primary
    prim = prim[prim >= 0]
    if not len(prim):
        return {}
    mandatory = np.array([r.strength == "mandatory" for r in answer.pack.rules] + [False])
    prim = prim[mandatory[e.rule[prim]]]
    short = e.shortfall[prim]
    cats = e.cat[prim]
    keep = short > 0
    sums = np.bincount(
        cats[keep] + 1, weights=short[keep], minlength=len(answer.pack.categories) + 1
    )
    ids = [None, *answer.pack.category_ids]
    return {ids[k]: int(v) for k, v in enumerate(sums.tolist()) if v > 0}


# ---------------------------------------------------------------------------- table data
def _coded(values: Any, labels: dict[str, str] | None = None) -> dict[str, list[Any]]:
    """A text column as codes into its distinct values (-1: none)."""
    series = pd.Series(values, dtype=object)
    codes, uniques = pd.factorize(series.where(series.notna() & (series != ""), None))
    texts = [str(u) for u in uniques]
    if labels is not None:
        texts = [labels.get(t, t) for t in texts]
    return {"codes": codes.tolist(), "labels": texts}


def _numbers(col: pd.Series) -> list[Any]:
    """Numbers as JSON numbers (whole ones as integers, others to 0.1), missing as null."""
    values = pd.to_numeric(col, errors="coerce").astype("Float64")
    arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    whole = np.isfinite(arr) & (np.round(arr) == arr)
    out = np.round(arr, 1).astype(object)
    out[whole] = arr[whole].astype(np.int64).astype(object)
    out[~np.isfinite(arr)] = None
    return cast(list[Any], out.tolist())


def _texts(col: pd.Series) -> list[str | None]:
    values = col.astype(object)
    return [None if v is None else str(v) for v in values.where(values.notna(), None).tolist()]


def _text_column(col: pd.Series) -> list[str | None] | dict[str, list[Any]]:
    """A text column as it is, or coded (`_coded`) when its values repeat enough for that
    to be smaller (explanations and notes of many alike sites)."""
    values = col.astype(object)
    if values.nunique(dropna=True) <= len(values) // 2:
        return _coded(values.map(lambda v: v if v is None or v is pd.NA else str(v)))
    return _texts(col)


def _site_columns(answer: BatchAnswer, frame: pd.DataFrame, lang: str) -> dict[str, Any]:
    n = len(frame)
    cat_names = _category_names(answer.pack, lang)
    cat_texts = frame["categories"].astype(object)
    cat_col = _coded(cat_texts)
    cat_col["labels"] = [
        "; ".join(cat_names.get(c, c) for c in label.split(";")) for label in cat_col["labels"]
    ]
    cols: dict[str, Any] = {
        "id": _texts(frame["id"]),
        "status": _coded(frame["status"].astype(object)),
        "category": cat_col,
        "rule": _coded(frame["rule_id"].astype(object)),
        "ratio": _coded(frame["ratio"].astype(object)),
        "basis": _numbers(frame["basis_spaces"]),
        "required": _numbers(frame["required_spaces"]),
        "provided": _numbers(frame["provided_spaces"]),
        "shortfall": _numbers(frame["shortfall"]),
        "counted": _coded(frame["counted"].astype(object)),
        "explanation": _text_column(frame["explanation"]),
        "notes": _text_column(frame["notes"]),
        "evaluations": _coded(frame["evaluations"].astype(object)),
    }
    name_col = next((c for c in NAME_COLUMNS if c in frame.columns), None)
    if name_col is not None:
        cols["name"] = _text_column(frame[name_col])
    city = getattr(answer.table, "city", None)
    if city is not None and len(city) == n and pd.notna(pd.Series(city, dtype=object)).any():
        cols["city"] = _coded(pd.Series(city, dtype=object))
    if "class_source" in frame.columns:
        cols["source"] = _coded(frame["class_source"].astype(object))
        cols["matched_by"] = _coded(frame["class_matched_by"].astype(object))
        cols["confidence"] = _coded(frame["class_confidence"].astype(object))
        cols["confidence_reason"] = _text_column(frame["class_confidence_reason"])
        cols["context_name"] = _text_column(frame["class_context_name"])
        cols["context_layer"] = _coded(frame["class_context_layer"].astype(object))
        cols["distance"] = _numbers(frame["class_distance_m"])
        cols["overlap"] = _numbers(frame["class_overlap_m2"])
        est = frame["class_m2_per_space"].where(frame["class_spaces_estimated"].astype(bool))
        cols["estimated"] = _numbers(est)
    return cols


# ---------------------------------------------------------------------------- geometry
def _geometry_json(geometry: Any, n: int) -> tuple[str, int]:
    """The lots' geometries in WGS84 as a JSON array, one entry per site: [type, coordinates]
    (GeoJSON's, rounded to DECIMALS), or null for a site without geometry. Also the number
    of sites without one."""
    series = getattr(geometry, "series", geometry)  # siting.geo.output.Geometries
    if hasattr(series, "columns"):  # a GeoDataFrame
        series = series.geometry
    if series.crs is not None:
        series = series.to_crs(4326)
    geoms = np.asarray(series.to_numpy(), dtype=object)
    if len(geoms) != n:
        raise ValueError(f"{len(geoms)} geometries for {n} sites")
    texts = _geojson_texts(geoms)
    return "[" + ",".join(texts) + "]", texts.count("null")


_TYPES = {
    "POINT": "Point",
    "MULTIPOINT": "MultiPoint",
    "LINESTRING": "LineString",
    "MULTILINESTRING": "MultiLineString",
    "POLYGON": "Polygon",
    "MULTIPOLYGON": "MultiPolygon",
    "LINEARRING": "LineString",
}
_OPEN_COORDS = re.compile(r"\((?=[-\d.])")  # a "(" opening a list of coordinates
_CLOSE_COORDS = re.compile(r"(?<=[\d.])\)")  # a ")" closing one


def _geojson_texts(geoms: np.ndarray, simplify: float | None = None) -> list[str]:
    """Per geometry, '["Polygon",[[[lon,lat],...]]]' (GeoJSON's type and coordinates, from
    WKT rounded to DECIMALS: compact, and turned into JSON by a few whole-text replacements
    per geometry type); a collection as '["GeometryCollection",[parts]]'; 'null' for a
    missing or empty geometry. `simplify`: a tolerance in degrees (context layers)."""
    import shapely

    out = ["null"] * len(geoms)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    idx = np.flatnonzero(present)
    if not len(idx):
        return out
    some = shapely.force_2d(geoms[idx])
    if simplify:
        some = shapely.simplify(some, simplify, preserve_topology=False)
    wkts = shapely.to_wkt(some, rounding_precision=DECIMALS, trim=True)
    kinds = np.array([w[: w.find(" ")] for w in wkts.tolist()], dtype=object)
    for kind in np.unique(kinds).tolist():
        rows = np.flatnonzero(kinds == kind)
        if kind == "GEOMETRYCOLLECTION":
            for k in rows.tolist():
                parts = shapely.get_parts(some[k])
                texts = [t for t in _geojson_texts(parts) if t != "null"]
                out[idx[k]] = '["GeometryCollection",[' + ",".join(texts) + "]]"
            continue
        if kind not in _TYPES:
            continue
        bodies = "\n".join(w[len(kind) :].strip() for w in wkts[rows].tolist())
        if kind == "MULTIPOINT":  # ((1 2), (3 4)) or (1 2, 3 4): one list of points
            bodies = bodies.replace("(", "").replace(")", "").replace("\n", ")\n(")
            bodies = "(" + bodies + ")"
        bodies = bodies.replace("), (", ")~(").replace(", ", "],[").replace(" ", ",")
        bodies = _CLOSE_COORDS.sub("]]", _OPEN_COORDS.sub("[[", bodies))
        bodies = bodies.replace("(", "[").replace(")", "]").replace("~", ",")
        name = _TYPES[kind]
        for k, body in zip(rows.tolist(), bodies.split("\n"), strict=True):
            coords = body[1:-1] if kind == "POINT" else body
            out[idx[k]] = f'["{name}",{coords}]'
    return out


def _context_json(c: ContextLayer) -> dict[str, Any]:
    """A context layer's name, size and labels (its geometry goes with the lots')."""
    return {"name": c.name, "total": c.total, "limit": CONTEXT_FEATURE_LIMIT, "labels": c.labels}


def _context_geometry(c: ContextLayer) -> str:
    geoms = np.asarray(c.geometry.to_numpy(), dtype=object)
    return "[" + ",".join(_geojson_texts(geoms, simplify=CONTEXT_SIMPLIFY)) + "]"
