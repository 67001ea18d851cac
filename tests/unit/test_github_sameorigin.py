"""Which redirects a request carrying a credential may follow: the handler's decision alone
(no server; tests/integration/github runs real 302s between two local servers)."""

from __future__ import annotations

import io
import urllib.request
from http.client import HTTPMessage

import pytest

from hfaction.errors import RedirectRefused
from hfaction.github.sameorigin import SameOriginRedirects, origin

SECRET = "ghs_secretvalue0123456789"


def redirect(url: str, location: str, body: io.BytesIO | None = None
             ) -> urllib.request.Request | None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {SECRET}"})
    handler = SameOriginRedirects(hint="check the URL")
    return handler.redirect_request(request, body or io.BytesIO(b"moved"), 302, "Found",
                                    HTTPMessage(), location)


@pytest.mark.parametrize("location", [
    "http://api.example.com/repos/x",          # https -> http on the same host
    "https://evil.example/repos/x",            # another host
    "https://api.example.com:8443/repos/x",    # another port
    "https://api.example.com.evil.example/x",  # a host that merely starts the same
    "https://api.example.com:99999/x",         # no valid port: no origin at all
    "https://user@evil.example/x",
])
def test_redirects_to_another_origin_are_refused(location: str) -> None:
    body = io.BytesIO(b"moved")
    with pytest.raises(RedirectRefused) as refused:
        redirect(f"https://api.example.com/repos/x?token={SECRET}", location, body)
    assert body.closed  # the redirect's own response is dropped unread
    text = str(refused.value)
    assert text.startswith("REDIRECT_REFUSED: GET https://api.example.com/repos/x was "
                           "redirected (302) to ")
    assert "another origin" in text and "(check the URL)" in text
    assert SECRET not in text  # neither the query nor anything else of the request
    assert refused.value.exit_code == 1


@pytest.mark.parametrize("location", [
    "https://api.example.com/repositories/1/x",
    "https://API.Example.com:443/repositories/1/x",  # the same origin, spelt differently
])
def test_redirects_within_the_origin_are_followed(location: str) -> None:
    new = redirect("https://api.example.com/repos/x", location)
    assert new is not None and new.full_url == location
    assert new.get_header("Authorization") == f"Bearer {SECRET}"


def test_origins() -> None:
    assert origin("https://A.example/x") == ("https", "a.example", 443)
    assert origin("http://127.0.0.1:8080/x") == ("http", "127.0.0.1", 8080)
    assert origin("http://[::1]/x") == ("http", "::1", 80)
    for broken in ("/relative", "https://", "https://x:port/", "https://x:70000/"):
        assert origin(broken) is None
