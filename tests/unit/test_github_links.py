"""The links a render hands out survive GitHub's secret masking: the assemble step signs
them on Lambda (SigV4, the function's own credentials), the client signs SigV4 only as a
fallback, and the summary and comment leave out a link that holds the job's credentials
rather than show it as ``***``. Also: which image ``deploy: auto`` keeps, and the races of
pull-request previews (a superseded run does not comment)."""

from __future__ import annotations

import io
import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.credentials import RefreshableCredentials

from hfaction.aws.facade import AwsClients, AwsFacade, StackInfo, sigv4_s3_client
from hfaction.aws.handler import (
    DEFAULT_LINK_EXPIRY_S,
    LINK_SIGNER,
    Deps,
    link_expiry,
    sign_links,
)
from hfaction.errors import InvalidOption, StackNotFound
from hfaction.github import comment, stackimage, summary

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def s3_client(**extra: Any) -> Any:
    return boto3.client("s3", region_name="eu-west-1", aws_access_key_id="AKIAFUNCTION",
                        aws_secret_access_key="secret", **extra)


def query(url: str) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)


def test_links_are_signed_sigv4_with_the_functions_credentials() -> None:
    deps = Deps(s3=s3_client(), bucket="hf-bucket")
    links = sign_links(deps, "previews/pr-1/a/1-1/preview.mp4",
                       "previews/pr-1/a/1-1/preview.poster.jpg", 900, now=NOW)
    for name in ("video_url", "poster_url"):
        url = links[name]
        assert url.startswith("https://hf-bucket.s3.eu-west-1.amazonaws.com/previews/pr-1/")
        assert query(url)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert query(url)["X-Amz-Credential"][0].startswith("AKIAFUNCTION/")
        assert "/eu-west-1/s3/aws4_request" in query(url)["X-Amz-Credential"][0]
        assert query(url)["X-Amz-Expires"] == ["900"]
        assert "AWSAccessKeyId" not in url
    # Long-term keys: the link lives exactly as long as asked.
    assert links["signed_by"] == LINK_SIGNER
    assert links["expires_at"] == links["latest_expiry"] == "2026-12-01T12:15:00Z"
    assert links["session_expires_at"] is None


def test_a_session_of_unknown_end_leaves_only_the_latest_expiry() -> None:
    # Lambda's role credentials come from the environment, with a token and no end.
    deps = Deps(s3=s3_client(aws_session_token="FwoGZXIvYXdz/+="), bucket="b")
    links = sign_links(deps, "renders/r/out.mp4", "renders/r/out.poster.jpg", 3600, now=NOW)
    assert links["expires_at"] is None and links["latest_expiry"] == "2026-12-01T13:00:00Z"
    assert "X-Amz-Security-Token=FwoGZXIvYXdz%2F%2B%3D" in links["video_url"]


def test_a_session_ending_first_bounds_the_expiry() -> None:
    client = s3_client()
    now = datetime.now(UTC).replace(microsecond=0)
    end = now + timedelta(minutes=20)
    client._request_signer._credentials = RefreshableCredentials(
        "ASIAROLE", "secret", "token", end, lambda: {}, "test")
    links = sign_links(Deps(s3=client, bucket="b"), "renders/r/out.mp4",
                       "renders/r/out.poster.jpg", 3600, now=now)
    assert links["expires_at"] == links["session_expires_at"] == \
        end.isoformat().replace("+00:00", "Z")
    assert links["latest_expiry"] == (now + timedelta(hours=1)).isoformat().replace(
        "+00:00", "Z")
    assert "ASIAROLE" in links["video_url"]


def test_the_lifetime_comes_from_the_execution_input() -> None:
    assert link_expiry({}) == DEFAULT_LINK_EXPIRY_S
    assert link_expiry({"request": {"render_id": "r"}}) == DEFAULT_LINK_EXPIRY_S
    assert link_expiry({"request": {"presign_expiry_s": 60}}) == 60
    for bad in (0, 7 * 24 * 3600 + 1, "60", True, 1.5):
        with pytest.raises(InvalidOption):
            link_expiry({"request": {"presign_expiry_s": bad}})


