"""One sticky preview comment per pull request, through GitHub's REST API.

The comment is found again by a hidden marker, ``<!-- hfaction-preview:KEY -->``, and only
among comments written by the identity the token belongs to: someone else's comment that
copies the marker is never edited. The token travels only in the Authorization header, to
the API host; pagination links that point elsewhere are not followed.

Previews can race (two pushes, a re-run of an old run): the comment names the workflow run
that wrote it (``<!-- hfaction-run:ID -->``, run ids grow), a run never replaces a newer
run's comment, and with the commit it rendered (``--head-sha``) a run whose pull request
has moved on or closed does not comment at all.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hfaction import __version__
from hfaction.errors import GithubApiFailed, InvalidOption
from hfaction.github import workflow
from hfaction.github.sameorigin import open_same_origin
from hfaction.github.summary import (
    RenderReport,
    code,
    cost_table,
    errors_table,
    expiry_note,
    load_result,
    md,
    one_line,
    withheld_note,
)

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_AUTHOR = "github-actions[bot]"
MAX_PAGES = 50
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
_KEY = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_RUN = re.compile(r"<!-- hfaction-run:(\d{1,20}) -->")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def marker(key: str) -> str:
    return f"<!-- hfaction-preview:{key} -->"


def run_marker(run_id: int) -> str:
    return f"<!-- hfaction-run:{run_id} -->"


def comment_run(body: str) -> int | None:
    """The workflow run that wrote a comment of ours (its second line), if it says."""
    lines = body.split("\n", 2)
    found = _RUN.fullmatch(lines[1]) if len(lines) > 1 else None
    return int(found.group(1)) if found else None


def check_head_sha(sha: str) -> str:
    if not _SHA.fullmatch(sha):
        raise InvalidOption(f"--head-sha {sha!r} is not a commit SHA")
    return sha


def check_target(repository: str, pull_request: int, api_url: str, key: str) -> str:
    """Validate what names the comment; returns the API base URL without a trailing '/'."""
    if not _REPOSITORY.fullmatch(repository) or ".." in repository:
        raise InvalidOption(f"--repository {repository!r} is not OWNER/REPO")
    if pull_request <= 0:
        raise InvalidOption(f"--pull-request {pull_request} is not a pull request number")
    if not _KEY.fullmatch(key):
        raise InvalidOption(f"--key {key!r} may only hold letters, digits and '_.-'")
    parts = urllib.parse.urlsplit(api_url)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if not parts.hostname or not (parts.scheme == "https" or
                                  (parts.scheme == "http" and loopback)):
        raise InvalidOption(f"--api-url {api_url!r} must be an https URL")
    return api_url.rstrip("/")


def comment_body(report: RenderReport, *, key: str, title: str | None, now: datetime,
                 presign_expiry_s: int | None = None,
                 credentials_expire: datetime | None = None,
                 run_id: int | None = None) -> str:
    heading = "🎬 Preview" + (f": {md(title, 200)}" if title else "")
    lines = [marker(key), *([run_marker(run_id)] if run_id is not None else []),
             f"### {heading}", ""]
    if report.succeeded:
        if report.video_url:
            lines.append(f"**[Watch the preview MP4]({report.video_url})** "
                         + expiry_note(report, now=now, presign_expiry_s=presign_expiry_s,
                                       credentials_expire=credentials_expire))
        elif report.links_withheld:
            lines.append(withheld_note())
        if report.poster_url:
            lines += ["", f"[![Poster frame]({report.poster_url})]"
                          f"({report.video_url or report.poster_url})"]
        facts = [f"{report.frames} frames" if report.frames is not None else "",
                 f"{report.duration_s:.2f} s" if report.duration_s is not None else "",
                 f"{report.output_bytes / 1e6:.1f} MB" if report.output_bytes is not None
                 else "",
                 f"rendered in {report.elapsed_s:.1f} s" if report.elapsed_s is not None
                 else ""]
        if any(facts):
            lines += ["", " · ".join(fact for fact in facts if fact)]
    else:
        lines += [f"The preview render {code(report.render_id, 100)} ended "
                  f"{md(report.status, 20)}.", "", *errors_table(report)]
    lines += ["", *cost_table(report), "",
              f"<sub>Render {code(report.render_id, 100, in_table=False)}, updated "
              f"{now.strftime('%Y-%m-%d %H:%M UTC')} by hfaction.</sub>", ""]
    return "\n".join(lines)


@dataclass
class ApiCall:
    method: str
    url: str
    status: int
    data: Any
    next_url: str | None


Transport = Callable[[urllib.request.Request], tuple[int, dict[str, str], bytes]]


def _urllib_transport(request: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
    # http(s) only (check_target); the token must not follow a redirect to another origin.
    with open_same_origin(request, 30, hint="check --api-url (GITHUB_API_URL): the token is "
                                            "only sent to the API's own origin") as response:
        return response.status, dict(response.headers.items()), response.read()


class GithubApi:
    def __init__(self, api_url: str, token: str, transport: Transport = _urllib_transport):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.transport = transport
        self._origin = urllib.parse.urlsplit(self.api_url)[:2]

    def call(self, method: str, path_or_url: str, payload: Any = None) -> ApiCall:
        url = path_or_url if "://" in path_or_url else self.api_url + path_or_url
        if urllib.parse.urlsplit(url)[:2] != self._origin:
            raise GithubApiFailed(f"GitHub API {method} refused: {url!r} is not on "
                                  f"{self.api_url}")
        request = urllib.request.Request(
            url, method=method,
            data=None if payload is None else json.dumps(payload).encode(),
            headers={"Authorization": f"Bearer {self.token}",
                     "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": "2022-11-28",
                     "Content-Type": "application/json",
                     "User-Agent": f"hfaction/{__version__}"})
        what = f"GitHub API {method} {urllib.parse.urlsplit(url).path}"
        try:
            status, headers, body = self.transport(request)
        except urllib.error.HTTPError as failure:
            raise GithubApiFailed(f"{what} failed: {failure.code} {_api_message(failure)}",
                                  hint=_hint(failure.code)) from None
        except (urllib.error.URLError, OSError) as failure:
            reason = getattr(failure, "reason", failure)
            raise GithubApiFailed(f"{what} failed: {reason}",
                                  hint="check --api-url (GITHUB_API_URL)") from None
        try:
            data = json.loads(body) if body.strip() else None
        except (ValueError, RecursionError):
            raise GithubApiFailed(f"{what} answered {status} with a body that is not "
                                  "JSON") from None
        link = {k.lower(): v for k, v in headers.items()}.get("link", "")
        found = _NEXT.search(link)
        return ApiCall(method, url, status, data, found.group(1) if found else None)


def _api_message(failure: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(failure.read(20000) or b"{}")
        message = data.get("message") if isinstance(data, dict) else None
    except (ValueError, OSError):
        message = None
    return " ".join(str(message or failure.reason or "no message").split())[:300]


def _hint(status: int) -> str | None:
    if status in (401, 403, 404):
        return ("the token needs 'permissions: pull-requests: write' on the job; tokens of "
                "pull requests from forks are read-only")
    return None


def find_author(api: GithubApi) -> str:
    """The login comments are written as: the token's user, or the Actions bot (its
    installation token cannot read /user)."""
    try:
        found = api.call("GET", "/user").data
    except GithubApiFailed:
        return DEFAULT_AUTHOR
    login = found.get("login") if isinstance(found, dict) else None
    return login if isinstance(login, str) and login else DEFAULT_AUTHOR


def find_comment(api: GithubApi, repository: str, pull_request: int, key: str,
                 author: str) -> int | None:
    """The id of our marked comment, reading every page of the pull request's comments."""
    found = find_marked(api, repository, pull_request, key, author)
    return found[0] if found is not None else None


