"""`siting check ... --engine dask|auto`: the partitioned run from the command line, with a
progress bar over partitions, printing what the in-memory run prints."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any


def _contexts(args: Any) -> list[str]:
    """The context layers as the in-memory run names them (FILE or FILE:layer)."""
    try:
        from siting.request import CheckRequest, options_from_args
        from siting.run import context_refs
    except ImportError:  # pragma: no cover - an older request layer
        return list(args.context)
    request = CheckRequest.model_validate(
        {"input": args.input, "contexts": args.context, "options": options_from_args(args)}
    )
    return context_refs(request)


def check_partitioned_cli(
    args: Any, pack: Any, as_of: Any, options: Any, out: Path | None, console: Any
) -> bool:
    """Run, write and print a partitioned check; False when the in-memory engine is to run
    instead (a site list, or --engine auto choosing memory)."""
    from siting.run import is_map_job
    from siting.scale import check_partitioned, choose_engine, is_parquet
    from siting.scale.engine import Settings, parse_size

    suffix = out.suffix.lower() if out else None
    if not (is_map_job(args.input, args.context, suffix) or is_parquet(args.input)):
        return False
    contexts = _contexts(args)
    if choose_engine(args.engine, args.input, contexts) != "dask":
        return False
    from siting.cli import _progress

    settings = Settings(scheduler=args.scheduler, memory_budget=parse_size(args.memory_budget))
    with _progress(args.input) as step:
        answer = check_partitioned(
            args.input,
            contexts,
            pack,
            as_of=as_of,
            options=options,
            out=args.output,  # as typed: a trailing / asks for a folder of GeoParquet files
            settings=settings,
            progress=step,
        )
    if out is None:
        from siting.report import print_report

        extra: dict[str, Any] = {
            "lang": getattr(args, "lang", None),
            "verbose": getattr(args, "verbose", False),
        }
        accepted = inspect.signature(print_report).parameters
        print_report(
            answer, console, limit=args.limit, **{k: v for k, v in extra.items() if k in accepted}
        )
        return True
    s = answer.summary
    by = ", ".join(f"{k} {v}" for k, v in s["by_status"].items() if v)
    print(
        f"{s['sites']} sites checked ({by}); total shortfall {s['total_shortfall']}; "
        f"wrote {out} ({getattr(answer, 'partitions', 0)} partitions)"
    )
    from siting.report import print_columns

    print_columns(answer, console)
    for w in answer.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return True
