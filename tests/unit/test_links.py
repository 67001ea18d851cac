"""Presigned links, their true expiry, poster frames and cleanup prefixes (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from hfaction.aws.facade import CredentialsLifetime
from hfaction.aws.renders import MAX_PRESIGN_EXPIRY_S, check_presign_expiry, link_expiry
from hfaction.aws.s3uri import check_cleanup_prefix, poster_key
from hfaction.errors import InvalidOption, S3UriNotAllowed
from hfaction.render.poster import poster_args, poster_frame

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_a_link_lives_as_long_as_asked_when_the_credentials_outlive_it() -> None:
    session = CredentialsLifetime(True, NOW + timedelta(hours=1))
    assert link_expiry(NOW, 600, session) == NOW + timedelta(seconds=600)


def test_a_link_dies_with_the_session_credentials_that_signed_it() -> None:
    session_end = NOW + timedelta(minutes=50)
    assert link_expiry(NOW, 7 * 24 * 3600, CredentialsLifetime(True, session_end)) == \
        session_end


def test_long_term_keys_leave_the_asked_expiry() -> None:
    assert link_expiry(NOW, 3600, CredentialsLifetime(False)) == NOW + timedelta(hours=1)


def test_temporary_credentials_of_unknown_lifetime_give_no_expiry() -> None:
    assert link_expiry(NOW, 3600, CredentialsLifetime(True)) is None


@pytest.mark.parametrize(("env", "temporary", "known"), [
    ({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s"}, False, False),
    ({"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s",
      "AWS_SESSION_TOKEN": "t"}, True, False),
    ({"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s",
      "AWS_SESSION_TOKEN": "t", "HFACTION_CREDENTIALS_EXPIRATION": "2026-11-27T13:00:00Z"},
     True, True),
])
def test_the_credentials_lifetime_comes_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, env: dict[str, str], temporary: bool,
        known: bool) -> None:
    import boto3

    from hfaction.aws.facade import AwsClients, AwsFacade

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HFACTION_CREDENTIALS_EXPIRATION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    session = boto3.session.Session(region_name="us-east-1")
    facade = AwsFacade(AwsClients(s3=None, sfn=None, lambda_=None, cloudformation=None,
                                  session=session))
    lifetime = facade.credentials_lifetime()
    assert lifetime.temporary is temporary
    assert (lifetime.expires_at is not None) is known
    if known:
        assert lifetime.expires_at == datetime(2026, 11, 27, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize("seconds", [0, -5, MAX_PRESIGN_EXPIRY_S + 1])
def test_presign_expiry_out_of_range_is_bad_input(seconds: int) -> None:
    with pytest.raises(InvalidOption, match="presign-expiry"):
        check_presign_expiry(seconds)


def test_presign_expiry_in_range_passes() -> None:
    assert check_presign_expiry(MAX_PRESIGN_EXPIRY_S) == MAX_PRESIGN_EXPIRY_S


@pytest.mark.parametrize(("output", "poster"), [
    ("renders/hf-1/out.mp4", "renders/hf-1/out.poster.jpg"),
    ("previews/pr-3/abc.MP4", "previews/pr-3/abc.poster.jpg"),
    ("videos/final", "videos/final.poster.jpg"),
])
def test_the_poster_sits_beside_the_mp4(output: str, poster: str) -> None:
    assert poster_key(output) == poster


@pytest.mark.parametrize("prefix", ["", "/", "sites/", "renders", "work/", "../x/y/",
                                    "previews/../../", "a//b/"])
def test_cleanup_refuses_broad_or_escaping_prefixes(prefix: str) -> None:
    with pytest.raises(S3UriNotAllowed):
        check_cleanup_prefix(prefix)


@pytest.mark.parametrize(("prefix", "cleaned"), [("previews/pr-12/", "previews/pr-12/"),
                                                  ("previews/pr-12", "previews/pr-12/")])
def test_cleanup_accepts_a_folder_two_levels_deep(prefix: str, cleaned: str) -> None:
    assert check_cleanup_prefix(prefix) == cleaned


def test_the_poster_is_the_middle_frame_at_its_exact_time() -> None:
    assert poster_frame(90) == 45
    assert poster_frame(1) == 0
    args = poster_args(Path("in.mp4"), Path("p.jpg"), frame=45, fps=Fraction(30000, 1001))
    assert args[args.index("-ss") + 1] == f"{45 * 1001 / 30000:.6f}"
    assert args[args.index("-frames:v") + 1] == "1"
    assert args[-1] == "p.jpg"


@pytest.mark.parametrize("value", ["hf-1\n", "hf-1\r", "\nhf-1"])
def test_ids_with_a_line_break_are_refused(value: str) -> None:
    from hfaction.aws.s3uri import check_id

    with pytest.raises(S3UriNotAllowed):
        check_id(value, "render id")


def test_a_stack_name_with_a_trailing_newline_is_refused() -> None:
    from hfaction.aws.deploy import DeployOptions, plan_deploy

    with pytest.raises(InvalidOption, match="stack-name"):
        plan_deploy(DeployOptions(stack_name="video\n"), None)  # type: ignore[arg-type]


def test_lambda_render_options_take_strict_fonts_as_a_boolean_only() -> None:
    from hfaction.aws.handler import render_options

    assert render_options({"strict_fonts": True}).strict_fonts is True
    with pytest.raises(InvalidOption, match="strict_fonts"):
        render_options({"strict_fonts": "yes"})
