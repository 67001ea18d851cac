"""Static reading of compositions: parsing, clip start references, projects, variables."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from hfaction.errors import (
    ClipReferenceCycle,
    ClipReferenceUnresolved,
    EntryNotFound,
    InvalidDuration,
    InvalidFps,
    InvalidSize,
    InvalidVariable,
    NestedCompositionError,
    NoCompositionRoot,
    UnsafePath,
)
from hfaction.render.composition import (
    DEFAULT_FPS,
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    Element,
    load_project,
    parse_html,
    resolve_starts,
    resolve_variables,
    safe_relative,
)


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def clip(clip_id: str | None, start: str, duration: str | None = None, *, line: int = 1,
         tag: str = "div") -> Element:
    attrs = {"data-start": start}
    if clip_id is not None:
        attrs["id"] = clip_id
    if duration is not None:
        attrs["data-duration"] = duration
    return Element(tag, attrs, "main", "index.html", line)


def root_html(attrs: str = 'data-width="640" data-height="360" data-duration="5"',
              body: str = "", html_attrs: str = "") -> str:
    return (f"<!doctype html>\n<html{html_attrs}>\n<body>\n"
            f'<div id="stage" data-composition-id="main" data-start="0" {attrs}>\n'
            f"{body}\n</div>\n</body>\n</html>\n")


# --- parse_html -------------------------------------------------------------------------


PAGE = """<!doctype html>
<html lang="en" data-composition-variables='[{"id": "title", "type": "string"}]'>
<head>
<script src="https://cdn.example.com/gsap.min.js"></script>
<script>const fake = '<div data-start="9" id="nope">';</script>
</head>
<body>
<div id="stage" data-composition-id="main" data-width="1920" data-height="1080" data-start="0">
  <div id="intro" class="clip" data-start="0" data-duration="2">Hello</div>
  <img id="logo" src="logo.png" data-start="intro" data-duration="1">
  <video id="bg" src="bg.mp4" data-start="0.5" data-duration="3"></video>
  <div id="card-host" data-composition-id="card"
       data-composition-src="compositions/card.html" data-start="1" data-duration="2"></div>
  <div id="plain">no timing</div>
