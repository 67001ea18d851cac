"""GitHub Actions workflow commands and environment files, built as strings.

Everything written here may carry hostile text (a pull-request title, a project path, an
error message from a page script), so every value is escaped the way the runner decodes it:

- command data (after the last ``::``) escapes ``%``, CR and LF;
- command properties (``file=``, ``title=``) also escape ``:`` and ``,``;
- ``$GITHUB_OUTPUT`` / ``$GITHUB_ENV`` entries whose value spans lines use a heredoc whose
  random delimiter is checked not to occur anywhere in the value, and names are restricted
  so that neither ``=`` nor ``<<`` nor a line break can smuggle in a second entry.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TextIO

from hfaction.errors import HfactionError, InvalidWorkflowFileCommand

# Output and environment names: what GitHub documents for outputs (letters, digits, '-',
# '_') plus '.', nothing that the runner's parser treats as syntax ('=', '<<', line breaks).
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,255}")


def escape_data(value: str) -> str:
    """Escape the message part of a workflow command."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a property value (``file=``, ``title=``) of a workflow command."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", **properties: str | int | None) -> str:
    """One workflow command line, e.g. ``::error file=a.html,line=3::broken``."""
    props = ",".join(f"{key}={escape_property(str(value))}"
                     for key, value in properties.items() if value is not None and value != "")
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def add_mask(value: str) -> list[str]:
    """``::add-mask::`` lines for a secret: the whole value and, if it spans lines, each
    line (the runner masks what it is given, and a log line only ever holds one line)."""
    if not value:
        return []
    lines = [command("add-mask", value)]
    parts = [part for part in value.splitlines() if len(part.strip()) >= 4]
    if len(parts) > 1 or (parts and parts[0] != value):
        lines.extend(command("add-mask", part) for part in parts)
    return lines


def error(message: str, *, file: str | None = None, line: int | None = None,
          title: str | None = None) -> str:
    return command("error", message, file=file, line=line, title=title)


def warning(message: str, *, file: str | None = None, line: int | None = None,
            title: str | None = None) -> str:
    return command("warning", message, file=file, line=line, title=title)


def emit(line: str, stream: TextIO | None = None) -> None:
    """Write a workflow command at once (never through Rich: it would wrap or restyle it)."""
    out = stream or sys.stdout
    out.write(line + "\n")
    out.flush()


def mask(value: str, stream: TextIO | None = None) -> None:
    for line in add_mask(value):
        emit(line, stream)


@contextmanager
def group(title: str, stream: TextIO | None = None) -> Iterator[None]:
    """A collapsible ``::group::`` section of the log."""
    emit(command("group", title), stream)
    try:
        yield
    finally:
        emit(command("endgroup"), stream)


# --- $GITHUB_OUTPUT and $GITHUB_ENV ---------------------------------------------------


def check_name(name: str, what: str = "output") -> str:
    if not _NAME.fullmatch(name):
        raise InvalidWorkflowFileCommand(
            f"{what} name {name!r} is not allowed",
            hint="use letters, digits, '_', '-' and '.', starting with a letter or '_'")
    return name


def _single_line(value: str) -> bool:
    # splitlines() knows every line break Python does (\v, \f, \x1c-\x1e, \x85, \u2028,
    # \u2029 besides CR and LF): anything that any reader could split on goes in a heredoc.
    return value == "" or value.splitlines() == [value]


def file_command_entry(name: str, value: str, *,
                       new_delimiter: Callable[[], str] | None = None) -> str:
    """One ``NAME=VALUE`` line, or a ``NAME<<DELIMITER`` heredoc block for values that span
    lines. The delimiter is drawn until it does not occur in the value at all, so no line
    of the value can end the block early."""
    check_name(name)
    if _single_line(value):
        return f"{name}={value}\n"
    draw = new_delimiter or (lambda: f"ghadelimiter_{secrets.token_hex(16)}")
    for _ in range(100):
        delimiter = draw()
        if delimiter and _single_line(delimiter) and delimiter not in value:
            break
    else:
        raise InvalidWorkflowFileCommand(f"no heredoc delimiter found for {name!r}")
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def append_file_command(path: Path, values: Mapping[str, str], what: str = "output") -> None:
    """Append entries to a file command file ($GITHUB_OUTPUT, $GITHUB_ENV)."""
    for name in values:
        check_name(name, what)
    text = "".join(file_command_entry(name, value) for name, value in values.items())
    with path.open("a", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def file_from_env(variable: str, env: Mapping[str, str] | None = None) -> Path | None:
    value = (os.environ if env is None else env).get(variable, "")
    return Path(value) if value else None


# --- errors as annotations -----------------------------------------------------------

# "<path>:<line>" in an error message: a project file (relative, no scheme, no '..').
_FILE_LINE = re.compile(
    r"(?<![\w./:-])(/?(?:[\w.-]+/)*[\w-][\w.-]*\.(?:html?|m?js|css|json|svg)):(\d{1,7})(?!\d)")


def locate(message: str) -> tuple[str, int] | None:
    """The first ``path:line`` a message names, e.g. ``compositions/intro.html:12``."""
    for match in _FILE_LINE.finditer(message):
        path, line = match.group(1), int(match.group(2))
        if ".." not in PurePosixPath(path).parts and line > 0:
            return path, line
    return None


def repo_relative(project_dir: str, path: str, workspace: str | None = None) -> str | None:
    """``path`` inside the project as a path relative to the repository checkout (what
    annotations' ``file=`` expects), or None when it would lead outside it."""
    base = Path(workspace or os.getcwd()).resolve()
    project = Path(project_dir)
    project = (project if project.is_absolute() else base / project).resolve()
    target = (project / path).resolve()
    if not target.is_relative_to(base):
        return None
    relative = target.relative_to(base).as_posix()
    return relative if relative != "." else None


def error_annotation(code: str, message: str, *, project_dir: str | None = None,
                     workspace: str | None = None) -> str:
    """An ``::error`` command for a failure; it points at the project file and line when
    the message names one and the project folder is known."""
    file = line = None
    found = locate(message)
    if found and project_dir:
        file = repo_relative(project_dir, found[0], workspace)
        line = found[1] if file else None
    return error(message, file=file, line=line, title=code)


def annotation_for_error(failure: HfactionError,
                         env: Mapping[str, str] | None = None) -> str | None:
    """The ``::error`` line :func:`hfaction.cli.main` prints under GitHub Actions."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") != "true":
        return None
    message = failure.message + (f" ({failure.hint})" if failure.hint else "")
    return error_annotation(failure.code, message,
                            project_dir=env.get("HFACTION_PROJECT_DIR") or None,
                            workspace=env.get("GITHUB_WORKSPACE") or None)
