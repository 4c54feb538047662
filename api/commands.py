"""The HTTP package's commands of `siting`: `serve` and `jobs`, added through the entry point
`siting.commands` (pyproject.toml), so that the library's CLI never imports this package."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add `serve` and `jobs` to the `siting` command's subparsers."""
    j = sub.add_parser("jobs", help="list and prune the HTTP API's job store")
    j.set_defaults(run=_jobs)
    js = j.add_subparsers(dest="jobs_command", required=True)
    jl = js.add_parser("list", help="the jobs, oldest first")
    jl.add_argument("--state", choices=["queued", "running", "done", "failed"], default=None)
    jp = js.add_parser("prune", help="delete finished jobs and their files")
    jp.add_argument(
        "--older-than",
        type=float,
        default=None,
        metavar="DAYS",
        help="finished more than DAYS ago (default SITING_JOB_RETENTION_DAYS, 7)",
    )
    jp.add_argument("--dry-run", action="store_true", help="say what would go; delete nothing")
    for jc in (jl, jp):
        jc.add_argument("--data-dir", default=None, help="the job store (default SITING_DATA_DIR)")

    s = sub.add_parser("serve", help="run the HTTP API (uvicorn)")
    s.set_defaults(run=_serve)
    s.add_argument("--host", default=None)
    s.add_argument("--port", type=int, default=None)
    s.add_argument("--workers", type=int, default=None)
    s.add_argument("--data-dir", default=None, help="where the job store lives")
    s.add_argument(
        "--rules",
        default=None,
        metavar="DIR",
        help="also offer every rule pack (*.yaml) in DIR, by id; each is checked at start",
    )
    s.add_argument(
        "--insecure",
        action="store_true",
        help="listen on a non-loopback host without API keys (SITING_API_KEYS)",
    )


def _serve(args: argparse.Namespace) -> int:
    from siting_api.serve import serve

    return serve(
        host=args.host,
        port=args.port,
        workers=args.workers,
        data_dir=args.data_dir,
        rules_dir=args.rules,
        insecure=args.insecure,
    )


def _jobs(args: argparse.Namespace) -> int:
    """`siting jobs list|prune`: the job store of `siting serve`, read directly."""
    from siting.errors import InputError
    from siting_api.jobs import JobStore
    from siting_api.settings import Settings

    settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    if not (settings.data_dir / "jobs.sqlite").exists():
        raise InputError(f"no job store in {settings.data_dir} (jobs.sqlite not found)")
    store = JobStore(settings.data_dir, settings)
    if args.jobs_command == "list":
        jobs = store.jobs(args.state)
        for job in jobs:
            when = job["finished"] or job["started"] or job["created"]
            detail = job["error"] or job["stage"] or ""
            print(
                f"{job['id']}\t{job['state']}\t{job['progress']:.0%}\t{when}\t"
                f"runs {job['attempts']}\t{detail}"
            )
        print(f"{len(jobs)} job(s) in {settings.data_dir}")
        return 0
    days = settings.job_retention_days if args.older_than is None else args.older_than
    if days < 0:
        raise InputError(f"--older-than {days:g}: a number of days, 0 or more")
    gone = store.prune(days, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for job in gone:
        print(f"{verb} {job['id']}\t{job['state']}\t{job['finished'] or '-'}\t{job['bytes']:,} B")
    total = sum(job["bytes"] for job in gone)
    print(f"{verb} {len(gone)} job(s) finished more than {days:g} days ago, {total:,} bytes")
    return 0
