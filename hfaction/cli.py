"""The ``hfaction`` command line: each command parses, calls one library function, reports.

Errors become one line on stderr and an exit code (2 bad input, 1 failed render)
in :func:`main`, the only place that turns exceptions into messages.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from hfaction import __version__
from hfaction.errors import HfactionError, InvalidVariable
from hfaction.render.framemath import format_fps
from hfaction.render.options import RenderOptions
from hfaction.render.planner import Plan

app = typer.Typer(
    name="hfaction",
    help="Render HyperFrames HTML video compositions to MP4.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def _register_subcommands() -> None:
    from hfaction.github_cli import github_app
    from hfaction.lambda_cli import lambda_app
    from hfaction.policies_cli import policies_app

    app.add_typer(lambda_app, name="lambda")
    app.add_typer(policies_app, name="policies")
    app.add_typer(github_app, name="github")

stdout = Console(highlight=False, soft_wrap=True)

ProjectArg = Annotated[Path, typer.Argument(help="Project folder holding index.html.",
                                            show_default=False)]
EntryOpt = Annotated[str, typer.Option("--entry", help="Entry HTML file inside the project.")]
FpsOpt = Annotated[str | None, typer.Option(
    "--fps", help="Frame rate: 24, 30, 60, 29.97 or 30000/1001. Default: data-fps, else 30.")]
QualityOpt = Annotated[str, typer.Option("--quality", help="Encoder preset: draft, standard or "
                                                           "high.")]
CrfOpt = Annotated[int | None, typer.Option("--crf", help="x264 CRF, 0 (lossless) to 51; "
                                                          "overrides the preset's.")]
WidthOpt = Annotated[int | None, typer.Option("--width", help="Confirm the composition's width "
                                                             "(or set it when undeclared).")]
HeightOpt = Annotated[int | None, typer.Option("--height", help="Confirm the composition's "
                                                               "height (or set it).")]
ChunkOpt = Annotated[int | None, typer.Option("--chunk-size", help="Frames per chunk. Default: "
                                                                   "automatic.")]
VarOpt = Annotated[list[str] | None, typer.Option("--var", help="Variable value, ID=VALUE; "
                                                                "repeatable.")]
VarsFileOpt = Annotated[Path | None, typer.Option("--vars-file", help="JSON object of variable "
                                                                      "values.")]
BrowserOpt = Annotated[str | None, typer.Option("--browser", envvar="HFACTION_BROWSER",
                                                help="Chromium or headless shell to use.")]
CacheOpt = Annotated[Path | None, typer.Option(
    "--asset-cache", envvar="HFACTION_ASSET_CACHE",
    help="Folder of remote assets laid out as HOST/PATH, consulted before the network.")]
TimeoutOpt = Annotated[float, typer.Option("--ready-timeout", help="Seconds to wait for the "
                                                                   "page to be ready.")]
StrictFontsOpt = Annotated[bool, typer.Option(
    "--strict-fonts", envvar="HFACTION_STRICT_FONTS",
    help="Fail (SYSTEM_FONT_USED) when a machine font such as sans-serif is named first.")]


def _variables(pairs: list[str] | None, vars_file: Path | None) -> dict[str, str]:
    values: dict[str, str] = {}
    if vars_file is not None:
        try:
            loaded = json.loads(vars_file.read_text())
        except FileNotFoundError:
            raise InvalidVariable(f"--vars-file {vars_file} does not exist") from None
        except json.JSONDecodeError as error:
            raise InvalidVariable(f"--vars-file {vars_file} is not JSON ({error.msg} at line "
                                  f"{error.lineno})") from None
        if not isinstance(loaded, dict):
            raise InvalidVariable(f"--vars-file {vars_file} must hold a JSON object")
        values.update({str(k): v if isinstance(v, str) else json.dumps(v)
                       for k, v in loaded.items()})
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidVariable(f"--var {pair!r} is not ID=VALUE")
        values[name.strip()] = value
    return values


def _options(entry: str, fps: str | None, quality: str, crf: int | None, width: int | None,
             height: int | None, chunk_size: int | None, var: list[str] | None,
             vars_file: Path | None, browser: str | None, asset_cache: Path | None,
             ready_timeout: float) -> RenderOptions:
    return RenderOptions(entry=entry, fps=fps, quality=quality, crf=crf, width=width,
                         height=height, chunk_size=chunk_size,
                         variables=_variables(var, vars_file), browser=browser,
                         asset_cache=asset_cache, ready_timeout=ready_timeout)


class _RichProgress:
    """A progress bar on a terminal; one line per chunk elsewhere (CI logs)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.interactive = console.is_terminal
        self.bar: Progress | None = None
        self.task: Any = None
        self.total = 0
        self.done = 0

    def planned(self, plan_: Plan, workers: int) -> None:
        self.total = plan_.frames
        width, height = plan_.output_size
        self.console.print(
            f"planned {plan_.frames} frames ({plan_.duration:g}s at {format_fps(plan_.fps)} "
            f"fps, "
            f"{width}x{height}) in {len(plan_.chunks)} chunks on {workers} workers"
        )
        for warning in plan_.fonts.warnings:
            self.console.print(f"warning: {warning}", markup=False)
        if self.interactive:
            self.bar = Progress(
                TextColumn("rendering"), BarColumn(), MofNCompleteColumn(),
                TextColumn("frames {task.fields[fps]:>5.1f} fps"), TimeElapsedColumn(),
                TextColumn("ETA"), TimeRemainingColumn(), console=self.console,
            )
            self.bar.start()
            self.task = self.bar.add_task("render", total=plan_.frames, fps=0.0)

    def frame_done(self, frame: int) -> None:
        self.done += 1
        if self.bar is not None:
            elapsed = self.bar.tasks[0].elapsed or 0.0
            self.bar.update(self.task, completed=self.done,
                            fps=self.done / elapsed if elapsed > 0 else 0.0)

    def chunk_done(self, index: int, start: int, end: int, seconds: float) -> None:
        if self.bar is None:
            self.console.print(f"chunk {index} frames {start}..{end - 1} done in {seconds:.1f}s "
                               f"({self.done}/{self.total} frames)")

    def assembling(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        self.console.print("assembling chunks")


@app.command()
def render(
    project: ProjectArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="MP4 file to write.")] = Path(
        "out.mp4"),
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Worker processes. Default: what cores and memory allow.")] = None,
    chunk_size: ChunkOpt = None,
    fps: FpsOpt = None,
    quality: QualityOpt = "standard",
    crf: CrfOpt = None,
    width: WidthOpt = None,
    height: HeightOpt = None,
    entry: EntryOpt = "index.html",
    var: VarOpt = None,
    vars_file: VarsFileOpt = None,
    browser: BrowserOpt = None,
    asset_cache: CacheOpt = None,
    ready_timeout: TimeoutOpt = 30.0,
    strict_fonts: StrictFontsOpt = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Render a project to MP4 on this machine.

    Example: hfaction render examples/gsap-intro -o intro.mp4 --workers 2
    """
    from hfaction.render.local import render_local

    options = _options(entry, fps, quality, crf, width, height, chunk_size, var, vars_file,
                       browser, asset_cache, ready_timeout)
    options.strict_fonts = strict_fonts
    result = render_local(project, output, options, workers=workers,
                          progress=_RichProgress(stderr))
    out = result.output
    if json_output:
        stdout.print_json(json.dumps({**out.to_dict(), "wall_seconds": result.wall_seconds,
                                      "workers": result.workers}))
        return
    stdout.print(f"wrote {out.path} ({out.duration:.3f}s, {out.frames} frames, "
                 f"{out.width}x{out.height}, {out.bytes / 1e6:.1f} MB) in "
                 f"{result.wall_seconds:.1f}s ({out.frames / result.wall_seconds:.1f} fps)")


@app.command("plan")
def plan_command(
    project: ProjectArg,
    plan_dir: Annotated[Path | None, typer.Option(
        "--plan-dir", help="Keep the plan in this new folder (default: print and discard).")
    ] = None,
    chunk_size: ChunkOpt = None,
    fps: FpsOpt = None,
    quality: QualityOpt = "standard",
    crf: CrfOpt = None,
    width: WidthOpt = None,
    height: HeightOpt = None,
    entry: EntryOpt = "index.html",
    var: VarOpt = None,
    vars_file: VarsFileOpt = None,
    browser: BrowserOpt = None,
    asset_cache: CacheOpt = None,
    ready_timeout: TimeoutOpt = 30.0,
    parallelism: Annotated[int, typer.Option(
        "--parallelism", help="Chunks that will render at once (sizes automatic chunks).")] = 1,
    strict_fonts: StrictFontsOpt = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Plan a render (frames, chunks, size, hash, frozen media and fonts) without rendering it.

    Example: hfaction plan examples/gsap-intro --json
    """
    from hfaction.render.planner import plan

    options = _options(entry, fps, quality, crf, width, height, chunk_size, var, vars_file,
                       browser, asset_cache, ready_timeout)
    options.parallelism = parallelism
    options.strict_fonts = strict_fonts
    scratch = None if plan_dir else Path(tempfile.mkdtemp(prefix="hfaction-plan-"))
    try:
        planned = plan(project, options, plan_dir or (scratch / "plan"))  # type: ignore[operator]
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    summary = planned.summary()
    if json_output:
        stdout.print_json(json.dumps(summary))
        return
    stdout.print(f"{summary['frames']} frames, {summary['duration']}s at {summary['fps']} fps, "
                 f"{summary['output_width']}x{summary['output_height']}, "
                 f"{len(summary['chunks'])} chunks of {summary['chunk_size']}, "
                 f"hash {summary['hash'][:12]}")
    for item in summary.get("frozen") or []:
        stdout.print(f"frozen {item['kind']} {item['name']}: {item['bytes']:,} bytes from "
                     f"{item['source']} ({item['path']})", markup=False)
    for warning in planned.fonts.warnings:
        stderr.print(f"warning: {warning}", markup=False)


