"""``hfaction github comment`` against a local stand-in for GitHub's REST API (there is no
GitHub here): a loopback server that keeps issue comments, paginates them with Link headers
like GitHub (two per page, whatever per_page asks, so pagination is exercised), answers
/user with 403 as it does for the Actions token, and records every call."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from hfaction.cli import main
from tests.conftest import FIXTURES
from tests.loopback import RecordingServer, Reply, Request

RESULT = FIXTURES / "github" / "result-succeeded.json"
FAILED = FIXTURES / "github" / "result-failed.json"
TOKEN = "ghs_testtoken0123456789abcdefABCDEF"
BOT = "github-actions[bot]"
MARKER = "<!-- hfaction-preview:video-stack -->"
PAGE = 2


@dataclass
class FakeGithub:
    comments: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1000
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)  # method -> error
    link_host: str | None = None  # answer with a 'next' link to this origin instead

    def add(self, login: str, body: str) -> int:
        self.next_id += 1
        self.comments.append({"id": self.next_id, "user": {"login": login}, "body": body})
        return self.next_id

    def route(self, server_url: Callable[[], str]) -> Callable[[Request], Reply]:
        def answer(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
            return status, {"Content-Type": "application/json", **(headers or {})}, \
                json.dumps(data).encode()

        def route(request: Request) -> Reply:
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return answer(401, {"message": "Bad credentials"})
            if request.method in self.fail:
                status, message = self.fail[request.method]
                return answer(status, {"message": message})
            url = urllib.parse.urlsplit(request.path)
            if url.path == "/user":
                return answer(403, {"message": "Resource not accessible by integration"})
            listing = re.fullmatch(r"/repos/acme/videos/issues/7/comments", url.path)
            if listing and request.method == "GET":
                page = int(urllib.parse.parse_qs(url.query).get("page", ["1"])[0])
                items = self.comments[(page - 1) * PAGE: page * PAGE]
                headers = {}
                if page * PAGE < len(self.comments):
                    origin = self.link_host or server_url()
                    headers["Link"] = (f'<{origin}/repos/acme/videos/issues/7/comments?'
                                       f'per_page=100&page={page + 1}>; rel="next", '
                                       f'<{origin}/x?page=1>; rel="first"')
                return answer(200, items, headers)
            if listing and request.method == "POST":
                new_id = self.add(BOT, json.loads(request.body)["body"])
                return answer(201, {"id": new_id, "html_url": f"https://github.example/c/"
                                                               f"{new_id}"})
            edit = re.fullmatch(r"/repos/acme/videos/issues/comments/(\d+)", url.path)
            if edit and request.method == "PATCH":
                for item in self.comments:
                    if item["id"] == int(edit.group(1)):
                        item["body"] = json.loads(request.body)["body"]
                        return answer(200, {"id": item["id"], "html_url": "https://x/c"})
                return answer(404, {"message": "Not Found"})
            return answer(404, {"message": "Not Found"})

        return route


@pytest.fixture
def github(serve: Callable[..., RecordingServer]) -> tuple[FakeGithub, RecordingServer]:
    fake = FakeGithub()
    holder: list[RecordingServer] = []
    holder.append(serve(fake.route(lambda: holder[0].url)))
    return fake, holder[0]


def run_comment(server: RecordingServer, *extra: str, result: Path = RESULT) -> int:
    return main(["github", "comment", str(result), "--repository", "acme/videos",
                 "--pull-request", "7", "--api-url", server.url, "--key", "video-stack",
                 *extra])


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)


def calls(server: RecordingServer) -> list[tuple[str, str]]:
    return [(r.method, urllib.parse.urlsplit(r.path).path) for r in server.requests]


def test_created_once_then_updated_in_place(
        github: tuple[FakeGithub, RecordingServer], capsys: pytest.CaptureFixture[str]) -> None:
    fake, server = github
    others = {fake.add("alice", "Looks good"): "Looks good",
              fake.add("mallory", f"{MARKER}\nfake preview, click [here](https://evil)"):
              f"{MARKER}\nfake preview, click [here](https://evil)",
              fake.add(BOT, "<!-- hfaction-preview:other-stack -->\nother stack's preview"):
              "<!-- hfaction-preview:other-stack -->\nother stack's preview"}

    assert run_comment(server) == 0
    first = calls(server)
    assert [c for c in first if c[0] in ("POST", "PATCH")] == [
        ("POST", "/repos/acme/videos/issues/7/comments")]
    ours = [c for c in fake.comments if c["id"] not in others]
    assert len(ours) == 1 and ours[0]["body"].startswith(MARKER + "\n")
    assert "created comment" in capsys.readouterr().out

    server.requests.clear()
    assert run_comment(server, "--title", "Second run") == 0
    second = calls(server)
    assert [c for c in second if c[0] in ("POST", "PATCH")] == [
        ("PATCH", f"/repos/acme/videos/issues/comments/{ours[0]['id']}")]
    assert len(fake.comments) == 4
    assert "Second run" in ours[0]["body"]
    # Pagination: four comments, two per page; the marked one is on page 2.
    pages = [urllib.parse.parse_qs(urllib.parse.urlsplit(r.path).query).get("page", ["1"])
             for r in server.requests if r.method == "GET" and "comments" in r.path]
    assert pages == [["1"], ["2"]]
    for item in fake.comments:  # other users' comments, and our other key's, untouched
        if item["id"] in others:
            assert item["body"] == others[item["id"]]
    assert "updated comment" in capsys.readouterr().out
    # The token went in the Authorization header only.
    assert all(TOKEN not in r.path and TOKEN.encode() not in r.body for r in server.requests)


def test_finds_our_comment_on_a_late_page(github: tuple[FakeGithub, RecordingServer]) -> None:
    fake, server = github
    for n in range(5):
        fake.add(f"user{n}", f"comment {n}")
    ours = fake.add(BOT, f"{MARKER}\nold preview")
    fake.add("zed", "after")
    assert run_comment(server) == 0
    gets = [r for r in server.requests if r.method == "GET" and "comments" in r.path]
    assert len(gets) == 3  # pages 1..3, then found
    assert [c for c in calls(server) if c[0] != "GET"] == [
        ("PATCH", f"/repos/acme/videos/issues/comments/{ours}")]
    assert fake.comments[5]["body"] != f"{MARKER}\nold preview"


def test_body_has_link_poster_cost_and_escaped_title(
        github: tuple[FakeGithub, RecordingServer]) -> None:
    fake, server = github
    title = ("<script>alert(1)</script> [win](javascript:alert(1)) @acme/admins "
             "<!-- hfaction-preview:video-stack -->\n# heading")
    assert run_comment(server, "--title", title) == 0
    body = fake.comments[-1]["body"]
    result = json.loads(RESULT.read_text())
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(body)
    assert body.startswith(MARKER + "\n") and body.count("hfaction-preview") == 1
    assert "<script" not in html
    urls = re.findall(r'(?:href|src)="([^"]*)"', html)
    assert urls and all(url.startswith("https://") for url in urls)
    assert "@acme" not in body
    assert html.count("<h1") == 0 and html.count("<h3") == 1
    assert result["output_url"].replace("&", "&amp;") in html  # the link, intact
    assert result["poster_url"] in html
    assert "$0.031745" in html
    assert "Not included" in html


def test_failed_render_comment(github: tuple[FakeGithub, RecordingServer]) -> None:
    fake, server = github
    assert run_comment(server, result=FAILED) == 0
    body = fake.comments[-1]["body"]
    assert "PAGE_SCRIPT_ERROR" in body and "failed" in body.lower()


def test_api_error_is_one_line_with_status_and_message(
        github: tuple[FakeGithub, RecordingServer], capsys: pytest.CaptureFixture[str]) -> None:
    fake, server = github
    fake.fail["POST"] = (403, "Resource not accessible by integration")
    assert run_comment(server) == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "403 Resource not accessible by integration" in errors[0]
    assert "pull-requests: write" in errors[0]
    assert TOKEN not in captured.out + captured.err


def test_next_links_to_another_host_are_not_followed(
        github: tuple[FakeGithub, RecordingServer], serve: Callable[..., RecordingServer],
        capsys: pytest.CaptureFixture[str]) -> None:
    fake, server = github
    elsewhere = serve(lambda request: (200, {}, b"[]"))
    fake.link_host = elsewhere.url
    for n in range(3):
        fake.add(f"user{n}", "x")
    assert run_comment(server) == 1
    assert elsewhere.requests == []  # the token never left the API host
    assert "is not on" in capsys.readouterr().err


def test_missing_token_and_bad_target(github: tuple[FakeGithub, RecordingServer],
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    _fake, server = github
    monkeypatch.delenv("GITHUB_TOKEN")
    assert run_comment(server) == 2
    assert "GITHUB_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    assert main(["github", "comment", str(RESULT), "--repository", "acme/../x",
                 "--pull-request", "7", "--api-url", server.url]) == 2
    assert main(["github", "comment", str(RESULT), "--repository", "acme/videos",
                 "--pull-request", "7", "--api-url", server.url, "--key", "x -->"]) == 2
    assert main(["github", "comment", str(RESULT), "--repository", "acme/videos",
                 "--pull-request", "7", "--api-url", "http://evil.example"]) == 2
    assert server.requests == []


def redirecting(to: str, status: int = 302) -> Callable[[Request], Reply]:
    """A route that answers every request with a redirect to ``to`` + the same path."""
    def route(request: Request) -> Reply:
        return status, {"Location": to + request.path}, b""
    return route


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_to_another_origin_is_refused(
        serve: Callable[..., RecordingServer], capsys: pytest.CaptureFixture[str],
        status: int) -> None:
    """The API answers with a redirect to a second local server: the token must not go
    there (urllib's default handler would re-send the Authorization header)."""
    elsewhere = serve(lambda request: (200, {"Content-Type": "application/json"}, b"[]"))
    for target in (elsewhere.url, elsewhere.url.replace("127.0.0.1", "localhost")):
        api = serve(redirecting(target, status))
        assert run_comment(api) == 1
        captured = capsys.readouterr()
        errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, captured.err
        assert errors[0].startswith(f"error: REDIRECT_REFUSED: GET {api.url}/user was "
                                    f"redirected ({status}) to {target}, another origin")
        assert "--api-url" in errors[0]
        assert TOKEN not in captured.out + captured.err and "Traceback" not in captured.err
        assert len(api.requests) == 1  # the first call failed: nothing more was tried
    assert elsewhere.requests == []  # neither the token nor anything else got there


def test_redirect_within_the_api_is_followed(
        github: tuple[FakeGithub, RecordingServer]) -> None:
    """A same-origin redirect (GitHub's for a renamed repository) still works, with the
    token."""
    fake, server = github
    ours = fake.add(BOT, f"{MARKER}\nold preview")
    listing = "/repos/acme/videos/issues/7/comments"
    original = server.route

    def moved(request: Request) -> Reply:
        if (request.method == "GET" and request.path.startswith(listing)
                and "moved=1" not in request.path):
            return 301, {"Location": f"{server.url}{request.path}&moved=1"}, b""
        return original(request)

    server.route = moved
    assert run_comment(server) == 0
    gets = [r for r in server.requests if r.method == "GET" and r.path.startswith(listing)]
    assert [("moved=1" in r.path) for r in gets] == [False, True]
    assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in gets)
    assert [c for c in calls(server) if c[0] != "GET"] == [
        ("PATCH", f"/repos/acme/videos/issues/comments/{ours}")]


