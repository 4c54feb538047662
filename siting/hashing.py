"""Every hash the receipt carries, in one place: the input's (`input_sha256`), a rule pack's,
and the decision id made of them.

- a site list file: the SHA-256 of its bytes;
- a map check: the SHA-256 of the SHA-256 of each file read, in order (a shapefile's
  sidecars with it, sorted), so that a changed attribute table changes the hash;
- JSON records: the SHA-256 of their canonical JSON (sorted keys, UTF-8);
- the decision id: a UUID made of the SHA-256 of the canonical JSON of what decides the
  verdicts (pack hash, engine version, as_of, input hash, options, column mapping).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    with Path(path).open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def sha256_files(paths: Iterable[str | Path]) -> str:
    """The files read by a map check, in order: a shapefile counts with its sidecars."""
    h = hashlib.sha256()
    for raw in paths:
        path = Path(raw)
        parts = sorted(path.parent.glob(path.stem + ".*")) if path.suffix == ".shp" else [path]
        for part in parts:
            with part.open("rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def sha256_records(records: Any) -> str:
    return sha256_bytes(canonical_json(records).encode())


def decision_uuid(key: dict[str, Any]) -> str:
    return str(uuid.UUID(sha256_records(key)[:32]))
