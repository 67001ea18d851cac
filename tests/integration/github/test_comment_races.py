"""Previews of one pull request that race, through ``hfaction github comment`` and a local
stand-in for GitHub's REST API: a run whose commit is no longer the pull request's head,
or whose pull request closed, does not comment (and says which in its step output); a run
never writes over the comment of a later run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hfaction.cli import main
from hfaction.github.comment import comment_run, marker, run_marker
from tests.loopback import RecordingServer, Reply, Request

HEAD = "c" * 40
BOT = "github-actions[bot]"
RESULT = {"render_id": "hf-race", "status": "SUCCEEDED", "frames": {"total": 60},
          "output_url": "https://b.s3.amazonaws.com/previews/x.mp4?X-Amz-Credential=ASIAF"}


class Github:
    def __init__(self) -> None:
        self.pull: dict[str, Any] = {"state": "open", "head": {"sha": HEAD}, "merged": False}
        self.comments: list[dict[str, Any]] = []

    def route(self, request: Request) -> Reply:
        json_type = {"Content-Type": "application/json"}
        if request.path == "/repos/acme/videos/pulls/5":
            return 200, json_type, json.dumps(self.pull).encode()
        if request.path.startswith("/repos/acme/videos/issues/5/comments"):
            if request.method == "POST":
                self.comments.append({"id": 90 + len(self.comments), "user": {"login": BOT},
                                      "body": json.loads(request.body)["body"]})
                return 201, json_type, json.dumps({"id": self.comments[-1]["id"]}).encode()
            return 200, json_type, json.dumps(self.comments).encode()
        if request.method == "PATCH":
            found = next(c for c in self.comments if request.path.endswith(f"/{c['id']}"))
            found["body"] = json.loads(request.body)["body"]
            return 200, json_type, json.dumps({"id": found["id"]}).encode()
        return 403, json_type, b'{"message": "Resource not accessible by integration"}'


@pytest.fixture
def github(serve: Callable[..., RecordingServer], tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> tuple[Github, RecordingServer]:
    fake = Github()
    server = serve(fake.route)
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_race")
    monkeypatch.setenv("GITHUB_API_URL", server.url)
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs"))
    (tmp_path / "outputs").write_text("")
    (tmp_path / "result.json").write_text(json.dumps(RESULT))
    return fake, server


def comment(tmp_path: Path, run_id: int, head: str = HEAD) -> int:
    return main(["github", "comment", "--repository", "acme/videos", "--pull-request", "5",
                 "--key", "video", f"--head-sha={head}", "--run-id", str(run_id), "--",
                 str(tmp_path / "result.json")])


def test_the_head_commits_run_comments_and_names_itself(
        github: tuple[Github, RecordingServer], tmp_path: Path) -> None:
    fake, _server = github
    assert comment(tmp_path, 300) == 0
    (ours,) = fake.comments
    assert ours["body"].startswith(f"{marker('video')}\n{run_marker(300)}\n")
    assert "pull-request-state=open" in (tmp_path / "outputs").read_text()


def test_a_run_of_an_older_commit_does_not_comment(
        github: tuple[Github, RecordingServer], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    fake, server = github
    fake.pull["head"]["sha"] = "d" * 40  # pushed again while this preview rendered
    assert comment(tmp_path, 300) == 0
    assert not fake.comments
    assert not [r for r in server.requests if r.method in ("POST", "PATCH")]
    assert "moved on to dddddddddddd" in capsys.readouterr().out


def test_a_run_finding_its_pull_request_closed_does_not_comment_and_says_so(
        github: tuple[Github, RecordingServer], tmp_path: Path) -> None:
    fake, _server = github
    fake.pull["state"] = "closed"
    assert comment(tmp_path, 300) == 0
    assert not fake.comments
    assert "pull-request-state=closed" in (tmp_path / "outputs").read_text()


def test_a_later_runs_comment_is_kept(github: tuple[Github, RecordingServer],
                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    fake, server = github
    assert comment(tmp_path, 400) == 0  # the later run finished first
    server.requests.clear()
    assert comment(tmp_path, 300) == 0  # a re-run of an older run, same commit
    assert comment_run(fake.comments[0]["body"]) == 400
    assert not [r for r in server.requests if r.method in ("POST", "PATCH")]
    assert "a later run wrote it" in capsys.readouterr().out
    assert comment(tmp_path, 401) == 0  # a newer one replaces it
    assert comment_run(fake.comments[0]["body"]) == 401 and len(fake.comments) == 1
