"""Which files belong to a project, freezing it, and hashing it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfaction.errors import ProjectNotFound, UnsafePath
from hfaction.render.project import (
    SKIPPED_TOP_LEVEL,
    ProjectFile,
    check_project_dir,
    freeze_project,
    iter_project_files,
    sha256_file,
    tree_hash,
)


def write(root: Path, relative: str, text: str = "x") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def listed(project: Path, **kwargs: Path) -> list[str]:
    return [path.relative_to(project).as_posix()
            for path in iter_project_files(project, **kwargs)]


def test_skip_list_is_the_contracts_plus_the_actions_own_folders() -> None:
    assert frozenset({"node_modules", ".git", ".cache", "output", "failures", "dist", ".next",
                      ".turbo", ".hfaction-action", ".hfaction-venv"}) == SKIPPED_TOP_LEVEL


def test_iter_project_files_skips_top_level_names_only(tmp_path: Path) -> None:
    write(tmp_path, "index.html")
    write(tmp_path, "assets/logo.png")
    for name in SKIPPED_TOP_LEVEL:
        write(tmp_path, f"{name}/inner.txt")
        write(tmp_path, f"src/{name}/kept.txt")  # the same names nested are kept
    write(tmp_path, "src/app.js")
    files = listed(tmp_path)
    assert "index.html" in files
    assert "assets/logo.png" in files
    assert "src/app.js" in files
    for name in SKIPPED_TOP_LEVEL:
        assert f"{name}/inner.txt" not in files
        assert f"src/{name}/kept.txt" in files
    assert not any(f.split("/")[0] in SKIPPED_TOP_LEVEL for f in files)


def test_iter_project_files_skips_top_level_files_with_skipped_names(tmp_path: Path) -> None:
    write(tmp_path, "index.html")
    write(tmp_path, "output")  # a file, not a folder
    write(tmp_path, "sub/output")
    assert listed(tmp_path) == ["index.html", "sub/output"]


def test_iter_project_files_is_sorted_and_regular_files_only(tmp_path: Path) -> None:
    for name in ("b.txt", "a.txt", "c/z.txt", "c/a.txt", "B/x.txt"):
        write(tmp_path, name)
    (tmp_path / "empty").mkdir()
    files = listed(tmp_path)
    assert sorted(files) == sorted(["a.txt", "b.txt", "c/a.txt", "c/z.txt", "B/x.txt"])
    top = [f for f in files if "/" not in f]
    assert top == sorted(top)


def test_iter_project_files_exclude(tmp_path: Path) -> None:
    write(tmp_path, "index.html")
    write(tmp_path, "plans/p1/plan.json")
    assert listed(tmp_path, exclude=tmp_path / "plans") == ["index.html"]


def test_iter_project_files_refuses_file_link_outside(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project, "index.html")
    secret = write(tmp_path, "secret.txt", "credentials")
    (project / "leak.txt").symlink_to(secret)
    with pytest.raises(UnsafePath) as caught:
        list(iter_project_files(project))
    assert caught.value.exit_code == 2
    assert "leak.txt" in str(caught.value)


def test_iter_project_files_refuses_folder_link_outside(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project, "index.html")
    write(tmp_path, "home/.aws/credentials")
    (project / "assets").symlink_to(tmp_path / "home")
    with pytest.raises(UnsafePath):
        list(iter_project_files(project))


def test_iter_project_files_refuses_nested_link_outside(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project, "index.html")
    secret = write(tmp_path, "secret.txt")
    write(project, "a/b/c.txt")
    (project / "a" / "b" / "d.txt").symlink_to(secret)
    with pytest.raises(UnsafePath):
        list(iter_project_files(project))


def test_iter_project_files_follows_links_inside(tmp_path: Path) -> None:
    write(tmp_path, "index.html")
    write(tmp_path, "shared/font.woff2")
    (tmp_path / "alias.woff2").symlink_to(tmp_path / "shared" / "font.woff2")
    (tmp_path / "fonts").symlink_to(tmp_path / "shared")
    files = listed(tmp_path)
    assert "alias.woff2" in files
    assert "fonts/font.woff2" in files
    assert "shared/font.woff2" in files


def test_check_project_dir(tmp_path: Path) -> None:
    assert check_project_dir(tmp_path) == tmp_path.resolve()
    with pytest.raises(ProjectNotFound) as caught:
        check_project_dir(tmp_path / "missing")
    assert "missing" in str(caught.value)
    assert caught.value.exit_code == 2
    with pytest.raises(ProjectNotFound):
        check_project_dir(write(tmp_path, "file.txt"))


def test_freeze_project_copies_and_lists(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project, "index.html", "<html></html>")
    write(project, "assets/a.css", "body{}")
    write(project, "node_modules/x.js", "skip")
    destination = tmp_path / "frozen"
    manifest = freeze_project(project, destination)
    assert [item.path for item in manifest] == ["assets/a.css", "index.html"]
    assert (destination / "index.html").read_text() == "<html></html>"
    assert not (destination / "node_modules").exists()
    by_path = {item.path: item for item in manifest}
    assert by_path["assets/a.css"].size == 6
    assert by_path["assets/a.css"].sha256 == sha256_file(project / "assets/a.css")
    assert by_path["index.html"].to_dict() == {"path": "index.html", "size": 13,
                                               "sha256": sha256_file(project / "index.html")}


def test_sha256_file(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "")
    assert sha256_file(path) == ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def test_tree_hash_changes_with_content(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project, "index.html", "one")
    write(project, "a.txt", "a")
    first = tree_hash(freeze_project(project, tmp_path / "f1"))
    again = tree_hash(freeze_project(project, tmp_path / "f2"))
    assert first == again
    write(project, "index.html", "two")
    changed = tree_hash(freeze_project(project, tmp_path / "f3"))
    assert changed != first
    write(project, "index.html", "one")
    (project / "a.txt").rename(project / "b.txt")
    renamed = tree_hash(freeze_project(project, tmp_path / "f4"))
    assert renamed not in (first, changed)


def test_tree_hash_ignores_manifest_order() -> None:
    a = ProjectFile("a", 1, "0" * 64)
    b = ProjectFile("b", 2, "1" * 64)
    assert tree_hash([a, b]) == tree_hash([b, a])
    assert tree_hash([a, b]) != tree_hash([a, ProjectFile("b", 2, "2" * 64)])
    assert tree_hash([a, b]) != tree_hash([a, ProjectFile("b", 3, "1" * 64)])
    assert tree_hash([a]) != tree_hash([a, b])
