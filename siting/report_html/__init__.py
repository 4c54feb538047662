"""The HTML report: one self-contained, offline page per check (render.py; docs/report.md)."""

from siting.report_html.render import (
    MAP_ELEMENT_LIMIT,
    TABLE_LIMIT,
    ContextLayer,
    check_basemap,
    read_contexts,
    render_html,
    write_html,
)

__all__ = [
    "MAP_ELEMENT_LIMIT",
    "TABLE_LIMIT",
    "ContextLayer",
    "check_basemap",
    "read_contexts",
    "render_html",
    "write_html",
]
