"""HTTP requests that carry a credential, with redirects kept to the origin they were sent to.

urllib's default redirect handler re-sends every header, ``Authorization`` included, to
whatever a 30x ``Location`` names: another host, or the same host over plain http. The
GitHub token and the OIDC request bearer must only reach the server they were meant for,
so a redirect to another scheme, host or port is refused (the response is dropped unread)
and one within the origin is followed as usual.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from http.client import HTTPMessage
from typing import IO, Any

from hfaction.errors import RedirectRefused

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) with the defaults filled in, or None for a URL that has none
    (relative, malformed, out-of-range port)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname or not scheme:
        return None
    return scheme, parts.hostname.lower(), port if port is not None \
        else _DEFAULT_PORTS.get(scheme)


def _show(url: str) -> str:
    """Where a URL points, for a message: its origin only (a query could hold anything)."""
    found = origin(url)
    if found is None:
        return repr(url[:100])
    scheme, host, port = found
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port != _DEFAULT_PORTS.get(scheme) else "")


class SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only when it stays on the request's scheme, host and port."""

    def __init__(self, hint: str | None = None) -> None:
        self.hint = hint

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                         msg: str, headers: HTTPMessage, newurl: str
                         ) -> urllib.request.Request | None:
        here = origin(req.full_url)
        if here is None or origin(newurl) != here:
            fp.close()
            path = urllib.parse.urlsplit(req.full_url).path or "/"
            raise RedirectRefused(
                f"{req.get_method()} {_show(req.full_url)}{path} was redirected ({code}) to "
                f"{_show(newurl)}, another origin: not followed, so the request's "
                "credentials were not sent there",
                hint=self.hint)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def open_same_origin(request: urllib.request.Request, timeout: float, *,
                     hint: str | None = None) -> Any:
    """``urlopen`` for a request that carries a credential (http(s) URLs only: the callers
    check them). A cross-origin redirect raises :class:`RedirectRefused`."""
    opener = urllib.request.build_opener(SameOriginRedirects(hint))
    return opener.open(request, timeout=timeout)
