"""Plan-level pure functions: the plan hash, the runtime config, render size and duration."""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from hfaction.errors import InvalidDuration, InvalidSize, PlanInvalid
from hfaction.render.composition import NestedComposition, ProjectComposition, Root, load_project
from hfaction.render.options import RenderOptions
from hfaction.render.planner import (
    EPOCH_MS,
    _duration,
    _render_size,
    compute_hash,
    runtime_config,
)


def composition(*, width: int = 640, height: int = 360, duration: Fraction | None = None,
                size_declared: bool = True, no_timeline: bool = False,
                nested: list[NestedComposition] | None = None,
                media_ends: list[Fraction] | None = None,
                starts: dict[str, dict[str, Fraction]] | None = None) -> ProjectComposition:
    root = Root(composition_id="main", width=width, height=height, duration=duration,
                fps=Fraction(30), no_timeline=no_timeline, where="index.html:4",
                size_declared=size_declared)
    return ProjectComposition(entry="index.html", root=root, nested=nested or [],
                              starts=starts or {}, variables=[],
                              timed_media_ends=media_ends or [], files=["index.html"])


def nested(composition_id: str, start: str, *, playback: str = "0", duration: str | None = "2",
           no_timeline: bool = False) -> NestedComposition:
    return NestedComposition(
        composition_id=composition_id, src=f"compositions/{composition_id}.html",
        parent_id="main", start=Fraction(start),
        duration=None if duration is None else Fraction(duration),
        playback_start=Fraction(playback), no_timeline=no_timeline, where="index.html:9")


# --- compute_hash ------------------------------------------------------------------------


PLAN: dict[str, Any] = {
    "schema": 1,
    "fps": "30",
    "frames": 150,
    "width": 640,
    "height": 360,
    "encoder": {"quality": "standard", "codec": "libx264", "preset": "superfast", "crf": 20,
                "pix_fmt": "yuv420p"},
    "files": [{"path": "index.html", "size": 10, "sha256": "a" * 64},
              {"path": "logo.png", "size": 20, "sha256": "b" * 64}],
    "runtime": {"rootId": "main", "starts": {"main": {"0": 0.0}}},
}


def test_compute_hash_is_a_sha256_hex() -> None:
    digest = compute_hash(PLAN)
    assert len(digest) == 64
    int(digest, 16)


def test_compute_hash_is_stable_under_key_order() -> None:
    reordered = {key: PLAN[key] for key in reversed(list(PLAN))}
    reordered["encoder"] = {key: PLAN["encoder"][key] for key in reversed(list(PLAN["encoder"]))}
    assert list(reordered) != list(PLAN)
    assert compute_hash(reordered) == compute_hash(PLAN)
    assert compute_hash(copy.deepcopy(PLAN)) == compute_hash(PLAN)


def test_compute_hash_ignores_the_hash_key() -> None:
    with_hash = {**PLAN, "hash": "whatever"}
    assert compute_hash(with_hash) == compute_hash(PLAN)
    assert compute_hash({**PLAN, "hash": compute_hash(PLAN)}) == compute_hash(PLAN)


def _changed(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(PLAN)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["fps"], "30000/1001"),
        (["frames"], 151),
        (["width"], 642),
        (["encoder", "crf"], 21),
        (["encoder", "preset"], "medium"),
        (["files", 1, "sha256"], "c" * 64),
        (["files", 0, "path"], "main.html"),
        (["runtime", "starts", "main", "0"], 0.5),
    ],
)
def test_compute_hash_changes_when_any_field_changes(path: list[Any], value: Any) -> None:
    assert compute_hash(_changed(path, value)) != compute_hash(PLAN)


def test_compute_hash_changes_with_a_new_key() -> None:
    assert compute_hash({**PLAN, "audio": None}) != compute_hash(PLAN)


# --- runtime_config ---------------------------------------------------------------------


