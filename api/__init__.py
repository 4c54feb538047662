"""The HTTP layer: a thin FastAPI app over the `siting` library (no rule logic here).

`create_app` is imported on first use, so that `siting`'s CLI, which loads `siting_api.commands` to
offer `serve` and `jobs`, does not load FastAPI for a `siting check`."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from siting_api.app import create_app

        return create_app
    raise AttributeError(f"module 'siting_api' has no attribute {name!r}")
