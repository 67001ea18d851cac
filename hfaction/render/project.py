"""A project tree on disk: which files belong to it, copying it safely, hashing it."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from hfaction.errors import BadInput, ProjectNotFound, UnsafePath

# Top-level names that are never part of a project (../shared/COMPOSITION.md).
SKIPPED_TOP_LEVEL = frozenset(
    {"node_modules", ".git", ".cache", "output", "failures", "dist", ".next", ".turbo",
     # The GitHub Action's own checkout and virtualenv when the project is the workspace
     # root (`project: .`): never part of the video.
     ".hfaction-action", ".hfaction-venv"}
)


@dataclass(frozen=True)
class ProjectFile:
    path: str  # POSIX path relative to the project root
    size: int
    sha256: str

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_project_dir(project_dir: Path) -> Path:
    if not project_dir.exists():
        raise ProjectNotFound(f"project folder {project_dir} does not exist")
    if not project_dir.is_dir():
        raise ProjectNotFound(
            f"{project_dir} is a file, not a project folder",
            hint="pass the folder that holds index.html",
        )
    return project_dir.resolve()


def iter_project_files(project_dir: Path, *, exclude: Path | None = None) -> list[Path]:
    """Every regular file of the project, sorted by path, skipping the contract's skip list.

    Symbolic links are the user's own: a link to a file or a folder, inside the project
    or beside it (``src/shared -> ../shared``), is followed, and what it leads to is
    listed under the link's own path, so that freezing copies the content and the plan
    holds regular files only. A link that leads nowhere, or a folder link that leads
    back into a folder it sits in (which would never end), is an error naming it.
    Sockets, pipes and devices are not files of a project and are left out.
    """
    root = project_dir.resolve()
    excluded = exclude.resolve() if exclude is not None else None
    found: list[tuple[str, Path]] = []
    _walk(root, root, excluded, (root,), found)
    found.sort(key=lambda item: item[0])
    return [path for _relative, path in found]


def _walk(root: Path, folder: Path, excluded: Path | None, within: tuple[Path, ...],
          found: list[tuple[str, Path]]) -> None:
    # `folder` is spelled through the links that led to it; `within` holds the real
    # folders it is inside (itself included), to recognise a link that leads back.
    try:
        names = sorted(os.listdir(folder))
    except OSError as error:
        where = folder.relative_to(root).as_posix() if folder != root else str(root)
        raise BadInput(f"cannot read the folder {where} of the project ({error.strerror})",
                       hint="make it readable, or move it out of the project") from None
    for name in names:
        if folder == root and name in SKIPPED_TOP_LEVEL:
            continue
        path = folder / name
        link = path.is_symlink()
        info = _stat(root, path) if link else path.lstat()
        if stat.S_ISDIR(info.st_mode):
            real = path.resolve()
            if excluded is not None and real == excluded:
                continue
            if real in within:
                raise UnsafePath(
                    f"{path.relative_to(root)} leads to {os.readlink(path) if link else real}, "
                    "a folder it is itself inside: following it would never end",
                    hint="link to the folder's content instead, or remove the link",
                )
            _walk(root, path, excluded, (*within, real), found)
        elif stat.S_ISREG(info.st_mode):
            found.append((path.relative_to(root).as_posix(), path))


def _stat(root: Path, link: Path) -> os.stat_result:
    """What a symbolic link leads to; an error when it leads nowhere."""
    relative = link.relative_to(root)
    try:
        return link.stat()
    except FileNotFoundError:
        raise UnsafePath(
            f"{relative} is a symbolic link to {os.readlink(link)}, which does not exist",
            hint="fix the link or remove it from the project",
        ) from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafePath(
                f"{relative} is a symbolic link that leads back to itself "
                f"({os.readlink(link)})",
                hint="fix the link or remove it from the project",
            ) from None
        raise


def freeze_project(project_dir: Path, destination: Path, *, exclude: Path | None = None
                   ) -> list[ProjectFile]:
    """Copy the project into ``destination`` and return its manifest (sorted by path)."""
    root = project_dir.resolve()
    manifest: list[ProjectFile] = []
    for source in iter_project_files(root, exclude=exclude):
        relative = source.relative_to(root).as_posix()
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        manifest.append(ProjectFile(relative, target.stat().st_size, sha256_file(target)))
    manifest.sort(key=lambda item: item.path)
    return manifest


def tree_hash(files: list[ProjectFile]) -> str:
    """A content address of a project: the SHA-256 of its sorted manifest."""
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: f.path):
        digest.update(f"{item.path}\0{item.size}\0{item.sha256}\n".encode())
    return digest.hexdigest()


def frozen_sha256(path: Path) -> str:
    """SHA-256 of a file; of a folder, over its sorted ``relpath\\0sha256`` lines."""
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{item.relative_to(path).as_posix()}\0{sha256_file(item)}\n".encode())
    return digest.hexdigest()


def frozen_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