def test_the_client_presigns_sigv4_too_and_keeps_a_custom_endpoint() -> None:
    facade = AwsFacade(AwsClients(s3=s3_client(endpoint_url="http://localhost:4566"),
                                  sfn=None, lambda_=None, cloudformation=None))
    url = facade.presign_get("b", "renders/r/out.mp4", 60)
    assert url.startswith("http://localhost:4566/b/renders/r/out.mp4?")
    assert query(url)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    # boto3's own default would have been SigV2: the copy is what makes the difference.
    assert "AWSAccessKeyId=" in s3_client().generate_presigned_url(
        "get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    assert "AWS4-HMAC-SHA256" in sigv4_s3_client(s3_client()).generate_presigned_url(
        "get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)


def result_file(tmp_path: Path, **extra: Any) -> Path:
    data = {"render_id": "hf-1", "status": "SUCCEEDED", "output_uri": "s3://b/renders/x.mp4",
            "output_url": "https://b.s3.amazonaws.com/renders/x.mp4?X-Amz-Credential=ASIALAMBDA",
            "poster_url": "https://b.s3.amazonaws.com/renders/x.poster.jpg?X-Amz-Credential="
                          "ASIALAMBDA", "frames": {"total": 60}, **extra}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    return path


def test_summary_of_links_signed_on_lambda(tmp_path: Path) -> None:
    parsed, _raw = summary.load_result(result_file(
        tmp_path, links_signed_by=LINK_SIGNER, url_expires_at=None,
        url_latest_expiry="2026-12-01T13:00:00Z"))
    text = summary.summary_markdown(parsed, now=NOW)
    assert "until 2026-12-01 13:00 UTC at the latest" in text
    assert "render function's role session" in text
    parsed, _raw = summary.load_result(result_file(
        tmp_path, links_signed_by=LINK_SIGNER, url_expires_at="2026-12-01T12:30:00Z"))
    assert "The link expires at 2026-12-01 12:30 UTC (in about 30 min)" in \
        summary.summary_markdown(parsed, now=NOW)


def test_links_holding_the_jobs_credentials_are_left_out(tmp_path: Path) -> None:
    """What an older stack returns (the client signed with the job's session): the runner
    would show *** and drop the outputs; the summary says why instead."""
    token = "FwoGZXIvYXdz/+x="
    url = ("https://b.s3.amazonaws.com/x.mp4?X-Amz-Credential=ASIAJOB%2F2026&"
           f"X-Amz-Security-Token={urllib.parse.quote(token, safe='')}")
    path = result_file(tmp_path, output_url=url, poster_url=url)
    outputs = tmp_path / "outputs"
    step_summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs),
           "GITHUB_STEP_SUMMARY": str(step_summary), "AWS_ACCESS_KEY_ID": "ASIAJOBX",
           "AWS_SESSION_TOKEN": token}
    parsed = summary.report(path, env=env, now=NOW)
    assert parsed.links_withheld and parsed.video_url is None
    assert "video-url=\n" in outputs.read_text() and "poster-url=\n" in outputs.read_text()
    assert "No link: the render stack signed none" in step_summary.read_text()
    assert "ASIAJOB" not in step_summary.read_text()
    body = comment.comment_body(parsed, key="k", title=None, now=NOW)
    assert "No link" in body and "ASIAJOB" not in body
    # Outside GitHub Actions (a laptop) nothing is masked: the link stays.
    assert not summary.report(path, env={}, now=NOW, stream=io.StringIO()).links_withheld


class StackFacade:
    def __init__(self, image: str | None) -> None:
        self.image = image

    def stack(self, name: str) -> StackInfo:
        if self.image is None:
            raise StackNotFound(f"stack {name!r} does not exist")
        return StackInfo(name=name, bucket="b", state_machine_arn="arn", function_arn="f",
                         parameters={"ImageUri": self.image})


def image_for(current: str | None, asked: str = "") -> str | None:
    return stackimage.image_to_deploy(StackFacade(current), "video", asked)  # type: ignore[arg-type]


def test_deploy_auto_keeps_a_custom_image_unless_told_otherwise() -> None:
    ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    built = f"{ecr}/video-render:0.4.0-0123456789ab-x86_64"
    older_built = f"{ecr}/video-render:0.3.1.dev2-fedcba987654-arm64"
    custom = f"{ecr}/fonts/render:2026-11"
    assert image_for(None) is None  # no stack: hfaction's own image
    assert image_for(built) is None and image_for(older_built) is None  # ours: rebuilt
    assert image_for(custom) == custom  # kept
    assert image_for(f"{ecr}/video-render:latest") == f"{ecr}/video-render:latest"
    assert image_for(f"{ecr}/other-render:0.4.0-0123456789ab-x86_64") is not None
    assert image_for(custom, "build") is None  # told otherwise
    assert image_for(custom, built) == built
    with pytest.raises(InvalidOption):
        image_for(custom, "$(curl evil)")


