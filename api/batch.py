"""Work for the synchronous routes, run off the event loop and cancellable.

Each call gets a folder of its own (the request's body or upload is saved there). When the
client goes away, the server writes `cancel` into that folder:

- work still queued is dropped (its future is cancelled);
- work running in a pool process is interrupted at once: the server sends that process
  SIGUSR1, and the handler installed here raises `Cancelled` if, and only if, the call it is
  running is the cancelled one;
- work running in a thread (tests, embedding) stops at its next checkpoint (between reading,
  checking and writing; at each progress step of an upload).

Functions here return `("ok", bytes, media_type)`, `("file", path, media_type)` for an answer
over 1 MB (written into the folder, so the server streams it from disk instead of holding it
in memory) or `("problem", status, detail)`; library errors (InputError ...) are raised as
they are, for the HTTP layer to map.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

from siting.check import check_records
from siting.errors import RulePackError
from siting.formats.json import answer_json
from siting.ruleset import load_ruleset
from siting_api.limits import JSONLimitError, loads_large, sites_too_deep
from siting_api.rulesets import strip_paths

CANCEL = "cancel"
PID = "worker.pid"
ANSWER = "answer"
INLINE_MAX = 1024 * 1024


class Cancelled(Exception):
    """The client went away; the work was stopped."""


_running: Path | None = None  # cancel file of the call this process's main thread runs


def _on_signal(signum, frame):
    if _running is not None and _running.exists():
        raise Cancelled("the client went away")


def _begin(folder: str) -> Path:
    global _running
    token = Path(folder) / CANCEL
    if threading.current_thread() is threading.main_thread():  # a pool process
        signal.signal(signal.SIGUSR1, _on_signal)
        _running = token
        (Path(folder) / PID).write_text(str(os.getpid()))
    return token


def _end() -> None:
    global _running
    if threading.current_thread() is threading.main_thread():
        _running = None


def _deliver(folder: str, data: bytes, media_type: str) -> tuple[str, object, str]:
    if len(data) <= INLINE_MAX:
        return "ok", data, media_type
    path = Path(folder) / ANSWER
    path.write_bytes(data)
    return "file", str(path), media_type


def write_json_answer(answer, folder: str, token: Path | None = None, chunk: int = 2000):
    """The batch answer as `render(answer, "json")` would give it (the same bytes), written
    into `folder` a few thousand results at a time: a 300 MB answer never sits in memory as
    a whole, nor as Python objects."""
    path = Path(folder) / ANSWER
    with path.open("wb") as out:
        for part in answer_json(answer, chunk=chunk):
            if token is not None:
                checkpoint(token)
            out.write(part)
    if path.stat().st_size <= INLINE_MAX:
        return "ok", path.read_bytes(), "application/json"
    return "file", str(path), "application/json"


def checkpoint(token: Path) -> None:
    if token.exists():
        raise Cancelled("the client went away")


def cancel(folder: Path, workers: dict | None) -> None:
    """Called by the server when the client has gone: mark the call cancelled, and interrupt
    the pool process running it (only a process of this server's pool is ever signalled)."""
    folder = Path(folder)
    try:
        (folder / CANCEL).touch()
        pid = int((folder / PID).read_text())
    except (OSError, ValueError):
        return
    if pid != os.getpid() and pid in (workers or {}):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGUSR1)


def check_json_file(
    body_path: str,
    folder: str,
    rulesets: dict[str, str],
    default: str,
    max_sites: int,
    max_depth: int,
):
    """POST /v1/checks: the saved body -> the batch answer (JSON)."""
    token = _begin(folder)
    try:
        data = Path(body_path).read_bytes()
        try:
            doc = loads_large(data, max_depth=max_depth)
        except JSONLimitError as exc:
            return "problem", 422, f"request body: {exc}"
        del data
        if not isinstance(doc, dict) or not isinstance(doc.get("sites"), list):
            return "problem", 422, 'request body: expected {"sites": [...], "ruleset"?, "as_of"?}'
        unknown = set(doc) - {"sites", "ruleset", "as_of"}
        if unknown:
            return "problem", 422, f"request body: unknown field(s) {', '.join(sorted(unknown))}"
        sites = doc["sites"]
        if len(sites) > max_sites:
            return (
                "problem",
                413,
                f"{len(sites):,} sites; at most {max_sites:,} per request (submit a job for more)",
            )
        for key in ("ruleset", "as_of"):
            if doc.get(key) is not None and not isinstance(doc[key], str):
                return "problem", 422, f"request body: {key} must be a string"
        if sites_too_deep(sites, max_depth - 1):
            return (
                "problem",
                422,
                f"request body: nested deeper than {max_depth} levels (SITING_MAX_JSON_DEPTH)",
            )
        ref = doc.get("ruleset") or default
        if ref not in rulesets:
            return "problem", 404, f"unknown ruleset {ref!r}; available: {', '.join(rulesets)}"
        checkpoint(token)
        pack = load_ruleset(rulesets[ref])
        answer = check_records(sites, pack, as_of=doc.get("as_of"))
        del doc, sites
        checkpoint(token)
        return write_json_answer(answer, folder, token)
    except RulePackError as exc:
        raise RulePackError(strip_paths(str(exc))) from None
    finally:
        _end()


def check_saved_upload(spec, folder: str, default_ruleset_path: str):
    """POST /v1/checks/upload: saved files -> the answer in the asked format."""
    from siting_api.work import check_upload

    token = _begin(folder)
    try:
        data, media_type = check_upload(
            spec, default_ruleset_path, lambda stage, f: checkpoint(token)
        )
        return _deliver(folder, data, media_type)
    except RulePackError as exc:
        raise RulePackError(strip_paths(str(exc))) from None
    except RecursionError:  # a reader met data nested deeper than Python recurses
        return "problem", 422, f"{spec.name}: nested too deeply to read"
    except ValueError as exc:
        if "integer string conversion" not in str(exc):
            raise
        return "problem", 422, f"{spec.name}: a number has more than 4,300 digits"
    finally:
        _end()