def find_marked(api: GithubApi, repository: str, pull_request: int, key: str,
                author: str) -> tuple[int, str] | None:
    """(id, body) of our marked comment, reading every page of the comments."""
    url: str | None = f"/repos/{repository}/issues/{pull_request}/comments?per_page=100"
    for _ in range(MAX_PAGES):
        if url is None:
            return None
        page = api.call("GET", url)
        for item in page.data if isinstance(page.data, list) else []:
            user = item.get("user") if isinstance(item, dict) else None
            body = item.get("body") if isinstance(item, dict) else None
            if (isinstance(user, dict) and user.get("login") == author
                    and isinstance(body, str) and body.startswith(marker(key))
                    and isinstance(item.get("id"), int)):
                return int(item["id"]), body
        url = page.next_url
    return None


@dataclass(frozen=True)
class PullRequestState:
    state: str  # "open" or "closed"
    head_sha: str
    merged: bool

    def outputs(self) -> dict[str, str]:
        return {"state": self.state, "head-sha": self.head_sha,
                "merged": "true" if self.merged else "false"}


def pull_request_state(api: GithubApi, repository: str, pull_request: int
                       ) -> PullRequestState:
    """Whether the pull request is open, and the commit at its head, now."""
    data = api.call("GET", f"/repos/{repository}/pulls/{pull_request}").data
    data = data if isinstance(data, dict) else {}
    head = data.get("head") if isinstance(data.get("head"), dict) else {}
    state, sha = data.get("state"), head.get("sha") if isinstance(head, dict) else None
    if state not in ("open", "closed") or not isinstance(sha, str) or not _SHA.fullmatch(sha):
        raise GithubApiFailed(f"GitHub API GET /repos/{repository}/pulls/{pull_request} "
                              "answered without a state and a head commit")
    return PullRequestState(str(state), sha, data.get("merged") is True)


