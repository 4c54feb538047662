"""The HTTP layer: a thin FastAPI app over the `siting` library (no rule logic here)."""

from api.app import create_app

__all__ = ["create_app"]
