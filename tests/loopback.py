"""A real HTTP server on loopback that records each request and answers it with a route
function: the stand-in for token endpoints, STS, the GitHub API, Google Fonts and
hostile URLs, in unit and integration tests alike; and bare TCP and UDP listeners that
record who reached them."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


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


@dataclass
class Connection:
    """One TCP connection a listener accepted, and the bytes the peer sent on it."""

    peer: tuple[str, int]
    received: bytes = b""


class TcpListener:
    """A bare TCP listener on loopback that records every connection and what it was sent,
    answering nothing: the stand-in for a WebSocket, TURN or FTP server a page or a
    redirect must not reach. ``port`` may be given to listen beside a UDP listener."""

    def __init__(self, port: int = 0) -> None:
        self.connections: list[Connection] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self._socket.listen(16)
        self.port: int = self._socket.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                peer, address = self._socket.accept()
            except OSError:
                return
            connection = Connection(address)
            self.connections.append(connection)
            threading.Thread(target=self._read, args=(peer, connection), daemon=True).start()

    @staticmethod
    def _read(peer: socket.socket, connection: Connection) -> None:
        peer.settimeout(10)
        with peer:
            while True:
                try:
                    data = peer.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                connection.received += data

    def stop(self) -> None:
        self._socket.close()


class UdpListener:
    """A UDP socket on loopback that records every datagram: the stand-in for a STUN or
    TURN server."""

    def __init__(self, port: int = 0) -> None:
        self.datagrams: list[tuple[bytes, tuple[str, int]]] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", port))
        self.port: int = self._socket.getsockname()[1]
        threading.Thread(target=self._receive, daemon=True).start()

    def _receive(self) -> None:
        while True:
            try:
                data, address = self._socket.recvfrom(65536)
            except OSError:
                return
            self.datagrams.append((data, address))

    def stop(self) -> None:
        self._socket.close()
