"""A render on Lambda (moto, the real state machine and handler) reported as the action
reports it, then checked with GitHub's secret masking (runner_masking.py).

The job's credentials come from ``hfaction github oidc`` (moto's STS), so the masked values
are the ones it printed with ``::add-mask::``; the render is made with those credentials,
the handler with the function's own (moto's default keys). The summary, the outputs and
the pull-request comment must keep their links once the runner's rules are applied.
"""

from __future__ import annotations

import io
import json
import os
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from hfaction.aws.facade import AwsClients, AwsFacade, StackInfo
from hfaction.aws.handler import Deps, handle
from hfaction.aws.renders import Connection, RenderRequest, render
from hfaction.cli import main
from hfaction.github import oidc, summary, workflow
from tests.conftest import FIXTURES
from tests.integration.conftest import _missing_tools
from tests.integration.github.runner_masking import RunnerMasker, check, masks_from_log
from tests.loopback import RecordingServer, Reply, Request

ROLE = "arn:aws:iam::123456789012:role/hfaction-masking"


@pytest.fixture(autouse=True)
def _require_tools() -> None:
    missing = _missing_tools()
    if missing:
        if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
            pytest.fail(f"needs {missing}")
        pytest.skip(f"needs {missing}: scripts/bootstrap.sh --test installs them")


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Any]:
    from tests.integration.aws.sfn_harness import SfnHarness

    work = tmp_path / "lambda-tmp"
    holder: dict[str, Any] = {}

    def dispatch(event: dict[str, Any]) -> dict[str, Any]:
        deps = Deps(s3=holder["harness"].client("s3"), bucket=holder["harness"].bucket,
                    work_root=work)
        context = SimpleNamespace(memory_limit_in_mb=10240,
                                  aws_request_id=f"req-{event.get('action')}-"
                                                 f"{event.get('index')}-{id(deps)}")
        try:
            return handle(event, context, deps)
        finally:
            if deps.session is not None:
                deps.session.__exit__(None, None, None)

    with SfnHarness(dispatch, concurrency=2) as running:
        holder["harness"] = running
        yield running


def job_credentials(tmp_path: Path, region: str) -> tuple[dict[str, str], list[str]]:
    """``hfaction github oidc`` against moto's STS: the exported environment and the values
    it masked, read back from its ``::add-mask::`` lines."""
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmFjbWUvdmlkZW9zOnB1bGxfcmVxdWVzdCJ9.c2ln"
    env_file = tmp_path / "github_env"
    env_file.write_text("")
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/token",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token", "GITHUB_ENV": str(env_file),
           "GITHUB_RUN_ID": "42"}

    class Response(io.BytesIO):
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    log = io.StringIO()
    oidc.export_credentials(ROLE, region=region, env=env,
                            opener=lambda request, timeout: Response(
                                json.dumps({"value": token}).encode()),
                            mask=lambda value: workflow.mask(value, log))
    exported = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    return exported, masks_from_log(log.getvalue())


def read_outputs(path: Path) -> dict[str, str]:
    outputs: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            outputs[name] = "\n".join(iter(lambda: next(lines), delimiter))
        else:
            name, _, value = line.partition("=")
            outputs[name] = value
    return outputs


def github_api(serve: Callable[..., RecordingServer]) -> RecordingServer:
    def route(request: Request) -> Reply:
        json_type = {"Content-Type": "application/json"}
        if request.method == "GET" and request.path.startswith("/repos/"):
            return 200, json_type, b"[]"
        if request.method == "POST":
            return 201, json_type, b'{"id": 7, "html_url": "https://github.test/c/7"}'
        return 403, json_type, b'{"message": "Resource not accessible by integration"}'

    return serve(route)


def test_links_survive_the_runners_secret_masking(
        harness: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        serve: Callable[..., RecordingServer]) -> None:
    credentials, masked = job_credentials(tmp_path, harness.region)
    assert credentials["AWS_ACCESS_KEY_ID"] in masked and \
        credentials["AWS_SESSION_TOKEN"] in masked, "oidc masked less than it exported"

    def as_job(service: str) -> Any:
        return boto3.client(service, region_name=harness.region,
                            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=credentials["AWS_SESSION_TOKEN"])

    facade = AwsFacade(AwsClients(s3=as_job("s3"), sfn=as_job("stepfunctions"),
                                  lambda_=as_job("lambda"),
                                  cloudformation=as_job("cloudformation")))
    stack = StackInfo(name="test", bucket=harness.bucket,
                      state_machine_arn=harness.state_machine_arn,
                      function_arn=harness.function_arn, parameters={"Concurrency": "2"})
    run = render(Connection(facade, stack),
                 RenderRequest(project=FIXTURES / "frame-index", wait=True,
                               presign_expiry_s=900), poll_s=0.2)
    assert run.result is not None and run.result.status == "SUCCEEDED"
    result = tmp_path / "result.json"
    result.write_text(json.dumps(run.result.to_dict()))

    # The report step, as the action runs it: the job's credentials in the environment.
    step_summary, step_outputs = tmp_path / "summary.md", tmp_path / "outputs"
    env = {**credentials, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(step_summary),
           "GITHUB_OUTPUT": str(step_outputs), "GITHUB_WORKSPACE": str(tmp_path)}
    summary.report(result, project="video", env=env, stream=io.StringIO())
    outputs = read_outputs(step_outputs)
    # The comment step, through the CLI, to a stand-in for GitHub's API.
    api = github_api(serve)
    for name, value in {**env, "GITHUB_TOKEN": "ghs_masking", "GITHUB_API_URL": api.url}.items():
        monkeypatch.setenv(name, value)
    assert main(["github", "comment", "--repository", "acme/videos", "--pull-request", "3",
                 "--", str(result)]) == 0
    (post,) = [request for request in api.requests if request.method == "POST"]
    body = json.loads(post.body)["body"]

    masking = check(RunnerMasker(masked), summary=step_summary.read_text(), outputs=outputs,
                    comments=[body])
    assert masking, masking.message()
    # ... and the links are there, SigV4, signed by the function's role (not the job).
    video = outputs["video-url"]
    assert video and outputs["poster-url"], outputs
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(video).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"], video
    assert query["X-Amz-Expires"] == ["900"], video
    lambda_key = boto3.client("s3", region_name=harness.region)._get_credentials().access_key
    assert query["X-Amz-Credential"][0].split("/")[0] == lambda_key
    assert video in step_summary.read_text().replace("&amp;", "&")
    assert video.split("?")[0] in body
    assert "render function's role" in step_summary.read_text()
