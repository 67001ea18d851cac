"""AWS credentials from GitHub's OIDC token: no stored keys.

The job's token endpoint (``ACTIONS_ID_TOKEN_REQUEST_URL``, authorised by
``ACTIONS_ID_TOKEN_REQUEST_TOKEN``) issues a JWT for an audience; STS
``AssumeRoleWithWebIdentity`` trades it for session credentials of a role whose trust
policy names the repository. Every secret is masked (``::add-mask::``) the moment it is
known, before anything could print it, and only reaches later steps through $GITHUB_ENV.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from hfaction import __version__
from hfaction.errors import (
    AssumeRoleRefused,
    AwsCallFailed,
    InvalidOption,
    InvalidRoleArn,
    OidcTokenFailed,
    OidcTokenUnavailable,
)
from hfaction.github import workflow
from hfaction.github.sameorigin import open_same_origin

DEFAULT_AUDIENCE = "sts.amazonaws.com"
MAX_ATTEMPTS = 5
TOKEN_HINT = ("the job needs 'permissions: id-token: write' (set it on the job or workflow), "
              "and pull requests from forks get no token")

_ROLE_ARN = re.compile(
    r"arn:aws(?:-[a-z]+)*:iam::\d{12}:role/(?:[\w+=,.@-]{1,128}/)*[\w+=,.@-]{1,64}")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")


# --- checking what the user passed ----------------------------------------------------


def check_role_arn(arn: str) -> str:
    if not _ROLE_ARN.fullmatch(arn) or len(arn) > 2048:
        raise InvalidRoleArn(
            f"--role-to-assume {arn!r} is not an IAM role ARN",
            hint="expected arn:aws:iam::123456789012:role/NAME; create one with "
                 "'hfaction policies role --github-repo OWNER/REPO'")
    return arn


def check_region(region: str | None) -> str:
    if not region:
        raise InvalidOption("no AWS region for the OIDC credentials",
                            hint="pass --region (the action's aws-region input) or set "
                                 "AWS_REGION")
    if not _REGION.fullmatch(region):
        raise InvalidOption(f"--region {region!r} is not an AWS region name",
                            hint="e.g. us-east-1 or eu-west-1")
    return region


def check_session_name(name: str) -> str:
    if not _SESSION_NAME.fullmatch(name):
        raise InvalidOption(f"--session-name {name!r} is not a valid role session name",
                            hint="2 to 64 of letters, digits and _+=,.@-")
    return name


def check_duration(seconds: int) -> int:
    if not 900 <= seconds <= 43200:
        raise InvalidOption(f"--duration-seconds {seconds} is outside 900..43200",
                            hint="the role's maximum session duration also applies")
    return seconds


def default_session_name(env: Mapping[str, str]) -> str:
    run_id = re.sub(r"[^\w+=,.@-]", "", env.get("GITHUB_RUN_ID", ""))
    return f"hfaction-{run_id or 'local'}"[:64]


# --- the token ------------------------------------------------------------------------


def token_request_url(base: str, audience: str) -> str:
    """The token URL with ``audience`` added to whatever query it already has."""
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise OidcTokenUnavailable("ACTIONS_ID_TOKEN_REQUEST_URL is not an http(s) URL",
                                   hint=TOKEN_HINT)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
             if k != "audience"]
    query.append(("audience", audience))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


class Opener(Protocol):
    def __call__(self, request: urllib.request.Request, timeout: float) -> Any: ...


def _open(request: urllib.request.Request, timeout: float) -> Any:
    # http(s) only (token_request_url); the bearer must not follow a redirect elsewhere.
    return open_same_origin(request, timeout, hint="the token endpoint answers directly; is "
                                                   "ACTIONS_ID_TOKEN_REQUEST_URL GitHub's?")


def backoff_delay(attempt: int, *, base_s: float = 1.0, cap_s: float = 16.0,
                  rng: Callable[[float, float], float] = random.uniform) -> float:
    """Exponential backoff with jitter: between half and all of min(cap, base * 2^attempt),
    so that many jobs retrying together spread out but each still waits."""
    ceiling = min(cap_s, base_s * 2 ** attempt)
    return rng(ceiling / 2, ceiling)


def _retry_after(headers: Any) -> float | None:
    try:
        value = float(headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def _short(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def token_source(env: Mapping[str, str]) -> tuple[str, str]:
    """(token URL, bearer) from the job's environment, or the hint of why there are none."""
    base = env.get("ACTIONS_ID_TOKEN_REQUEST_URL", "")
    bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
    missing = [name for name, value in (("ACTIONS_ID_TOKEN_REQUEST_URL", base),
                                        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", bearer)) if not value]
    if missing:
        raise OidcTokenUnavailable(f"{' and '.join(missing)} not set: GitHub gave this job no "
                                   "OIDC token", hint=TOKEN_HINT)
    return base, bearer


def fetch_token(env: Mapping[str, str], audience: str = DEFAULT_AUDIENCE, *,
                opener: Opener = _open, sleep: Callable[[float], None] = time.sleep,
                attempts: int = MAX_ATTEMPTS, timeout_s: float = 10.0,
                rng: Callable[[float, float], float] = random.uniform) -> str:
    """The OIDC token for ``audience``, retrying connection errors, 5xx and 429."""
    base, bearer = token_source(env)
    url = token_request_url(base, audience)
    host = urllib.parse.urlsplit(url).netloc
    request = urllib.request.Request(url, headers={
        "Authorization": f"bearer {bearer}",
        "Accept": "application/json; api-version=2.0",
        "User-Agent": f"hfaction/{__version__}",
    })
    last = "no attempt made"
    for attempt in range(attempts):
        retry_after = None
        try:
            with opener(request, timeout_s) as response:
                body = response.read(1_000_000)
            break
        except urllib.error.HTTPError as failure:
            detail = _short(failure.read(2000).decode("utf-8", "replace")) if failure.fp else ""
            detail = detail.replace(bearer, "***")  # should the endpoint echo the request
            last = f"HTTP {failure.code}" + (f": {detail}" if detail else "")
            if failure.code != 429 and failure.code < 500:
                raise OidcTokenFailed(f"the OIDC token endpoint ({host}) refused the request: "
                                      f"{last}", hint=TOKEN_HINT) from None
            retry_after = _retry_after(failure.headers)
        except (urllib.error.URLError, OSError) as failure:
            reason = getattr(failure, "reason", failure)
            last = _short(str(reason)) or type(failure).__name__
        if attempt + 1 < attempts:
            delay = backoff_delay(attempt, rng=rng)
            sleep(min(retry_after, 30.0) if retry_after is not None else delay)
    else:
        raise OidcTokenFailed(f"the OIDC token endpoint ({host}) failed {attempts} times; "
                              f"last: {last}", hint="GitHub may be having an incident; re-run "
                                                    "the job")
    try:
        value = json.loads(body).get("value")
    except (ValueError, AttributeError, RecursionError):
        value = None
    if not isinstance(value, str) or not value.strip():
        raise OidcTokenFailed(f"the OIDC token endpoint ({host}) answered without a token",
                              hint="expected JSON {\"value\": \"<jwt>\"}")
    return value.strip()


def token_claims(token: str) -> dict[str, Any]:
    """The unverified claims of a JWT (only to explain a refusal; STS verifies it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


# --- the exchange ----------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    assumed_role_arn: str
    region: str

    def secrets(self) -> list[str]:
        return [self.access_key_id, self.secret_access_key, self.session_token]

    def environment(self) -> dict[str, str]:
        """What later steps get through $GITHUB_ENV."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "HFACTION_CREDENTIALS_EXPIRATION": iso_utc(self.expiration),
        }


def iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class StsFacade(Protocol):
    def assume_role_with_web_identity(self, role_arn: str, token: str, session_name: str,
                                      duration_s: int) -> dict[str, Any]: ...


def _subject_hint(token: str, env: Mapping[str, str]) -> str:
    claims = token_claims(token)
    subject = claims.get("sub") if isinstance(claims.get("sub"), str) else None
    audience = claims.get("aud")
    if subject is None:
        repo = env.get("GITHUB_REPOSITORY", "OWNER/REPO")
        subject = f"repo:{repo}:ref:{env.get('GITHUB_REF', 'refs/heads/BRANCH')}"
        text = f"this job's subject is probably {subject!r} (or ...:environment:NAME, or " \
               "...:pull_request)"
    else:
        text = f"this token's subject is {subject!r}"
    if isinstance(audience, str):
        text += f" and audience {audience!r}"
    repo = env.get("GITHUB_REPOSITORY") or "OWNER/REPO"
    return (f"the role's trust policy must allow it: {text}; print a matching trust policy "
            f"with 'hfaction policies role --github-repo {repo}'")


def assume_role(facade: StsFacade, role_arn: str, token: str, *, session_name: str,
                duration_s: int, region: str, env: Mapping[str, str],
                on_secret: Callable[[str], None]) -> Credentials:
    """Trade the token for session credentials; ``on_secret`` sees every secret first."""
    try:
        response = facade.assume_role_with_web_identity(role_arn, token, session_name,
                                                        duration_s)
    except AwsCallFailed as failure:
        message = failure.message.replace(token, "***")
        raise AssumeRoleRefused(f"could not assume {role_arn}: {message}",
                                hint=_subject_hint(token, env)) from None
    raw = response.get("Credentials") or {}
    for key in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
        if isinstance(raw.get(key), str) and raw[key]:
            on_secret(raw[key])
    if not all(isinstance(raw.get(key), str) and raw[key]
               for key in ("AccessKeyId", "SecretAccessKey", "SessionToken")):
        raise AssumeRoleRefused(f"STS answered for {role_arn} without credentials")
    expiration = raw.get("Expiration")
    if isinstance(expiration, str):
        expiration = datetime.fromisoformat(expiration)
    if not isinstance(expiration, datetime):
        raise AssumeRoleRefused(f"STS answered for {role_arn} without an expiration")
    return Credentials(
        access_key_id=raw["AccessKeyId"], secret_access_key=raw["SecretAccessKey"],
        session_token=raw["SessionToken"], expiration=expiration,
        assumed_role_arn=str((response.get("AssumedRoleUser") or {}).get("Arn") or role_arn),
        region=region)


def sts_facade(region: str) -> StsFacade:
    """A facade whose only client is STS in ``region`` (honours AWS_ENDPOINT_URL)."""
    import boto3

    from hfaction.aws.facade import AwsClients, AwsFacade

    session = boto3.session.Session(region_name=region)
    return AwsFacade(AwsClients(s3=None, sfn=None, lambda_=None, cloudformation=None,
                                sts=session.client("sts")))


# --- the whole step ----------------------------------------------------------------------


def export_credentials(role_arn: str, *, region: str | None = None,
                       audience: str = DEFAULT_AUDIENCE, session_name: str | None = None,
                       duration_s: int = 3600, env: Mapping[str, str] | None = None,
                       sts: Callable[[str], StsFacade] = sts_facade,
                       mask: Callable[[str], None] = workflow.mask, opener: Opener = _open,
                       sleep: Callable[[float], None] = time.sleep) -> Credentials:
    """Assume ``role_arn`` with the job's OIDC token and append the credentials to
    $GITHUB_ENV for the steps after this one.

    Every input is checked and the token's source and $GITHUB_ENV found before any
    request; the token and then each credential go to ``mask`` (``::add-mask::``) the
    moment they are known, before anything else could print them. An empty ``region``
    falls back to the environment's AWS_REGION (an unset action input).
    """
    env = dict(os.environ) if env is None else env
    role = check_role_arn(role_arn)
    region_ = check_region(region or env.get("AWS_REGION"))
    name = check_session_name(session_name or default_session_name(env))
    duration = check_duration(duration_s)
    token_source(env)
    env_file = workflow.file_from_env("GITHUB_ENV", env)
    if env_file is None:
        raise InvalidOption("GITHUB_ENV is not set: nowhere to put the credentials",
                            hint="run this in a GitHub Actions step")
    token = fetch_token(env, audience, opener=opener, sleep=sleep)
    mask(token)
    credentials = assume_role(sts(region_), role, token, session_name=name,
                              duration_s=duration, region=region_, env=env, on_secret=mask)
    workflow.append_file_command(env_file, credentials.environment(), "environment variable")
    return credentials
