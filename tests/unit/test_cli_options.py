"""RenderOptions is the one schema of render options: the flags of ``render``, ``plan`` and
``lambda render``, the Lambda handler's event parsing and the action's inputs all follow
its fields."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from hfaction.aws.handler import render_options
from hfaction.cli import app
from hfaction.errors import InvalidFps, InvalidOption
from hfaction.render.encode import QUALITY_PRESETS
from hfaction.render.options import (
    RenderOptions,
    check_distributed,
    event_option_types,
    option_fields,
    options_from_event,
    options_to_event,
)

ACTION = Path(__file__).resolve().parents[2] / "action.yml"


def flags(*path: str) -> set[str]:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return {opt for param in command.params for opt in param.opts if opt.startswith("--")}


def schema_flags(*, remote: bool | None = None) -> set[str]:
    found = {option.flag for option in option_fields(flags=True, remote=remote)}
    return (found - {"--variables"}) | {"--var", "--vars-file"}


def test_every_field_is_a_flag_a_caller_setting_or_not_for_users() -> None:
    names = {item.name for item in dataclasses.fields(RenderOptions)}
    flagged = {option.name for option in option_fields(flags=True)}
    assert names - flagged == {"parallelism", "seed"}  # set by plan --parallelism / the stack
    assert {option.name for option in option_fields(remote=False)} == \
        {"browser", "asset_cache", "seed"}


@pytest.mark.parametrize("command", [("render",), ("plan",)])
def test_local_commands_take_every_render_option(command: tuple[str, ...]) -> None:
    assert schema_flags() <= flags(*command)


def test_lambda_render_takes_the_remote_ones_and_nothing_of_this_machine() -> None:
    lambda_flags = flags("lambda", "render")
    assert schema_flags(remote=True) <= lambda_flags
    assert {"--entry", "--width", "--height", "--vars-file", "--ready-timeout"} <= lambda_flags
    assert not {"--browser", "--asset-cache", "--seed", "--parallelism"} & lambda_flags


def test_the_handler_reads_the_remote_fields_with_their_json_types() -> None:
    assert event_option_types() == {
        "entry": str, "fps": str, "quality": str, "crf": int, "chunk_size": int,
        "parallelism": int, "width": int, "height": int, "variables": dict,
        "ready_timeout": (int, float), "strict_fonts": bool}
    with pytest.raises(InvalidOption, match="unknown render option 'browser'"):
        render_options({"browser": "/bin/sh"})
    with pytest.raises(InvalidOption, match="'ready_timeout' has the wrong type"):
        render_options({"ready_timeout": "10"})
    with pytest.raises(InvalidOption, match="must be a JSON object"):
        render_options([])
    assert render_options({"ready_timeout": 10, "fps": None}).ready_timeout == 10


def test_the_handler_refuses_what_lambda_cannot_render_from_the_options_alone() -> None:
    with pytest.raises(InvalidFps, match="--fps is 25"):
        render_options({"fps": "25"})
    assert render_options({"fps": "60"}).fps == "60"


def test_the_event_carries_what_differs_from_the_defaults_and_reads_back() -> None:
    options = RenderOptions(entry="scenes/intro.html", fps="24", width=640, height=360,
                            quality="high", crf=18, chunk_size=12, parallelism=4,
                            variables={"title": "Hi"}, ready_timeout=12.5, strict_fonts=True,
                            browser="/usr/bin/chromium", asset_cache=Path("/cache"), seed=3)
    event = options_to_event(options)
    assert set(event) == set(event_option_types())  # every remote field, no local one
    assert options_from_event(event) == dataclasses.replace(options, browser=None,
                                                            asset_cache=None, seed=0)
    assert options_to_event(RenderOptions()) == {}
    assert options_to_event(RenderOptions(quality="draft")) == {"quality": "draft"}


@pytest.mark.parametrize(("fps", "ok"), [(None, True), ("24", True), ("30", True),
                                         ("60/1", True), ("25", False), ("29.97", False),
                                         ("30000/1001", False), ("120", False)])
def test_check_distributed(fps: str | None, ok: bool) -> None:
    options = RenderOptions(fps=fps)
    if ok:
        assert check_distributed(options) is options
    else:
        with pytest.raises(InvalidFps, match="distributed renders accept 24, 30, 60 fps"):
            check_distributed(options)


def test_the_actions_render_inputs_are_remote_render_options() -> None:
    """An action input named like a RenderOptions field (quality) is one Lambda renders
    take, and the action accepts exactly the values the render core does."""
    action = yaml.safe_load(ACTION.read_text())
    remote = set(event_option_types())
    every = {item.name for item in dataclasses.fields(RenderOptions)}
    named = {name.replace("-", "_") for name in action["inputs"]} & every
    assert named == {"quality"} and named <= remote
    assert action["inputs"]["quality"]["default"] == RenderOptions().quality
    steps = "\n".join(step.get("run", "") for step in action["runs"]["steps"])
    assert f'"$QUALITY" =~ ^({"|".join(QUALITY_PRESETS)})$' in steps
