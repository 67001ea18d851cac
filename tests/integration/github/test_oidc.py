"""``hfaction github oidc`` against real local services: a token endpoint on loopback
(the job's ACTIONS_ID_TOKEN_REQUEST_URL), moto's STS, and, for refusals, a small STS stand-in
(moto's AssumeRoleWithWebIdentity accepts any token, so a refusal has to come from a server
that answers with STS's error XML, as AWS does)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from hfaction.errors import OidcTokenFailed, RedirectRefused
from hfaction.github.oidc import fetch_token
from tests.loopback import RecordingServer, Reply, Request
from tests.unit.test_github_workflow import runner_parse

ROLE = "arn:aws:iam::123456789012:role/hfaction-render"
SUBJECT = "repo:acme/videos:ref:refs/heads/main"


def fake_jwt(subject: str = SUBJECT) -> str:
    """A JWT-shaped token: real claims, a random signature (nobody here verifies it)."""
    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return ".".join([part({"alg": "RS256", "typ": "JWT"}),
                     part({"sub": subject, "aud": "sts.amazonaws.com",
                           "iss": "https://token.actions.githubusercontent.com"}),
                     secrets.token_urlsafe(64)])


def token_route(token: str, failures: int = 0) -> Callable[[Request], Reply]:
    """Answer 503 ``failures`` times, then the token."""
    seen = [0]

    def route(request: Request) -> Reply:
        seen[0] += 1
        if seen[0] <= failures:
            return 503, {}, b'{"message": "unavailable"}'
        return 200, {"Content-Type": "application/json"}, json.dumps({"value": token}).encode()
    return route


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the token endpoint ------------------------------------------------------------------


def test_token_endpoint_down_then_up(serve: Callable[..., RecordingServer]) -> None:
    """First attempt: nothing listens (connection refused); second: 503; third: the token."""
    token, bearer = fake_jwt(), secrets.token_hex(16)
    port = free_port()
    delays: list[float] = []
    servers: list[RecordingServer] = []

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if not servers:  # the endpoint comes up during the first back-off
            servers.append(serve(token_route(token, failures=1), port=port))

    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": f"http://127.0.0.1:{port}/token?api-version=2.0",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": bearer}
    assert fetch_token(env, sleep=sleep) == token
    assert len(delays) == 2
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0  # exponential, jittered
    requests = servers[0].requests
    assert len(requests) == 2
    for request in requests:
        assert request.headers["Authorization"] == f"bearer {bearer}"
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        assert query == {"api-version": ["2.0"], "audience": ["sts.amazonaws.com"]}


def test_token_endpoint_that_stays_down_fails_after_bounded_attempts() -> None:
    delays: list[float] = []
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": f"http://127.0.0.1:{free_port()}/t",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "bearer-secret"}
    with pytest.raises(OidcTokenFailed) as failed:
        fetch_token(env, sleep=delays.append)
    assert len(delays) == 4  # 5 attempts
    assert "failed 5 times" in str(failed.value)
    assert "bearer-secret" not in str(failed.value)


def test_token_endpoint_refusal_is_not_retried(serve: Callable[..., RecordingServer]) -> None:
    server = serve(lambda request: (403, {}, b'{"message": "no id-token permission"}'))
    delays: list[float] = []
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": f"{server.url}/t",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "bearer-secret"}
    with pytest.raises(OidcTokenFailed) as failed:
        fetch_token(env, sleep=delays.append)
    assert delays == [] and len(server.requests) == 1
    assert "HTTP 403" in str(failed.value) and "id-token: write" in str(failed.value)


# --- the whole command, as a process -------------------------------------------------------


def run_oidc(env: dict[str, str], *args: str, merged: bool = False
             ) -> subprocess.CompletedProcess[str]:
    """The command as a process. ``merged``: stderr goes into stdout, unbuffered, so the
    runner's order of both streams (one log, as GitHub shows it) is kept in ``stdout``."""
    base = {key: value for key, value in os.environ.items()
            if not key.startswith(("AWS_", "GITHUB_", "ACTIONS_"))}
    base.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                 "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "4242",
                 "GITHUB_REPOSITORY": "acme/videos", "PYTHONUNBUFFERED": "1"})
    base.update(env)
    return subprocess.run([sys.executable, "-m", "hfaction", "github", "oidc",
                           "--role-to-assume", ROLE, *args],
                          env=base, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                          text=True, timeout=120)


