"""Uploaded files onto disk, safely: size caps, safe names, zip traversal and bomb checks."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from fastapi import UploadFile

from siting.formats import input_extensions
from siting_api.problems import Problem
from siting_api.settings import Settings

ACCEPTED = input_extensions() - {".shp"}  # siting.formats; a shapefile comes zipped
CHUNK = 1024 * 1024


@dataclass
class SavedUpload:
    file: Path
    name: str
    contexts: list[Path] = field(default_factory=list)


def safe_name(name: str | None, fallback: str) -> str:
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = re.sub(r"[^\w.\-]+", "_", base, flags=re.UNICODE).strip("._") or fallback
    return base[:120]


async def save(
    upload: UploadFile, folder: Path, fallback: str, settings: Settings, budget: list[int]
) -> Path:
    name = safe_name(upload.filename, fallback)
    suffix = Path(name).suffix.lower()
    if suffix == ".shp":
        raise Problem(
            415,
            f"{name}: a shapefile needs its .dbf, .shx and .prj: upload them together in a .zip",
        )
    if suffix not in ACCEPTED:
        raise Problem(
            415,
            f"{name}: unsupported file type {suffix or '(none)'}; use .csv, "
            ".xlsx, .xls, .ods, .json, .gpkg, .geojson or a .zip holding a shapefile",
        )
    target = folder / name
    n = 1
    while target.exists():
        target = folder / f"{Path(name).stem}_{n}{suffix}"
        n += 1
    with target.open("wb") as out:
        while chunk := await upload.read(CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise Problem(
                    413,
                    f"the upload is larger than {settings.max_upload_bytes:,} "
                    "bytes (SITING_MAX_UPLOAD_BYTES)",
                )
            out.write(chunk)
    if suffix == ".zip":
        check_zip(target, name, settings)
    return target


def check_zip(path: Path, name: str, settings: Settings) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError):
        raise Problem(422, f"{name}: not a readable zip file") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > settings.max_zip_members:
            raise Problem(
                413, f"{name}: {len(infos):,} entries; at most {settings.max_zip_members:,}"
            )
        for info in infos:
            member = info.filename.replace("\\", "/")
            parts = PurePosixPath(member).parts
            if member.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", member):
                raise Problem(
                    422,
                    f"{name}: entry {info.filename!r} points outside the archive "
                    "(path traversal); refused",
                )
        expanded = sum(i.file_size for i in infos)
        packed = max(1, sum(i.compress_size for i in infos))
        if expanded > settings.max_zip_expanded_bytes:
            raise Problem(
                413,
                f"{name}: expands to {expanded:,} bytes; at most "
                f"{settings.max_zip_expanded_bytes:,}",
            )
        if expanded / packed > settings.max_zip_ratio:
            raise Problem(
                413,
                f"{name}: compression ratio {expanded / packed:.0f}:1 is beyond "
                f"{settings.max_zip_ratio:.0f}:1 (zip bomb guard)",
            )
