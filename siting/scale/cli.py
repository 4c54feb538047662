"""`siting check ... --engine dask|auto`: the partitioned run from the command line, with a
progress bar over partitions, printing what the in-memory run prints. The engine, scheduler
and memory budget are the request's options (siting/request.py); `siting.run.engine_of`
decides, as it does for `run_check`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from siting.request import CheckRequest


def check_partitioned_cli(
    request: CheckRequest,
    args: argparse.Namespace,
    pack: Any,
    out: Path | None,
    console: Any,
) -> bool:
    """Run, write and print a partitioned check; False when the in-memory engine is to run
    instead (a site list, or --engine auto choosing memory)."""
    from siting.run import context_refs, engine_of
    from siting.scale import check_partitioned, settings_of

    suffix = out.suffix.lower() if out else None
    if engine_of(request, suffix) != "dask":
        return False
    from siting.cli import _progress

    options = request.options
    settings = settings_of(options)
    with _progress(request.input) as step:
        answer = check_partitioned(
            request.input,
            context_refs(request),
            pack,
            as_of=options.as_of,
            options=options.layer_options(),
            out=args.output,  # as typed: a trailing / asks for a folder of GeoParquet files
            settings=settings,
            progress=step,
        )
    from siting.report import print_outcome

    print_outcome(
        answer,
        console,
        out,
        limit=args.limit,
        lang=options.lang,
        verbose=args.verbose,
        wrote=f" ({getattr(answer, 'partitions', 0)} partitions)",
    )
    return True
