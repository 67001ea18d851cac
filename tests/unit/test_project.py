"""Which files belong to a project, freezing it, and hashing it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hfaction.errors import BadInput, ProjectNotFound, UnsafePath
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


def test_iter_project_files_follows_a_file_link_outside(tmp_path: Path) -> None:
    # The user's own links are theirs to use: what they lead to is part of the project.
    project = tmp_path / "project"
    write(project, "index.html")
    write(tmp_path, "brand/logo.svg", "<svg/>")
    (project / "logo.svg").symlink_to(tmp_path / "brand" / "logo.svg")
    assert listed(project) == ["index.html", "logo.svg"]


def test_iter_project_files_follows_a_folder_link_beside_the_project(tmp_path: Path) -> None:
    # src/shared -> ../shared: the folder is listed under the link's own path.
    project = tmp_path / "src"
    write(project, "index.html")
    write(tmp_path, "shared/brand.css")
    write(tmp_path, "shared/fonts/a.woff2")
    (project / "shared").symlink_to("../shared", target_is_directory=True)
    assert listed(project) == ["index.html", "shared/brand.css", "shared/fonts/a.woff2"]


def test_iter_project_files_follows_links_inside_linked_folders(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project, "index.html")
    write(tmp_path, "one/a.txt")
    write(tmp_path, "two/b.txt")
    (tmp_path / "one" / "two").symlink_to(tmp_path / "two")
    (project / "one").symlink_to(tmp_path / "one")
    assert listed(project) == ["index.html", "one/a.txt", "one/two/b.txt"]


def test_iter_project_files_refuses_a_link_to_nothing(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project, "index.html")
    (project / "assets").mkdir()
    (project / "assets" / "logo.png").symlink_to("../../gone/logo.png")
    with pytest.raises(UnsafePath) as caught:
        listed(project)
    assert caught.value.exit_code == 2
    assert "assets/logo.png" in str(caught.value)
    assert "../../gone/logo.png, which does not exist" in str(caught.value)


def test_iter_project_files_refuses_a_link_loop(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project, "index.html")
    (project / "a.css").symlink_to(project / "b.css")
    (project / "b.css").symlink_to(project / "a.css")
    with pytest.raises(UnsafePath) as caught:
        listed(project)
    assert "a.css is a symbolic link that leads back to itself" in str(caught.value)


@pytest.mark.parametrize("target", [".", "..", "../..", "../../project"])
def test_iter_project_files_refuses_a_folder_link_into_its_own_ancestors(
        tmp_path: Path, target: str) -> None:
    # Following it would never end (the project itself sits inside "..").
    project = tmp_path / "project"
    write(project, "index.html")
    (project / "assets").mkdir()
    (project / "assets" / "up").symlink_to(target, target_is_directory=True)
    with pytest.raises(UnsafePath) as caught:
        listed(project)
    assert "assets/up" in str(caught.value)
    assert "would never end" in str(caught.value)


def test_iter_project_files_two_links_to_one_folder_are_not_a_loop(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project, "shared/a.txt")
    (project / "one").symlink_to("shared", target_is_directory=True)
    (project / "two").symlink_to("shared", target_is_directory=True)
    assert listed(project) == ["one/a.txt", "shared/a.txt", "two/a.txt"]


def test_iter_project_files_leaves_out_pipes(tmp_path: Path) -> None:
    write(tmp_path, "index.html")
    os.mkfifo(tmp_path / "pipe")
    assert listed(tmp_path) == ["index.html"]


def test_iter_project_files_names_a_folder_it_cannot_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "index.html")
    write(tmp_path, "locked/a.txt")
    real_listdir = os.listdir

    def listdir(path: Path) -> list[str]:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    with pytest.raises(BadInput) as caught:
        listed(tmp_path)
    assert "cannot read the folder locked of the project (Permission denied)" in str(
        caught.value)
    assert caught.value.exit_code == 2


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


def test_freeze_project_copies_what_links_lead_to_as_regular_files(tmp_path: Path) -> None:
    project = tmp_path / "src"
    write(project, "index.html", "<html></html>")
    write(tmp_path, "shared/brand.css", ".card{}")
    (project / "shared").symlink_to("../shared", target_is_directory=True)
    (project / "alias.html").symlink_to("index.html")
    destination = tmp_path / "frozen"
    manifest = freeze_project(project, destination)
    assert [item.path for item in manifest] == ["alias.html", "index.html", "shared/brand.css"]
    frozen = sorted(destination.rglob("*"))
    assert not [path for path in frozen if path.is_symlink()]
    assert (destination / "shared").is_dir()
    assert (destination / "shared" / "brand.css").read_text() == ".card{}"
    assert (destination / "alias.html").read_text() == "<html></html>"
    # The copies stay inside the plan.
    assert all(path.resolve().is_relative_to(destination.resolve()) for path in frozen)


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
