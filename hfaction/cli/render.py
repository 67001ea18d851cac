"""``hfaction render|plan|compositions|chunk|assemble|version``: the render core on this machine.

Each command parses, calls one function of :mod:`hfaction.render`, and prints. The core
loads when a command runs, never when the CLI starts (``hfaction policies --help`` needs
no browser library).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from hfaction.cli.console import print_json, stderr, stdout, warn
from hfaction.cli.options import ProjectArg, render_options
from hfaction.errors import InvalidOption
from hfaction.render.options import RenderOptions

if TYPE_CHECKING:
    from hfaction.render.batch import BatchResult, BatchRow, RowOutcome
    from hfaction.render.discover import Discovery
    from hfaction.render.local import LocalRenderResult
    from hfaction.render.planner import Plan

render_app = typer.Typer()  # its commands sit at the top level of 'hfaction'

PlanDirArg = Annotated[Path, typer.Argument(help="Plan folder made by 'hfaction plan'.")]


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
        from hfaction.render.framemath import format_fps

        self.total = plan_.frames
        width, height = plan_.output_size
        self.console.print(
            f"planned {plan_.frames} frames ({plan_.duration:g}s at {format_fps(plan_.fps)} "
            f"fps, {width}x{height}) in {len(plan_.chunks)} chunks on {workers} workers"
        )
        for warning in plan_.warnings:
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


def _print_render(result: LocalRenderResult, json_output: bool) -> None:
    out = result.output
    if json_output:
        print_json({**out.to_dict(), "wall_seconds": result.wall_seconds,
                    "workers": result.workers})
        return
    stdout.print(f"wrote {out.path} ({out.duration:.3f}s, {out.frames} frames, "
                 f"{out.width}x{out.height}, {out.bytes / 1e6:.1f} MB) in "
                 f"{result.wall_seconds:.1f}s ({out.frames / result.wall_seconds:.1f} fps)")


class _BatchProgress:
    """One line per row on stderr, and each row's render progress as a single render's."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def row_started(self, row: BatchRow, index: int, total: int) -> _RichProgress:
        self.console.print(f"row {index + 1}/{total} (line {row.line}): rendering {row.output}",
                           markup=False)
        return _RichProgress(self.console)

    def row_finished(self, outcome: RowOutcome, index: int, total: int) -> None:
        text = f"row {index + 1}/{total} {outcome.row.output} "
        if outcome.error is None:
            text += f"done in {outcome.seconds:.1f} s"
        else:
            text += f"failed in {outcome.seconds:.1f} s: {outcome.error['code']}: " \
                f"{outcome.error['message']}"
        self.console.print(text, markup=False)


def _print_batch(result: BatchResult, json_output: bool) -> None:
    if json_output:
        print_json(result.to_dict())
        return
    stdout.print(f"{'row':>5}  {'status':<7}  {'frames':>6}  {'seconds':>7}  output",
                 markup=False)
    for outcome in result.outcomes:
        frames = "" if outcome.frames is None else str(outcome.frames)
        error = f"  {outcome.error['code']}" if outcome.error else ""
        stdout.print(f"{outcome.row.number:>5}  {outcome.status:<7}  {frames:>6}  "
                     f"{outcome.seconds:>7.1f}  {outcome.row.output}{error}", markup=False)
    stdout.print(f"{result.count('done')} done, {result.count('failed')} failed, "
                 f"{result.count('skipped')} skipped in {result.wall_seconds:.1f}s; "
                 f"wrote {result.result_file}", markup=False)


def _render_batch(project: Path, batch: Path, out_dir: Path, options: RenderOptions,
                  workers: int | None, fail_fast: bool, json_output: bool) -> None:
    """Check every row, then render them; bad rows are listed one line each (exit 2),
    rows that fail to render make it exit 1 (BATCH_FAILED) once the others are done."""
    from hfaction.errors import InvalidBatch
    from hfaction.render.batch import load_batch, problem_lines, render_batch

    try:
        rows = load_batch(project, batch, options, workers=workers)
    except InvalidBatch as error:
        if len(error.problems) > 1:
            for line in problem_lines(error):
                stderr.print(f"bad row: {line}", markup=False)
        raise
    result = render_batch(project, rows, out_dir, options, workers=workers,
                          fail_fast=fail_fast, progress=_BatchProgress(stderr))
    _print_batch(result, json_output)
    result.check()


