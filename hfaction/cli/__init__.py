"""The ``hfaction`` command line: each command parses, calls one library function, prints.

One module per command group: :mod:`~hfaction.cli.render` (``render``, ``plan``, ``chunk``,
``assemble``, ``version``), :mod:`~hfaction.cli.lambda_`, :mod:`~hfaction.cli.github` and
:mod:`~hfaction.cli.policies`; options they share are declared once in
:mod:`~hfaction.cli.options`. A command imports the library it calls when it runs, so
``hfaction policies --help`` loads neither Playwright nor the render core.

Errors become one line on stderr and an exit code (2 bad input, 1 failed render)
in :func:`main`, the only place that turns exceptions into messages.
"""

from __future__ import annotations

import sys

import typer

from hfaction.cli.console import stderr
from hfaction.cli.github import github_app
from hfaction.cli.lambda_ import lambda_app
from hfaction.cli.policies import policies_app
from hfaction.cli.render import render_app
from hfaction.errors import HfactionError

__all__ = ["app", "main"]

app = typer.Typer(
    name="hfaction",
    help="Render HyperFrames HTML video compositions to MP4.\n\n"
         "Example: hfaction render examples/gsap-intro -o intro.mp4",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(render_app)  # no name: render, plan, chunk, assemble, version at the top
app.add_typer(lambda_app, name="lambda")
app.add_typer(policies_app, name="policies")
app.add_typer(github_app, name="github")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI; errors become one line and an exit code.

    typer itself reports usage errors (exit 2); everything hfaction raises on
    purpose is an HfactionError and is printed here, without a traceback.
    """
    try:
        app(args=argv, prog_name="hfaction")
    except SystemExit as finished:
        code = finished.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except HfactionError as error:
        stderr.print(f"error: {error.one_line()}", markup=False)
        from hfaction.github.workflow import annotation_for_error  # only under GitHub Actions

        annotation = annotation_for_error(error)
        if annotation:  # to stderr: stdout may be a --json result being redirected to a file
            sys.stderr.write(annotation + "\n")
        return error.exit_code
    except KeyboardInterrupt:
        stderr.print("interrupted", markup=False)
        return 130
    return 0
