"""Finding Chromium and the command-line flags it runs with, as data."""

from __future__ import annotations

import functools
import glob
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from hfaction import proc
from hfaction.errors import BrowserFailed, BrowserNotFound, SubprocessFailed

INSTALL_HINT = (
    "install it with 'sudo apt-get install chromium-headless-shell' "
    "or pass --browser PATH / set HFACTION_BROWSER"
)
SYSTEM_HEADLESS_SHELLS = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/bin/chromium-headless-shell",
)


@dataclass(frozen=True)
class BrowserInfo:
    path: str
    # "headless-shell" supports HeadlessExperimental.beginFrame; "chromium" (new
    # headless mode of the full browser) does not, so it captures with screenshots.
    kind: str

    @property
    def begin_frame(self) -> bool:
        return self.kind == "headless-shell"


def _kind_of(path: str) -> str:
    name = Path(path).name
    return "headless-shell" if "headless" in name else "chromium"


def _playwright_headless_shells() -> list[str]:
    base = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache/ms-playwright")
    patterns = [
        f"{base}/chromium_headless_shell-*/chrome-headless-shell-linux64/chrome-headless-shell",
        f"{base}/chromium_headless_shell-*/chrome-linux/headless_shell",
    ]
    found: list[str] = []
    for pattern in patterns:
        found.extend(sorted(glob.glob(pattern), reverse=True))
    return found


def resolve_browser(explicit: str | None = None) -> BrowserInfo:
    """Explicit setting, then Playwright's headless shell, the system's, then chromium."""
    chosen = explicit or os.environ.get("HFACTION_BROWSER")
    if chosen:
        located = shutil.which(chosen) or (chosen if Path(chosen).is_file() else None)
        if not located:
            raise BrowserNotFound(f"browser {chosen!r} does not exist", hint=INSTALL_HINT)
        return BrowserInfo(located, _kind_of(located))
    candidates = [
        *_playwright_headless_shells(),
        *SYSTEM_HEADLESS_SHELLS,
        shutil.which("chromium-headless-shell") or "",
        shutil.which("chromium") or "",
        shutil.which("chromium-browser") or "",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return BrowserInfo(candidate, _kind_of(candidate))
    raise BrowserNotFound("no Chromium headless shell or Chromium found", hint=INSTALL_HINT)


@functools.cache
def browser_version(path: str) -> str:
    """``Chromium 156.0.8078.108``: recorded in the plan, checked by every chunk."""
    try:
        completed = proc.run([path, "--version"], what=f"{path} --version", timeout=30)
    except SubprocessFailed as error:
        raise BrowserFailed(f"browser {path} does not run: {error.message}",
                            hint=INSTALL_HINT) from None
    return completed.stdout.decode("utf-8", "replace").strip()


# Request routing (capture.AssetServer) sees HTTP(S) requests only: a WebSocket, a
# WebTransport session or WebRTC's STUN/TURN traffic would leave the page unseen, from a
# worker too, where no init script runs (runtime/egress.js guards the page's frames).
# These flags stop them in the network stack:
NO_EGRESS_ARGS = (
    # Every connection goes through a proxy that cannot be reached (.invalid never
    # resolves), loopback included: Chromium sends localhost around a proxy unless told.
    # Routed requests are answered before they reach the network, so they never meet it.
    "--proxy-server=http://no-egress.invalid:9",
    "--proxy-bypass-list=<-loopback>",
    # No host name, nor IP literal, resolves: no connection starts, and no DNS query
    # carries a name (or a variable in it) out.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    # WebRTC sends no UDP (STUN, TURN) around the proxy, and TURN over TCP meets the
    # dead proxy: ICE gathering reaches no server.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)


def launch_args(browser: BrowserInfo) -> list[str]:
    """Flags for deterministic, offline, software-rendered capture."""
    args = [
        # The machines that render have no route to Google's services; without these
        # Chromium keeps opening connections that are refused.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-domain-reliability",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--dns-prefetch-disable",
        "--metrics-recording-only",
        "--mute-audio",
        "--hide-scrollbars",
        # Same pixels on every machine: software GL (SwiftShader) only, sRGB output,
        # no hinting or LCD antialiasing that depend on the host's font configuration.
        "--use-gl=angle",
        "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader",
        "--force-color-profile=srgb",
        "--font-render-hinting=none",
        "--disable-lcd-text",
        # Software compositing halves raster time on CPU-only machines (WebGL still
        # renders through SwiftShader).
        "--disable-gpu-compositing",
        # An invalidated tile is rastered whole: partial raster redraws only the changed
        # rect over what the tile held, and anti-aliased edges (long dashed SVG strokes)
        # then depend on which earlier frame drew the rest, so chunk seams showed.
        "--disable-partial-raster",
        # Lambda's /dev/shm is tiny; shared memory there makes Chromium crash.
        "--disable-dev-shm-usage",
        "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
        *NO_EGRESS_ARGS,
    ]
    if browser.begin_frame:
        # Frames are produced only when we ask (HeadlessExperimental.beginFrame), with
        # every compositor stage run before the frame is drawn.
        args += [
            "--deterministic-mode",
            "--enable-begin-frame-control",
            "--run-all-compositor-stages-before-draw",
            "--disable-threaded-animation",
            "--disable-threaded-scrolling",
            "--disable-checker-imaging",
            "--disable-new-content-rendering-timeout",
        ]
    return args