def test_runtime_config_contents() -> None:
    comp = composition(
        starts={"main": {"intro": Fraction(2), "0": Fraction(0)},
                "card": {"0.25": Fraction(1, 4)}},
        nested=[nested("card", "2", playback="0.5", duration="3"),
                nested("lower", "1", duration=None)])
    config = runtime_config(comp, Fraction(30000, 1001), {"title": "Hi"}, 7)
    assert config["rootId"] == "main"
    assert (config["fpsNum"], config["fpsDen"]) == (30000, 1001)
    assert config["epochMs"] == EPOCH_MS == 0
    assert config["seed"] == 7
    assert config["variables"] == {"title": "Hi"}
    assert config["timelineIds"] == ["main", "card", "lower"]
    assert config["starts"] == {"main": {"0": 0.0, "intro": 2.0}, "card": {"0.25": 0.25}}
    assert all(isinstance(v, float) for table in config["starts"].values()
               for v in table.values())
    assert config["nested"] == [
        {"id": "card", "offset": 1.5, "playbackStart": 0.5, "duration": 3.0},
        {"id": "lower", "offset": 1.0, "playbackStart": 0.0, "duration": None},
    ]


def test_runtime_config_honours_no_timeline() -> None:
    comp = composition(no_timeline=True,
                       nested=[nested("a", "0", no_timeline=True), nested("b", "1")])
    config = runtime_config(comp, Fraction(30), {}, 0)
    assert config["timelineIds"] == ["b"]
    assert [n["id"] for n in config["nested"]] == ["a", "b"]  # still mounted and offset


def test_runtime_config_from_a_project(tmp_path: Path) -> None:
    (tmp_path / "compositions").mkdir()
    (tmp_path / "index.html").write_text(
        '<div data-composition-id="main" data-no-timeline data-duration="5">\n'
        '<div id="intro" data-start="0" data-duration="1.5"></div>\n'
        '<div data-composition-id="card" data-composition-src="compositions/card.html" '
        'data-start="intro + 0.5" data-playback-start="1" data-duration="2"></div>\n'
        '<div data-composition-id="still" data-composition-src="compositions/still.html" '
        'data-start="0" data-no-timeline></div>\n</div>')
    (tmp_path / "compositions/card.html").write_text(
        '<template><div data-composition-id="card"></div></template>')
    (tmp_path / "compositions/still.html").write_text(
        '<template><div data-composition-id="still"></div></template>')
    config = runtime_config(load_project(tmp_path), Fraction(30), {}, 0)
    assert config["timelineIds"] == ["card"]
    assert config["starts"]["main"] == {"0": 0.0, "intro + 0.5": 2.0}
    # card starts at 2 with playback start 1: its local time is t - 1.
    assert config["nested"][0] == {"id": "card", "offset": 1.0, "playbackStart": 1.0,
                                   "duration": 2.0}
    assert config["nested"][1]["id"] == "still"


# --- _render_size ------------------------------------------------------------------------


def test_render_size_declared() -> None:
    assert _render_size(composition(), RenderOptions()) == (640, 360)


def test_render_size_confirming_override_is_fine() -> None:
    assert _render_size(composition(), RenderOptions(width=640, height=360)) == (640, 360)
    assert _render_size(composition(), RenderOptions(width=640)) == (640, 360)


@pytest.mark.parametrize(("width", "height", "flag"), [(1280, None, "--width"),
                                                       (None, 720, "--height"),
                                                       (640, 720, "--height")])
def test_render_size_different_override_is_refused(width: int | None, height: int | None,
                                                   flag: str) -> None:
    with pytest.raises(InvalidSize) as caught:
        _render_size(composition(), RenderOptions(width=width, height=height))
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert flag in message
    assert "640x360" in message
    assert "index.html:4" in message


def test_render_size_undeclared_uses_override() -> None:
    undeclared = composition(width=1080, height=1920, size_declared=False)
    assert _render_size(undeclared, RenderOptions(width=1280, height=720)) == (1280, 720)
    assert _render_size(undeclared, RenderOptions(width=720)) == (720, 1920)
    assert _render_size(undeclared, RenderOptions()) == (1080, 1920)


@pytest.mark.parametrize(("width", "height"), [(15, 720), (1280, 7681), (0, 720)])
def test_render_size_undeclared_override_is_checked(width: int, height: int) -> None:
    undeclared = composition(size_declared=False)
    with pytest.raises(InvalidSize):
        _render_size(undeclared, RenderOptions(width=width, height=height))


# --- _duration ----------------------------------------------------------------------------


def test_duration_attribute_wins() -> None:
    comp = composition(duration=Fraction(5), media_ends=[Fraction(9)])
    assert _duration(comp, 12.0) == 5
    assert _duration(comp, None) == 5


def test_duration_from_timeline_without_attribute() -> None:
    comp = composition(media_ends=[Fraction(9)])
    assert _duration(comp, 2.5) == Fraction(5, 2)
    assert _duration(comp, 1 / 3) == Fraction(1, 3)
    assert isinstance(_duration(comp, 2.5), Fraction)


