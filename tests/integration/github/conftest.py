"""Local HTTP services for the ``hfaction github`` steps: a token endpoint, STS, and the
GitHub REST API, each a real server on 127.0.0.1 that records what it was sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.loopback import RecordingServer, Route


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """These tests need no browser or ffmpeg: override the integration suite's check."""


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
