"""`siting serve`: run the API with uvicorn (settings from SITING_* or siting.env).

Before it listens it checks its posture: every rule pack (bundled and `--rules DIR`) loads,
and a server reachable from other machines has API keys (or was told `--insecure`). The HTTP
protocol is uvicorn's httptools one with a header deadline: a request's line and headers must
arrive within SITING_HEADER_TIMEOUT seconds (408, connection closed) and fit in
SITING_MAX_HEADER_BYTES (431).
"""

from __future__ import annotations

import copy
import os
import sys
from functools import cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from siting_api.settings import LOOPBACK_NAMES, Settings, is_loopback

_RESPONSES = {
    408: b"HTTP/1.1 408 Request Timeout\r\n",
    431: b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
}


@cache
def _head_limits() -> tuple[float, int]:
    settings = Settings()
    return settings.header_timeout, settings.max_header_bytes


class _HeadTooLarge(Exception):
    pass


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline and a size cap on request heads (uvicorn
    has neither: a client sending one header byte a minute would hold its connection)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._head_timeout, self._head_max = _head_limits()
        self._head_timer = None
        self._head_bytes = 0
        self._head_refused = False

    def connection_made(self, transport):
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc):
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse(self, status: int) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(
                _RESPONSES[status] + b"content-length: 0\r\nconnection: close\r\n\r\n"
            )
            self.transport.close()

    def _head_expired(self) -> None:
        self._head_timer = None
        self._refuse(408)

    def _count(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self._head_max:
            self._head_refused = True
            raise _HeadTooLarge()

    def send_400_response(self, msg: str) -> None:
        if self._head_refused:  # raised from _count, through the parser
            return self._refuse(431)
        return super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()


def served_app():
    """The app `siting serve` runs in each worker: `create_app`, and once it has started (packs
    loaded, pool made), every object made so far is left out of the cyclic garbage collector's
    passes (`gc.freeze`): a full collection otherwise walks the whole heap - numpy, pandas,
    Arrow, FastAPI, the packs: 70-120 ms measured - and every request waiting meanwhile
    waits that long (the p99 of POST /v1/check). Objects made later are collected as usual,
    and frozen ones are still freed when no longer referenced."""
    import gc
    from contextlib import asynccontextmanager

    from siting_api.app import create_app

    app = create_app()
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app):
        async with started(app) as state:
            gc.collect()
            gc.freeze()
            yield state

    app.router.lifespan_context = lifespan
    return app


def _log_config() -> dict:
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["siting"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def serve(
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    data_dir: str | None = None,
    rules_dir: str | None = None,
    insecure: bool = False,
) -> int:
    import uvicorn

    from siting_api.rulesets import Rulesets

    overrides = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "workers": workers,
            "data_dir": data_dir,
            "rules_dir": os.path.abspath(rules_dir) if rules_dir else None,
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)
    keys = settings.key_list()
    local = is_loopback(settings.host)
    if not local and not keys:
        reason = (
            f"{settings.host} is reachable from other machines, and no API keys are set: anyone "
            "who can reach it could use it."
        )
        if not insecure:
            print(
                f"siting serve: refusing to start. {reason} Set SITING_API_KEYS (comma-separated "
                "keys; clients send 'Authorization: Bearer KEY'), bind to 127.0.0.1, or pass "
                "--insecure to run without keys anyway.",
                file=sys.stderr,
            )
            return 2
        print(f"siting serve: WARNING: {reason} (--insecure)", file=sys.stderr)
    if settings.allowed_hosts is None:
        allowed = [*LOOPBACK_NAMES, settings.host] if local else ["*"]
        overrides["allowed_hosts"] = ",".join(dict.fromkeys(allowed))
        settings = Settings(**overrides)
    # Worker processes rebuild the app from the environment: pass the overrides on.
    for key, value in overrides.items():
        os.environ[f"SITING_{key.upper()}"] = str(value)
    packs = Rulesets(settings.rules_dir, settings.default_ruleset)  # every pack valid, or exit 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"siting API on http://{settings.host}:{settings.port} (docs at /docs), "
        f"{settings.workers} worker(s), job store {settings.data_dir}\n"
        f"  rule packs: {', '.join(packs.ids())} (default {settings.default_ruleset})\n"
        f"  API keys: {f'{len(keys)} set' if keys else 'none'}; "
        f"hosts: {settings.allowed_hosts}; "
        f"rate limit: {f'{settings.rate_limit}/min per client' if settings.rate_limit else 'off'}; "
        f"CORS: {settings.cors_origins or 'off'}",
        flush=True,
    )
    uvicorn.run(
        "siting_api.serve:served_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http="siting_api.serve:GuardedHttpToolsProtocol",
        timeout_keep_alive=settings.keep_alive_timeout,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        log_config=_log_config(),
        log_level="warning",
        access_log=False,
    )
    return 0
