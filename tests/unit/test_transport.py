"""A project's own links are followed when it is frozen on the user's machine; a tarball
that reaches Lambda still may not carry a link of any kind."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from hfaction.aws import transport
from hfaction.errors import UnsafeArchive
from hfaction.render.project import freeze_project


def tar_with(tmp_path: Path, name: str, kind: bytes, linkname: str = "") -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        page = tarfile.TarInfo("project/index.html")
        page.size = 4
        archive.addfile(page, io.BytesIO(b"<p/>"))
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = linkname
        archive.addfile(info)
    path = tmp_path / "plan.tar"
    path.write_bytes(buffer.getvalue())
    return path


def test_a_frozen_project_with_links_travels_as_regular_files(tmp_path: Path) -> None:
    project = tmp_path / "src"
    project.mkdir()
    (project / "index.html").write_text("<p>hi</p>")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "brand.css").write_text(".card{}")
    (project / "shared").symlink_to("../shared", target_is_directory=True)
    plan = tmp_path / "plan"
    freeze_project(project, plan / "project")
    packed = tmp_path / "plan.tar"
    packed.write_bytes(transport.pack_dir(plan))
    with tarfile.open(packed) as archive:
        assert {(m.name, m.isfile()) for m in archive.getmembers()} == {
            ("project/index.html", True), ("project/shared/brand.css", True)}
    unpacked = tmp_path / "unpacked"
    transport.unpack_to(packed, unpacked)
    assert (unpacked / "project/shared/brand.css").read_text() == ".card{}"
    assert not (unpacked / "project/shared").is_symlink()


@pytest.mark.parametrize("filters", [True, False], ids=["tarfile-filters", "own-checks"])
@pytest.mark.parametrize(("name", "kind", "linkname"), [
    ("project/shared", tarfile.SYMTYPE, "../shared"),  # the layout followed locally
    ("project/alias.html", tarfile.SYMTYPE, "index.html"),  # even one that stays inside
    ("project/secret", tarfile.SYMTYPE, "/etc/passwd"),
    ("project/copy.html", tarfile.LNKTYPE, "project/index.html"),
], ids=["beside", "inside", "absolute", "hard-link"])
def test_an_uploaded_tarball_still_may_not_carry_links(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filters: bool, name: str, kind: bytes,
        linkname: str) -> None:
    if filters and not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python's tarfile has no extraction filters")
    monkeypatch.setattr(transport, "_HAS_FILTERS", filters)
    destination = tmp_path / "out"
    with pytest.raises(UnsafeArchive) as caught:
        transport.unpack_to(tar_with(tmp_path, name, kind, linkname), destination)
    assert caught.value.exit_code == 2
    assert name in str(caught.value)
    # Nothing of it was written.
    assert not any(path.is_symlink() for path in destination.rglob("*"))
    assert not (destination / "project" / "index.html").exists()