@pytest.mark.parametrize("content", [
    '{"render_id": "r", "status": "FAILED", "errors": 5}',
    '{"render_id": "r", "status": "SUCCEEDED", "output_bytes": 1' + "0" * 400 + "}",
    '{"render_id": "r", "status": "FAILED", "errors": [7, {"chunk": "x", "message": 1e999}]}',
    '{"render_id": "r", "status": "SUCCEEDED", "output_url": "https://x.example/v.mp4", '
    '"url_expires_at": "0001-01-01T00:00:00+23:00", "elapsed_s": 1e300}',
])
def test_malformed_result_still_comments(github: tuple[FakeGithub, RecordingServer],
                                         tmp_path: Path, content: str) -> None:
    fake, server = github
    result = tmp_path / "result.json"
    result.write_text(content)
    assert run_comment(server, result=result) == 0  # an exception escaping main() fails
    body = fake.comments[-1]["body"]
    assert body.startswith(MARKER) and "`r`" in body
    assert "e+" not in body and "inf" not in body.lower()


def test_too_deep_result_is_one_error_line(github: tuple[FakeGithub, RecordingServer],
                                           tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _fake, server = github
    result = tmp_path / "result.json"
    result.write_text('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert run_comment(server, result=result) == 2
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("error:")]
    assert len(errors) == 1 and "nests too deeply" in errors[0]
    assert server.requests == []


def test_comment_when_the_link_expiry_is_unknown(
        github: tuple[FakeGithub, RecordingServer], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """url_expires_at null (temporary credentials whose end boto3 cannot know)."""
    fake, server = github
    monkeypatch.delenv("HFACTION_CREDENTIALS_EXPIRATION", raising=False)
    result = tmp_path / "result.json"
    result.write_text(json.dumps(dict(json.loads(RESULT.read_text()), url_expires_at=None)))
    assert run_comment(server, "--presign-expiry", "900", result=result) == 0
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(
        fake.comments[-1]["body"])
    assert ("Link expiry not known: at most 900 seconds, and no longer than the credentials "
            "that signed it last.") in html


def test_apostrophes_and_references_in_the_title(
        github: tuple[FakeGithub, RecordingServer]) -> None:
    fake, server = github
    assert run_comment(server, "--title", "Don't break 'intro' (fixes #12, acme/app#3)") == 0
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(
        fake.comments[-1]["body"])
    heading = re.search(r"<h3>(.*)</h3>", html)
    assert heading is not None
    text = heading.group(1).replace("\u2060", "").replace("&quot;", '"')
    assert text == "🎬 Preview: Don't break 'intro' (fixes #12, acme/app#3)"
    assert re.search(r"#\d", heading.group(1)) is None  # no issue reference for GitHub
