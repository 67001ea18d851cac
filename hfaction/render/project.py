"""A project tree on disk: which files belong to it, copying it safely, hashing it."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hfaction.errors import ProjectNotFound, UnsafePath

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


def iter_project_files(project_dir: Path, *, exclude: Path | None = None) -> Iterator[Path]:
    """Every regular file of the project, sorted, skipping the contract's skip list.

    Symbolic links are followed only when they stay inside the project; one that
    leads outside is refused rather than silently copying, say, ~/.aws/credentials.
    """
    root = project_dir.resolve()
    excluded = exclude.resolve() if exclude is not None else None
    for current, directories, files in os.walk(root, followlinks=False):
        current_path = Path(current)
        if current_path == root:
            directories[:] = [d for d in directories if d not in SKIPPED_TOP_LEVEL]
            files = [f for f in files if f not in SKIPPED_TOP_LEVEL]
        kept = []
        for name in sorted(directories):
            candidate = current_path / name
            if excluded is not None and candidate.resolve() == excluded:
                continue
            if candidate.is_symlink():
                _check_link(root, candidate)
                yield from _linked_dir_files(root, candidate)
                continue
            kept.append(name)
        directories[:] = kept
        for name in sorted(files):
            path = current_path / name
            if path.is_symlink():
                _check_link(root, path)
            if path.is_file():
                yield path


def _check_link(root: Path, link: Path) -> None:
    target = link.resolve()
    if not target.is_relative_to(root):
        raise UnsafePath(
            f"{link.relative_to(root)} is a symbolic link to {target}, outside the project",
            hint="copy the file into the project instead of linking to it",
        )


def _linked_dir_files(root: Path, link: Path) -> Iterator[Path]:
    # A link to a folder inside the project is walked as if it were that folder.
    for current, _directories, files in os.walk(link.resolve()):
        for name in sorted(files):
            path = Path(current) / name
            _check_link(root, path)
            yield link / path.relative_to(link.resolve())


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
