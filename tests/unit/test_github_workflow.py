"""Workflow commands and $GITHUB_OUTPUT / $GITHUB_ENV entries with hostile values."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfaction.cli import main
from hfaction.errors import InvalidWorkflowFileCommand, ProjectNotFound
from hfaction.github import workflow


def runner_parse(text: str) -> dict[str, str]:
    """A model of the runner's file-command parser (actions/runner FileCommandManager):
    lines are split on CR, LF or CRLF; a line is NAME=VALUE when '=' comes before any '<<',
    else NAME<<DELIMITER opens a block that ends at the first line equal to DELIMITER."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    values: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            values[line[:equals]] = line[equals + 1:]
            continue
        assert heredoc > 0, f"invalid line {line!r}"
        name, delimiter = line[:heredoc], line[heredoc + 2:]
        body: list[str] = []
        while lines[index] != delimiter:
            body.append(lines[index])
            index += 1
        index += 1
        values[name] = "\n".join(body)
    return values


HOSTILE = [
    "plain",
    "a=b=c",
    "",
    "line one\nline two",
    "x\nvideo-url=https://evil.example/",
    "x\nghadelimiter_0\nINJECTED=1",
    "ends with newline\n",
    "\nINJECTED<<EOF\nboo\nEOF",
    "carriage\rINJECTED=1",
    "crlf\r\nINJECTED=1",
    "unicode line sep\u2028INJECTED=1",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_round_trips_as_one_entry(tmp_path: Path, value: str) -> None:
    path = tmp_path / "output"
    workflow.append_file_command(path, {"first": "1", "video-url": value, "last": "2"})
    parsed = runner_parse(path.read_text())
    assert set(parsed) == {"first", "video-url", "last"}
    expected = value.replace("\r\n", "\n").replace("\r", "\n")
    if "\n" in value or "\r" in value or "\u2028" in value:
        assert parsed["video-url"] == expected
    else:
        assert parsed["video-url"] == value
    assert parsed["first"] == "1" and parsed["last"] == "2"


def test_the_delimiter_never_occurs_in_the_value() -> None:
    drawn = iter(["EOF", "line", "SAFE"])
    entry = workflow.file_command_entry("body", "first line\nEOF\nmore", new_delimiter=lambda:
                                        next(drawn))
    assert entry == "body<<SAFE\nfirst line\nEOF\nmore\nSAFE\n"


def test_random_delimiters_differ() -> None:
    first = workflow.file_command_entry("a", "x\ny").split("\n")[0]
    second = workflow.file_command_entry("a", "x\ny").split("\n")[0]
    assert first != second and first.startswith("a<<ghadelimiter_")


@pytest.mark.parametrize("name", ["", "a=b", "a\nb", "a<<b", "a b", "-x", "a\r", "é"])
def test_names_that_could_inject_are_rejected(tmp_path: Path, name: str) -> None:
    path = tmp_path / "env"
    with pytest.raises(InvalidWorkflowFileCommand):
        workflow.append_file_command(path, {"ok": "1", name: "v"})
    assert not path.exists()  # nothing half-written


def test_command_escaping() -> None:
    assert workflow.escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert workflow.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = workflow.error("bad\n::add-mask::x", file="dir,x/a:b.html", line=3,
                          title="T,1:2")
    assert line == "::error file=dir%2Cx/a%3Ab.html,line=3,title=T%2C1%3A2::bad%0A::add-mask::x"
    assert "\n" not in line


def test_add_mask_masks_each_line_of_a_multi_line_secret() -> None:
    assert workflow.add_mask("") == []
    assert workflow.add_mask("s3cr3t") == ["::add-mask::s3cr3t"]
    assert workflow.add_mask("first-part\nsecond-part") == [
        "::add-mask::first-part%0Asecond-part", "::add-mask::first-part",
        "::add-mask::second-part"]


def test_group(capsys: pytest.CaptureFixture[str]) -> None:
    with workflow.group("Render: a\nb"):
        print("inside")
    assert capsys.readouterr().out == "::group::Render: a%0Ab\ninside\n::endgroup::\n"


@pytest.mark.parametrize(("message", "found"), [
    ("page error at index.html:12: x is not defined", ("index.html", 12)),
    ("in compositions/intro.html:7 (clip)", ("compositions/intro.html", 7)),
    ("script https://cdn.example/gsap.min.js:3 failed", None),
    ("../../etc/passwd.html:1", None),
    ("no location here", None),
    ("time 12:30", None),
])
def test_locate(message: str, found: tuple[str, int] | None) -> None:
    assert workflow.locate(message) == found


def test_error_annotation_points_at_the_repository_path(tmp_path: Path) -> None:
    (tmp_path / "videos" / "intro").mkdir(parents=True)
    line = workflow.error_annotation("PAGE_SCRIPT_ERROR", "boom at index.html:12",
                                     project_dir="videos/intro", workspace=str(tmp_path))
    assert line == ("::error file=videos/intro/index.html,line=12,title=PAGE_SCRIPT_ERROR::"
                    "boom at index.html:12")
    outside = workflow.error_annotation("X", "at a/index.html:3", project_dir="..",
                                        workspace=str(tmp_path))
    assert outside == "::error title=X::at a/index.html:3"


def test_cli_errors_become_annotations_under_actions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("HFACTION_PROJECT_DIR", "site")
    assert main(["plan", str(tmp_path / "missing")]) == ProjectNotFound.exit_code
    err = capsys.readouterr().err
    assert err.count("::error title=PROJECT_NOT_FOUND::") == 1
    monkeypatch.delenv("GITHUB_ACTIONS")
    main(["plan", str(tmp_path / "missing")])
    assert "::error" not in capsys.readouterr().err


def test_annotation_for_error_uses_the_project_dir(tmp_path: Path) -> None:
    from hfaction.errors import PageScriptError

    env = {"GITHUB_ACTIONS": "true", "HFACTION_PROJECT_DIR": "site",
           "GITHUB_WORKSPACE": str(tmp_path)}
    failure = PageScriptError("ReferenceError at scenes/a.html:4", hint="fix the script")
    assert workflow.annotation_for_error(failure, env) == (
        "::error file=site/scenes/a.html,line=4,title=PAGE_SCRIPT_ERROR::ReferenceError at "
        "scenes/a.html:4 (fix the script)")
    assert workflow.annotation_for_error(failure, {}) is None