@render_app.command()
@render_options()
def render(
    project: ProjectArg,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="MP4 file to write (default out.mp4); with --batch, the folder "
        "to write one MP4 per row into (default out/).", show_default=False)] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Worker processes. Default: what cores and memory allow.")] = None,
    *,
    batch: Annotated[Path | None, typer.Option(
        "--batch", help="Render one video per row of this JSON Lines or CSV file: each row "
        "sets variables (as --var does), its 'output' key or column names its file.")] = None,
    fail_fast: Annotated[bool, typer.Option(
        "--fail-fast", help="With --batch: stop at the first row that fails.")] = False,
    options: RenderOptions,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Render a project to MP4 on this machine; with --batch, one MP4 per row of a data file.

    Example: hfaction render examples/gsap-intro -o intro.mp4 --workers 2

    Example: hfaction render examples/nested --batch rows.jsonl -o out/
    """
    if batch is not None:
        _render_batch(project, batch, output or Path("out"), options, workers, fail_fast,
                      json_output)
        return
    if fail_fast:
        raise InvalidOption("--fail-fast only applies with --batch")
    from hfaction.render.local import render_local

    result = render_local(project, output or Path("out.mp4"), options, workers=workers,
                          progress=_RichProgress(stderr))
    _print_render(result, json_output)


def _print_plan(planned: Plan, json_output: bool) -> None:
    summary = planned.summary()
    if json_output:
        print_json(summary)
        return
    stdout.print(f"{summary['frames']} frames, {summary['duration']}s at {summary['fps']} fps, "
                 f"{summary['output_width']}x{summary['output_height']}, "
                 f"{len(summary['chunks'])} chunks of {summary['chunk_size']}, "
                 f"hash {summary['hash'][:12]}")
    for item in summary.get("frozen") or []:
        stdout.print(f"frozen {item['kind']} {item['name']}: {item['bytes']:,} bytes from "
                     f"{item['source']} ({item['path']})", markup=False)
    for warning in planned.warnings:
        warn(warning)


@render_app.command("plan")
@render_options()
def plan_command(
    project: ProjectArg,
    plan_dir: Annotated[Path | None, typer.Option(
        "--plan-dir", help="Keep the plan in this new folder (default: print and discard).")
    ] = None,
    *,
    options: RenderOptions,
    parallelism: Annotated[int, typer.Option(
        "--parallelism", help="Chunks that will render at once (sizes automatic chunks).")] = 1,
    json_output: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Plan a render (frames, chunks, size, hash, frozen media and fonts) without rendering it.

    Example: hfaction plan examples/gsap-intro --json
    """
    from hfaction.render.inspect import plan_summary

    planned = plan_summary(project, replace(options, parallelism=parallelism), plan_dir)
    _print_plan(planned, json_output)


def _print_discovery(found: Discovery, json_output: bool) -> None:
    if json_output:
        print_json(found.to_dict())
        return
    for line in found.lines():
        stdout.print(line, markup=False)
    for warning in found.warnings:
        warn(warning)
    for problem in found.errors:
        stderr.print(f"error: {problem.line()}", markup=False)


# The render options that change what discovery reports (not how frames are encoded).
_DISCOVERY_OPTIONS = ("entry", "fps", "width", "height", "chunk_size", "variables",
                      "asset_cache", "strict_fonts")


@render_app.command("compositions")
@render_options(only=_DISCOVERY_OPTIONS)
def compositions_command(
    project: ProjectArg,
    *,
    options: RenderOptions,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Fetch nothing: remote fonts, stylesheets and media are listed, "
        "not checked.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document.")
                           ] = False,
) -> None:
    """List a project's compositions (root and nested: id, size, duration, fps, variables,
    media, fonts) and what 'render' would do, without rendering. Every problem a render
    would hit is listed, one line each on stderr (in "errors" with --json), exit code 2.

    Example: hfaction compositions examples/nested --json
    """
    from hfaction.render.discover import discover

    found = discover(project, options, offline=offline)
    _print_discovery(found, json_output)
    raise typer.Exit(found.exit_code)


@render_app.command("chunk")
@render_options(only=["browser"])
def chunk_command(
    plan_dir: PlanDirArg,
    index: Annotated[int, typer.Argument(help="Chunk index (0-based).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Chunk file to write.")],
    options: RenderOptions,
) -> None:
    """Render one chunk of a plan (what each Lambda worker does).

    Example: hfaction chunk ./plan 0 -o chunk-0.mp4
    """
    from hfaction.render.chunk import render_chunk

    print_json(render_chunk(plan_dir, index, output, browser=options.browser).to_dict())


@render_app.command("assemble")
def assemble_command(
    plan_dir: PlanDirArg,
    chunks: Annotated[list[Path], typer.Argument(help="Chunk files, in chunk order.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="MP4 file to write.")],
) -> None:
    """Join rendered chunks into the final MP4 by stream copy.

    Example: hfaction assemble ./plan chunk-0.mp4 chunk-1.mp4 -o out.mp4
    """
    from hfaction.render.assembler import assemble

    print_json(assemble(plan_dir, chunks, output).to_dict())


@render_app.command()
def version() -> None:
    """Print hfaction's version.

    Example: hfaction version
    """
    stdout.print(f"hfaction {__version__}")
