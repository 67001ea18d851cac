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
from hfaction.render.options import RenderOptions

if TYPE_CHECKING:
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


@render_app.command()
@render_options()
def render(
    project: ProjectArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="MP4 file to write.")] = Path(
        "out.mp4"),
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Worker processes. Default: what cores and memory allow.")] = None,
    *,
    options: RenderOptions,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Render a project to MP4 on this machine.

    Example: hfaction render examples/gsap-intro -o intro.mp4 --workers 2
    """
    from hfaction.render.local import render_local

    result = render_local(project, output, options, workers=workers,
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
