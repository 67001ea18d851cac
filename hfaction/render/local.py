"""The local render: plan, then chunks over worker processes, then assemble.

Each worker process launches one browser and keeps it for every chunk it takes;
chunks are handed out from a queue so a worker that finishes early takes more.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any, Protocol

from hfaction.errors import HfactionError, InvalidOption, WorkerFailed, error_from_dict
from hfaction.render.assembler import AssembleResult, assemble
from hfaction.render.options import RenderOptions
from hfaction.render.planner import Plan, plan

# Memory one worker needs at 1080p: a browser (renderer, GPU and browser processes)
# plus an x264 encoder; measured peaks stay under this.
WORKER_MEMORY_BYTES = 1_200_000_000


def default_workers() -> int:
    """As many workers as cores, fewer when memory would not hold them."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        available = WORKER_MEMORY_BYTES * 64
    return max(1, min(cores or 1, available // WORKER_MEMORY_BYTES))


class ProgressSink(Protocol):
    """What a render reports while it runs; the CLI shows it, tests record it."""

    def planned(self, plan_: Plan, workers: int) -> None: ...
    def frame_done(self, frame: int) -> None: ...
    def chunk_done(self, index: int, start: int, end: int, seconds: float) -> None: ...
    def assembling(self) -> None: ...


class _SilentProgress:
    def planned(self, plan_: Plan, workers: int) -> None:
        pass

    def frame_done(self, frame: int) -> None:
        pass

    def chunk_done(self, index: int, start: int, end: int, seconds: float) -> None:
        pass

    def assembling(self) -> None:
        pass


@dataclass
class LocalRenderResult:
    output: AssembleResult
    plan: Plan
    workers: int
    wall_seconds: float
    plan_seconds: float
    chunk_timings: list[dict[str, Any]] = field(default_factory=list)


def _worker_main(plan_dir: str, chunk_dir: str, browser: str | None, tasks: Any,
                 events: Any, encoder_threads: int) -> None:
    from hfaction.render.browser import resolve_browser
    from hfaction.render.capture import BrowserSession
    from hfaction.render.chunk import chunk_file_name, render_chunk

    try:
        with BrowserSession(resolve_browser(browser)) as session:
            while True:
                index = tasks.get()
                if index is None:
                    return
                started = time.perf_counter()
                result = render_chunk(
                    Path(plan_dir), index, Path(chunk_dir) / chunk_file_name(index),
                    session=session, browser=browser, encoder_threads=encoder_threads,
                    on_frame=lambda frame: events.put(("frame", frame)),
                )
                events.put(("chunk", index, result.start, result.end,
                            time.perf_counter() - started, result.timings.to_dict()))
    except HfactionError as error:
        events.put(("error", error.to_dict()))
    except BaseException as error:  # a bug: report it with its traceback's last line
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        events.put(("error", {"code": WorkerFailed.code, "message": f"worker crashed: {last}",
                              "hint": "this is a bug in hfaction; please report it"}))


def render_local(
    project_dir: Path,
    output: Path,
    options: RenderOptions,
    *,
    workers: int | None = None,
    progress: ProgressSink | None = None,
    work_dir: Path | None = None,
    encoder_threads: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> LocalRenderResult:
    """Render ``project_dir`` to ``output`` on this machine."""
    if workers is not None and workers < 1:
        raise InvalidOption(f"--workers is {workers}; it must be at least 1")
    if output.exists() and output.is_dir():
        raise InvalidOption(f"output {output} is a folder", hint="pass a file name like out.mp4")
    sink: ProgressSink = progress or _SilentProgress()
    started = clock()
    worker_count = workers or default_workers()
    if encoder_threads is None:
        # With several workers, two x264 threads each measured best on 2 cores
        # (13.4 fps at 1080p against 12.4 with one and 11.7 with x264's choice);
        # alone, x264 chooses.
        encoder_threads = 2 if worker_count > 1 else 0
    scratch = Path(tempfile.mkdtemp(prefix="hfaction-", dir=work_dir))
    plan_dir = scratch / "plan"
    chunk_dir = scratch / "chunks"
    chunk_dir.mkdir()
    # Workers start (and launch their browsers) while the project is planned.
    pool = _WorkerPool(worker_count, plan_dir, chunk_dir, options.browser, encoder_threads)
    try:
        plan_ = plan(project_dir, replace(options, parallelism=worker_count), plan_dir)
        plan_seconds = clock() - started
        sink.planned(plan_, min(worker_count, len(plan_.chunks)))
        timings = pool.run(len(plan_.chunks), sink)
        sink.assembling()
        from hfaction.render.chunk import chunk_file_name

        chunk_paths = [chunk_dir / chunk_file_name(i) for i in range(len(plan_.chunks))]
        result = assemble(plan_dir, chunk_paths, output)
        return LocalRenderResult(output=result, plan=plan_,
                                 workers=min(worker_count, len(plan_.chunks)),
                                 wall_seconds=clock() - started, plan_seconds=plan_seconds,
                                 chunk_timings=timings)
    finally:
        pool.close()
        shutil.rmtree(scratch, ignore_errors=True)


class _WorkerPool:
    """Worker processes fed chunk indices through a queue; events come back on another."""

    def __init__(self, count: int, plan_dir: Path, chunk_dir: Path, browser: str | None,
                 encoder_threads: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.tasks = context.Queue()
        self.events = context.Queue()
        self.count = count
        self.finished = False
        self.processes: list[SpawnProcess] = [
            context.Process(target=_worker_main, daemon=True, args=(
                str(plan_dir), str(chunk_dir), browser, self.tasks, self.events,
                encoder_threads))
            for _ in range(count)
        ]
        for process in self.processes:
            process.start()

    def run(self, chunk_count: int, sink: ProgressSink) -> list[dict[str, Any]]:
        for index in range(chunk_count):
            self.tasks.put(index)
        for _ in range(self.count):
            self.tasks.put(None)
        remaining = chunk_count
        timings: list[dict[str, Any]] = []
        while remaining:
            try:
                event = self.events.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in self.processes
                        if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    raise WorkerFailed(f"a worker process died (exit code {dead[0].exitcode})",
                                       hint="the machine may be out of memory; try fewer "
                                       "--workers") from None
                continue
            kind = event[0]
            if kind == "frame":
                sink.frame_done(event[1])
            elif kind == "chunk":
                _kind, index, start, end, seconds, chunk_timings = event
                timings.append({"index": index, **chunk_timings})
                sink.chunk_done(index, start, end, seconds)
                remaining -= 1
            elif kind == "error":
                raise error_from_dict(event[1])
        self.finished = True
        return sorted(timings, key=lambda item: int(item["index"]))

    def close(self) -> None:
        for process in self.processes:
            if not self.finished:
                process.kill()
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        self.tasks.close()
        self.events.close()