def assert_masked_only(output: str, values: list[str]) -> None:
    """Each secret (and every 12-character piece of it) appears only in its own
    ``::add-mask::`` line."""
    for value in values:
        pieces = {value} | {value[i:i + 12] for i in range(0, max(1, len(value) - 11), 6)}
        for line in output.splitlines():
            if any(piece in line for piece in pieces):
                assert line.startswith("::add-mask::"), f"secret printed in {line!r}"
        assert f"::add-mask::{value}" in output.splitlines()


def assert_masked_first(log: str, values: list[str]) -> None:
    """In the one log of stdout and stderr together: each secret's ``::add-mask::`` line
    comes before any line that is not a mask (a secret printed earlier, on either stream,
    would reach the log in clear)."""
    assert_masked_only(log, values)
    lines = log.splitlines()
    masks = [i for i, line in enumerate(lines) if line.startswith("::add-mask::")]
    others = [i for i, line in enumerate(lines) if not line.startswith("::add-mask::")]
    assert masks and (not others or max(masks) < min(others)), log


def test_oidc_exports_working_credentials_and_prints_no_secret(
        serve: Callable[..., RecordingServer], moto_url: str, tmp_path: Path) -> None:
    token, bearer = fake_jwt(), secrets.token_hex(16)
    token_server = serve(token_route(token, failures=1))  # one 503: the real back-off runs
    env_file = tmp_path / "github_env"
    env_file.write_text("EARLIER=value\n")
    done = run_oidc({"ACTIONS_ID_TOKEN_REQUEST_URL": f"{token_server.url}/t?api-version=2.0",
                     "ACTIONS_ID_TOKEN_REQUEST_TOKEN": bearer, "GITHUB_ENV": str(env_file),
                     "AWS_ENDPOINT_URL": moto_url},
                    "--region", "eu-west-1", "--duration-seconds", "900", merged=True)
    assert done.returncode == 0, done.stdout
    exported = runner_parse(env_file.read_text())
    assert exported["EARLIER"] == "value"
    assert exported["AWS_REGION"] == exported["AWS_DEFAULT_REGION"] == "eu-west-1"
    # The exported credentials are the ones STS issued: moto knows whose they are.
    identity = boto3.session.Session(
        region_name="eu-west-1", aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=exported["AWS_SESSION_TOKEN"],
    ).client("sts", endpoint_url=moto_url).get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/hfaction-render/" \
                              "hfaction-4242"
    expires = datetime.fromisoformat(exported["HFACTION_CREDENTIALS_EXPIRATION"])
    assert expires.tzinfo is not None and exported["HFACTION_CREDENTIALS_EXPIRATION"][-1] == "Z"
    assert 800 < (expires - datetime.now(UTC)).total_seconds() <= 900
    assert identity["Arn"] in done.stdout  # the role is no secret: it is reported

    log = done.stdout  # stdout and stderr, in the order they were written
    assert log.splitlines()[0] == f"::add-mask::{token}"  # masked before anything else
    assert_masked_first(log, [token, exported["AWS_SECRET_ACCESS_KEY"],
                              exported["AWS_SESSION_TOKEN"], exported["AWS_ACCESS_KEY_ID"]])
    assert bearer not in log


def test_missing_token_variables_give_the_permissions_hint(tmp_path: Path) -> None:
    done = run_oidc({"GITHUB_ENV": str(tmp_path / "env"), "AWS_REGION": "eu-west-1"})
    assert done.returncode == 2
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN not set" in \
        error_lines[0]
    assert "permissions: id-token: write" in error_lines[0]
    assert "forks" in error_lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "env").exists()


STS_ERROR = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>
  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
