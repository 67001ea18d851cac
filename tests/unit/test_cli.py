"""The command line: help texts, option parsing and error reporting (no rendering)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hfaction.cli import app, main
from hfaction.errors import InvalidVariable
from hfaction.render.options import parse_variables


def _commands(group: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    found: list[tuple[list[str], Any]] = []
    for name, command in sorted(getattr(group, "commands", {}).items()):
        found.append(([*path, name], command))
        found.extend(_commands(command, [*path, name]))
    return found


COMMANDS = _commands(typer.main.get_command(app), [])


def test_the_expected_commands_are_registered() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"render", "plan", "chunk", "assemble", "version"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS,
                         ids=[" ".join(path) for path, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path: list[str], command: Any) -> None:
    assert (command.help or "").strip()
    assert "Example:" in command.help
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=120)
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    assert f"hfaction {' '.join(path)}" in result.output  # the example runs this command


def test_top_level_help_lists_commands() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=120)
    assert result.exit_code == 0
    for path, _ in COMMANDS:
        assert path[0] in result.output


def test_version_command() -> None:
    from hfaction import __version__

    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"hfaction {__version__}"
    assert main(["version"]) == 0


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_main_plan_nonexistent_project(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "/nonexistent"])
    captured = capsys.readouterr()
    assert code == 2
    line = one_error_line(captured.err)
    assert "/nonexistent" in line
    assert "PROJECT_NOT_FOUND" in line
    assert line.startswith("error: ")
    assert "Traceback" not in captured.err + captured.out


def test_main_plan_missing_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 2
    line = one_error_line(captured.err)
    assert "ENTRY_NOT_FOUND" in line
    assert "index.html" in line
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("extra", "code_text"),
    [(["--crf", "60"], "INVALID_OPTION"), (["--quality", "ultra"], "INVALID_OPTION"),
     (["--fps", "0"], "INVALID_FPS"), (["--width", "1280"], "INVALID_SIZE"),
     (["--var", "nope=1"], "INVALID_VARIABLE"), (["--var", "noequals"], "INVALID_VARIABLE")],
)
def test_main_plan_bad_options_fail_before_any_browser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], code_text: str
) -> None:
    (tmp_path / "index.html").write_text(
        '<div data-composition-id="main" data-width="640" data-height="360" '
        'data-duration="1"></div>')
    code = main(["plan", str(tmp_path), "--browser", str(tmp_path / "no-browser"), *extra])
    captured = capsys.readouterr()
    assert code == 2
    line = one_error_line(captured.err)
    assert code_text in line
    assert "Traceback" not in captured.err


def test_main_plan_reports_a_missing_browser_as_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "index.html").write_text('<div data-composition-id="main"></div>')
    code = main(["plan", str(tmp_path), "--browser", str(tmp_path / "no-browser")])
    captured = capsys.readouterr()
    assert code == 1
    line = one_error_line(captured.err)
    assert "BROWSER_NOT_FOUND" in line and "no-browser" in line


def test_main_without_arguments_does_not_crash(capsys: pytest.CaptureFixture[str]) -> None:
    code = main([])
    captured = capsys.readouterr()
    assert code in (0, 2)
    assert "plan" in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err


def test_main_usage_error_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan"])
    captured = capsys.readouterr()
    assert code == 2
    assert "project" in (captured.out + captured.err).lower()
    assert "Traceback" not in captured.out + captured.err


# --- variables from the command line --------------------------------------------------------


def test_variables_from_pairs() -> None:
    assert parse_variables(["title=Hello", " count =3", "eq=a=b", "empty="], None) == {
        "title": "Hello", "count": "3", "eq": "a=b", "empty": ""}
    assert parse_variables(None, None) == {}


@pytest.mark.parametrize("pair", ["noequals", "=value", " =x"])
def test_variables_bad_pairs(pair: str) -> None:
    with pytest.raises(InvalidVariable) as caught:
        parse_variables([pair], None)
    assert caught.value.exit_code == 2


def test_variables_from_file_and_pairs_override(tmp_path: Path) -> None:
    path = tmp_path / "vars.json"
    path.write_text(json.dumps({"title": "From file", "count": 3, "show": True, "x": None}))
    values = parse_variables(["title=From flag"], path)
    assert values == {"title": "From flag", "count": "3", "show": "true", "x": "null"}


@pytest.mark.parametrize("content", [None, "not json", "[1, 2]"])
def test_variables_bad_file(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "vars.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidVariable) as caught:
        parse_variables(None, path)
    assert str(path) in str(caught.value)
