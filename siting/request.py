"""One check, as the library runs it: `CheckRequest` (what to read) and `CheckOptions` (how).

Every option of a check is declared once, here, with its type, default, help text, its
command-line flag and whether it can change a verdict. The CLI builds its `check` options from
these declarations (`add_arguments`, `options_from_args`), the HTTP layer its query parameters
(`query_parameters`, `options_from_query`), and a job is the request serialised
(`CheckRequest.model_dump_json`). Adding an option is one field here; the CLI, the routes, the
jobs, the receipt and the decision id follow.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo

from siting.errors import InvalidOption

Offset = Literal["gcj02", "bd09"]
Engine = Literal["memory", "dask", "auto"]


def _option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    metavar: str | None = None,
    verdict: bool = True,
    http: bool = True,
    pairs: str | None = None,
    **constraints: Any,
) -> Any:
    """A field of CheckOptions. `flag`: the CLI option (default --name-with-dashes);
    `verdict`: a change of it can change a verdict (it goes into the receipt's options and the
    decision id); `http`: offered as a query parameter; `pairs`: the option is NAME=VALUE
    items (repeatable) and this is its metavar."""
    extra: JsonDict = {
        "flag": flag,
        "metavar": metavar,
        "verdict": verdict,
        "http": http,
        "pairs": pairs,
    }
    return Field(default, description=help, json_schema_extra=extra, **constraints)


class CheckOptions(BaseModel):
    """How to read the inputs and check them; every field is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ruleset: str | None = _option(
        None,
        "bundled pack id or a pack file (default guangxi-2021-2025); over HTTP a pack id",
        metavar="ID|PATH",
        verdict=False,  # in the decision id as the pack's own hash
    )
    as_of: dt.date | None = _option(
        None,
        "check date (default today): 2024-06-30, 2024/6/30, 2024.06.30 or 2024年6月30日",
        metavar="DATE",
        verdict=False,  # in the decision id on its own
    )
    sheet: str | None = _option(
        None,
        "sheet of a workbook (.xlsx .xls .ods) to read (default the first that is not empty)",
        metavar="NAME",
    )
    header_row: int | None = _option(
        None,
        "the header is row N of the sheet or CSV file, as Excel numbers rows (default: found "
        "below any title rows)",
        metavar="N",
        ge=1,
    )
    layer: str | None = _option(None, "layer of a multi-layer parking file")
    crs: str | None = _option(None, "CRS of the parking layer when it has none")
    offset: Offset | None = _option(
        None, "the parking layer's coordinates are GCJ-02 (Amap) or BD-09 (Baidu)"
    )
    context_crs: dict[str, str] = _option(
        {}, "CRS of a context layer without one, e.g. poi.csv=EPSG:4326", pairs="FILE=CRS"
    )
    context_offset: dict[str, Offset] = _option(
        {}, "a context layer's coordinates are GCJ-02 or BD-09", pairs="FILE=gcj02|bd09"
    )
    context_layer: dict[str, str] = _option(
        {},
        "the layer of a multi-layer context file (or name it as FILE:layer in --context)",
        pairs="FILE=LAYER",
        verdict=False,  # another layer is another input: the input hash tells
    )
    field_map: dict[str, str] = _option(
        {},
        "read an input column as a site-record field, e.g. 泊位=parking_spaces",
        flag="--field",
        pairs="COLUMN=FIELD",
    )
    max_distance: float | None = _option(
        None, "nearest-context search radius in metres (default 50)", metavar="M", ge=0
    )
    accept_nearest: bool = _option(
        False,
        "treat a category found by proximity (nearest context feature) as certain: a fail on "
        "it stays a fail instead of needs_review",
    )
    area_per_space: float | None = _option(
        None, "m2 per space to estimate missing counts (default 25 surface)", metavar="M2", gt=0
    )
    lang: Literal["en", "zh"] | None = _option(
        None,
        "language of the outputs: column names, statuses, categories, explanations (default: "
        "zh when the input's headers are Chinese, else en, also for the .html report; JSON "
        "texts and map layers only when given)",
        verdict=False,
    )
    basemap: str | None = _option(
        None,
        "tile URL ({z}/{x}/{y}) for the .html report's map (default: none, fully offline)",
        metavar="URL",
        verdict=False,
        http=False,
    )
    # how a map check runs (siting/scale, docs/scale.md); never what it decides: the same
    # verdicts, receipt and decision id on every engine
    engine: Engine = _option(
        "memory",
        "map layers: memory (default), dask (partitioned on a Dask cluster: docs/scale.md) or "
        "auto (dask when the inputs would not fit in memory); the verdicts are the same. Over "
        "HTTP: jobs only",
        verdict=False,
    )
    memory_budget: str | None = _option(
        None,
        "engine dask: memory of the local workers, e.g. 8GB, 512MiB or 40% (default 50%); "
        "over HTTP at most the server's budget",
        metavar="SIZE",
        verdict=False,
    )
    scheduler: str | None = _option(
        None,
        "engine dask: run on this existing Dask cluster instead of a local one; over HTTP "
        "only the server's operator sets it",
        metavar="tcp://HOST:8786",
        verdict=False,
        http=False,  # a request must not make the server connect to a host of its choice
    )

    @field_validator("memory_budget")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from siting.scale import checked_budget

        return checked_budget(value)

    @field_validator("as_of", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        if isinstance(value, str):
            from siting.io.dates import parse_date_text

            return parse_date_text(value)
        return value

    def layer_options(self) -> Any:
        """The options of the map path (`siting.geo.pipeline.LayerOptions`): its fields, taken
        from these by name."""
        from dataclasses import fields

        from siting.geo.options import LayerOptions

        return LayerOptions(**{f.name: getattr(self, f.name) for f in fields(LayerOptions)})

    def verdict_values(self) -> dict[str, Any]:
        """The options that can change a verdict and differ from their defaults, as plain JSON
        values: the receipt's `options` and part of the decision id."""
        from siting.check import option_values

        return option_values(
            {
                name: getattr(self, name)
                for name, info in type(self).model_fields.items()
                if _extra(info)["verdict"] and getattr(self, name) != info.get_default()
            }
        )


class CheckRequest(BaseModel):
    """One check: a site list or a parking layer, context layers, and the options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str = Field(description="site list, or parking layer (FILE or FILE:layer)")
    name: str | None = Field(default=None, description="the input's name as the user knows it")
    contexts: list[str] = Field(default_factory=list, description="context layers")
    options: CheckOptions = Field(default_factory=CheckOptions)
    format: str | None = Field(default=None, description="output format id (siting formats)")
    max_records: int | None = Field(default=None, ge=0, description="refuse inputs with more")


# --------------------------------------------------------------------------- CLI


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _flag(name: str, info: FieldInfo) -> str:
    return str(_extra(info)["flag"] or "--" + name.replace("_", "-"))


def _choices(info: FieldInfo) -> list[str] | None:
    from typing import get_args, get_origin

    ann = info.annotation
    for arg in (ann, *get_args(ann)):
        if get_origin(arg) is Literal:
            return [str(a) for a in get_args(arg)]
    return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of CheckOptions as command-line options of `parser`."""
    for name, info in CheckOptions.model_fields.items():
        extra = _extra(info)
        help_text = (info.description or "").replace("%", "%%")  # argparse formats help
        kwargs: dict[str, Any] = {"dest": name, "help": help_text}
        if extra["pairs"]:
            kwargs |= {"action": "append", "default": [], "metavar": extra["pairs"]}
        elif info.annotation is bool:
            kwargs |= {"action": "store_true", "default": False}
        else:
            kwargs["default"] = info.get_default()
            choices = _choices(info) if name != "context_offset" else None
            if choices:
                kwargs["choices"] = choices
            if extra["metavar"]:
                kwargs["metavar"] = extra["metavar"]
        parser.add_argument(_flag(name, info), **kwargs)


def options_from_args(args: argparse.Namespace) -> CheckOptions:
    """CheckOptions from the parsed command line (`add_arguments`)."""
    values: dict[str, Any] = {}
    for name, info in CheckOptions.model_fields.items():
        value = getattr(args, name)
        if _extra(info)["pairs"]:
            value = parse_pairs(value, _flag(name, info))
        values[name] = value
    return _validated(values, lambda name: _flag(name, CheckOptions.model_fields[name]))


# --------------------------------------------------------------------------- HTTP


def http_options(offered: bool = True) -> dict[str, tuple[str, FieldInfo]]:
    """The options offered as query parameters: query name -> (field name, field). The
    query name is the CLI flag's (`--field` -> `field`, `--as-of` -> `as_of`). offered=False:
    those a request may not give (`http=False`: the command line's, or the server operator's),
    by the name a request would give them."""
    return {
        _flag(n, i).lstrip("-").replace("-", "_"): (n, i)
        for n, i in CheckOptions.model_fields.items()
        if bool(_extra(i)["http"]) == offered
    }


def options_from_query(query: Mapping[str, Any] | Iterable[tuple[str, str]]) -> CheckOptions:
    """CheckOptions from query parameters (name=value; NAME=VALUE items of a pairs option
    repeated or comma-separated, as an HTML form sends them). Unknown names are left to the
    caller (a route has parameters of its own, e.g. `format`)."""
    items = list(query.items()) if isinstance(query, Mapping) else list(query)
    offered = http_options()
    values: dict[str, Any] = {}
    labels = {name: param for param, (name, _) in offered.items()}
    for param, (name, info) in offered.items():
        given = [str(v) for k, v in items if k == param and v is not None]
        if not given:
            continue
        if _extra(info)["pairs"]:
            values[name] = parse_pairs(given, param, commas=True)
        elif info.annotation is bool:
            values[name] = given[-1]
        else:
            values[name] = given[-1] if given[-1] != "" else None
    return _validated(values, lambda name: labels.get(name, name))


def _validated(values: dict[str, Any], label: Any) -> CheckOptions:
    try:
        return CheckOptions.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = label(str(err["loc"][0])) if err["loc"] else "options"
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        raise InvalidOption("; ".join(problems)) from None


def parse_pairs(items: Iterable[str] | None, name: str, *, commas: bool = False) -> dict[str, str]:
    """NAME=VALUE options (per-file CRS or offset, field names) as a dict. commas=True: an
    item may hold several pairs separated by commas (HTML forms); off for the CLI, where a
    WKT CRS holds commas of its own."""
    out = {}
    for item in items or []:
        for part in item.split(",") if commas else [item]:
            if commas and not part.strip():
                continue
            if "=" not in part:
                raise InvalidOption(f"{name} {part!r}: expected NAME=VALUE")
            k, v = part.rsplit("=", 1)
            out[k.strip() if commas else k] = v.strip() if commas else v
    return out
