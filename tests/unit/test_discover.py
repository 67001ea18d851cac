"""``hfaction compositions``: a project's compositions and what a render would do, read
without a browser; every problem a render would hit listed at once, none raised.

No network: Google Fonts points at a closed loopback port, the bundled font packages and
the machine fonts are stand-ins (as in test_fonts.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from hfaction.cli import main
from hfaction.render.composition import load_project
from hfaction.render.discover import Discovery, discover
from hfaction.render.fonts import (
    FALLBACK_DIR_ENV,
    FALLBACK_FILES,
    FONT_CACHE_ENV,
    GOOGLE_FONTS_ENV,
    bundled_families,
)
from hfaction.render.options import RenderOptions
from tests.conftest import FIXTURES

# Port 9 (discard) on loopback: nothing listens, a fetch is refused at once.
NOWHERE = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _no_network(tmp_path_factory: pytest.TempPathFactory,
                monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-in bundled packages and machine fonts; Google Fonts unreachable."""
    root = tmp_path_factory.mktemp("fonts")
    for pin in bundled_families().values():
        name = pin["package"].rsplit("/", 1)[-1]
        folder = root / "cache" / "fontsource" / f"{name}@{pin['version']}"
        (folder / "files").mkdir(parents=True)
        for weight in (100, 400, 700, 800, 900):
            (folder / "files" / f"{name}-latin-{weight}-normal.woff2").write_bytes(b"face")
        (folder / ".complete").write_text(pin["integrity"])
    (root / "machine").mkdir()
    for name in FALLBACK_FILES:
        (root / "machine" / name).write_bytes(b"font " + name.encode())
    monkeypatch.setenv(FONT_CACHE_ENV, str(root / "cache"))
    monkeypatch.setenv(FALLBACK_DIR_ENV, str(root / "machine"))
    monkeypatch.setenv(GOOGLE_FONTS_ENV, NOWHERE)


