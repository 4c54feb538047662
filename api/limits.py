"""Limits on what a request may send: body size and pace, JSON nesting and numbers.

- `BodyLimits` (ASGI middleware): 413 over SITING_MAX_UPLOAD_BYTES (from Content-Length at
  once, else counted while the body streams), 408 when a body sends nothing for
  SITING_BODY_TIMEOUT seconds or averages under SITING_MIN_BODY_RATE bytes/s after that.
  The connection is closed after either, so a slow sender cannot hold it.
- `loads_limited`: JSON parsed with orjson (linear time; numbers must be finite doubles, so a
  5,000-digit integer is refused instead of costing quadratic time) and nested at most
  SITING_MAX_JSON_DEPTH levels.
- `LimitedRoute`: FastAPI routes whose JSON bodies are read with `loads_limited`.
"""

from __future__ import annotations

import asyncio
import json
import math
import time

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

_CONTAINERS = (dict, list)


class BodyRejected(HTTPException):
    """A request refused while its body is read (raised from `receive`, so FastAPI's body
    parsing passes it on as it is); the connection is closed after the answer."""

    def __init__(self, status: int, detail: str, close: bool = True):
        super().__init__(status, detail, headers={"Connection": "close"} if close else None)


def too_deep(value, limit: int) -> bool:
    """True when `value` nests lists / objects more than `limit` levels."""
    stack = [(value, 1)] if type(value) in _CONTAINERS else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if type(item) is dict else item
        stack.extend((c, depth + 1) for c in children if type(c) in _CONTAINERS)
    return False


def sites_too_deep(sites: list, limit: int) -> bool:
    """`too_deep(sites, limit)` for a long list of mostly flat site records, fast: only the
    values that are containers are walked."""
    if limit < 1:
        return True
    nested = [
        v
        for s in sites
        if type(s) is dict
        for v in s.values()
        if type(v) is list or type(v) is dict
    ]
    if nested and limit < 3:
        return True
    lists = [s for s in sites if type(s) is list]
    return any(too_deep(v, limit - 2) for v in nested) or any(too_deep(s, limit - 1) for s in lists)


class JSONLimitError(ValueError):
    pass


def loads_limited(data: bytes | str, max_depth: int, walk: bool = True):
    """Parse JSON within the limits; JSONLimitError (a ValueError) names what is wrong and
    where, never quoting the document. `walk=False` leaves the depth check (beyond orjson's
    own 1,024 levels) to the caller."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        reason = str(exc)
        if "depth limit" in reason or "recursion" in reason.lower():
            reason = f"nested deeper than {max_depth} levels (SITING_MAX_JSON_DEPTH)"
        elif "infinity" in reason:
            reason = "a number too large for a 64-bit float" + reason[reason.find(":") :]
        else:
            reason = f"not valid JSON ({reason})"
        raise JSONLimitError(reason) from None
    if walk and too_deep(doc, max_depth):
        raise JSONLimitError(f"nested deeper than {max_depth} levels (SITING_MAX_JSON_DEPTH)")
    return doc


def _finite(text: str) -> float:
    value = float(text)
    if value != value or value in (math.inf, -math.inf):
        raise JSONLimitError("a number too large for a 64-bit float")
    return value


def _constant(name: str):
    raise JSONLimitError(f"{name} is not JSON")


def loads_large(data: bytes, max_depth: int):
    """`loads_limited` for large bodies: the standard library's parser builds the objects as
    it reads (orjson's first allocates a document of ~15 times the input: 740 MB for 50 MB).
    The depth beyond the parser's own recursion limit is left to the caller (see
    `sites_too_deep`); a body nested deeper than Python recurses is refused as too deep."""
    try:
        return json.loads(data, parse_float=_finite, parse_constant=_constant)
    except RecursionError:
        raise JSONLimitError(
            f"nested deeper than {max_depth} levels (SITING_MAX_JSON_DEPTH)"
        ) from None
    except json.JSONDecodeError as exc:
        raise JSONLimitError(f"not valid JSON ({exc})") from None
    except UnicodeDecodeError as exc:
        raise JSONLimitError(f"not valid JSON (not UTF-8: {exc.reason})") from None
    except ValueError as exc:
        if isinstance(exc, JSONLimitError):
            raise
        if "integer string conversion" in str(exc):
            raise JSONLimitError("a number with more than 4,300 digits") from None
        raise


class LimitedRequest(Request):
    async def json(self):
        if not hasattr(self, "_json"):
            depth = self.app.state.settings.max_json_depth
            try:
                self._json = loads_limited(await self.body(), depth)
            except JSONLimitError as exc:
                raise BodyRejected(422, f"request body: {exc}", close=False) from None
        return self._json


class LimitedRoute(APIRoute):
    """A route whose JSON body is parsed by `loads_limited`."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request):
            return await handler(LimitedRequest(request.scope, request.receive))

        return route


class BodyLimits:
    """Size and pace of request bodies (see the module docstring)."""

    def __init__(self, app, limit: int, idle: float, min_rate: int):
        self.app, self.limit, self.idle, self.min_rate = app, limit, idle, min_rate

    def _too_large(self) -> str:
        return f"the request is larger than {self.limit:,} bytes (SITING_MAX_UPLOAD_BYTES)"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.limit:
                    from siting_api.problems import problem_response

                    resp = problem_response(413, self._too_large(), scope["path"])
                    resp.headers["Connection"] = "close"
                    return await resp(scope, receive, send)
                break
        seen = 0
        done = False
        start = None

        async def limited():
            nonlocal seen, done, start
            if done:  # the body is in: what follows is the client leaving
                return await receive()
            if start is None:
                start = time.monotonic()
            try:
                async with asyncio.timeout(self.idle):
                    message = await receive()
            except TimeoutError:
                raise BodyRejected(
                    408, f"the request body sent nothing for {self.idle:g} s (SITING_BODY_TIMEOUT)"
                ) from None
            if message["type"] != "http.request":
                done = True
                return message
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BodyRejected(413, self._too_large())
            if not message.get("more_body", False):
                done = True
            elif self.min_rate:
                elapsed = time.monotonic() - start
                if elapsed > self.idle and seen < self.min_rate * elapsed:
                    raise BodyRejected(
                        408,
                        f"the request body arrives at {seen / elapsed:,.0f} bytes/s, under "
                        f"{self.min_rate:,} (SITING_MIN_BODY_RATE)",
                    )
            return message

        return await self.app(scope, limited, send)
