"""Pages for people, all from bundled files (api/static/, nothing from a CDN):

- `GET /`: a form to check a site list or map layers; small inputs answer at once, large
  ones run as a job with its progress; the HTML report is shown in the page, with downloads;
- `GET /docs` (Swagger UI) and `GET /redoc` (ReDoc) on the app's OpenAPI description;
- `GET /static/{name}`: their scripts, styles and icon;
- `GET /v1/template.xlsx`: the Excel template of a site list (siting/template.py), with the
  accepted Chinese headers, drop-down lists and an example row.
"""

from __future__ import annotations

import html
import json
from functools import cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

from siting_api.problems import Problem, problem_responses

STATIC = Path(__file__).parent / "static"
JS, CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# URL name -> (file, media type)
ASSETS = {
    "swagger-ui-bundle.js": (STATIC / "swagger-ui" / "swagger-ui-bundle.js", JS),
    "swagger-ui.css": (STATIC / "swagger-ui" / "swagger-ui.css", CSS),
    "redoc.standalone.js": (STATIC / "redoc" / "redoc.standalone.js", JS),
    "page.js": (STATIC / "page.js", JS),
    "page.css": (STATIC / "page.css", CSS),
    "favicon.svg": (STATIC / "favicon.svg", "image/svg+xml"),
}
# Vendored files served with a change (api/static/README.md): ReDoc's sidebar shows a logo it
# loads from its CDN; with no src the image is not fetched (its error handler hides it).
PATCHED = {
    "redoc.standalone.js": [('src:"https://cdn.redoc.ly/redoc/logo-mini.svg"', 'src:""')],
}
# Inputs up to this size are checked at once (POST /v1/checks/upload); larger ones as a job.
SYNC_BYTES = 3_000_000
TITLE = "siting: EV charging space compliance checker"


