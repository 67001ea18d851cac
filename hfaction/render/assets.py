"""Freezing remote assets (CDN scripts, stylesheets, fonts) into a plan, once.

An asset cache (a folder laid out as ``HOST/PATH``, e.g.
``cache/cdn.jsdelivr.net/npm/gsap@3.12.5/dist/gsap.min.js``) is consulted before
the network, so projects that load GSAP from a CDN render on offline machines.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import mimetypes
import os
import re
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from hfaction.errors import RemoteAssetFetchFailed

MAX_REMOTE_BYTES = 512 * 1024 * 1024
FETCH_TIMEOUT_S = 30
# Google Fonts picks the font format by User-Agent: ask as the Chromium we render with.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 hfaction"
)
_SAFE_HOST = re.compile(r"[A-Za-z0-9_.:\[\]-]+")
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]+")
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)|@import\s+(['"])([^'"]+)\3""")


@dataclass(frozen=True)
class RemoteAsset:
    url: str
    path: str  # relative to the plan's remote/ folder
    content_type: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, object]:
        return {"url": self.url, "path": self.path, "content_type": self.content_type,
                "size": self.size, "sha256": self.sha256}


def css_references(css: str, base_url: str) -> list[str]:
    """Absolute http(s) URLs a stylesheet imports or points at (fonts, images)."""
    found: list[str] = []
    for match in _CSS_URL.finditer(css):
        raw = (match.group(2) or match.group(4) or "").strip()
        if not raw or raw.startswith("data:"):
            continue
        absolute = urljoin(base_url, raw)
        if absolute.startswith(("http://", "https://")) and absolute not in found:
            found.append(absolute)
    return found


# On Lambda a project's URLs must not reach the Runtime API on 127.0.0.1:9001 or other
# private addresses (SSRF): the image sets HFACTION_FETCH_PRIVATE=deny. A laptop may
# legitimately fetch from its LAN, so elsewhere it is allowed.
FETCH_PRIVATE_ENV = "HFACTION_FETCH_PRIVATE"


class PrivateAddressRefused(OSError):
    pass


def _check_peer(sock: socket.socket, host: str) -> None:
    address = ipaddress.ip_address(sock.getpeername()[0])
    if not address.is_global:
        sock.close()
        raise PrivateAddressRefused(f"{host} resolves to the non-public address {address}")


class _PublicHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _check_peer(self.sock, self.host)


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        # Checked once the TCP connection exists (so DNS rebinding cannot slip past a
        # check made before connecting), before any request byte is sent.
        super().connect()
        _check_peer(self.sock, self.host)


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: Any) -> Any:
        return self.do_open(_PublicHTTPConnection, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: Any) -> Any:
        return self.do_open(_PublicHTTPSConnection, req)


# The only schemes fetched. urllib's default opener also speaks ftp:, file: and data:, and
# follows a redirect to ftp://: a project's URL could then reach an internal service (or
# this machine's files) through a server that answers with a redirect.
FETCH_SCHEMES = ("http", "https")


class SchemeRefused(urllib.error.URLError):
    """A URL, or the target of a redirect, that is not http(s)."""

    def __init__(self, url: str, *, redirected_from: str | None = None) -> None:
        self.url = url
        self.redirected_from = redirected_from
        what = f"a redirect to {url}" if redirected_from else url
        super().__init__(f"{what} is refused: only http and https URLs are fetched")


def _refuse_other_schemes(url: str, *, redirected_from: str | None = None) -> None:
    if urlsplit(url).scheme.lower() not in FETCH_SCHEMES:
        raise SchemeRefused(url, redirected_from=redirected_from)


