"""The conformance runner restores links that a copy of the corpus flattened into files."""

from __future__ import annotations

from pathlib import Path

from benchmarks.conformance import flattened_links


def test_a_file_holding_a_path_inside_the_fixture_is_a_flattened_link(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "brand.css").write_text("body {}")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "shared").write_text("../shared")
    (tmp_path / "src" / "index.html").write_text("<html></html>")
    assert flattened_links(tmp_path) == [(tmp_path / "src" / "shared", "../shared")]


def test_ordinary_small_files_are_not_links(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "note.txt").write_text("../nowhere")  # points at nothing
    (tmp_path / "src" / "abs").write_text("/etc")  # absolute
    (tmp_path / "src" / "out").write_text("../..")  # outside the fixture
    (tmp_path / "src" / "two").write_text("a\nb")  # not one path
    assert flattened_links(tmp_path) == []