</ErrorResponse>"""


@pytest.mark.parametrize(("status", "code", "message"), [
    (403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
    (400, "InvalidIdentityToken", "Incorrect token audience"),
])
def test_sts_refusal_is_one_clear_line(serve: Callable[..., RecordingServer], tmp_path: Path,
                                       status: int, code: str, message: str) -> None:
    token = fake_jwt()
    token_server = serve(token_route(token))
    sts = serve(lambda request: (status, {"Content-Type": "text/xml"},
                                 STS_ERROR.format(code=code, message=message).encode()))
    env_file = tmp_path / "github_env"
    done = run_oidc({"ACTIONS_ID_TOKEN_REQUEST_URL": f"{token_server.url}/t",
                     "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "bearer", "GITHUB_ENV": str(env_file),
                     "AWS_ENDPOINT_URL": sts.url, "AWS_REGION": "us-east-1"})
    assert done.returncode == 2, done.stderr
    assert len(sts.requests) >= 1
    sent = urllib.parse.parse_qs(sts.requests[0].body.decode())
    assert sent["Action"] == ["AssumeRoleWithWebIdentity"] and sent["RoleArn"] == [ROLE]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert ROLE in errors[0] and code in errors[0] and message in errors[0]
    assert f"'{SUBJECT}'" in errors[0]  # what the trust policy has to admit
    assert "hfaction policies role --github-repo acme/videos" in errors[0]
    assert "Traceback" not in done.stderr
    assert_masked_only(done.stdout + done.stderr, [token])
    assert not env_file.exists() or "AWS_" not in env_file.read_text()
    # In the one log, the token's mask also comes before the error (on stderr) that follows.
    merged = run_oidc({"ACTIONS_ID_TOKEN_REQUEST_URL": f"{token_server.url}/t",
                       "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "bearer", "GITHUB_ENV": str(env_file),
                       "AWS_ENDPOINT_URL": sts.url, "AWS_REGION": "us-east-1"}, merged=True)
    assert merged.returncode == 2 and "error: ASSUME_ROLE_REFUSED" in merged.stdout
    assert_masked_first(merged.stdout, [token])
    # Under Actions the failure is also an annotation, titled with its code.
    assert any(line.startswith("::error title=ASSUME_ROLE_REFUSED::")
               for line in done.stderr.splitlines())


# --- redirects: the bearer stays with the token endpoint ------------------------------------


def test_token_endpoint_redirect_elsewhere_is_refused(
        serve: Callable[..., RecordingServer]) -> None:
    """The token endpoint answers 302 to a second local server: the request (and its
    bearer) never reaches it, and the refusal is not retried."""
    elsewhere = serve(token_route(fake_jwt()))
    endpoint = serve(lambda request: (302, {"Location": f"{elsewhere.url}/stolen"}, b""))
    delays: list[float] = []
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": f"{endpoint.url}/t?api-version=2.0",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "bearer-secret"}
    with pytest.raises(RedirectRefused) as refused:
        fetch_token(env, sleep=delays.append)
    assert elsewhere.requests == [] and len(endpoint.requests) == 1 and delays == []
    assert str(refused.value).startswith(
        f"REDIRECT_REFUSED: GET {endpoint.url}/t was redirected (302) to {elsewhere.url}, "
        "another origin")
    assert "bearer-secret" not in str(refused.value)


def test_token_endpoint_redirect_within_its_origin_is_followed(
        serve: Callable[..., RecordingServer]) -> None:
    token = fake_jwt()
    answer = token_route(token)

    def route(request: Request) -> Reply:
        if request.path.startswith("/old"):
            return 307, {"Location": request.path[len("/old"):]}, b""  # relative, same origin
        return answer(request)

    endpoint = serve(route)
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": f"{endpoint.url}/old/t",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "bearer-secret"}
    assert fetch_token(env, sleep=lambda seconds: None) == token
    assert [r.path.split("?")[0] for r in endpoint.requests] == ["/old/t", "/t"]
    assert endpoint.requests[1].headers["Authorization"] == "bearer bearer-secret"


def test_oidc_command_refuses_a_redirect_in_one_line(
        serve: Callable[..., RecordingServer], tmp_path: Path) -> None:
    elsewhere = serve(token_route(fake_jwt()))
    target = elsewhere.url.replace("127.0.0.1", "localhost")  # another host name, too
    endpoint = serve(lambda request: (302, {"Location": f"{target}/stolen"}, b""))
    bearer = secrets.token_hex(16)
    env_file = tmp_path / "github_env"
    done = run_oidc({"ACTIONS_ID_TOKEN_REQUEST_URL": f"{endpoint.url}/t",
                     "ACTIONS_ID_TOKEN_REQUEST_TOKEN": bearer, "GITHUB_ENV": str(env_file),
                     "AWS_REGION": "eu-west-1"})
    assert done.returncode == 1
    assert elsewhere.requests == []
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"error: REDIRECT_REFUSED: GET {endpoint.url}/t was "
                                f"redirected (302) to {target}")
    assert "Traceback" not in done.stderr
    assert bearer not in done.stdout + done.stderr
    assert not env_file.exists()
