"""Deployment posture, as ASGI middleware (each installed only when its setting is on, so a
single user on 127.0.0.1 pays for none of them):

- `RequestContext` (always): a request id on every response (`X-Request-ID`); an unexpected
  exception becomes a 500 problem carrying that id, its traceback goes to the server log
  under the same id and never into the answer.
- `HostAllowList`: Starlette's TrustedHostMiddleware, answering with a problem: a request
  whose Host header is not allowed (DNS rebinding) gets 400.
- `Access`: API keys (`Authorization: Bearer KEY`, 401 without a valid one) and a per-client
  token bucket (429 with Retry-After). /healthz stays open.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect

from siting_api.problems import TITLES, problem_response

log = logging.getLogger("siting.api")

for _status, _title in (
    (401, "Unauthorized"),
    (408, "Request timeout"),
    (429, "Too many requests"),
    (503, "Service unavailable"),
):
    TITLES.setdefault(_status, _title)

OPEN_PATHS = frozenset(
    {"/healthz", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc", "/"}
)
OPEN_PREFIXES = ("/static/",)  # the pages' scripts and styles (api/web.py)


def request_id(scope) -> str | None:
    return scope.get("siting.request_id")


class RequestContext:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = secrets.token_hex(8)
        scope["siting.request_id"] = rid
        header = (b"x-request-id", rid.encode())
        started = False

        async def send_with_id(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:  # left while sending its body: nobody to answer
            log.info("request %s: %s %s: the client went away", rid, scope["method"], scope["path"])
        except Exception as exc:
            log.error(
                "request %s: %s %s failed: %s: %s",
                rid,
                scope.get("method"),
                scope.get("path"),
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
            if started:
                raise
            resp = problem_response(
                500,
                f"internal error; the server log has the details under request id {rid}",
                scope.get("path"),
                request_id=rid,
            )
            await resp(scope, receive, send_with_id)


def _host_of(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8000
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


class HostAllowList(TrustedHostMiddleware):
    """Starlette's allow-list (exact names, '*.example.org'), with a problem as the answer."""

    def __init__(self, app, allowed_hosts):
        super().__init__(app, allowed_hosts=allowed_hosts, www_redirect=False)

    def allowed(self, host: str) -> bool:
        return any(
            host == p or (p.startswith("*") and host.endswith(p[1:])) for p in self.allowed_hosts
        )

    async def __call__(self, scope, receive, send):
        if self.allow_any or scope["type"] != "http" or scope["path"] == "/healthz":
            return await self.app(scope, receive, send)
        host = next((v for k, v in scope["headers"] if k == b"host"), b"")
        if not self.allowed(_host_of(host.decode("latin-1"))):
            resp = problem_response(
                400,
                "this server does not answer to that Host header (SITING_ALLOWED_HOSTS)",
                scope["path"],
            )
            return await resp(scope, receive, send)
        return await self.app(scope, receive, send)


class TokenBucket:
    """Per-client buckets of `per_minute` tokens, refilled continuously."""

    def __init__(self, per_minute: int, max_clients: int = 10_000):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_clients = max_clients
        self.buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str, now: float | None = None) -> float:
        """0 when the request may go; else the seconds until it may."""
        now = time.monotonic() if now is None else now
        tokens, last = self.buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self.buckets[client] = (tokens - 1, now)
            if len(self.buckets) > self.max_clients:
                self._prune(now)
            return 0.0
        self.buckets[client] = (tokens, now)
        return (1 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget clients whose bucket is full again (they lose nothing)."""
        full = self.capacity / self.rate
        self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < full}


class Access:
    """API keys and the rate limit."""

    def __init__(self, app, keys: list[str], per_minute: int):
        self.app = app
        self.keys = [k.encode() for k in keys]
        self.bucket = TokenBucket(per_minute) if per_minute else None

    def _key(self, scope) -> bytes | None:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    token = token.strip()
                    ok = False
                    for key in self.keys:  # every key compared, in constant time each
                        ok |= hmac.compare_digest(token, key)
                    return token if ok else None
        return None

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return await self.app(scope, receive, send)
        client = None
        if self.keys:
            key = self._key(scope)
            if key is None:
                resp = problem_response(
                    401,
                    "an API key is needed: send the header 'Authorization: Bearer KEY'",
                    scope["path"],
                )
                resp.headers["WWW-Authenticate"] = 'Bearer realm="siting"'
                return await resp(scope, receive, send)
            client = "key:" + hashlib.sha256(key).hexdigest()[:16]
        if self.bucket is not None:
            if client is None:
                client = "ip:" + (scope.get("client") or ("?", 0))[0]
            wait = self.bucket.take(client)
            if wait:
                resp = problem_response(
                    429,
                    f"more than {self.bucket.capacity:.0f} requests a minute from this client "
                    "(SITING_RATE_LIMIT); try again later",
                    scope["path"],
                )
                resp.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return await resp(scope, receive, send)
        return await self.app(scope, receive, send)
