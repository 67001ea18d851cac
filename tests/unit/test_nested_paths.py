"""Relative URLs in nested compositions: the one rule planning and the page runtime share
(``composition.resolve_reference``), and its users at planning."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfaction.render.assets import RemoteFetcher
from hfaction.render.composition import (
    files_beside_nested,
    load_project,
    resolve_reference,
    url_path,
)
from hfaction.render.fonts.css import PROJECT_BASE
from hfaction.render.fonts.markup import MarkupReader

CARD = "compositions/card.html"
BESIDE = {"compositions/b.png", "compositions/sub/x.png", "compositions/a b.png"}


def _resolve(reference: str, document: str = CARD, entry: str = "index.html") -> str | None:
    return resolve_reference(reference, document, entry, BESIDE.__contains__)


@pytest.mark.parametrize(("reference", "expected"), [
    # ../ resolves against the composition's folder, whether or not the file is there.
    ("../assets/a.png", "assets/a.png"),
    ("../missing.png", "missing.png"),
    ("..", ""),
    ("../../x.png", "x.png"),  # as a URL: no higher than the project root
    # Anything else relative: beside the composition when it is there ...
    ("b.png", "compositions/b.png"),
    ("./b.png", "compositions/b.png"),
    ("sub/x.png", "compositions/sub/x.png"),
    ("b.png?v=2#top", "compositions/b.png?v=2#top"),
    ("a%20b.png", "compositions/a%20b.png"),  # percent-escapes kept, decoded to look up
    ("  b.png  ", "compositions/b.png"),
    # ... else the entry document's (authors mean the project's assets/ folder).
    ("assets/c.png", "assets/c.png"),
    ("./c.png", "c.png"),
    ("sub/../c.png", "c.png"),
])
def test_relative_urls_in_a_nested_composition(reference: str, expected: str) -> None:
    assert _resolve(reference) == expected


@pytest.mark.parametrize("reference", [
    "https://cdn.example/a.png", "http://x/y", "//cdn.example/a.png", "data:image/png;base64,AA",
    "blob:http://hfaction.localhost/1", "#frag", "?q", "/root.png", "\\x.png", "", "   ",
    "mailto:a@b.c", "C:/x.png",
])
def test_urls_that_are_no_relative_path_are_left_alone(reference: str) -> None:
    assert _resolve(reference) is None
    assert _resolve(reference, "index.html") is None


def test_the_entry_documents_urls_resolve_against_it() -> None:
    # No beside lookup: the entry is where the page is.
    assert _resolve("b.png", "index.html") == "b.png"
    assert _resolve("../a.png", "index.html") == "a.png"
    site = "site/index.html"
    assert _resolve("b.png", site, site) == "site/b.png"
    # A composition beside a nested entry falls back to the entry's folder.
    assert _resolve("c.png", "site/compositions/x.html", site) == "site/c.png"
    assert _resolve("../c.png", "site/compositions/x.html", site) == "site/c.png"


def test_url_path_is_the_decoded_project_path() -> None:
    assert url_path("compositions/a%20b.png?v=1#x") == "compositions/a b.png"
    assert url_path("assets/c.png") == "assets/c.png"


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


INDEX = """<!doctype html><html><body>
<div data-composition-id="main" data-width="64" data-height="64" data-duration="2">
  <video src="clips/root.mp4" data-start="0"></video>
  <div data-composition-id="card" data-composition-src="compositions/card.html"
       data-start="0" data-duration="2"></div>
</div></body></html>"""
CARD_HTML = """<template><div data-composition-id="card" data-width="64" data-height="64">
  <video src="clip.mp4" data-start="0"></video>
  <video src="../media/up.mp4" data-start="0"></video>
  <audio src="clips/root.mp4" data-start="0"></audio>
  <audio src="https://cdn.example/a.mp3" data-start="0"></audio>
</div></template>"""


def test_media_in_a_nested_composition_is_found_where_the_page_shows_it(
        tmp_path: Path) -> None:
    project = _project(tmp_path, {"index.html": INDEX, CARD: CARD_HTML,
                                  "compositions/clip.mp4": "", "clips/root.mp4": "",
                                  "media/up.mp4": ""})
    composition = load_project(project)
    assert [(item.tag, item.src, item.composition_id) for item in composition.media] == [
        ("video", "clips/root.mp4", "main"),
        ("video", "compositions/clip.mp4", "card"),  # beside the composition
        ("video", "media/up.mp4", "card"),  # ../ from compositions/
        ("audio", "clips/root.mp4", "card"),  # not beside: the entry document's
        ("audio", "https://cdn.example/a.mp3", "card"),
    ]


def test_the_runtime_is_told_only_of_files_beside_nested_compositions(tmp_path: Path) -> None:
    project = _project(tmp_path, {"index.html": INDEX, CARD: CARD_HTML})
    composition = load_project(project)
    paths = ["index.html", "assets/a.png", "compositions/card.html", "compositions/b.png",
             "compositions/sub/x.png", "compositionsx/y.png"]
    assert files_beside_nested(composition, paths) == [
        "compositions/b.png", "compositions/card.html", "compositions/sub/x.png"]
    # Compositions in the entry's own folder need no lookup.
    (project / "compositions" / "card.html").rename(project / "card.html")
    (project / "index.html").write_text(INDEX.replace("compositions/card.html", "card.html"))
    assert files_beside_nested(load_project(project), paths) == []


def test_fonts_read_a_nested_compositions_css_by_the_same_rule(tmp_path: Path) -> None:
    project = _project(tmp_path, {"index.html": INDEX, CARD: CARD_HTML,
                                  "compositions/b.css": "", "c.css": ""})
    reader = MarkupReader(project.resolve(), RemoteFetcher(tmp_path / "remote"), entry="index.html")
    resolve = reader.resolver(CARD)
    assert resolve("b.css") == PROJECT_BASE + "compositions/b.css"
    assert resolve("c.css") == PROJECT_BASE + "c.css"
    assert resolve("../x.css") == PROJECT_BASE + "x.css"
    assert resolve("https://f.example/z.css") == "https://f.example/z.css"
    assert reader.resolver("index.html")("b.css") == PROJECT_BASE + "b.css"