def superseded(current: PullRequestState, pull_request: int, head_sha: str) -> str | None:
    """Why a preview of ``head_sha`` must not be commented any more, or None."""
    if current.state != "open":
        return f"pull request #{pull_request} is {current.state}"
    if current.head_sha != head_sha:
        return (f"pull request #{pull_request} moved on to {current.head_sha[:12]} (this "
                f"preview is of {head_sha[:12]})")
    return None


@dataclass(frozen=True)
class CommentResult:
    action: str  # "created", "updated" or "kept" (a newer run's comment)
    id: int
    url: str


def upsert_comment(api: GithubApi, repository: str, pull_request: int, key: str, body: str,
                   author: str | None = None, run_id: int | None = None) -> CommentResult:
    """Create or update our comment; a comment written by a later run (``run_id``) is
    kept as it is."""
    author = author or find_author(api)
    found = find_marked(api, repository, pull_request, key, author)
    existing = found[0] if found is not None else None
    newer = comment_run(found[1]) if found is not None else None
    if existing is not None and run_id is not None and newer is not None and newer > run_id:
        return CommentResult("kept", existing, "")
    if existing is not None:
        call = api.call("PATCH", f"/repos/{repository}/issues/comments/{existing}",
                        {"body": body})
        action = "updated"
    else:
        call = api.call("POST", f"/repos/{repository}/issues/{pull_request}/comments",
                        {"body": body})
        action = "created"
    data = call.data if isinstance(call.data, dict) else {}
    made = data.get("id")
    made = made if isinstance(made, int) and not isinstance(made, bool) else None
    return CommentResult(action, made or existing or 0, str(data.get("html_url") or ""))


# --- the comment step ---------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewTarget:
    """Where the sticky comment goes: a pull request, and the comment's key and author."""

    repository: str
    pull_request: int
    api_url: str = DEFAULT_API_URL
    key: str = "hfaction"
    author: str | None = None


def post_preview(result: Path, target: PreviewTarget, *, token: str | None,
                 title: str | None = None, presign_expiry_s: int | None = None,
                 head_sha: str | None = None, run_id: int | None = None,
                 credentials_expire: datetime | None = None,
                 env: Mapping[str, str] | None = None) -> str:
    """Comment a render's result on its pull request; the line saying what was done.

    With ``head_sha`` the pull request is read first: closed, or moved on to another
    commit, and the preview is not commented (superseded); its state goes to the step
    output ``pull-request-state`` (``open``, ``closed``), so that a workflow can remove a
    preview rendered for a pull request that closed meanwhile. A comment written by a
    later run (``run_id``) is kept. Links holding the job's own credentials are left out
    (the API masks nothing: they would publish them).
    """
    env = os.environ if env is None else env
    base = check_target(target.repository, target.pull_request, target.api_url, target.key)
    sha = check_head_sha(head_sha) if head_sha else None
    if not token:
        raise InvalidOption("no GitHub token for the pull request comment",
                            hint="set GITHUB_TOKEN (the action's github-token input)")
    parsed, _raw = load_result(result)
    parsed.withhold_links_masked_in(env)
    api = GithubApi(base, token)
    where = f"{target.repository}#{target.pull_request}"
    if sha is not None:
        why = _why_superseded(api, target, sha, env)
        if why is not None:
            return f"not commenting on {where}: {one_line(why)}"
    body = comment_body(parsed, key=target.key, title=title, now=datetime.now(UTC),
                        presign_expiry_s=presign_expiry_s,
                        credentials_expire=credentials_expire, run_id=run_id)
    done = upsert_comment(api, target.repository, target.pull_request, target.key, body,
                          target.author, run_id=run_id)
    if done.action == "kept":
        return f"kept comment {done.id} on {where}: a later run wrote it"
    link = f" {one_line(done.url)}" if done.url else ""
    return f"{done.action} comment {done.id} on {where}{link}"


def _why_superseded(api: GithubApi, target: PreviewTarget, head_sha: str,
                    env: Mapping[str, str]) -> str | None:
    try:
        current = pull_request_state(api, target.repository, target.pull_request)
    except GithubApiFailed as failure:  # the comment matters more than the check
        workflow.emit(workflow.warning("commenting without knowing whether the pull request "
                                       f"moved on: {failure.message}", title="hfaction"))
        return None
    output_file = workflow.file_from_env("GITHUB_OUTPUT", env)
    if output_file is not None:
        workflow.append_file_command(output_file, {"pull-request-state": current.state})
    return superseded(current, target.pull_request, head_sha)
