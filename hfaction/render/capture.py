"""Driving Chromium: loading a frozen composition and capturing its frames.

The page is served from a fake origin through Playwright's request routing, so
a render touches no network: project files come from the plan's copy, remote
assets from the plan's frozen copies, and anything else is refused.
"""

from __future__ import annotations

import base64
import contextlib
import json
import mimetypes
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from playwright.sync_api import (
    Browser,
    CDPSession,
    Page,
    Playwright,
    Route,
    WebSocketRoute,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from hfaction.errors import (
    BrowserFailed,
    BrowserGpuNotSoftware,
    FontFetchFailed,
    HfactionError,
    PageScriptError,
    ReadinessTimeout,
    RemoteAssetNotFrozen,
    UnsafePath,
)
from hfaction.render.assets import RemoteAsset
from hfaction.render.browser import BrowserInfo, launch_args
from hfaction.render.composition import safe_relative
from hfaction.render.fonts import (
    FONT_FACES_SCRIPT,
    LOAD_ALL_FONTS_SCRIPT,
    FontEnvironment,
    fallback_digest,
    plan_fallback_dir,
)

ORIGIN = "http://hfaction.localhost"
# The page runtime's object (runtime.js): a name no page uses, so a page may define
# window.__hf or anything else HyperFrames pages define.
RUNTIME_KEY = "__hfaction_runtime__"
JPEG_QUALITY = 90
# A frame's pixels must depend on its time alone, yet Chromium's compositor carries raster
# state from frame to frame: a will-change: transform layer keeps the scale it was first
# rastered at (a chunk that starts while such an element scales in rasters it at another
# scale than a render that played from frame 0), and tiles nothing invalidated keep what
# an earlier frame rastered (glyph edges differ). So before every SKIP_EVERY-th frame one
# frame is drawn with the page's content skipped, which drops every layer and tile: the
# frames that follow are rastered from nothing, whatever was drawn before, and a chunk
# that starts between two skips draws (unseen) the frames since the last one. Measured on
# examples/gsap-intro (1080p, 2 workers): skipping before every frame takes 1.25x the
# time of not skipping, before every fifth 1.07x.
# content-visibility changes no descendant's style (no CSS transition starts) nor its
# layout (no ResizeObserver fires); the root keeps its size through contain-intrinsic-size,
# so the scroll position stays. An IntersectionObserver does see its targets leave the
# viewport for that frame.
SKIP_EVERY = 5
# Child frames (<iframe>) and content-visibility: auto content come back a number of frames
# after the rest that varies from run to run, so a page with either is not skipped
# (SKIPPABLE): its chunks start by drawing, unseen, the frame before their first, which
# makes most seams (not all) identical.
SKIPPABLE = """() => window.length === 0 && ![...document.querySelectorAll("*")].some((el) =>
  getComputedStyle(el).contentVisibility === "auto")"""
SKIP_PAGE = """() => {
  const root = document.documentElement, style = root.style;
  const restore = ["content-visibility", "contain-intrinsic-size"].map((name) =>
    [name, style.getPropertyValue(name), style.getPropertyPriority(name)]);
  const box = getComputedStyle(root);
  style.setProperty("contain-intrinsic-size", box.width + " " + box.height, "important");
  style.setProperty("content-visibility", "hidden", "important");
  return restore;
}"""
# Puts back what SKIP_PAGE replaced, then seeks.
SEEK_SHOWING_PAGE = f"""([frame, saved]) => {{
  const style = document.documentElement.style;
  for (const [name, value, priority] of saved) {{
    if (value) style.setProperty(name, value, priority); else style.removeProperty(name);
  }}
  return window.{RUNTIME_KEY}.seek(frame);
}}"""
_SOFTWARE_GL = re.compile(r"swiftshader|llvmpipe|softpipe|software", re.IGNORECASE)
_STACK_LOCATION = re.compile(re.escape(ORIGIN) + r"/([^\s):]+):(\d+)(?::\d+)?")

mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("font/woff2", ".woff2")
mimetypes.add_type("font/woff", ".woff")
mimetypes.add_type("font/ttf", ".ttf")
mimetypes.add_type("font/otf", ".otf")


def runtime_source() -> str:
    runtime = resources.files("hfaction.render") / "runtime" / "runtime.js"
    return runtime.read_text(encoding="utf-8")


def egress_source() -> str:
    """The init script that leaves the page no WebSocket, WebTransport nor WebRTC."""
    guard = resources.files("hfaction.render") / "runtime" / "egress.js"
    return guard.read_text(encoding="utf-8")


def _close_web_socket(socket: WebSocketRoute) -> None:
    # Never connected to the server: the page sees its socket close.
    socket.close()


FetchRemote = Callable[[str], RemoteAsset]


@dataclass
class AssetServer:
    """Answers every request the page makes.

    ``fetch_remote`` is given only at planning: then a remote URL is fetched once
    and frozen. During chunk rendering it is None and an unfrozen URL is an error.
    """

    project_dir: Path
    remote_dir: Path
    remote: dict[str, RemoteAsset]
    fetch_remote: FetchRemote | None = None
    missing: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    failures: list[HfactionError] = field(default_factory=list)
    requests: int = 0

    def handle(self, route: Route) -> None:
        self.requests += 1
        url = route.request.url
        try:
            if url.startswith(ORIGIN + "/"):
                self._serve_project(route, url)
            elif url.startswith(("http://", "https://")):
                self._serve_remote(route, url.split("#", 1)[0])
            else:
                route.continue_()
        except HfactionError as error:
            self.failures.append(error)
            route.abort()

    def _serve_project(self, route: Route, url: str) -> None:
        path = unquote(urlsplit(url).path).lstrip("/") or "index.html"
        # Files frozen at planning (video frames, fonts) live beside the project, in
        # the plan's frozen/ folder.
        frozen = path.startswith("__hf_frozen/")
        root = self.project_dir.parent / "frozen" if frozen else self.project_dir
        try:
            relative = safe_relative(root, path.removeprefix("__hf_frozen/") if frozen
                                     else path, where=f"request {url}")
        except UnsafePath:
            self.refused.append(url)
            route.abort()
            return
        file = root / relative
        if not file.is_file():
            if path != "favicon.ico":
                self.missing.append(path)
            route.fulfill(status=404, body="not in the project")
            return
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        route.fulfill(status=200, body=file.read_bytes(), headers={
            "Content-Type": content_type, "Access-Control-Allow-Origin": "*",
            "Cache-Control": "no-store"})

    def _serve_remote(self, route: Route, url: str) -> None:
        asset = self.remote.get(url)
        if asset is None:
            if self.fetch_remote is None:
                self.refused.append(url)
                raise RemoteAssetNotFrozen(
                    f"the page requested {url}, which was not fetched when the render was planned",
                    hint="load remote assets from the page's markup or styles so planning "
                    "sees them",
                )
            asset = self.fetch_remote(url)
            self.remote[url] = asset
        route.fulfill(status=200, body=(self.remote_dir / asset.path).read_bytes(), headers={
            "Content-Type": asset.content_type, "Access-Control-Allow-Origin": "*"})


@dataclass
class ReadyResult:
    # The length the page gives itself (its timelines, floored by its nested
    # compositions, timed media and finite animations), or None.
    timeline_duration: float | None
    timelines: list[str]
    # Said once per page: e.g. a timeline that was never registered.
    warnings: list[str] = field(default_factory=list)


class BrowserSession:
    """One launched browser, reused for every page (chunk) a worker renders."""

    def __init__(self, browser: BrowserInfo) -> None:
        self.info = browser
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._gpu_checked = False
        self._fonts: FontEnvironment | None = None

    def __enter__(self) -> BrowserSession:
        self._playwright = sync_playwright().start()
        try:
            self._launch(None)
        except BaseException:
            self._playwright.stop()
            raise
        return self

    def _launch(self, fallback_dir: Path | None) -> None:
        # Machine fonts come only from a frozen fallback, through the browser's own
        # fontconfig file: the host's installed fonts never reach the pixels. Until a plan
        # says otherwise, the fallback is this machine's copy of the one plans freeze.
        assert self._playwright is not None
        fonts = FontEnvironment(fallback_dir)
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=self.info.path, args=launch_args(self.info), env=fonts.env(),
                timeout=60_000,
            )
        except PlaywrightError as error:
            fonts.close()
            first = str(error).strip().splitlines()[0] if str(error).strip() else "unknown error"
            raise BrowserFailed(f"could not launch {self.info.path}: {first}") from None
        self._fonts = fonts
        self._gpu_checked = False

    def _use_fallback_of(self, server: AssetServer) -> None:
        """Relaunch if the plan's frozen fallback fonts differ from the running browser's."""
        wanted = plan_fallback_dir(server.project_dir)
        if wanted is None or self._fonts is None or fallback_digest(wanted) == self._fonts.digest:
            return
        if self._browser is not None:
            with contextlib.suppress(PlaywrightError):
                self._browser.close()
        self._fonts.close()
        self._launch(wanted)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            if self._fonts is not None:
                self._fonts.close()
            if self._playwright is not None:
                self._playwright.stop()

    @property
    def version(self) -> str:
        assert self._browser is not None
        return self._browser.version

    def open(
        self,
        *,
        server: AssetServer,
        entry: str,
        runtime_config: dict[str, Any],
        size: tuple[int, int],
    ) -> CompositionPage:
        self._use_fallback_of(server)
        assert self._browser is not None
        page = CompositionPage(self._browser, server=server, entry=entry,
                               runtime_config=runtime_config, size=size,
                               begin_frame=self.info.begin_frame)
        if not self._gpu_checked:
            page.check_software_gl()
            self._gpu_checked = True
        return page


