"""Local HTTP services for the ``hfaction github`` steps: a token endpoint, STS, and the
GitHub REST API, each a real server on 127.0.0.1 that records what it was sent."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """These tests need no browser or ffmpeg: override the integration suite's check."""


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, dict[str, str], bytes]
Route = Callable[[Request], Reply]


@dataclass
class RecordingServer:
    """An HTTP server on loopback: each request is recorded, then answered by ``route``."""

    route: Route
    port: int = 0
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, dict(self.headers.items()),
                                  self.rfile.read(length) if length else b"")
                owner.requests.append(request)
                status, headers, body = owner.route(request)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., RecordingServer]]:
    started: list[RecordingServer] = []

    def start(route: Route, port: int = 0) -> RecordingServer:
        server = RecordingServer(route, port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server on loopback (STS: real AssumeRoleWithWebIdentity responses)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    finally:
        server.stop()
