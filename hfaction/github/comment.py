"""One sticky preview comment per pull request, through GitHub's REST API.

The comment is found again by a hidden marker, ``<!-- hfaction-preview:KEY -->``, and only
among comments written by the identity the token belongs to: someone else's comment that
copies the marker is never edited. The token travels only in the Authorization header, to
the API host; pagination links that point elsewhere are not followed.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hfaction import __version__
from hfaction.errors import GithubApiFailed, InvalidOption
from hfaction.github.sameorigin import open_same_origin
from hfaction.github.summary import (
    RenderReport,
    code,
    cost_table,
    errors_table,
    expiry_note,
    md,
)

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_AUTHOR = "github-actions[bot]"
MAX_PAGES = 50
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
_KEY = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def marker(key: str) -> str:
    return f"<!-- hfaction-preview:{key} -->"


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
                 credentials_expire: datetime | None = None) -> str:
    heading = "🎬 Preview" + (f": {md(title, 200)}" if title else "")
    lines = [marker(key), f"### {heading}", ""]
    if report.succeeded:
        if report.video_url:
            lines.append(f"**[Watch the preview MP4]({report.video_url})** "
                         + expiry_note(report, now=now, presign_expiry_s=presign_expiry_s,
                                       credentials_expire=credentials_expire))
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
                return int(item["id"])
        url = page.next_url
    return None


@dataclass(frozen=True)
class CommentResult:
    action: str  # "created" or "updated"
    id: int
    url: str


def upsert_comment(api: GithubApi, repository: str, pull_request: int, key: str, body: str,
                   author: str | None = None) -> CommentResult:
    author = author or find_author(api)
    existing = find_comment(api, repository, pull_request, key, author)
    if existing is not None:
        call = api.call("PATCH", f"/repos/{repository}/issues/comments/{existing}",
                        {"body": body})
        action = "updated"
    else:
        call = api.call("POST", f"/repos/{repository}/issues/{pull_request}/comments",
                        {"body": body})
        action = "created"
    data = call.data if isinstance(call.data, dict) else {}
    found = data.get("id")
    found = found if isinstance(found, int) and not isinstance(found, bool) else None
    return CommentResult(action, found or existing or 0, str(data.get("html_url") or ""))