class _HTTPOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) only, and says which one it refused (urllib turns a
    redirect to file: into a bare HTTP 30x error and follows one to ftp:)."""

    def http_error_302(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                       headers: Any) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:
            try:
                _refuse_other_schemes(urljoin(req.full_url, location),
                                      redirected_from=req.full_url)
            except SchemeRefused:
                fp.close()
                raise
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        # The target as urllib resolved it, checked again.
        try:
            _refuse_other_schemes(newurl, redirected_from=req.full_url)
        except SchemeRefused:
            fp.close()
            raise
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def http_opener(*, public_only: bool = False) -> urllib.request.OpenerDirector:
    """An opener that speaks http and https and nothing else: no FTP, file or data handler
    (build_opener adds them all), redirects to http(s) only, proxies from the environment
    for http(s) only. ``public_only`` refuses non-public peers, redirect targets too."""
    opener = urllib.request.OpenerDirector()
    proxies = {scheme: url for scheme, url in urllib.request.getproxies().items()
               if scheme in FETCH_SCHEMES}
    for handler in (
        urllib.request.ProxyHandler(proxies),
        urllib.request.UnknownHandler(),  # any other scheme: "unknown url type"
        _PublicHTTPHandler() if public_only else urllib.request.HTTPHandler(),
        _PublicHTTPSHandler() if public_only else urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        _HTTPOnlyRedirects(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def open_url(request: urllib.request.Request, timeout: float, *,
             public_only: bool | None = None) -> Any:
    """Open an http(s) URL with :func:`http_opener`; ``public_only`` defaults to what the
    environment says (HFACTION_FETCH_PRIVATE)."""
    _refuse_other_schemes(request.full_url)
    if public_only is None:
        public_only = os.environ.get(FETCH_PRIVATE_ENV, "allow").strip().lower() == "deny"
    return http_opener(public_only=public_only).open(request, timeout=timeout)


def _cache_path(cache_dir: Path, url: str) -> Path | None:
    parts = urlsplit(url)
    relative = PurePosixPath(unquote(parts.path).lstrip("/"))
    host = parts.hostname or ""
    if (any(part == ".." for part in relative.parts) or not _SAFE_HOST.fullmatch(host)
            or set(host) == {"."}):
        return None
    candidate = cache_dir / host / relative
    if parts.query:
        with_query = candidate.with_name(candidate.name + "?" + parts.query)
        if with_query.is_file():
            return with_query
    return candidate if candidate.is_file() else None


@dataclass
class RemoteFetcher:
    """Fetches each remote URL once into ``remote_dir`` (content-addressed)."""

    remote_dir: Path
    cache_dir: Path | None = None
    max_bytes: int = MAX_REMOTE_BYTES
    fetched: dict[str, RemoteAsset] = field(default_factory=dict)

    def __call__(self, url: str) -> RemoteAsset:
        if url in self.fetched:
            return self.fetched[url]
        body, content_type = self._read(url)
        digest = hashlib.sha256(body).hexdigest()
        suffix = PurePosixPath(urlsplit(url).path).suffix[:10]
        name = digest + (suffix if _SAFE_SUFFIX.fullmatch(suffix) else "")
        self.remote_dir.mkdir(parents=True, exist_ok=True)
        (self.remote_dir / name).write_bytes(body)
        asset = RemoteAsset(url=url, path=name, content_type=content_type, size=len(body),
                            sha256=digest)
        self.fetched[url] = asset
        if content_type.startswith("text/css"):
            # Fonts and images a stylesheet names are fetched now, even if no text on the
            # first frame uses them yet: later frames must not touch the network.
            for reference in css_references(body.decode("utf-8", "replace"), url):
                self(reference)
        return asset

    def _read(self, url: str) -> tuple[bytes, str]:
        guessed = mimetypes.guess_type(urlsplit(url).path)[0] or "application/octet-stream"
        if self.cache_dir is not None:
            cached = _cache_path(self.cache_dir, url)
            if cached is not None:
                return cached.read_bytes(), guessed
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            with open_url(request, FETCH_TIMEOUT_S) as response:
                body = response.read(self.max_bytes + 1)
                content_type = response.headers.get_content_type() or guessed
        except SchemeRefused as error:
            raise RemoteAssetFetchFailed(
                f"could not fetch {url}: {error.reason}",
                hint="serve the file over http(s), or put it into the project",
            ) from None
        except urllib.error.HTTPError as error:
            raise RemoteAssetFetchFailed(
                f"could not fetch {url}: HTTP {error.code}",
                hint="check the URL, or put a copy in an asset cache (--asset-cache DIR)",
            ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise RemoteAssetFetchFailed(
                f"could not fetch {url}: {reason}",
                hint="check the network, or put a copy in an asset cache (--asset-cache DIR)",
            ) from None
        if len(body) > self.max_bytes:
            raise RemoteAssetFetchFailed(
                f"{url} is larger than {self.max_bytes // (1024 * 1024)} MiB",
                hint="put the file into the project instead",
            )
        if content_type == "text/plain" and guessed != "application/octet-stream":
            content_type = guessed
        return body, content_type
