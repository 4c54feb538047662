"""The query parameters of a check over HTTP (/v1/checks/upload, /v1/jobs), made from the
library's one declaration of a check's options (`siting.request.CheckOptions`): a field added
there is a query parameter here, documented in the OpenAPI schema, with nothing to copy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, make_dataclass
from typing import Annotated, Any, Literal, Union, get_args

from fastapi import Query

from siting.formats import output_formats
from siting.request import CheckOptions, http_options, options_from_query
from siting_api.problems import Problem

FORMAT_IDS = tuple(f.id for f in output_formats())
Format = Literal[FORMAT_IDS]  # type: ignore[valid-type]  # from the format registry


def _query_type(info: Any) -> Any:
    extra = info.json_schema_extra or {}
    if extra.get("pairs"):
        return list[str] | None  # NAME=VALUE, repeated or comma-separated
    ann = info.annotation
    if dt.date in get_args(ann) or ann is dt.date:
        return str | None  # read by siting (2024-06-30, 2024年6月30日 ...)
    return ann


def _make_query_class() -> type:
    fields: list[tuple[str, Any, Any]] = [
        (
            "format",
            Annotated[
                Format,
                Query(description="answer format (siting formats; html: the report)"),
            ],
            "json",
        )
    ]
    for query, (_, info) in http_options().items():
        default = None if (info.json_schema_extra or {}).get("pairs") else info.get_default()
        kind = _query_type(info)
        if default is None and type(None) not in get_args(kind):
            kind = Union[kind, None]  # noqa: UP007 - a runtime-built union
        fields.append((query, Annotated[kind, Query(description=info.description)], default))
    return make_dataclass("CheckQuery", fields)


CheckQuery = _make_query_class()
CheckQuery.__doc__ = "Query parameters shared by /v1/checks/upload and /v1/jobs."


def options_of(query: Any) -> CheckOptions:
    """The CheckOptions of a parsed CheckQuery (InvalidOption, a 422, when unusable)."""
    items: list[tuple[str, str]] = []
    for name, value in asdict(query).items():
        if name == "format" or value is None:
            continue
        if isinstance(value, list):
            items += [(name, str(v)) for v in value]
        elif isinstance(value, bool):
            items.append((name, "true" if value else "false"))
        else:
            items.append((name, str(value)))
    return options_from_query(items)


# Options of a check a request may not give (declared `http=False` in CheckOptions), and why.
WITHHELD = {
    "scheduler": "the Dask cluster a job runs on is the server operator's choice "
    "(SITING_DASK_SCHEDULER, docs/scale.md); a request cannot name one",
}


def refuse_withheld(names: Iterable[str]) -> None:
    """A 422 problem when a request names an option not offered over HTTP (the scheduler,
    the report's base map): refused, never silently ignored."""
    withheld = http_options(offered=False)
    for name in names:
        if name in withheld:
            reason = WITHHELD.get(name, "a command-line option, not offered over HTTP")
            raise Problem(422, f"{name}: {reason}")