def write(project: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return project


def nested_file(inner: str, root: str = "") -> str:
    return (f"<!doctype html><html><body><template><div {root}>{inner}</div></template>"
            "</body></html>")


TREE = {
    "index.html": """<!doctype html>
<html data-composition-variables='[{"id":"title","type":"string","label":"Title","default":"Hi"}]'>
<body>
<div id="root" data-composition-id="main" data-width="640" data-height="360" data-duration="4"
     data-fps="24">
  <div id="intro-host" data-composition-src="compositions/intro.html"
       data-composition-id="intro" data-start="0.5" data-duration="2" data-width="320"
       data-height="180"></div>
  <div data-composition-src="compositions/outro.html" data-start="3"></div>
</div>
</body></html>
""",
    "compositions/intro.html": nested_file(
        '<div data-composition-src="compositions/parts/badge.html" data-composition-id="badge" '
        'data-start="1" data-duration="0.5"></div>',
        'data-composition-id="intro"'),
    "compositions/parts/badge.html": nested_file("", 'data-composition-id="badge" '
                                                 'data-width="64" data-height="40"'),
    "compositions/outro.html": nested_file("", 'data-composition-id="outro" data-width="640" '
                                           'data-height="360" data-duration="1"'),
}


def by_id(found: Discovery) -> dict[str, object]:
    return {item.id: item for item in found.compositions}


# --- the composition tree -------------------------------------------------------------------


def test_a_nested_tree_lists_every_composition_with_size_timing_and_children(
        tmp_path: Path) -> None:
    found = discover(write(tmp_path, TREE))
    assert found.errors == []
    assert [item.id for item in found.compositions] == ["main", "intro", "badge", "outro"]
    main_, intro, badge, outro = found.compositions
    assert (main_.parent, main_.children) == (None, ["intro", "outro"])
    assert (intro.parent, intro.children, badge.parent) == ("main", ["badge"], "intro")
    assert (main_.width, main_.height, main_.duration, main_.duration_source) == (
        640, 360, Fraction(4), "data-duration")
    # A host's data-width/height win; without them the nested root's (as the page mounts it).
    assert (intro.width, intro.height, badge.width, badge.height) == (320, 180, 64, 40)
    assert (intro.file, intro.where) == ("compositions/intro.html", "index.html:6")
    assert (intro.start, intro.duration, intro.duration_source) == (
        Fraction(1, 2), Fraction(2), "host data-duration")
    assert badge.start == Fraction(3, 2)  # on the root timeline: 0.5 + 1
    # No host data-duration: it lasts as long as the root, its timeline holding its end.
    assert (outro.start, outro.duration, outro.duration_source) == (Fraction(3), None, "timeline")
    assert {item.fps for item in found.compositions} == {Fraction(24)}
    render = found.render
    assert render is not None
    assert (render.width, render.height, render.fps, render.fps_source) == (
        640, 360, Fraction(24), "data-fps")
    assert (render.frames, render.chunk_size, render.chunks) == (96, 96, 1)
    assert render.timelines == ["main", "intro", "badge", "outro"]
    # What planning's own reading of the project finds.
    assert [item.id for item in found.compositions] == load_project(tmp_path).composition_ids


def test_the_length_comes_from_the_page_when_it_is_not_declared(tmp_path: Path) -> None:
    write(tmp_path / "timeline", {"index.html": '<div data-composition-id="main"></div>'})
    write(tmp_path / "page", {"index.html": '<div data-composition-id="main" data-no-timeline>'
                                            "</div>"})
    timeline, page = discover(tmp_path / "timeline"), discover(tmp_path / "page")
    assert timeline.render is not None and page.render is not None
    assert (timeline.render.duration_source, timeline.render.frames) == ("timeline", None)
    assert (page.render.duration_source, page.render.timelines) == ("page", [])
    # The contract's default size, portrait.
    assert (timeline.render.width, timeline.render.height) == (1080, 1920)
    assert "length from the timeline at render time" in "\n".join(timeline.lines())


@pytest.mark.parametrize("fixture", sorted(
    path.name for path in FIXTURES.iterdir() if (path / "index.html").is_file()))
def test_test_fixtures_list_what_load_project_reads(fixture: str) -> None:
    project = FIXTURES / fixture
    found = discover(project, offline=True)
    loaded = load_project(project)
    assert [item.id for item in found.compositions] == loaded.composition_ids
    root = found.compositions[0]
    assert (root.width, root.height, root.fps, root.duration) == (
        loaded.root.width, loaded.root.height, loaded.root.fps, loaded.root.duration)
    nested = {item.id: item for item in found.compositions[1:]}
    for item in loaded.nested:
        assert (nested[item.composition_id].parent, nested[item.composition_id].start) == (
            item.parent_id, item.start)
    assert sorted((m.tag, m.src, m.start) for c in found.compositions for m in c.media) == \
        sorted((m.tag, m.src, m.start) for m in loaded.media)


# --- every problem at once ------------------------------------------------------------------


BROKEN = {
    "index.html": """<!doctype html>
<html><head><script src="vendor/gsap.min.js"></script></head><body>
<div data-composition-id="main" data-width="640" data-height="360" data-duration="2">
  <div id="a" class="clip" data-start="b" data-duration="1"></div>
  <div id="b" class="clip" data-start="a" data-duration="1"></div>
  <audio id="music" src="music.wav" data-start="0"></audio>
  <div data-composition-src="compositions/missing.html" data-composition-id="gone"
       data-start="0" data-duration="1"></div>
  <div data-composition-src="compositions/loop.html" data-composition-id="loop"
       data-start="0" data-duration="1"></div>
</div></body></html>
""",
    "compositions/loop.html": nested_file(
        '<div data-composition-src="compositions/loop.html" data-composition-id="again" '
        'data-start="0"></div>', 'data-composition-id="loop"'),
}


def test_a_cycle_and_missing_files_are_listed_together_and_nothing_is_raised(
        tmp_path: Path) -> None:
    found = discover(write(tmp_path, BROKEN))
    codes = [(problem.code, problem.where) for problem in found.errors]
    assert codes == [
        ("CLIP_REFERENCE_CYCLE", "index.html:4"),
        ("MEDIA_NOT_FOUND", "index.html:6"),
        ("NESTED_COMPOSITION_ERROR", "index.html:7"),  # compositions/missing.html
        ("NESTED_COMPOSITION_ERROR", "compositions/loop.html:1"),  # embeds itself
        ("PAGE_SCRIPT_ERROR", "index.html:2"),  # vendor/gsap.min.js
    ]
    messages = [problem.message for problem in found.errors]
    assert "b -> a -> b" in messages[0]
    assert "compositions/missing.html" in messages[2] and "does not exist" in messages[2]
    assert "embeds itself" in messages[3]
    assert found.exit_code == 2
    # The rest is still read: every composition the hosts name, and the render.
    assert [item.id for item in found.compositions] == ["main", "gone", "loop"]
    assert found.render is not None and found.render.frames == 60


def test_the_command_prints_one_line_per_error_and_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compositions", str(write(tmp_path, BROKEN))])
    captured = capsys.readouterr()
    assert code == 2
    errors = [line for line in captured.err.splitlines() if line.strip()]
    assert len(errors) == 5
    assert all(line.startswith("error: ") for line in errors)
    assert "CLIP_REFERENCE_CYCLE" in errors[0]
    assert "Traceback" not in captured.err + captured.out
    assert "main: 640x360, 30 fps, 2s (declared data-duration)" in captured.out


def test_a_missing_project_is_one_error(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compositions", str(tmp_path / "nowhere"), "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert [error["code"] for error in document["errors"]] == ["PROJECT_NOT_FOUND"]
    assert document["compositions"] == [] and document["render"] is None


def test_a_project_without_a_root_is_one_error(tmp_path: Path) -> None:
    found = discover(write(tmp_path, {"index.html": "<p>no composition</p>"}))
    assert [problem.code for problem in found.errors] == ["NO_COMPOSITION_ROOT"]


def test_bad_root_attributes_are_each_listed(tmp_path: Path) -> None:
    found = discover(write(tmp_path, {"index.html": (
        '<div data-composition-id="main" data-width="wide" data-height="9000" '
        'data-duration="-1" data-fps="0"></div>')}))
    assert sorted(problem.code for problem in found.errors) == [
        "INVALID_DURATION", "INVALID_FPS", "INVALID_SIZE", "INVALID_SIZE"]


# --- variables ------------------------------------------------------------------------------


VARIABLES = {
    "index.html": """<!doctype html>
<html data-composition-variables='[
  {"id":"title","type":"string","label":"Title","default":"Hello"},
  {"id":"count","type":"number","label":"Count","default":3},
  {"id":"dark","type":"boolean","default":false},
  {"id":"accent","type":"color","label":"Accent"}]'>
<body><div data-composition-id="main" data-width="320" data-height="180" data-duration="1">
  <div data-composition-src="card.html" data-composition-id="card" data-start="0"
       data-duration="1" data-variable-values='{"name":"Ada"}'></div>
</div></body></html>
""",
    "card.html": nested_file("", 'data-composition-id="card" data-composition-variables=\''
                             '[{"id":"name","type":"string","default":"you"},'
                             '{"id":"size","type":"number","default":12}]\''),
}


def test_variables_have_their_types_defaults_and_the_values_a_render_uses(
        tmp_path: Path) -> None:
    options = RenderOptions(variables={"count": "7", "dark": "yes"})
    found = discover(write(tmp_path, VARIABLES), options)
    assert found.errors == []
    root, card = found.compositions
    assert [(v.id, v.type, v.label, v.default, v.value) for v in root.variables] == [
        ("title", "string", "Title", "Hello", "Hello"),
        ("count", "number", "Count", 3, 7),
        ("dark", "boolean", None, False, True),
        ("accent", "color", "Accent", None, None),
    ]
    # A nested composition's own, with its host's data-variable-values.
    assert [(v.id, v.default, v.value) for v in card.variables] == [
        ("name", "you", "Ada"), ("size", 12, 12)]
    assert found.render is not None
    assert found.render.variables == {"title": "Hello", "count": 7, "dark": True}


@pytest.mark.parametrize(("given", "message"), [
    ({"count": "many"}, "'count' is a number"),
    ({"nope": "1"}, "'nope' is not declared"),
])
def test_a_bad_variable_value_is_listed(tmp_path: Path, given: dict[str, str],
                                        message: str) -> None:
    found = discover(write(tmp_path, VARIABLES), RenderOptions(variables=given))
    assert [problem.code for problem in found.errors] == ["INVALID_VARIABLE"]
    assert message in found.errors[0].message
    assert [item.id for item in found.compositions] == ["main", "card"]


# --- options --------------------------------------------------------------------------------


def test_fps_and_size_options_as_planning_reads_them(tmp_path: Path) -> None:
    write(tmp_path, {"index.html": '<div data-composition-id="main" data-duration="2"></div>'})
    found = discover(tmp_path, RenderOptions(fps="60", width=640, height=360, chunk_size=50))
    assert found.errors == [] and found.render is not None
    assert (found.render.width, found.render.height) == (640, 360)  # no declared size: set
    assert (found.render.fps, found.render.fps_source, found.render.frames) == (
        Fraction(60), "--fps", 120)
    assert (found.render.chunk_size, found.render.chunks) == (50, 3)
    declared = discover(write(tmp_path / "declared", TREE), RenderOptions(width=1280))
    assert [problem.code for problem in declared.errors] == ["INVALID_SIZE"]
    assert "--width 1280 differs" in declared.errors[0].message


# --- fonts and media ------------------------------------------------------------------------


FONTS = {
    "index.html": """<!doctype html><html><head><style>
@font-face { font-family: "Brand"; src: url(fonts/brand.woff2); }
@font-face { font-family: "Logo"; src: url(fonts/logo.woff2); }
h1 { font-family: "Brand", sans-serif; }
h2 { font-family: Logo; }
p { font-family: "Unheard Of Sans", serif; }
em { font-family: Arial, sans-serif; }
</style></head><body>
<div data-composition-id="main" data-width="320" data-height="180" data-duration="1"></div>
</body></html>
""",
    "fonts/logo.woff2": "face",
}


def test_fonts_are_listed_with_where_they_come_from_and_unfetchable_ones_are_errors(
        tmp_path: Path) -> None:
    found = discover(write(tmp_path, FONTS))
    fonts = {(font.family, font.source): font for font in found.compositions[0].fonts}
    assert fonts["Logo", "project"].files == ("fonts/logo.woff2",)
    assert fonts["Arial", "bundled"].detail == "Inter"  # HyperFrames' alias
    assert fonts["Unheard Of Sans", "google"].detail == "Google Fonts"
    problems = {problem.code: problem for problem in found.errors}
    assert sorted(problems) == ["FONT_FETCH_FAILED"]
    assert [problem.where for problem in found.errors] == ["index.html:2", "index.html:6"]
    missing, unknown = (problem.message for problem in found.errors)
    assert "'Brand'" in missing and "fonts/brand.woff2" in missing
    assert "'Unheard Of Sans'" in unknown and NOWHERE in unknown
    assert found.exit_code == 2


def test_offline_fetches_nothing_but_still_checks_project_files(tmp_path: Path) -> None:
    found = discover(write(tmp_path, FONTS), offline=True)
    assert [(problem.code, problem.where) for problem in found.errors] == [
        ("FONT_FETCH_FAILED", "index.html:2")]
    assert not found.checked_network
    assert "offline: remote fonts, stylesheets and media were not fetched" in found.lines()


def test_machine_fonts_first_are_warnings_and_errors_with_strict_fonts(tmp_path: Path) -> None:
    write(tmp_path, {"index.html": (
        '<html><head><style>p { font-family: system-ui, sans-serif; }</style></head><body>'
        '<div data-composition-id="main" data-width="320" data-height="180" '
        'data-duration="1"></div></body></html>')})
    relaxed = discover(tmp_path)
    assert relaxed.errors == [] and len(relaxed.warnings) == 1
    assert relaxed.warnings[0].startswith("SYSTEM_FONT_USED: index.html:1 names 'system-ui'")
    strict = discover(tmp_path, RenderOptions(strict_fonts=True))
    assert [(problem.code, problem.where) for problem in strict.errors] == [
        ("SYSTEM_FONT_USED", "index.html:1")]


def test_media_is_listed_on_the_root_timeline_and_empty_files_are_errors(
        tmp_path: Path) -> None:
    write(tmp_path, {
        "index.html": (
            '<div data-composition-id="main" data-width="320" data-height="180" '
            'data-duration="3"><div data-composition-src="inner.html" data-composition-id="in"'
            ' data-start="1" data-duration="2"></div></div>'),
        "inner.html": nested_file('<video id="v" src="clip.mp4" data-start="0.5" '
                                  'data-duration="1"></video>', 'data-composition-id="in"'),
        "clip.mp4": ""})
    found = discover(tmp_path)
    (media,) = found.compositions[1].media
    assert (media.tag, media.id, media.src, media.start, media.duration, media.remote) == (
        "video", "v", "clip.mp4", Fraction(3, 2), Fraction(1), False)
    assert [problem.code for problem in found.errors] == ["MEDIA_EMPTY"]


# --- the command ------------------------------------------------------------------------------


TOP_KEYS = {"project", "entry", "compositions", "render", "warnings", "network", "errors"}
COMPOSITION_KEYS = {"id", "file", "where", "parent", "width", "height", "fps", "start",
                    "duration", "duration_source", "timeline", "variables", "media", "fonts",
                    "children"}
RENDER_KEYS = {"composition_id", "width", "height", "output_width", "output_height", "fps",
               "fps_source", "duration", "duration_source", "frames", "chunk_size", "chunks",
               "timelines", "variables", "audio"}


def test_json_is_one_document_of_a_fixed_schema(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, VARIABLES)
    assert main(["compositions", str(tmp_path), "--json", "--var", "count=5"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert captured.err == ""
    assert set(document) == TOP_KEYS
    assert (document["project"], document["entry"], document["errors"]) == (
        str(tmp_path), "index.html", [])
    root, card = document["compositions"]
    assert set(root) == set(card) == COMPOSITION_KEYS
    assert (root["id"], root["width"], root["height"], root["fps"], root["duration"],
            root["duration_source"], root["children"]) == (
        "main", 320, 180, "30", 1.0, "data-duration", ["card"])
    assert root["variables"][1] == {"id": "count", "type": "number", "label": "Count",
                                    "default": 3, "value": 5}
    assert (card["parent"], card["start"], card["width"]) == ("main", 0.0, None)
    assert set(document["render"]) == RENDER_KEYS
    assert (document["render"]["frames"], document["render"]["chunks"]) == (30, 1)


def test_json_errors_have_code_message_where_and_hint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compositions", str(write(tmp_path, BROKEN)), "--json"]) == 2
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert captured.err == ""  # with --json the errors are in the document
    assert len(document["errors"]) == 5
    assert all(set(error) == {"code", "message", "where", "hint"}
               for error in document["errors"])


def test_text_lists_the_tree_and_the_render(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compositions", str(write(tmp_path, TREE))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "  variables: title (string) = 'Hi'"
    del lines[2]
    assert lines[1] == ("main: 640x360, 24 fps, 4s (declared data-duration) [index.html:4]")
    assert lines[2].startswith("  intro: 320x180, 24 fps, from 0.5s, 2s (data-duration of its "
                               "host) [compositions/intro.html, host index.html:6]")
    assert lines[3].startswith("    badge: 64x40")
    assert lines[4].startswith("  outro: 640x360")
    assert lines[-1] == "render: 96 frames (4s at 24 fps), 640x360, 1 chunk of 96"


LIGHT = """
import sys
from hfaction.cli import main
code = main(sys.argv[1:])
heavy = sorted(name for name in sys.modules
               if name.split('.')[0] in ('playwright', 'boto3', 'botocore')
               or name in ('hfaction.render.planner', 'hfaction.render.capture',
                           'hfaction.render.local', 'hfaction.render.chunk',
                           'hfaction.render.browser'))
assert code == 0, code
assert not heavy, heavy
"""


def test_the_command_loads_neither_playwright_nor_the_planner() -> None:
    run = subprocess.run([sys.executable, "-c", LIGHT, "compositions",
                          str(FIXTURES / "nested-css"), "--offline"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "box: 100x100" in run.stdout
