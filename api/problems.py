"""Errors in one shape: RFC 9457 problem details (`application/problem+json`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from siting.errors import (
    BrokenFile,
    InputError,
    InputNotFound,
    InputTooLarge,
    InvalidOption,
    RulePackError,
    UnsupportedFormat,
)

TITLES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
}


# The library's kinds of unusable input (siting.errors, which knows nothing of HTTP) and the
# status each gets; the first class the error is an instance of decides. docs/api.md lists them.
INPUT_STATUS: tuple[tuple[type[InputError], int], ...] = (
    (InputNotFound, 404),  # a file, layer or sheet that is not there
    (InputTooLarge, 413),  # too many records; a workbook, zip or .dbf that expands too far
    (UnsupportedFormat, 415),  # a file type the tool does not read
    (BrokenFile, 422),  # corrupt, truncated, mislabelled, unknown encoding
    (InvalidOption, 422),  # a CRS, offset, NAME=VALUE or format that cannot be used
    (InputError, 422),  # anything else unusable (two columns for one field, as_of, ...)
)


def input_status(exc: InputError) -> int:
    """The HTTP status for a library input error, by its kind."""
    return next(status for kind, status in INPUT_STATUS if isinstance(exc, kind))


class Problem(Exception):
    def __init__(self, status: int, detail: str, errors: list[dict] | None = None, **extra: Any):
        super().__init__(detail)
        self.status, self.detail, self.errors, self.extra = status, detail, errors, extra


def problem_response(
    status: int,
    detail: str,
    instance: str | None = None,
    errors: list[dict] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def field_errors(messages: list[str]) -> list[dict]:
    """Engine messages -> [{"field", "message"}]; the field is the first site-record field
    the message names ('charging_spaces + reserved_spaces = 20 is more than ...')."""
    import re

    from siting.fields import ALL_FIELDS

    out = []
    for m in messages:
        names = re.findall(r"[a-z_]+", m.split(":")[0]) or re.findall(r"[a-z_]+", m)
        field = next((n for n in names if n in ALL_FIELDS), None)
        out.append({"field": field, "message": m})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(exc.status, exc.detail, request.url.path, exc.errors, **exc.extra)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError):
        return problem_response(input_status(exc), str(exc), request.url.path)

    @app.exception_handler(RulePackError)
    async def _pack(request: Request, exc: RulePackError):
        return problem_response(422, str(exc), request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p != "body") or None,
                "location": e["loc"][0] if e["loc"] else None,
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
        return problem_response(
            422, "the request does not match the schema", request.url.path, errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return problem_response(exc.status_code, str(exc.detail), request.url.path)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):  # pragma: no cover - last resort
        return problem_response(
            500, f"internal error ({type(exc).__name__}); see the server log", request.url.path
        )


PROBLEM_SCHEMA = {
    "description": "An RFC 9457 problem",
    "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemModel"}}
    },
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {**PROBLEM_SCHEMA, "description": TITLES.get(code, "Error")} for code in codes}