def test_a_comment_is_never_written_over_a_later_runs() -> None:
    body = comment.comment_body(summary.RenderReport("hf-1", "SUCCEEDED"), key="k",
                                title=None, now=NOW, run_id=205)
    assert body.startswith(comment.marker("k") + "\n" + comment.run_marker(205) + "\n")
    assert comment.comment_run(body) == 205
    assert comment.comment_run(comment.marker("k") + "\nno run") is None


def test_a_preview_of_a_commit_that_is_no_longer_the_head_is_superseded() -> None:
    head = "a" * 40
    assert comment.superseded(comment.PullRequestState("open", head, False), 3, head) is None
    moved = comment.superseded(comment.PullRequestState("open", "b" * 40, False), 3, head)
    assert moved is not None and "moved on to bbbbbbbbbbbb" in moved
    closed = comment.superseded(comment.PullRequestState("closed", head, True), 3, head)
    assert closed == "pull request #3 is closed"
    with pytest.raises(InvalidOption):
        comment.check_head_sha("main; rm -rf /")


def function_role_allows(action: str, arn: str) -> bool:
    """Whether template.yaml's RenderFunction policies allow ``action`` on ``arn``; each
    ``${...}`` of a resource (the bucket's ARN or name parts) stands for anything."""
    import fnmatch
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((Path(__file__).resolve().parents[2] / "template.yaml").read_text(),
                         Loader=Loader)
    function = template["Resources"]["RenderFunction"]["Properties"]
    for document in function.get("Policies") or []:
        for statement in document.get("Statement", []) if isinstance(document, dict) else []:
            actions = statement.get("Action")
            actions = [actions] if isinstance(actions, str) else actions or []
            resources = statement.get("Resource")
            resources = resources if isinstance(resources, list) else [resources]
            patterns = [str(item.get("Fn::Sub", "")) if isinstance(item, dict) else str(item)
                        for item in resources]
            patterns = [re.sub(r"\$\{[^}]+\}", "*", pattern) for pattern in patterns]
            if statement.get("Effect") == "Allow" and action in actions and any(
                    fnmatch.fnmatchcase(arn, pattern) for pattern in patterns):
                return True
    return False


BUCKET_ARN = "arn:aws:s3:::video-123456789012-eu-west-1"


def test_the_template_reader_sees_the_functions_policies() -> None:
    assert function_role_allows("s3:GetObject", f"{BUCKET_ARN}/work/r/plan.tar")
    assert function_role_allows("s3:PutObject", f"{BUCKET_ARN}/renders/hf-1/out.mp4")
    assert not function_role_allows("s3:DeleteObject", f"{BUCKET_ARN}/renders/hf-1/out.mp4")


def test_the_function_role_may_read_what_its_links_point_at() -> None:
    for key in ("renders/hf-1/out.mp4", "renders/hf-1/out.poster.jpg",
                "previews/pr-3/video-0123abcd/9-1/preview.mp4"):
        assert function_role_allows("s3:GetObject", f"{BUCKET_ARN}/{key}"), key


def test_progress_takes_the_lambda_links_until_they_expire() -> None:
    from hfaction.aws import renders
    from hfaction.aws.cost import render_cost

    def fresh() -> renders.Progress:
        return renders.Progress("hf-1", "SUCCEEDED", 1, 1, 0, 30, 30, 1.0,
                                render_cost([], 0))

    later = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    links = {"video_url": "https://b.s3.amazonaws.com/v.mp4?X-Amz-Credential=ASIAF",
             "poster_url": "https://b.s3.amazonaws.com/p.jpg?X-Amz-Credential=ASIAF",
             "signed_by": LINK_SIGNER, "expires_at": None, "latest_expiry": later}
    taken = fresh()
    assert renders.take_signed_links(taken, links)
    assert taken.output_url == links["video_url"] and taken.poster_url == links["poster_url"]
    assert taken.links_signed_by == LINK_SIGNER and taken.url_expires_at is None
    assert taken.to_dict()["url_latest_expiry"] is not None
    # Expired (a progress asked for a day later), or none (an older stack): signed here.
    earlier = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert not renders.take_signed_links(fresh(), {**links, "latest_expiry": earlier})
    assert not renders.take_signed_links(fresh(), {**links, "expires_at": earlier})
    assert not renders.take_signed_links(fresh(), None)
