"""The command line stays thin: every command and group shows an example, no command
function is longer than 15 lines (parse, one library call, print), and the commands that
need no browser do not load Playwright or the render core to show their help."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import typer

from hfaction.cli import app

MAX_BODY_LINES = 15


def command_callbacks(typer_app: typer.Typer, path: tuple[str, ...] = ()
                      ) -> Iterator[tuple[str, Callable[..., Any]]]:
    """(command path, its function) for every command registered, in every group."""
    for info in typer_app.registered_commands:
        assert info.callback is not None
        name = info.name or info.callback.__name__.replace("_", "-")
        yield " ".join((*path, name)), info.callback
    for group in typer_app.registered_groups:
        assert group.typer_instance is not None
        yield from command_callbacks(group.typer_instance,
                                     (*path, group.name) if group.name else path)


CALLBACKS = sorted(command_callbacks(app), key=lambda item: item[0])


def body_lines(function: Callable[..., Any]) -> int:
    """Non-blank lines of a function's body, its docstring left out."""
    source = textwrap.dedent(inspect.getsource(inspect.unwrap(function)))
    (node,) = [item for item in ast.parse(source).body if isinstance(item, ast.FunctionDef)]
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    lines = source.splitlines()[body[0].lineno - 1:node.end_lineno] if body else []
    return sum(1 for line in lines if line.strip())


def groups(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    yield " ".join(("hfaction", *path)), command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if hasattr(sub, "commands"):
            yield from groups(sub, (*path, name))


GROUPS = list(groups(typer.main.get_command(app)))


def test_the_walk_finds_every_command() -> None:
    def leaves(command: Any) -> int:
        subs = getattr(command, "commands", None)
        return 1 if subs is None else sum(leaves(sub) for sub in subs.values())
    assert len(CALLBACKS) == leaves(typer.main.get_command(app)) == 21
    assert {"render", "plan", "lambda render", "lambda sites create", "github report",
            "policies validate", "policies boundary"} <= {name for name, _ in CALLBACKS}


@pytest.mark.parametrize(("name", "function"), CALLBACKS, ids=[name for name, _ in CALLBACKS])
def test_every_command_has_an_example(name: str, function: Callable[..., Any]) -> None:
    doc = inspect.getdoc(function) or ""
    assert f"Example: hfaction {name}" in doc


@pytest.mark.parametrize(("name", "group"), GROUPS, ids=[name for name, _ in GROUPS])
def test_every_group_has_help_with_an_example(name: str, group: Any) -> None:
    help_text = group.help or ""
    assert help_text.splitlines()[0].strip()
    assert f"Example: {name}" in help_text


@pytest.mark.parametrize(("name", "function"), CALLBACKS, ids=[name for name, _ in CALLBACKS])
def test_no_command_function_is_longer_than_15_lines(name: str,
                                                     function: Callable[..., Any]) -> None:
    assert body_lines(function) <= MAX_BODY_LINES, \
        f"'hfaction {name}' is {body_lines(function)} lines: move the work into the library"


def test_the_line_count_sees_a_long_function() -> None:
    def long() -> None:
        """Docstring lines do not count.

        Example: none
        """
        total = 0
        for value in range(3):
            total += value

        print(total)

    assert body_lines(long) == 4


HELP_WITHOUT_THE_CORE = """
import sys
from hfaction.cli import main
code = main(sys.argv[1:])
heavy = sorted(name for name in sys.modules
               if name.split('.')[0] in ('playwright', 'boto3', 'botocore')
               or name in ('hfaction.render.planner', 'hfaction.render.capture',
                           'hfaction.render.local', 'hfaction.render.chunk'))
assert code == 0, code
assert 'playwright' not in sys.modules, heavy
assert not heavy, heavy
"""


@pytest.mark.parametrize("argv", [["policies", "--help"], ["github", "report", "--help"],
                                  ["--help"], ["lambda", "render", "--help"], ["version"]])
def test_help_loads_neither_playwright_nor_the_render_core(argv: list[str]) -> None:
    run = subprocess.run([sys.executable, "-c", HELP_WITHOUT_THE_CORE, *argv],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Usage: hfaction" in run.stdout or argv == ["version"]
