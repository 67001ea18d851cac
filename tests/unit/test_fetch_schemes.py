"""The asset and font fetcher speaks http(s) only: no FTP, file or data handler, and a
redirect to another scheme is refused before anything connects (issue 13, tested
against servers on loopback)."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hfaction.errors import FontFetchFailed, RemoteAssetFetchFailed
from hfaction.render.assets import RemoteFetcher, http_opener
from hfaction.render.fonts.bundled import BundledPin, bundled_package
from tests.loopback import RecordingServer, Reply, Request, TcpListener


@pytest.fixture
def ftp_listener() -> Iterator[TcpListener]:
    """What an ftp:// redirect would reach: an internal service on loopback."""
    listener = TcpListener()
    yield listener
    listener.stop()


def _redirecting_to(target: str) -> RecordingServer:
    def route(request: Request) -> Reply:
        return 302, {"Location": target}, b""
    return RecordingServer(route)


def _assert_never_reached(listener: TcpListener) -> None:
    time.sleep(0.2)  # a connection the fetch started would have been accepted by now
    assert listener.connections == []


@pytest.mark.parametrize("public_only", [False, True])
def test_the_opener_has_http_and_https_handlers_only(public_only: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # An ftp proxy in the environment must not bring FTP back through the proxy handler.
    monkeypatch.setenv("ftp_proxy", "http://proxy.invalid:3128")
    opener = http_opener(public_only=public_only)
    schemes = set(opener.handle_open)  # scheme -> handlers that open it
    assert schemes <= {"http", "https", "unknown"}, schemes
    assert {"http", "https"} <= schemes
    forbidden = (urllib.request.FTPHandler, urllib.request.FileHandler,
                 urllib.request.DataHandler)
    assert not [h for h in opener.handlers if isinstance(h, forbidden)]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:text/plain,x",
                                 "ftp://127.0.0.1/x"])
def test_non_http_urls_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(RemoteAssetFetchFailed, match="only http and https") as caught:
        RemoteFetcher(tmp_path / "remote")(url)
    assert url in caught.value.message


def test_a_redirect_to_ftp_is_refused_and_nothing_connects(
        tmp_path: Path, ftp_listener: TcpListener) -> None:
    target = f"ftp://127.0.0.1:{ftp_listener.port}/x"
    server = _redirecting_to(target)
    url = f"{server.url}/lib/gsap.min.js"
    try:
        with pytest.raises(RemoteAssetFetchFailed) as caught:
            RemoteFetcher(tmp_path / "remote")(url)
    finally:
        server.stop()
    _assert_never_reached(ftp_listener)
    error = caught.value
    assert error.code == "REMOTE_ASSET_FETCH_FAILED"
    assert url in error.message and target in error.message
    assert "only http and https" in error.message
    assert len(server.requests) == 1


@pytest.mark.parametrize("target", ["file:///etc/passwd", "data:text/plain,x",
                                    "gopher://127.0.0.1:70/x"])
def test_redirects_to_other_schemes_are_refused_by_name(tmp_path: Path, target: str) -> None:
    server = _redirecting_to(target)
    try:
        with pytest.raises(RemoteAssetFetchFailed, match="only http and https") as caught:
            RemoteFetcher(tmp_path / "remote")(f"{server.url}/a.css")
    finally:
        server.stop()
    assert target in caught.value.message


def test_a_redirect_to_http_is_still_followed(tmp_path: Path) -> None:
    def route(request: Request) -> Reply:
        if request.path == "/old.js":
            return 301, {"Location": "/new.js"}, b""
        return 200, {"Content-Type": "text/javascript"}, b"ok()"
    server = RecordingServer(route)
    try:
        asset = RemoteFetcher(tmp_path / "remote")(f"{server.url}/old.js")
    finally:
        server.stop()
    assert asset.size == len(b"ok()")
    assert [request.path for request in server.requests] == ["/old.js", "/new.js"]


def test_a_redirect_to_ftp_is_refused_when_private_peers_are_denied(
        tmp_path: Path, ftp_listener: TcpListener, monkeypatch: pytest.MonkeyPatch) -> None:
    # On Lambda (HFACTION_FETCH_PRIVATE=deny) the peer check guards http(s) connections
    # only: FTP to an internal address must not be reachable at all.
    from hfaction.render import assets

    monkeypatch.setenv("HFACTION_FETCH_PRIVATE", "deny")
    target = f"ftp://127.0.0.1:{ftp_listener.port}/x"
    server = _redirecting_to(target)
    # The redirecting server itself is on loopback: let the test reach it.
    monkeypatch.setattr(assets, "_check_peer", lambda sock, host: None)
    try:
        with pytest.raises(RemoteAssetFetchFailed) as caught:
            RemoteFetcher(tmp_path / "remote")(f"{server.url}/a.js")
    finally:
        server.stop()
    _assert_never_reached(ftp_listener)
    assert target in caught.value.message and "only http and https" in caught.value.message


def test_the_font_registry_download_refuses_a_redirect_to_ftp(
        tmp_path: Path, ftp_listener: TcpListener, monkeypatch: pytest.MonkeyPatch) -> None:
    target = f"ftp://127.0.0.1:{ftp_listener.port}/inter.tgz"
    server = _redirecting_to(target)
    monkeypatch.setenv("HFACTION_NPM_REGISTRY", server.url)
    monkeypatch.setenv("HFACTION_FONT_CACHE", str(tmp_path / "fonts"))
    pin: BundledPin = {"package": "@fontsource/inter", "version": "5.0.0",
                       "integrity": "sha512-AAAA", "weights": [400]}
    try:
        with pytest.raises(FontFetchFailed) as caught:
            bundled_package("Inter", pin)
    finally:
        server.stop()
    _assert_never_reached(ftp_listener)
    assert target in caught.value.message and "only http and https" in caught.value.message
