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
from tests.integration.github.conftest import RecordingServer, Reply, Request

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
