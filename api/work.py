"""The heavy work, run in a process pool (so the event loop stays free). Plain functions of
picklable arguments; every one calls the `siting` library and returns bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from siting.check import check_records
from siting.errors import InputError
from siting.geo.pipeline import LayerOptions
from siting.io.writers import render
from siting.ruleset import load_ruleset
from siting.run import check_files


@dataclass
class UploadSpec:
    file: str
    name: str
    contexts: list[str] = field(default_factory=list)
    fmt: str = "json"
    ruleset: str | None = None
    as_of: str | None = None
    sheet: str | None = None
    layer: str | None = None
    crs: str | None = None
    offset: str | None = None
    context_crs: dict[str, str] = field(default_factory=dict)
    context_offset: dict[str, str] = field(default_factory=dict)
    max_distance: float | None = None
    accept_nearest: bool = False
    field_map: dict[str, str] = field(default_factory=dict)  # COLUMN -> site-record field
    max_records: int | None = None


def check_json(body: bytes, default_ruleset: str, max_sites: int) -> tuple[bytes, str]:
    """POST /v1/checks: parse, check, render JSON."""
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"request body: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sites"), list):
        raise InputError('request body: expected {"sites": [...], "ruleset"?, "as_of"?}')
    unknown = set(doc) - {"sites", "ruleset", "as_of"}
    if unknown:
        raise InputError(f"request body: unknown field(s) {', '.join(sorted(unknown))}")
    sites = doc["sites"]
    if len(sites) > max_sites:
        raise InputError(
            f"{len(sites):,} sites; at most {max_sites:,} per request (submit a job for more)",
            status_code=413,
        )
    for key in ("ruleset", "as_of"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise InputError(f"request body: {key} must be a string")
    pack = load_ruleset(doc.get("ruleset") or default_ruleset)
    answer = check_records(sites, pack, as_of=doc.get("as_of"))
    return render(answer, "json")


def check_upload(spec: UploadSpec, default_ruleset: str, progress=None) -> tuple[bytes, str]:
    """POST /v1/checks/upload and jobs: check saved files, render in the chosen format."""
    step = progress or (lambda stage, fraction: None)
    step("reading and checking", 0.1)
    try:
        return _check_upload(spec, default_ruleset, step)
    except InputError as exc:
        # Name the files as the user uploaded them, not where the server saved them.
        folder = str(Path(spec.file).parent) + "/"
        raise InputError(str(exc).replace(folder, ""), status_code=exc.status_code) from None


def _check_upload(spec: UploadSpec, default_ruleset: str, step) -> tuple[bytes, str]:
    pack = load_ruleset(spec.ruleset or default_ruleset)
    options = LayerOptions(
        layer=spec.layer,
        crs=spec.crs,
        offset=spec.offset,
        context_crs=spec.context_crs,
        context_offset=spec.context_offset,
        max_distance=spec.max_distance,
        accept_nearest=spec.accept_nearest,
        field_map=spec.field_map,
    )
    answer, geometry = check_files(
        spec.file,
        spec.contexts,
        pack,
        as_of=spec.as_of,
        options=options,
        sheet=spec.sheet,
        output_suffix=".geojson" if spec.fmt == "geojson" else None,
        max_records=spec.max_records,
        name=spec.name,
        progress=lambda stage, f: step(stage, 0.1 + 0.7 * f),
    )
    step(f"writing {spec.fmt}", 0.8)
    return render(answer, spec.fmt, geometry)
