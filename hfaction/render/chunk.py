"""``render_chunk``: render frames [start, end) of a plan into one H.264 chunk."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hfaction.errors import (
    BrowserVersionMismatch,
    EncodeFailed,
    FfmpegVersionMismatch,
    InvalidOption,
    RemoteAssetNotFrozen,
)
from hfaction.proc import StreamingProcess
from hfaction.render.browser import browser_version, resolve_browser
from hfaction.render.capture import AssetServer, BrowserSession, CompositionPage, browser_session
from hfaction.render.encode import chunk_encode_args, ffmpeg_binary, ffmpeg_version
from hfaction.render.planner import PROJECT_DIR, REMOTE_DIR, Plan, load_plan

FrameCallback = Callable[[int], None]


@dataclass
class ChunkTimings:
    verify: float = 0.0
    launch: float = 0.0
    load: float = 0.0
    capture: float = 0.0
    encode: float = 0.0  # waiting for ffmpeg: writing frames into a full pipe, and its finish

    def to_dict(self) -> dict[str, float]:
        return {key: round(value, 4) for key, value in asdict(self).items()}


@dataclass
class ChunkResult:
    index: int
    start: int
    end: int
    path: Path
    plan_hash: str
    bytes: int
    timings: ChunkTimings = field(default_factory=ChunkTimings)

    @property
    def frames(self) -> int:
        return self.end - self.start

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "start": self.start, "end": self.end,
                "frames": self.frames, "path": str(self.path), "plan_hash": self.plan_hash,
                "bytes": self.bytes, "timings": self.timings.to_dict()}


def chunk_file_name(index: int) -> str:
    return f"chunk-{index:05d}.mp4"


def check_toolchain(plan_: Plan, *, browser: str | None = None) -> tuple[str, str]:
    """The ffmpeg and browser here must be the ones the plan was made with."""
    ffmpeg = ffmpeg_binary()
    local_ffmpeg = ffmpeg_version(ffmpeg)
    if local_ffmpeg != plan_.ffmpeg_version:
        raise FfmpegVersionMismatch(
            f"plan {plan_.hash[:12]} was made with ffmpeg {plan_.ffmpeg_version}, "
            f"this machine has {local_ffmpeg} ({ffmpeg})",
            hint="render every chunk with the ffmpeg build that planned, e.g. the same image",
        )
    info = resolve_browser(browser)
    local_browser = browser_version(info.path)
    if local_browser != plan_.browser_version:
        raise BrowserVersionMismatch(
            f"plan {plan_.hash[:12]} was made with {plan_.browser_version}, "
            f"this machine has {local_browser} ({info.path})",
            hint="render every chunk with the browser build that planned",
        )
    return ffmpeg, info.path


def _check_capture_method(plan_: Plan, session: BrowserSession) -> None:
    # beginFrame and screenshot capture differ by a few raster levels: frames of one
    # render all come from the method that planned it.
    method = "beginframe" if session.info.begin_frame else "screenshot"
    planned = plan_.capture.method
    if method != planned:
        raise BrowserVersionMismatch(
            f"plan {plan_.hash[:12]} captures with {planned}, this browser "
            f"({session.info.path}) with {method}",
            hint="render every chunk with the same kind of browser (the headless shell)",
        )


def chunk_server(plan_dir: Path, plan_: Plan) -> AssetServer:
    """Serves a chunk's page from the plan folder only: no network."""
    return AssetServer(project_dir=plan_dir / PROJECT_DIR, remote_dir=plan_dir / REMOTE_DIR,
                       remote=plan_.remote_assets, fetch_remote=None)


def chunk_frames(page: CompositionPage, start: int, end: int) -> Iterator[bytes]:
    """The JPEG frames [start, end) of a loaded page, as every chunk captures them.

    A frame's pixels depend on its time alone (``CompositionPage.capture`` rasters every
    frame from nothing, and draws what a page's first frame needs before it), so a
    chunk's frames are those of any other chunking.
    """
    for frame in range(start, end):
        yield page.capture(frame)


def render_chunk(
    plan_dir: Path,
    index: int,
    out: Path,
    *,
    session: BrowserSession | None = None,
    browser: str | None = None,
    on_frame: FrameCallback | None = None,
    ready_timeout: float = 60.0,
    encoder_threads: int = 0,
) -> ChunkResult:
    """Render chunk ``index`` of the plan in ``plan_dir`` to ``out`` (written atomically).

    ``session`` lets a worker reuse one launched browser across chunks.
    """
    timings = ChunkTimings()
    started = time.perf_counter()
    plan_ = load_plan(plan_dir)
    chunks = plan_.chunks
    if not 0 <= index < len(chunks):
        raise InvalidOption(f"chunk {index} does not exist; plan {plan_.hash[:12]} has "
                            f"chunks 0..{len(chunks) - 1}")
    ffmpeg, _browser_path = check_toolchain(plan_, browser=browser)
    timings.verify = time.perf_counter() - started
    start, end = chunks[index]
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    server = chunk_server(plan_dir, plan_)
    try:
        mark = time.perf_counter()
        with browser_session(session, resolve_browser(browser)) as active:
            timings.launch = time.perf_counter() - mark
            _check_capture_method(plan_, active)
            mark = time.perf_counter()
            page = active.open(server=server, entry=plan_.entry,
                               runtime_config=plan_.runtime_config, size=plan_.capture_size)
            try:
                page.load(ready_timeout)
                timings.load = time.perf_counter() - mark
                command = chunk_encode_args(ffmpeg, partial, fps=plan_.fps,
                                            capture_size=plan_.capture_size,
                                            settings=plan_.encoder, threads=encoder_threads)
                with StreamingProcess(command, what=f"ffmpeg encoding chunk {index}",
                                      error=EncodeFailed) as encoder:
                    frames = chunk_frames(page, start, end)
                    for frame in range(start, end):
                        mark = time.perf_counter()
                        image = next(frames)
                        timings.capture += time.perf_counter() - mark
                        mark = time.perf_counter()
                        encoder.write(image)
                        timings.encode += time.perf_counter() - mark
                        if on_frame is not None:
                            on_frame(frame)
                    mark = time.perf_counter()
                    encoder.finish()
                    timings.encode += time.perf_counter() - mark
            finally:
                page.close()
        if server.refused:
            raise RemoteAssetNotFrozen(f"chunk {index} requested {server.refused[0]}, "
                                       "which is not in the plan")
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ChunkResult(index=index, start=start, end=end, path=out, plan_hash=plan_.hash,
                       bytes=out.stat().st_size, timings=timings)