</div>
<div id="after" data-start="4" data-duration="1"></div>
</body>
</html>
"""


def test_parse_html_finds_roots_timed_and_hosts_with_lines() -> None:
    parsed = parse_html(PAGE, "index.html")
    assert parsed.source == "index.html"
    assert parsed.html_attrs["lang"] == "en"
    assert "title" in parsed.html_attrs["data-composition-variables"]

    assert [(r.attrs["data-composition-id"], r.line) for r in parsed.roots] == [
        ("main", 8), ("card", 12)]
    root = parsed.roots[0]
    assert root.composition_id is None  # the root belongs to no outer composition
    assert root.where == "index.html:8"

    timed = {element.attrs.get("id"): element for element in parsed.timed}
    # The fake element inside <script> text is not an element; the root is not timed.
    assert set(timed) == {"intro", "logo", "bg", "card-host", "after"}
    assert timed["intro"].line == 9
    assert timed["logo"].line == 10
    assert timed["logo"].tag == "img"
    assert timed["bg"].line == 11
    assert timed["card-host"].line == 12
    assert timed["after"].line == 16
    assert timed["intro"].composition_id == "main"
    assert timed["card-host"].composition_id == "main"
    assert timed["after"].composition_id is None  # outside the root
    assert timed["intro"].classes == {"clip"}

    assert [(h.attrs["id"], h.line, h.composition_id) for h in parsed.hosts] == [
        ("card-host", 12, "main")]


def test_parse_html_void_and_self_closing_elements_do_not_swallow_siblings() -> None:
    text = ('<div data-composition-id="a"><img src="x.png"><br><span id="s" data-start="1">'
            '</span></div>\n<div data-composition-id="b"><i id="t" data-start="2"/>'
            '<b id="u" data-start="3"></b></div>')
    parsed = parse_html(text, "x.html")
    owners = {e.attrs["id"]: e.composition_id for e in parsed.timed}
    assert owners == {"s": "a", "t": "b", "u": "b"}
    assert [e.line for e in parsed.timed] == [1, 2, 2]


# --- resolve_starts ---------------------------------------------------------------------


def test_resolve_starts_numbers() -> None:
    resolved = resolve_starts([clip("a", "0"), clip("b", "1.5"), clip("c", " 2 "),
                               clip(None, ".25")])
    assert resolved == {"0": 0, "1.5": Fraction(3, 2), "2": 2, ".25": Fraction(1, 4)}
    assert all(isinstance(value, Fraction) for value in resolved.values())


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("intro", Fraction(3)),  # intro runs 1..3
        ("intro + 0.5", Fraction(7, 2)),
        ("intro+0.5", Fraction(7, 2)),
        ("intro - 0.25", Fraction(11, 4)),
        ("intro-0.25", Fraction(11, 4)),
        ("intro  +  .5", Fraction(7, 2)),
        ("intro + 2", Fraction(5)),
    ],
)
def test_resolve_starts_references(expression: str, expected: Fraction) -> None:
    resolved = resolve_starts([clip("intro", "1", "2"), clip("next", expression, "1")])
    assert resolved[expression.strip()] == expected
    assert resolved["1"] == 1


def test_resolve_starts_chains_in_any_order() -> None:
    clips = [
        clip("c", "b + 1", "1"),  # listed before what it depends on
        clip("b", "a - 0.5", "2"),
        clip("a", "0.5", "1.5"),
    ]
    resolved = resolve_starts(clips)
    assert resolved["0.5"] == Fraction(1, 2)
    assert resolved["a - 0.5"] == Fraction(3, 2)  # a ends at 2
    assert resolved["b + 1"] == Fraction(9, 2)  # b ends at 3.5


def test_resolve_starts_ids_with_hyphens() -> None:
    resolved = resolve_starts([clip("title-card", "0", "2"), clip("x", "title-card - 0.5"),
                               clip("y", "title-card")])
    assert resolved["title-card - 0.5"] == Fraction(3, 2)
    assert resolved["title-card"] == 2


def test_resolve_starts_clamps_at_zero() -> None:
    resolved = resolve_starts([clip("intro", "0", "1"), clip("x", "intro - 5", "1")])
    assert resolved["intro - 5"] == 0


def test_resolve_starts_cycle_names_the_cycle_and_place() -> None:
    clips = [clip("a", "b", "1", line=7), clip("b", "a + 1", "1", line=8)]
    with pytest.raises(ClipReferenceCycle) as caught:
        resolve_starts(clips)
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "->" in message
    assert "a" in message.split("(")[1] and "b" in message.split("(")[1]
    assert "index.html:7" in message or "index.html:8" in message
    assert "\n" not in message


def test_resolve_starts_self_reference_is_a_cycle() -> None:
    with pytest.raises(ClipReferenceCycle) as caught:
        resolve_starts([clip("a", "a", "1", line=3)])
    assert "a -> a" in str(caught.value)
    assert "index.html:3" in str(caught.value)


def test_resolve_starts_unknown_id_lists_known_ids() -> None:
    clips = [clip("intro", "0", "1"), clip("body", "1", "1"), clip("x", "outro + 1", line=5)]
    with pytest.raises(ClipReferenceUnresolved) as caught:
        resolve_starts(clips)
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "'outro'" in message
    assert "body" in message and "intro" in message
    assert "index.html:5" in message


def test_resolve_starts_reference_to_clip_without_duration() -> None:
    clips = [clip("intro", "0", None, line=2), clip("x", "intro + 0.5", "1", line=3)]
    with pytest.raises(ClipReferenceUnresolved) as caught:
        resolve_starts(clips)
    message = str(caught.value)
    assert "intro" in message
    assert "index.html:3" in message  # where the reference is
    assert "index.html:2" in message  # where the referenced clip is


@pytest.mark.parametrize("expression", ["intro +", "1.5s", "+ intro", "intro * 2", "#$%"])
def test_resolve_starts_garbage_is_unresolved(expression: str) -> None:
    with pytest.raises(ClipReferenceUnresolved):
        resolve_starts([clip("intro", "0", "1"), clip("x", expression)])


# --- load_project -------------------------------------------------------------------------


def test_load_project_defaults(tmp_path: Path) -> None:
    write(tmp_path, "index.html", '<div data-composition-id="main" data-start="0"></div>')
    project = load_project(tmp_path)
    root = project.root
    assert (root.width, root.height) == (DEFAULT_WIDTH, DEFAULT_HEIGHT) == (1080, 1920)
    assert root.fps == DEFAULT_FPS == 30
    assert root.duration is None  # read from the timeline later
    assert root.no_timeline is False
    assert root.size_declared is False
    assert root.composition_id == "main"
    assert root.where == "index.html:1"
    assert project.entry == "index.html"
    assert project.files == ["index.html"]
    assert project.nested == []
    assert project.variables == []
    assert project.composition_ids == ["main"]


def test_load_project_reads_declared_attributes(tmp_path: Path) -> None:
    write(tmp_path, "index.html", root_html(
        'data-width="1920" data-height="1080" data-duration="4.5" data-fps="29.97" '
        "data-no-timeline",
        body='<audio src="a.mp3" data-start="1" data-duration="2.5"></audio>'))
    project = load_project(tmp_path)
    root = project.root
    assert (root.width, root.height) == (1920, 1080)
    assert root.duration == Fraction(9, 2)
    assert root.fps == Fraction(30000, 1001)
    assert root.no_timeline is True
    assert root.size_declared is True
    assert project.timed_media_ends == [Fraction(7, 2)]
    assert project.starts == {"main": {"1": 1}}


def test_load_project_zero_duration_means_timeline(tmp_path: Path) -> None:
    write(tmp_path, "index.html", root_html('data-duration="0"'))
    assert load_project(tmp_path).root.duration is None


@pytest.mark.parametrize(
    "attrs",
    ['data-width="15" data-height="360"', 'data-width="7681" data-height="360"',
     'data-width="abc" data-height="360"', 'data-width="640" data-height="15"',
     'data-width="640" data-height="7681"', 'data-width="640" data-height="1.5"',
     'data-width="-640"'],
)
def test_load_project_invalid_sizes(tmp_path: Path, attrs: str) -> None:
    write(tmp_path, "index.html", root_html(attrs))
    with pytest.raises(InvalidSize) as caught:
        load_project(tmp_path)
    assert caught.value.exit_code == 2
    assert "index.html:4" in str(caught.value)


@pytest.mark.parametrize("attrs", ['data-width="16" data-height="7680"',
                                   'data-width="7680" data-height="16"'])
def test_load_project_size_bounds_inclusive(tmp_path: Path, attrs: str) -> None:
    write(tmp_path, "index.html", root_html(attrs))
    root = load_project(tmp_path).root
    assert {root.width, root.height} == {16, 7680}


def test_load_project_invalid_fps_and_duration(tmp_path: Path) -> None:
    write(tmp_path, "index.html", root_html('data-fps="0"'))
    with pytest.raises(InvalidFps):
        load_project(tmp_path)
    write(tmp_path, "index.html", root_html('data-duration="-2"'))
    with pytest.raises(InvalidDuration):
        load_project(tmp_path)


def test_load_project_without_root(tmp_path: Path) -> None:
    write(tmp_path, "index.html", "<html><body><div data-start='0'>x</div></body></html>")
    with pytest.raises(NoCompositionRoot) as caught:
        load_project(tmp_path)
    assert caught.value.exit_code == 2
    assert "index.html" in str(caught.value)


def test_load_project_empty_root_id(tmp_path: Path) -> None:
    write(tmp_path, "index.html", '<div data-composition-id=" "></div>')
    with pytest.raises(NoCompositionRoot):
        load_project(tmp_path)


def test_load_project_missing_entry(tmp_path: Path) -> None:
    with pytest.raises(EntryNotFound) as caught:
        load_project(tmp_path)
    assert caught.value.exit_code == 2
    assert "index.html" in str(caught.value)
    write(tmp_path, "index.html", root_html())
    with pytest.raises(EntryNotFound) as caught:
        load_project(tmp_path, "other.html")
    assert "other.html" in str(caught.value)


def test_load_project_other_entry(tmp_path: Path) -> None:
    write(tmp_path, "scenes/one.html", root_html())
    project = load_project(tmp_path, "scenes/one.html")
    assert project.entry == "scenes/one.html"
    assert project.root.where == "scenes/one.html:4"


@pytest.mark.parametrize("entry", ["../index.html", "/etc/passwd", "a/../../x.html", ""])
def test_load_project_entry_outside_project(tmp_path: Path, entry: str) -> None:
    project_dir = tmp_path / "project"
    write(project_dir, "index.html", root_html())
    write(tmp_path, "index.html", root_html())
    with pytest.raises(UnsafePath):
        load_project(project_dir, entry)


CARD = """<template id="card-template">
  <div data-composition-id="card" data-width="640" data-height="360">
    <div id="a" class="clip" data-start="0.25" data-duration="1"></div>
    <audio src="x.mp3" data-start="a" data-duration="1"></audio>
  </div>
  <style>.clip { color: red; }</style>
  <script>window.__timelines = window.__timelines || {};</script>
