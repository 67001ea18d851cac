"""Moving plan folders, sites and chunks between S3 and a local folder.

Tarballs and S3 listings are untrusted: extraction uses tarfile's ``data`` filter
(no absolute paths, no ``..``, no links out, no devices) and caps sizes.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

from hfaction.aws.s3uri import check_key
from hfaction.errors import UnsafeArchive, UnsafePath

MAX_TAR_BYTES = 8 * 1024 * 1024 * 1024  # /tmp on Lambda is at most 10 GB
MAX_TAR_MEMBERS = 100_000



def pack_dir(folder: Path) -> bytes:
    """A deterministic tar of ``folder`` (sorted, no owners or times)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = archive.gettarinfo(str(path), arcname=path.relative_to(folder).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o644
            with path.open("rb") as handle:
                archive.addfile(info, handle)
    return buffer.getvalue()


# tarfile's extraction filters arrived in Python 3.11.4; Debian bookworm (the image's
# base) has 3.11.2, so without them every member is checked here before extraction.
_HAS_FILTERS = hasattr(tarfile, "data_filter")
_FILTER_ERRORS: tuple[type[Exception], ...] = (
    (tarfile.FilterError,) if _HAS_FILTERS else ())


def _check_member(member: tarfile.TarInfo, destination: Path) -> None:
    name = member.name
    parts = PurePosixPath(name).parts
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchive(f"archive entry {name!r} is not a plain file")
    if name.startswith("/") or ".." in parts or not parts:
        raise UnsafeArchive(f"archive entry {name!r} leads outside the plan folder")
    if not (destination / name).resolve().is_relative_to(destination.resolve()):
        raise UnsafeArchive(f"archive entry {name!r} leads outside the plan folder")


def unpack_to(data: Path, destination: Path) -> None:
    """Extract a tar safely into ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(data, mode="r:*") as archive:
            members = archive.getmembers()
            if len(members) > MAX_TAR_MEMBERS:
                raise UnsafeArchive(f"archive has {len(members)} entries, more than "
                                    f"{MAX_TAR_MEMBERS}")
            if sum(member.size for member in members) > MAX_TAR_BYTES:
                raise UnsafeArchive("archive would unpack to more than 8 GiB")
            for member in members:
                _check_member(member, destination)
                member.uid = member.gid = 0
                member.uname = member.gname = ""
                member.mode &= 0o755
            if _HAS_FILTERS:
                archive.extractall(destination, filter="data")
            else:
                archive.extractall(destination)  # every member checked above
    except _FILTER_ERRORS as error:
        raise UnsafeArchive(f"archive entry refused: {error}") from None
    except tarfile.TarError as error:
        raise UnsafeArchive(f"not a readable tar archive: {error}") from None


def download_prefix(s3: Any, bucket: str, prefix: str, destination: Path) -> list[str]:
    """Download every object under ``prefix`` into ``destination``, keeping relative paths."""
    keys: list[str] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            keys.append(item["Key"])
    for key in keys:
        relative = check_key(key[len(prefix):]) if key != prefix else ""
        if not relative:
            continue
        target = (destination / relative).resolve()
        if not target.is_relative_to(destination.resolve()):
            raise UnsafePath(f"S3 key {key!r} leads outside {destination}")
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
    return keys
