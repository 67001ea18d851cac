"""``render_chunk``: render frames [start, end) of a plan into one H.264 chunk."""

from __future__ import annotations

import os
import queue
import threading
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
    WorkerFailed,
)
from hfaction.proc import StreamingProcess
from hfaction.render.browser import BrowserInfo, browser_version, resolve_browser
from hfaction.render.capture import AssetServer, BrowserSession, CompositionPage, browser_session
from hfaction.render.encode import chunk_encode_args, ffmpeg_binary, ffmpeg_version
from hfaction.render.framemath import split_frames
from hfaction.render.planner import PROJECT_DIR, REMOTE_DIR, Plan, load_plan

FrameCallback = Callable[[int], None]

# A pipeline ahead of the encoder holds its captured JPEGs (a few hundred kB each at
# 1080p) until the encoder reaches its frames; past this many it waits, so memory stays
# bounded on a 1,769 MB function whatever the chunk size.
MAX_BUFFERED_FRAMES = 240


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


def _open_page(session: BrowserSession, server: AssetServer, plan_: Plan,
               ready_timeout: float) -> CompositionPage:
    _check_capture_method(plan_, session)
    page = session.open(server=server, entry=plan_.entry, runtime_config=plan_.runtime_config,
                        size=plan_.capture_size)
    try:
        page.load(ready_timeout)
    except BaseException:
        page.close()
        raise
    return page


class _End:
    """Put after a pipeline's last frame (or its error)."""


class CapturePipeline(threading.Thread):
    """A browser of its own capturing frames [start, end) of a plan ahead of the encoder.

    Playwright's sync API is bound to the thread that started it, so each pipeline
    launches its browser in its own thread; frames wait in a bounded queue until the one
    encoder of the chunk reaches them, in frame order.
    """

    def __init__(self, plan_dir: Path, plan_: Plan, browser: BrowserInfo, frames: tuple[int, int],
                 ready_timeout: float) -> None:
        super().__init__(name=f"capture-{frames[0]}-{frames[1]}", daemon=True)
        self.plan = plan_
        self.browser = browser
        self.frames = frames
        self.ready_timeout = ready_timeout
        self.server = chunk_server(plan_dir, plan_)
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self._queue: queue.Queue[bytes | type[_End]] = queue.Queue(MAX_BUFFERED_FRAMES)

    def run(self) -> None:
        try:
            with BrowserSession(self.browser) as session:
                page = _open_page(session, self.server, self.plan, self.ready_timeout)
                try:
                    for frame in range(*self.frames):
                        if self.stopping.is_set():
                            return
                        self._put(page.capture(frame))
                finally:
                    page.close()
        except BaseException as error:  # handed to the encoding thread, which raises it
            self.error = error
        finally:
            self._put(_End)

    def _put(self, item: bytes | type[_End]) -> None:
        while not self.stopping.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def images(self) -> Iterator[bytes]:
        for _frame in range(*self.frames):
            item = self._queue.get()
            if item is _End:
                break
            assert isinstance(item, bytes)
            yield item
        else:
            return
        self.join()
        if self.error is not None:
            raise self.error
        raise WorkerFailed(f"the capture of frames {self.frames[0]}..{self.frames[1] - 1} "
                           "stopped before its last frame",
                           hint="this is a bug in hfaction; please report it")

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


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
    pipelines: int = 1,
) -> ChunkResult:
    """Render chunk ``index`` of the plan in ``plan_dir`` to ``out`` (written atomically).

    ``session`` lets a worker reuse one launched browser across chunks. ``pipelines``
    above 1 captures the chunk's frames with that many browsers at once, each over a
    contiguous part, into one encoder: where one browser cannot keep a machine's cores
    busy (a Lambda function of several vCPUs), the chunk takes less time, and the encoder
    sees the same frames in the same order, so the file is the same.
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
    parts = split_frames(start, end, pipelines)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    server = chunk_server(plan_dir, plan_)
    info = resolve_browser(browser)
    # The first part is captured here with the caller's (possibly warm) browser.
    helpers = [CapturePipeline(plan_dir, plan_, info, part, ready_timeout) for part in parts[1:]]
    try:
        for helper in helpers:
            helper.start()
        mark = time.perf_counter()
        with browser_session(session, info) as active:
            timings.launch = time.perf_counter() - mark
            mark = time.perf_counter()
            page = _open_page(active, server, plan_, ready_timeout)
            try:
                timings.load = time.perf_counter() - mark
                command = chunk_encode_args(ffmpeg, partial, fps=plan_.fps,
                                            capture_size=plan_.capture_size,
                                            settings=plan_.encoder, threads=encoder_threads)
                with StreamingProcess(command, what=f"ffmpeg encoding chunk {index}",
                                      error=EncodeFailed) as encoder:
                    sources = [chunk_frames(page, *parts[0]),
                               *(helper.images() for helper in helpers)]
                    frame = start
                    for images in sources:
                        while True:
                            mark = time.perf_counter()
                            image = next(images, None)
                            timings.capture += time.perf_counter() - mark
                            if image is None:
                                break
                            mark = time.perf_counter()
                            encoder.write(image)
                            timings.encode += time.perf_counter() - mark
                            if on_frame is not None:
                                on_frame(frame)
                            frame += 1
                    mark = time.perf_counter()
                    encoder.finish()
                    timings.encode += time.perf_counter() - mark
            finally:
                page.close()
        refused = [url for source in (server, *(h.server for h in helpers))
                   for url in source.refused]
        if refused:
            raise RemoteAssetNotFrozen(f"chunk {index} requested {refused[0]}, "
                                       "which is not in the plan")
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        for helper in helpers:
            helper.stop()
    return ChunkResult(index=index, start=start, end=end, path=out, plan_hash=plan_.hash,
                       bytes=out.stat().st_size, timings=timings)