</template>
"""


def test_load_project_nested_composition_offsets(tmp_path: Path) -> None:
    write(tmp_path, "index.html", root_html(
        'data-width="640" data-height="360" data-duration="6"',
        body='<div id="intro" class="clip" data-start="0" data-duration="2"></div>\n'
             '<div data-composition-id="card" data-composition-src="./compositions/card.html"\n'
             '     data-start="intro" data-duration="3" data-playback-start="0.5"\n'
             '     data-width="640" data-height="360"></div>'))
    write(tmp_path, "compositions/card.html", CARD)
    project = load_project(tmp_path)
    assert project.files == ["index.html", "compositions/card.html"]
    assert project.composition_ids == ["main", "card"]
    [nested] = project.nested
    assert nested.composition_id == "card"
    assert nested.src == "compositions/card.html"
    assert nested.parent_id == "main"
    assert nested.start == 2  # the end of intro
    assert nested.duration == 3
    assert nested.playback_start == Fraction(1, 2)
    assert nested.no_timeline is False
    assert nested.where == "index.html:6"
    # Starts inside the nested composition are local to it.
    assert project.starts["card"] == {"0.25": Fraction(1, 4), "a": Fraction(5, 4)}
    assert project.starts["main"] == {"0": 0, "intro": 2}
    # The audio runs locally 1.25..2.25; local time = t - host.start + playback start,
    # so it ends at t = 2.25 + 2 - 0.5 = 3.75.
    assert project.timed_media_ends == [Fraction(15, 4)]


def test_load_project_nested_twice_deep(tmp_path: Path) -> None:
    write(tmp_path, "index.html", root_html(
        body='<div data-composition-id="outer" data-composition-src="compositions/outer.html"'
             ' data-start="1" data-duration="4"></div>'))
    write(tmp_path, "compositions/outer.html",
          '<template><div data-composition-id="outer">\n'
          '<div data-composition-id="inner" data-composition-src="compositions/inner.html" '
          'data-start="2" data-duration="1" data-playback-start="0.25"></div>\n'
          "</div></template>")
    write(tmp_path, "compositions/inner.html",
          '<template><div data-composition-id="inner" data-no-timeline>'
          '<video src="v.mp4" data-start="0.5" data-duration="0.5"></video></div></template>')
    project = load_project(tmp_path)
    by_id = {n.composition_id: n for n in project.nested}
    assert by_id["outer"].start == 1
    assert by_id["outer"].parent_id == "main"
    assert by_id["inner"].start == 3  # 1 (outer host) + 2 (inner host within outer)
    assert by_id["inner"].parent_id == "outer"
    assert by_id["inner"].playback_start == Fraction(1, 4)
    assert by_id["inner"].no_timeline is True  # declared on the inner file's root
    # Video local end 1.0 -> t = 3 - 0.25 + 1 = 3.75.
    assert project.timed_media_ends == [Fraction(15, 4)]


def test_load_project_nested_id_from_file_when_host_has_none(tmp_path: Path) -> None:
    write(tmp_path, "index.html", root_html(
        body='<div data-composition-src="compositions/card.html" data-start="0.5"></div>'))
    write(tmp_path, "compositions/card.html", CARD)
    [nested] = load_project(tmp_path).nested
    assert nested.composition_id == "card"
    assert nested.start == Fraction(1, 2)
    assert nested.duration is None


def test_load_project_nested_self_embedding(tmp_path: Path) -> None:
    write(tmp_path, "index.html", root_html(
        body='<div data-composition-id="loop" data-composition-src="compositions/loop.html" '
             'data-start="0" data-duration="1"></div>'))
    write(tmp_path, "compositions/loop.html",
          '<template><div data-composition-id="loop">\n'
          '<div data-composition-id="again" data-composition-src="./compositions/loop.html" '
          'data-start="0"></div></div></template>')
    with pytest.raises(NestedCompositionError) as caught:
        load_project(tmp_path)
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "compositions/loop.html:2" in message
    assert "index.html -> compositions/loop.html -> compositions/loop.html" in message


def test_load_project_nested_embedding_the_entry(tmp_path: Path) -> None:
    write(tmp_path, "index.html", root_html(
        body='<div data-composition-id="x" data-composition-src="x.html" data-start="0"></div>'))
    write(tmp_path, "x.html", '<template><div data-composition-id="x">'
          '<div data-composition-id="y" data-composition-src="index.html" data-start="0">'
          "</div></div></template>")
    with pytest.raises(NestedCompositionError):
        load_project(tmp_path)


def test_load_project_nested_missing_file(tmp_path: Path) -> None:
    write(tmp_path, "index.html", root_html(
        body='<div data-composition-id="x" data-composition-src="compositions/nope.html" '
             'data-start="0"></div>'))
    with pytest.raises(NestedCompositionError) as caught:
        load_project(tmp_path)
    assert "compositions/nope.html" in str(caught.value)


@pytest.mark.parametrize("src", ["../x.html", "compositions/../../x.html", "/etc/x.html"])
def test_load_project_nested_src_outside_project(tmp_path: Path, src: str) -> None:
    project_dir = tmp_path / "project"
    write(project_dir, "index.html", root_html(
        body=f'<div data-composition-id="x" data-composition-src="{src}" data-start="0"></div>'))
    write(tmp_path, "x.html", CARD)
    with pytest.raises(UnsafePath) as caught:
        load_project(project_dir)
    assert caught.value.exit_code == 2
    assert src in str(caught.value)


def test_load_project_nested_src_is_relative_to_the_entry(tmp_path: Path) -> None:
    write(tmp_path, "scenes/main.html", root_html(
        body='<div data-composition-id="card" data-composition-src="./compositions/card.html" '
             'data-start="0" data-duration="1"></div>'))
    write(tmp_path, "scenes/compositions/card.html", CARD)
    project = load_project(tmp_path, "scenes/main.html")
    assert [n.src for n in project.nested] == ["scenes/compositions/card.html"]


def test_safe_relative_normalises(tmp_path: Path) -> None:
    assert str(safe_relative(tmp_path, "./a/./b.html?x=1#top", where="w")) == "a/b.html"
    with pytest.raises(UnsafePath):
        safe_relative(tmp_path, "a/../../b.html", where="w")


def test_safe_relative_refuses_symlink_escape(tmp_path: Path) -> None:
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (tmp_path / "outside").mkdir()
    (project_dir / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(UnsafePath):
        safe_relative(project_dir, "link/x.html", where="w")


def test_safe_relative_follows_links_only_when_asked(tmp_path: Path) -> None:
    # A frozen plan holds no links, so there a path leading outside is refused; in the
    # user's own project their links are followed (planning freezes what they lead to).
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (tmp_path / "outside").mkdir()
    (project_dir / "link").symlink_to(tmp_path / "outside")
    assert str(safe_relative(project_dir, "./link/x.html", where="w",
                             follow_links=True)) == "link/x.html"
    for text in ("../x.html", "link/../../x.html", "/etc/passwd"):
        with pytest.raises(UnsafePath):
            safe_relative(project_dir, text, where="w", follow_links=True)


def test_load_project_reads_a_composition_through_a_linked_folder(tmp_path: Path) -> None:
    # src/compositions -> ../shared/compositions, beside the project.
    project_dir = tmp_path / "src"
    write(project_dir, "index.html", root_html(
        body='<div data-composition-id="card" data-composition-src="compositions/card.html" '
             'data-start="0" data-duration="1"></div>'))
    write(tmp_path, "shared/compositions/card.html", CARD)
    (project_dir / "compositions").symlink_to("../shared/compositions",
                                              target_is_directory=True)
    project = load_project(project_dir)
    assert [n.src for n in project.nested] == ["compositions/card.html"]
    assert project.files == ["index.html", "compositions/card.html"]


# --- variables ------------------------------------------------------------------------------


DECLARED: list[dict[str, object]] = [
    {"id": "title", "type": "string", "label": "Title", "default": "Hello"},
    {"id": "count", "type": "number", "label": "Count", "default": 3},
    {"id": "show", "type": "boolean", "label": "Show", "default": False},
    {"id": "note", "type": "string", "label": "Note"},  # no default
]


def test_resolve_variables_defaults() -> None:
    assert resolve_variables(DECLARED, {}) == {"title": "Hello", "count": 3, "show": False}


def test_resolve_variables_overrides_and_coercion() -> None:
    values = resolve_variables(DECLARED, {"title": "Bye", "count": "4", "show": "true",
                                          "note": "n"})
    assert values == {"title": "Bye", "count": 4, "show": True, "note": "n"}
    assert isinstance(values["count"], int)
    assert resolve_variables(DECLARED, {"count": "2.5"})["count"] == 2.5
    assert resolve_variables(DECLARED, {"count": "-1"})["count"] == -1


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("TRUE", True), ("1", True),
                                                ("yes", True), ("false", False), ("0", False),
                                                ("no", False), (" False ", False)])
def test_resolve_variables_booleans(text: str, expected: bool) -> None:
    assert resolve_variables(DECLARED, {"show": text})["show"] is expected


@pytest.mark.parametrize(("given", "name"), [({"count": "many"}, "count"),
                                             ({"show": "maybe"}, "show"),
                                             ({"colour": "red"}, "colour")])
def test_resolve_variables_rejects(given: dict[str, str], name: str) -> None:
    with pytest.raises(InvalidVariable) as caught:
        resolve_variables(DECLARED, given)
    assert caught.value.exit_code == 2
    assert name in str(caught.value)


def test_resolve_variables_unknown_lists_declared() -> None:
    with pytest.raises(InvalidVariable) as caught:
        resolve_variables(DECLARED, {"colour": "red"})
    message = str(caught.value)
    for declared in ("title", "count", "show", "note"):
        assert declared in message
    with pytest.raises(InvalidVariable) as caught:
        resolve_variables([], {"x": "1"})
    assert "none" in str(caught.value)


@pytest.mark.parametrize("text", ["nan", "inf", "-Infinity", "1e400"])
def test_resolve_variables_rejects_non_finite_numbers(text: str) -> None:
    with pytest.raises(InvalidVariable):
        resolve_variables(DECLARED, {"count": text})


def test_load_project_reads_declared_variables(tmp_path: Path) -> None:
    write(tmp_path, "index.html", root_html(
        html_attrs=' data-composition-variables=\'[{"id": "title", "type": "string", '
                   '"label": "Title", "default": "Hi"}]\''))
    project = load_project(tmp_path)
    assert project.variables == [{"id": "title", "type": "string", "label": "Title",
                                  "default": "Hi"}]
    assert resolve_variables(project.variables, {}) == {"title": "Hi"}


@pytest.mark.parametrize("declared", ["not json", '{"id": "x"}', '[{"type": "string"}]',
                                      "[1, 2]"])
def test_load_project_rejects_bad_variable_declarations(tmp_path: Path, declared: str) -> None:
    write(tmp_path, "index.html", root_html(html_attrs=f" data-composition-variables='{declared}'"))
    with pytest.raises(InvalidVariable) as caught:
        load_project(tmp_path)
    assert "index.html" in str(caught.value)