def test_duration_from_media_without_timeline() -> None:
    comp = composition(media_ends=[Fraction(3), Fraction(15, 4)])
    assert _duration(comp, None) == Fraction(15, 4)
    assert _duration(comp, 0.0) == Fraction(15, 4)


def test_without_a_timeline_the_longest_of_page_and_media_wins() -> None:
    # The page reports its clips (1 s); an untimed audio's natural end (7/4 s) only
    # planning knows: HyperFrames renders the longer.
    comp = composition(media_ends=[Fraction(7, 4)])
    assert _duration(comp, 1.0, from_timeline=False) == Fraction(7, 4)
    assert _duration(comp, 2.0, from_timeline=False) == 2
    assert _duration(comp, 1.0, from_timeline=True) == 1


@pytest.mark.parametrize("timeline", [None, 0.0, -1.0])
def test_duration_missing_everywhere(timeline: float | None) -> None:
    with pytest.raises(InvalidDuration) as caught:
        _duration(composition(), timeline)
    assert caught.value.exit_code == 2
    assert caught.value.code == "INVALID_DURATION"
    assert "main" in str(caught.value)
    assert "index.html:4" in str(caught.value)


def _plan_json(**changes: Any) -> dict[str, Any]:
    """A plan.json as planning writes it (small, but every field present)."""
    data: dict[str, Any] = {
        "schema": 1, "hfaction_version": "0.1.0", "entry": "index.html",
        "composition_id": "main", "width": 641, "height": 360, "output_width": 642,
        "output_height": 360, "fps": "30000/1001", "duration": "38/5",
        "duration_seconds": 7.6, "frames": 228, "chunk_size": 100,
        "chunks": [[0, 100], [100, 200], [200, 228]],
        "encoder": {"quality": "standard", "codec": "libx264", "preset": "superfast",
                    "crf": 20, "pix_fmt": "yuv420p", "x264_params": ""},
        "capture": {"format": "jpeg", "quality": 90, "method": "beginframe"},
        "browser_version": "Chromium 156", "ffmpeg_version": "5.1",
        "runtime": {"rootId": "main", "nested": [{"id": "x", "offset": 1.5}]},
        "remote_assets": [{"url": "https://a.test/b.js", "path": "a.test/b.js",
                           "content_type": "text/javascript", "size": 3, "sha256": "ab"}],
        "files": [{"path": "index.html", "size": 10, "sha256": "cd"}],
        "audio": "frozen/audio/mix.m4a",
        "frozen": [{"kind": "audio", "name": "mix", "source": "1 track(s)",
                    "path": "frozen/audio/mix.m4a", "bytes": 5, "sha256": "ef"}],
        "fonts": {"fallback": "frozen/fonts/fallback", "warnings": ["w"], "faces": 2},
        "page_warnings": ["timeline \"x\" is not registered"],
        "hash": "0" * 64,
    }
    data.update(changes)
    return data


def test_plan_duration_reads_exact_fractions() -> None:
    # Durations are stored exactly ("38/5"), not as binary floats.
    from hfaction.render.planner import Plan

    assert Plan.from_dict(_plan_json(duration="38/5")).duration == 7.6
    assert Plan.from_dict(_plan_json(duration="5")).duration == 5.0


def test_typed_plan_round_trips_its_json() -> None:
    from fractions import Fraction

    from hfaction.render.planner import Plan

    data = _plan_json()
    typed = Plan.from_dict(data)
    assert typed.to_dict() == data
    assert typed.fps == Fraction(30000, 1001)
    assert typed.chunks[2] == (200, 228)
    assert typed.capture.method == "beginframe"
    assert typed.frozen[0].kind == "audio"
    assert typed.fonts.warnings == ["w"]
    assert typed.warnings == ['timeline "x" is not registered', "w"]
    assert typed.remote_assets["https://a.test/b.js"].size == 3
    assert typed.output_size == (642, 360)


def test_load_plan_refuses_a_plan_missing_a_field(tmp_path: Path) -> None:
    from hfaction.render.planner import PLAN_FILE, compute_hash, load_plan

    data = _plan_json()
    del data["capture"]
    data["hash"] = compute_hash(data)
    (tmp_path / PLAN_FILE).write_text(json.dumps(data))
    with pytest.raises(PlanInvalid) as caught:
        load_plan(tmp_path, verify_files=False)
    assert "capture" in str(caught.value)