@app.command("chunk")
def chunk_command(
    plan_dir: Annotated[Path, typer.Argument(help="Plan folder made by 'hfaction plan'.")],
    index: Annotated[int, typer.Argument(help="Chunk index (0-based).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Chunk file to write.")],
    browser: BrowserOpt = None,
) -> None:
    """Render one chunk of a plan (what each Lambda worker does).

    Example: hfaction chunk ./plan 0 -o chunk-0.mp4
    """
    from hfaction.render.chunk import render_chunk

    result = render_chunk(plan_dir, index, output, browser=browser)
    stdout.print_json(json.dumps(result.to_dict()))


@app.command("assemble")
def assemble_command(
    plan_dir: Annotated[Path, typer.Argument(help="Plan folder made by 'hfaction plan'.")],
    chunks: Annotated[list[Path], typer.Argument(help="Chunk files, in chunk order.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="MP4 file to write.")],
) -> None:
    """Join rendered chunks into the final MP4 by stream copy.

    Example: hfaction assemble ./plan chunk-0.mp4 chunk-1.mp4 -o out.mp4
    """
    from hfaction.render.assembler import assemble

    result = assemble(plan_dir, chunks, output)
    stdout.print_json(json.dumps(result.to_dict()))


@app.command()
def version() -> None:
    """Print hfaction's version.

    Example: hfaction version
    """
    stdout.print(f"hfaction {__version__}")


_register_subcommands()


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


if __name__ == "__main__":
    sys.exit(main())