def install_pages(app: FastAPI, ruleset_ids: list[str], default_ruleset: str) -> None:
    """Add the pages to `app` (created with docs_url=None and redoc_url=None)."""

    def prefix(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name not in ASSETS:
            raise Problem(404, f"no file {name!r}")
        path, media = ASSETS[name]
        headers = {"Cache-Control": "max-age=3600"}
        if name in PATCHED:
            return Response(_patched(name), media_type=media, headers=headers)
        return FileResponse(path, media_type=media, headers=headers)

    @app.get("/docs", include_in_schema=False)
    def swagger(request: Request):
        base = prefix(request)
        return get_swagger_ui_html(
            openapi_url=f"{base}{app.openapi_url}",
            title=f"{TITLE} - Swagger UI",
            swagger_js_url=f"{base}/static/swagger-ui-bundle.js",
            swagger_css_url=f"{base}/static/swagger-ui.css",
            swagger_favicon_url=f"{base}/static/favicon.svg",
            swagger_ui_parameters={"validatorUrl": None},  # never ask validator.swagger.io
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request):
        base = prefix(request)
        return get_redoc_html(
            openapi_url=f"{base}{app.openapi_url}",
            title=f"{TITLE} - ReDoc",
            redoc_js_url=f"{base}/static/redoc.standalone.js",
            redoc_favicon_url=f"{base}/static/favicon.svg",
            with_google_fonts=False,
        )

    @app.get(
        "/v1/template.xlsx",
        summary="The Excel template of a site list (Chinese headers, drop-down lists)",
        response_class=Response,
        responses={
            200: {"content": {XLSX: {}}, "description": "an .xlsx workbook"},
            **problem_responses(404),  # a ruleset the server does not offer
        },
    )
    def template(ruleset: str | None = None) -> Response:
        """The workbook `siting template` writes: the accepted headers (编号, 场所类型, 停车位数,
        充电车位数 ...), drop-down lists for 场所类型 (the pack's categories), 是否新建 and
        景区等级, whole-number checks on the counts, an example row and a guide sheet."""
        pack_id = default_ruleset if ruleset is None else ruleset  # `ruleset=` is no id
        if pack_id not in ruleset_ids:
            raise Problem(404, f"unknown ruleset {pack_id!r}; bundled: {', '.join(ruleset_ids)}")
        return Response(
            _template(pack_id),
            media_type=XLSX,
            headers={
                "Content-Disposition": 'attachment; filename="template.xlsx"; '
                "filename*=UTF-8''%E6%A8%A1%E6%9D%BF.xlsx"
            },
        )

    @app.get("/", include_in_schema=False)
    def page(request: Request):
        return HTMLResponse(_page(prefix(request), ruleset_ids, default_ruleset))


@cache
def _template(pack_id: str) -> bytes:
    from siting.ruleset import load_ruleset
    from siting.template import template_bytes

    return template_bytes(load_ruleset(pack_id))


@cache
def _patched(name: str) -> bytes:
    text = ASSETS[name][0].read_text(encoding="utf-8")
    for old, new in PATCHED[name]:
        if old not in text:
            raise RuntimeError(f"{name}: {old!r} not found; update api/web.py PATCHED")
        text = text.replace(old, new)
    return text.encode("utf-8")


def _page(base: str, ruleset_ids: list[str], default_ruleset: str) -> str:
    options = "".join(
        f'<option value="{html.escape(i)}"{" selected" if i == default_ruleset else ""}>'
        f"{html.escape(i)}</option>"
        for i in ruleset_ids
    )
    config = json.dumps({"base": base, "syncBytes": SYNC_BYTES}).replace("<", "\\u003c")
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>充电车位配置检查 · EV charging space check</title>
<link rel="icon" href="{base}/static/favicon.svg">
<link rel="stylesheet" href="{base}/static/page.css">
</head>
<body>
<header>
<h1>充电车位配置检查 <span lang="en">EV charging space check</span></h1>
<p>上传场所清单或停车场图层，按规则集检查每个场所的充电车位配置。
<span lang="en">Upload a site list or a parking layer; each site is checked against the rule
pack.</span> <a href="{base}/docs">API (Swagger UI)</a> · <a href="{base}/redoc">ReDoc</a>
· <a href="{base}/v1/template.xlsx" download>下载模板 <span lang="en">Excel template</span></a></p>
</header>
<main>
<form id="check-form" method="post" enctype="multipart/form-data"
 action="{base}/v1/checks/upload?format=html">
<div class="row">
<label for="ruleset">规则集 <span lang="en">Rule pack</span></label>
<select id="ruleset" name="ruleset">{options}</select>
</div>
<div class="row">
<label for="as_of">检查日期 <span lang="en">Check date</span></label>
<input id="as_of" name="as_of" type="date">
<small>留空为今天 <span lang="en">(empty: today)</span></small>
</div>
<div class="row">
<label for="file">场所清单或停车场图层 <span lang="en">Site list or parking layer</span></label>
<input id="file" name="file" type="file" required
 accept=".csv,.xlsx,.xls,.ods,.json,.gpkg,.geojson,.zip">
<small>CSV / Excel / JSON；GeoPackage、GeoJSON 或 shapefile 压缩包 (.zip)
<span lang="en">CSV, Excel, JSON; GeoPackage, GeoJSON or a zipped shapefile</span></small>
</div>
<div class="row">
<label for="context">参考图层 <span lang="en">Context layers</span></label>
<input id="context" name="context" type="file" multiple accept=".csv,.gpkg,.geojson,.zip">
<small>用地、兴趣点等（可多选） <span lang="en">land use, POIs ... (several allowed)</span></small>
</div>
<fieldset class="row">
<legend>兴趣点 CSV 的坐标系 <span lang="en">Coordinates of POI CSV files</span></legend>
<label><input type="radio" name="offset" value="" checked> WGS-84</label>
<label><input type="radio" name="offset" value="gcj02"> GCJ-02（高德 / 腾讯 <span
 lang="en">Amap</span>）</label>
<label><input type="radio" name="offset" value="bd09"> BD-09（百度 <span
 lang="en">Baidu</span>）</label>
</fieldset>
<div class="row">
<label for="lang">报告语言 <span lang="en">Report language</span></label>
<select id="lang" name="lang"><option value="zh">中文</option><option value="en">English</option>
</select>
</div>
<button type="submit" id="submit">检查 <span lang="en">Check</span></button>
</form>
<div id="status" role="status" aria-live="polite"></div>
<progress id="progress" max="1" value="0" hidden></progress>
<nav id="downloads" aria-label="downloads" hidden></nav>
<iframe id="report" title="检查报告 report" hidden></iframe>
</main>
<script type="application/json" id="page-config">{config}</script>
<script src="{base}/static/page.js"></script>
</body>
</html>
"""
