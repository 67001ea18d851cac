"""OIDC pieces that need no server: option checks, the token URL, back-off, and how an STS
refusal is reported (the facade is a stand-in here; tests/integration/github covers the
real token endpoint and STS)."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hfaction.errors import (
    AssumeRoleRefused,
    AwsCallFailed,
    InvalidOption,
    InvalidRoleArn,
    OidcTokenUnavailable,
)
from hfaction.github import oidc
from tests.unit.test_github_workflow import runner_parse


@pytest.mark.parametrize("arn", [
    "arn:aws:iam::123456789012:role/hfaction-render",
    "arn:aws:iam::123456789012:role/service-role/ci/hfaction.render@x",
    "arn:aws-cn:iam::123456789012:role/r",
    "arn:aws-us-gov:iam::123456789012:role/r",
])
def test_role_arns_accepted(arn: str) -> None:
    assert oidc.check_role_arn(arn) == arn


@pytest.mark.parametrize("arn", [
    "", "hfaction-render", "arn:aws:iam::12345678901:role/r", "arn:aws:iam::123456789012:user/u",
    "arn:aws:sts::123456789012:assumed-role/r/s", "arn:aws:iam::123456789012:role/",
    "arn:aws:iam::123456789012:role/r\nAWS_SECRET_ACCESS_KEY=x",
    "arn:aws:iam::123456789012:role/r x",
])
def test_role_arns_rejected(arn: str) -> None:
    with pytest.raises(InvalidRoleArn):
        oidc.check_role_arn(arn)


def test_region_session_and_duration_checks() -> None:
    assert oidc.check_region("eu-west-1") == "eu-west-1"
    assert oidc.check_region("us-gov-west-1") == "us-gov-west-1"
    for region in (None, "", "EU-WEST-1", "eu-west-1\nX=1", "mars"):
        with pytest.raises(InvalidOption):
            oidc.check_region(region)
    assert oidc.default_session_name({"GITHUB_RUN_ID": "123"}) == "hfaction-123"
    assert oidc.default_session_name({}) == "hfaction-local"
    assert oidc.default_session_name({"GITHUB_RUN_ID": "1 2;3"}) == "hfaction-123"
    with pytest.raises(InvalidOption):
        oidc.check_session_name("bad name")
    with pytest.raises(InvalidOption):
        oidc.check_duration(899)
    with pytest.raises(InvalidOption):
        oidc.check_duration(43201)
    assert oidc.check_duration(3600) == 3600


@pytest.mark.parametrize(("base", "expected"), [
    ("https://t.example/token?api-version=2.0",
     "https://t.example/token?api-version=2.0&audience=sts.amazonaws.com"),
    ("https://t.example/token", "https://t.example/token?audience=sts.amazonaws.com"),
    ("https://t.example/token?audience=other&x=1",
     "https://t.example/token?x=1&audience=sts.amazonaws.com"),
])
def test_token_url_appends_the_audience(base: str, expected: str) -> None:
    assert oidc.token_request_url(base, "sts.amazonaws.com") == expected


def test_audience_is_encoded() -> None:
    assert oidc.token_request_url("https://t/x?a=1", "a&b=c").endswith("&audience=a%26b%3Dc")


def test_token_url_must_be_http() -> None:
    with pytest.raises(OidcTokenUnavailable):
        oidc.token_request_url("file:///etc/passwd", "sts.amazonaws.com")


@pytest.mark.parametrize("env", [
    {}, {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://t/x"},
    {"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "b"},
])
def test_missing_token_variables_hint(env: dict[str, str]) -> None:
    with pytest.raises(OidcTokenUnavailable) as missing:
        oidc.token_source(env)
    assert "permissions: id-token: write" in str(missing.value)
    assert "forks" in str(missing.value)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    lows = [oidc.backoff_delay(n, rng=lambda low, high: low) for n in range(7)]
    highs = [oidc.backoff_delay(n, rng=lambda low, high: high) for n in range(7)]
    assert highs == [1, 2, 4, 8, 16, 16, 16]
    assert lows == [h / 2 for h in highs]
    assert 0.5 <= oidc.backoff_delay(0) <= 1.0


def _jwt(claims: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{payload}.signature-part-secret"


class RefusingSts:
    def __init__(self, message: str) -> None:
        self.message = message

    def assume_role_with_web_identity(self, role_arn: str, token: str, session_name: str,
                                      duration_s: int) -> dict[str, Any]:
        raise AwsCallFailed(self.message)


def test_refusal_names_role_and_subject_without_the_token() -> None:
    token = _jwt({"sub": "repo:acme/videos:pull_request", "aud": "sts.amazonaws.com"})
    facade = RefusingSts(f"STS AssumeRoleWithWebIdentity failed: AccessDenied: bad {token}")
    with pytest.raises(AssumeRoleRefused) as refused:
        oidc.assume_role(facade, "arn:aws:iam::123456789012:role/r", token,
                         session_name="s1", duration_s=900, region="eu-west-1",
                         env={"GITHUB_REPOSITORY": "acme/videos"}, on_secret=print)
    text = str(refused.value)
    assert token not in text and "signature-part-secret" not in text
    assert "arn:aws:iam::123456789012:role/r" in text and "AccessDenied" in text
    assert "'repo:acme/videos:pull_request'" in text
    assert "--github-repo acme/videos" in text


def test_refusal_without_readable_claims_guesses_the_subject() -> None:
    with pytest.raises(AssumeRoleRefused) as refused:
        oidc.assume_role(RefusingSts("x"), "arn:aws:iam::123456789012:role/r", "opaque",
                         session_name="s1", duration_s=900, region="eu-west-1",
                         env={"GITHUB_REPOSITORY": "o/r", "GITHUB_REF": "refs/heads/dev"},
                         on_secret=print)
    assert "'repo:o/r:ref:refs/heads/dev'" in str(refused.value)


class GrantingSts:
    def assume_role_with_web_identity(self, role_arn: str, token: str, session_name: str,
                                      duration_s: int) -> dict[str, Any]:
        return {"Credentials": {"AccessKeyId": "ASIAKEY", "SecretAccessKey": "secret/key",
                                "SessionToken": "session+token",
                                "Expiration": datetime(2026, 1, 2, 3, 4, 5, 600, UTC)},
                "AssumedRoleUser": {"Arn": f"arn:aws:sts::1:assumed-role/r/{session_name}"}}


def test_credentials_are_handed_to_the_masker_first() -> None:
    seen: list[str] = []
    credentials = oidc.assume_role(GrantingSts(), "arn:aws:iam::123456789012:role/r", "t",
                                   session_name="s1", duration_s=900, region="eu-west-1",
                                   env={}, on_secret=seen.append)
    assert seen == ["ASIAKEY", "secret/key", "session+token"]
    assert credentials.environment() == {
        "AWS_ACCESS_KEY_ID": "ASIAKEY", "AWS_SECRET_ACCESS_KEY": "secret/key",
        "AWS_SESSION_TOKEN": "session+token", "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "HFACTION_CREDENTIALS_EXPIRATION": "2026-01-02T03:04:05Z"}
    assert credentials.assumed_role_arn == "arn:aws:sts::1:assumed-role/r/s1"


def test_cli_checks_options_before_any_request(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from hfaction.cli import main

    for name in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                 "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    role = "arn:aws:iam::123456789012:role/r"
    # An empty --region (an unset action input) falls back to AWS_REGION.
    assert main(["github", "oidc", "--role-to-assume", role, "--region", ""]) == 2
    assert "OIDC_TOKEN_UNAVAILABLE" in capsys.readouterr().err
    assert main(["github", "oidc", "--role-to-assume", "role/r"]) == 2
    assert "INVALID_ROLE_ARN" in capsys.readouterr().err
    monkeypatch.delenv("AWS_REGION")
    assert main(["github", "oidc", "--role-to-assume", role]) == 2
    assert "pass --region" in capsys.readouterr().err


# --- oidc.export_credentials: the 'github oidc' step without the CLI ---------------------------


class TokenEndpoint:
    """Answers the token request with ``token``; records what it was asked."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.urls: list[str] = []

    def __call__(self, request: Any, timeout: float) -> Any:
        self.urls.append(request.full_url)
        return io.BytesIO(json.dumps({"value": self.token}).encode())


