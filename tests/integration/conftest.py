"""Integration tests run the real browser and ffmpeg.

Without them these tests skip, naming what is missing; CI sets
HFACTION_REQUIRE_TOOLS=1 so that a missing tool fails the run instead.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from hfaction.errors import BrowserNotFound
from hfaction.render.browser import resolve_browser

if TYPE_CHECKING:
    from hfaction.render.capture import CompositionPage, ReadyResult


def _missing_tools() -> str | None:
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    try:
        resolve_browser()
    except BrowserNotFound:
        missing.append("chromium-headless-shell")
    return ", ".join(missing) or None


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    missing = _missing_tools()
    if missing:
        if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
            pytest.fail(f"integration tests need {missing} (apt-get install "
                        "chromium-headless-shell ffmpeg)")
        pytest.skip(f"needs {missing}: apt-get install chromium-headless-shell ffmpeg")


def decode_gray(path: Path) -> np.ndarray:
    """Every frame of a video as 8-bit luma, shape (frames, height, width)."""
    return _decode(path, "gray", 1)[..., 0]


def decode_rgb(path: Path) -> np.ndarray:
    """Every frame of a video as RGB, shape (frames, height, width, 3)."""
    return _decode(path, "rgb24", 3)


def _decode(path: Path, pix_fmt: str, channels: int) -> np.ndarray:
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0", str(path)],
        capture_output=True, check=True, text=True).stdout.strip().split(",")
    width, height = int(probe[0]), int(probe[1])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", pix_fmt, "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, channels)


def frame_md5s(path: Path) -> list[str]:
    """MD5 of every decoded video frame (ffmpeg's framemd5; audio packets left out)."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0",
                          "-f", "framemd5", "-"],
                         capture_output=True, check=True, text=True).stdout
    return [line.split(",")[-1].strip() for line in out.splitlines()
            if line and not line.startswith("#")]


def psnr_per_frame(a: Path, b: Path) -> list[float]:
    """Per-frame PSNR (dB) of ``b`` against ``a``; identical frames count as 100 dB."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(a), "-i", str(b), "-lavfi",
         "[0:v][1:v]psnr=stats_file=-", "-f", "null", "-"],
        capture_output=True, check=True, text=True).stdout
    values = []
    for line in out.splitlines():
        fields = dict(part.split(":", 1) for part in line.split() if ":" in part)
        if "psnr_avg" in fields:
            value = fields["psnr_avg"]
            values.append(100.0 if value == "inf" else float(value))
    return values


def read_bits(frame: np.ndarray, columns: int = 8, rows: int = 2) -> int:
    """Decode the fixtures' 16 coarse blocks (bit 15 first) from a luma frame."""
    height, width = frame.shape
    cell_w, cell_h = width // columns, height // rows
    value = 0
    for index in range(columns * rows):
        row, column = divmod(index, columns)
        cell = frame[row * cell_h + cell_h // 4: (row + 1) * cell_h - cell_h // 4,
                     column * cell_w + cell_w // 4: (column + 1) * cell_w - cell_w // 4]
        value = (value << 1) | (1 if cell.mean() < 128 else 0)
    return value


class _Handler(http.server.SimpleHTTPRequestHandler):
    counter: Counter[str]

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self.counter[self.path] += 1
        super().do_GET()


class LoopbackServer:
    """A static HTTP server on 127.0.0.1 that counts requests per path."""

    def __init__(self, root: Path) -> None:
        counter: Counter[str] = Counter()
        handler = type("Handler", (_Handler,), {"counter": counter})

        def factory(*args: object, **kwargs: object) -> _Handler:
            return handler(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        self.requests = counter
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), factory)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback_server(tmp_path: Path) -> Iterator[tuple[LoopbackServer, Path]]:
    root = tmp_path / "served"
    root.mkdir()
    server = LoopbackServer(root)
    server.start()
    try:
        yield server, root
    finally:
        server.stop()


@contextmanager
def open_page(project: Path, *, variables: dict[str, Any] | None = None,
              timeout: float = 20) -> Iterator[tuple[CompositionPage, ReadyResult]]:
    """The page as a chunk worker opens it (no planning): loaded and seeked to frame 0."""
    # Imported here: the AWS and GitHub tests share this conftest and need no browser.
    from hfaction.render.capture import AssetServer, BrowserSession
    from hfaction.render.composition import load_project
    from hfaction.render.planner import runtime_config

    composition = load_project(project, "index.html")
    config = runtime_config(composition, composition.root.fps, variables or {}, 0)
    config["fontFaces"] = []
    config["videos"] = []
    server = AssetServer(project_dir=project, remote_dir=project, remote={})
    with BrowserSession(resolve_browser()) as session:
        page = session.open(server=server, entry="index.html", runtime_config=config,
                            size=(composition.root.width, composition.root.height))
        try:
            ready = page.load(timeout)
            yield page, ready
        finally:
            page.close()