@contextlib.contextmanager
def browser_session(existing: BrowserSession | None, browser: BrowserInfo
                    ) -> Iterator[BrowserSession]:
    """``existing`` if given (a worker's or a warm Lambda's), else a new one for this use."""
    if existing is not None:
        yield existing
        return
    with BrowserSession(browser) as session:
        yield session


class CompositionPage:
    def __init__(
        self,
        browser: Browser,
        *,
        server: AssetServer,
        entry: str,
        runtime_config: dict[str, Any],
        size: tuple[int, int],
        begin_frame: bool,
    ) -> None:
        self.server = server
        self.entry = entry
        self.begin_frame = begin_frame
        self.script_errors: list[str] = []
        width, height = size
        self._context = browser.new_context(
            viewport={"width": width, "height": height}, device_scale_factor=1,
            service_workers="block", java_script_enabled=True,
        )
        self._context.route("**/*", server.handle)
        # route() sees HTTP(S) only. The page's other ways out are closed in layers: the
        # launch flags (browser.NO_EGRESS_ARGS) in the network stack; Playwright's
        # WebSocket routing, which closes every socket a frame opens; and the egress guard
        # (runtime/egress.js), which replaces WebSocket, WebTransport and RTCPeerConnection
        # in every frame before the page's scripts run. The guard runs before the routing's
        # script, so the "native" WebSocket that script keeps is the guard's stub, and again
        # after it, so the page meets the stub's synchronous SecurityError (the same in
        # every run) rather than a close that comes back from Python.
        guard = egress_source()
        self._context.add_init_script(script=guard)
        self._context.route_web_socket(lambda _url: True, _close_web_socket)
        self._context.add_init_script(
            script=f"{guard}\nwindow.__hfConfig = {json.dumps(runtime_config)};\n"
            f"{runtime_source()}\n{FONT_FACES_SCRIPT}"
        )
        self.page: Page = self._context.new_page()
        self.page.on("pageerror", self._on_page_error)
        self._cdp: CDPSession | None = None
        self._skips: bool | None = None  # None until the first frame: see SKIPPABLE

    def _on_page_error(self, error: PlaywrightError) -> None:
        stack = error.stack or ""
        match = _STACK_LOCATION.search(stack)
        where = f" at {unquote(match.group(1))}:{match.group(2)}" if match else ""
        message = error.message.strip().splitlines()[0] if error.message.strip() else str(error)
        self.script_errors.append(f"{message}{where}")

    def _raise_page_problems(self) -> None:
        if self.server.failures:
            raise self.server.failures[0]
        if self.script_errors:
            raise PageScriptError(
                f"the page threw: {self.script_errors[0]}",
                hint="fix the script error; it happens in a browser too",
            )

    def load(self, timeout_s: float) -> ReadyResult:
        deadline = time.monotonic() + timeout_s
        try:
            self.page.goto(f"{ORIGIN}/{self.entry}", wait_until="load",
                           timeout=timeout_s * 1000)
        except PlaywrightError as error:
            self._raise_page_problems()
            raise ReadinessTimeout(
                f"{self.entry} did not finish loading within {timeout_s:g}s "
                f"({str(error).splitlines()[0]})"
            ) from None
        self._raise_page_problems()
        remaining = max(1.0, deadline - time.monotonic())
        try:
            raw = self._ready_with_timeout(remaining)
        except PlaywrightError as error:
            self._raise_page_problems()
            raise BrowserFailed(f"the page's runtime failed: {str(error).splitlines()[0]}"
                                ) from None
        self._raise_page_problems()
        if self.server.missing:
            raise PageScriptError(
                f"{self.entry} requests {self.server.missing[0]!r}, which is not in the project",
                hint="add the file to the project folder or fix the path",
            )
        result = json.loads(raw)
        if not result.get("ok"):
            raise PageScriptError(f"the composition could not start: {result.get('error')}")
        self._load_all_fonts(max(1.0, deadline - time.monotonic()))
        if self.begin_frame:
            self._cdp = self._context.new_cdp_session(self.page)
        return ReadyResult(result.get("timelineDuration"), list(result.get("timelines", [])),
                           [str(w) for w in result.get("warnings", [])])

    def _load_all_fonts(self, timeout_s: float) -> None:
        """Load every declared face now: text that appears later never waits for a font."""
        self.page.evaluate(LOAD_ALL_FONTS_SCRIPT)
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.page.evaluate("() => window.__hfFontsValue ?? null")
            if state is not None:
                break
            if self.server.failures:
                self._raise_page_problems()
            if time.monotonic() > deadline:
                raise ReadinessTimeout(f"the page's fonts did not load within {timeout_s:g}s",
                                       hint="raise --ready-timeout for slow pages")
            time.sleep(0.02)
        self._raise_page_problems()
        failed = sorted(set(json.loads(str(state))))
        if failed:
            raise FontFetchFailed(
                f"the browser could not load the font family {failed[0]!r} of {self.entry}",
                hint="the font file is not a font Chromium reads (woff2, woff, ttf, otf)",
            )

    def _ready_with_timeout(self, timeout_s: float) -> str:
        # The runtime's own timers are frozen, so the timeout races on the real clock here.
        self.page.evaluate(f"() => window.{RUNTIME_KEY}.ready()")
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.page.evaluate(f"() => window.{RUNTIME_KEY}.readyValue()")
            if state is not None:
                return str(state)
            if self.script_errors or self.server.failures:
                self._raise_page_problems()
            if time.monotonic() > deadline:
                waiting = self.page.evaluate(f"() => window.{RUNTIME_KEY}.waitingFor()")
                raise ReadinessTimeout(
                    f"the composition was not ready after {timeout_s:g}s: still waiting for "
                    f"{waiting}",
                    hint="make sure it loads without errors; raise --ready-timeout for slow pages",
                )
            time.sleep(0.02)

    def check_software_gl(self) -> None:
        """Refuse a hardware GPU: its pixels differ from machine to machine."""
        renderer = self.page.evaluate(
            """() => { const c = document.createElement('canvas');
              const gl = c.getContext('webgl') || c.getContext('experimental-webgl');
              if (!gl) return '';
              const info = gl.getExtension('WEBGL_debug_renderer_info');
              return String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL)
                                 : gl.getParameter(gl.RENDERER)); }"""
        )
        if renderer and not _SOFTWARE_GL.search(renderer):
            raise BrowserGpuNotSoftware(
                f"the browser renders WebGL with {renderer!r}, a hardware GPU",
                hint="hfaction forces SwiftShader for identical pixels on every machine; "
                "use a Chromium build that honours --use-angle=swiftshader",
            )

    def capture(self, frame: int) -> bytes:
        """Seek the composition to ``frame`` and return its pixels as a JPEG.

        Every SKIP_EVERY frames the page is skipped for a frame (:data:`SKIP_PAGE`), so a
        frame's pixels depend on its time alone: a chunk that starts between two skips
        first draws, unseen, the frames since the last one.
        """
        if self._skips is None:
            self._skips = bool(self.page.evaluate(SKIPPABLE))
            earlier = frame - frame % SKIP_EVERY if self._skips else max(0, frame - 1)
            for unseen in range(earlier, frame):
                self._show(unseen)
                self._draw_unseen()
        self._show(frame)
        if self._cdp is None:
            image = self.page.screenshot(type="jpeg", quality=JPEG_QUALITY, animations="allow",
                                         caret="initial", scale="css")
            return image
        return self._begin_frame()

    def _show(self, frame: int) -> None:
        restore: list[list[str]] = []
        if self._skips and frame % SKIP_EVERY == 0:
            restore = self.page.evaluate(SKIP_PAGE)
            self._draw_unseen()
        self._seek(frame, restore)

    def _seek(self, frame: int, restore: list[list[str]]) -> None:
        try:
            self.page.evaluate(SEEK_SHOWING_PAGE, [frame, restore])
        except PlaywrightError as error:
            self._raise_page_problems()
            raise PageScriptError(f"the page failed at frame {frame}: "
                                  f"{str(error).strip().splitlines()[0]}") from None
        if self.script_errors or self.server.failures:
            self._raise_page_problems()

    def _draw_unseen(self) -> None:
        if self._cdp is not None:
            self._cdp.send("HeadlessExperimental.beginFrame", {})
        else:
            # A screenshot makes Chromium draw a frame; one pixel of it is enough.
            self.page.screenshot(type="jpeg", clip={"x": 0, "y": 0, "width": 1, "height": 1})

    def _begin_frame(self) -> bytes:
        assert self._cdp is not None
        for _attempt in range(3):
            result = self._cdp.send("HeadlessExperimental.beginFrame", {
                "screenshot": {"format": "jpeg", "quality": JPEG_QUALITY}})
            data = result.get("screenshotData")
            if data:
                return base64.b64decode(data)
        # Chromium answers a screenshot request with a frame even when nothing changed.
        raise BrowserFailed("Chromium produced no frame after three beginFrame requests")

    def close(self) -> None:
        with contextlib.suppress(PlaywrightError):
            self._context.close()