def _job_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.example/t?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "bearer", "GITHUB_RUN_ID": "77",
            "GITHUB_ENV": str(tmp_path / "github_env"), **extra}


def test_export_credentials_masks_each_secret_first_and_writes_github_env(
        tmp_path: Path) -> None:
    token = _jwt({"sub": "repo:acme/videos:ref:refs/heads/main"})
    endpoint = TokenEndpoint(token)
    masked: list[str] = []
    regions: list[str] = []

    def sts(region: str) -> GrantingSts:
        regions.append(region)
        assert masked == [token]  # the token was masked before it went anywhere
        return GrantingSts()

    credentials = oidc.export_credentials(
        "arn:aws:iam::123456789012:role/r", region="", audience="sts.example",
        env=_job_env(tmp_path, AWS_REGION="eu-west-1"), sts=sts, mask=masked.append,
        opener=endpoint, sleep=lambda seconds: None)
    assert masked == [token, "ASIAKEY", "secret/key", "session+token"]
    assert regions == ["eu-west-1"]  # an empty region falls back to AWS_REGION
    assert endpoint.urls == ["https://token.example/t?api-version=2.0&audience=sts.example"]
    assert credentials.assumed_role_arn == "arn:aws:sts::1:assumed-role/r/hfaction-77"
    exported = runner_parse((tmp_path / "github_env").read_text())
    assert exported == credentials.environment()


@pytest.mark.parametrize(("role", "env_changes", "error"), [
    ("role/r", {}, InvalidRoleArn),
    ("arn:aws:iam::123456789012:role/r", {"GITHUB_ENV": ""}, InvalidOption),
    ("arn:aws:iam::123456789012:role/r", {"ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""},
     OidcTokenUnavailable),
])
def test_export_credentials_checks_everything_before_any_request(
        tmp_path: Path, role: str, env_changes: dict[str, str], error: type[Exception]) -> None:
    endpoint = TokenEndpoint("t")
    masked: list[str] = []
    with pytest.raises(error):
        oidc.export_credentials(role, region="eu-west-1",
                                env={**_job_env(tmp_path), **env_changes},
                                sts=lambda region: GrantingSts(), mask=masked.append,
                                opener=endpoint)
    assert endpoint.urls == [] and masked == []
    assert not (tmp_path / "github_env").exists()


def test_export_credentials_writes_nothing_when_sts_refuses(tmp_path: Path) -> None:
    masked: list[str] = []
    with pytest.raises(AssumeRoleRefused):
        oidc.export_credentials("arn:aws:iam::123456789012:role/r", region="eu-west-1",
                                env=_job_env(tmp_path), sts=lambda region: RefusingSts("no"),
                                mask=masked.append, opener=TokenEndpoint("the-token"))
    assert masked == ["the-token"]
    assert not (tmp_path / "github_env").exists()
