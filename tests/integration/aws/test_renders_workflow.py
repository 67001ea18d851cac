"""``hfaction.aws.renders.render``, the workflow of ``hfaction lambda render``, called
without the CLI: on moto, through the real state machine, Lambda answered by the canned
results of test_state_machine_semantics.py (no browser), and through ``main`` once to see
that every render flag reaches the execution's input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hfaction.aws.facade import AwsClients, AwsFacade, StackInfo
from hfaction.aws.renders import (
    Connection,
    Progress,
    RenderRequest,
    cleanup,
    create_site,
    find_stack,
    render,
)
from hfaction.cli import main
from hfaction.errors import (
    InvalidFps,
    InvalidOption,
    PlanHashMismatch,
    S3UriNotAllowed,
)
from hfaction.render.options import RenderOptions
from tests.conftest import FIXTURES
from tests.integration.aws.sfn_harness import SfnHarness
from tests.integration.aws.test_state_machine_semantics import FakeRender, typed

VIDEO = b"\x00\x00\x00\x18ftypmp42 not really a video"


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """Overrides tests/integration/conftest.py: these tests need no browser nor ffmpeg."""


class StoringFake(FakeRender):
    """The canned render, whose assemble also writes the MP4 where the real one would."""

    harness: SfnHarness | None = None

    def _assemble(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.harness is not None
        self.harness.client("s3").put_object(Bucket=event["bucket"], Key=event["output_key"],
                                             Body=VIDEO)
        return {**super()._assemble(event), "bytes": len(VIDEO)}


@pytest.fixture
def stack() -> Iterator[tuple[StoringFake, SfnHarness, Connection]]:
    fake = StoringFake(2)
    with SfnHarness(fake, concurrency=3) as harness:
        fake.harness = harness
        facade = AwsFacade(AwsClients(
            s3=harness.client("s3"), sfn=harness.client("stepfunctions"),
            lambda_=harness.client("lambda"), cloudformation=harness.client("cloudformation")))
        info = StackInfo(name="test", bucket=harness.bucket,
                         state_machine_arn=harness.state_machine_arn,
                         function_arn=harness.function_arn, parameters={"Concurrency": "3"})
        yield fake, harness, Connection(facade, info)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def hooks(self) -> dict[str, Any]:
        return {"on_started": lambda render_id: self.events.append(("started", render_id)),
                "on_progress": lambda state: self.events.append(("progress", state.status)),
                "on_finished": lambda state: self.events.append(("finished", state.status)),
                "poll_s": 0.1, "timeout_s": 120}


def objects(harness: SfnHarness, prefix: str) -> list[str]:
    listed = harness.client("s3").list_objects_v2(Bucket=harness.bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_render_uploads_starts_with_the_stacks_concurrency_waits_and_downloads(
        stack: Any, tmp_path: Path) -> None:
    _fake, harness, connection = stack
    out = tmp_path / "out.mp4"
    options = RenderOptions(fps="30", quality="draft", variables={"title": "Hi"},
                            browser="/only/on/this/machine", asset_cache=tmp_path)
    recorder = Recorder()
    run = render(connection, RenderRequest(options=options, project=FIXTURES / "motion",
                                           download_to=out), **recorder.hooks())

    assert run.result is not None and run.result.status == "SUCCEEDED"
    assert out.read_bytes() == VIDEO and run.downloaded == out
    assert run.result.output_uri == f"s3://{harness.bucket}/renders/{run.render_id}/out.mp4"
    assert f"sites/{run.site_id}/.hfaction-site.json" in objects(harness, "sites/")
    # The execution's options: what differs from the defaults, parallelism from the stack,
    # nothing that names this machine.
    (plan,) = harness.calls("plan")
    assert plan.event["options"] == {"fps": "30", "quality": "draft",
                                     "variables": {"title": "Hi"}, "parallelism": 3}
    assert plan.event["site_id"] == run.site_id
    kinds = [kind for kind, _ in recorder.events]
    assert kinds[0] == "started" and recorder.events[0][1] == run.render_id
    assert kinds[-1] == "finished" and kinds.count("finished") == 1
    assert set(kinds[1:-1]) == {"progress"}


def test_a_failed_render_is_reported_then_raised_and_nothing_is_downloaded(
        stack: Any, tmp_path: Path) -> None:
    fake, _harness, connection = stack
    fake.fail("render_chunk", typed(PlanHashMismatch("chunk 1 rendered another plan")),
              index=1)
    finished: list[Progress] = []
    out = tmp_path / "out.mp4"
    with pytest.raises(PlanHashMismatch) as caught:
        render(connection, RenderRequest(project=FIXTURES / "motion", download_to=out),
               on_finished=finished.append, poll_s=0.1, timeout_s=120)
    assert "chunk 1" in str(caught.value)
    assert [state.status for state in finished] == ["FAILED"]  # reported before raised
    assert not out.exists()


def test_without_wait_render_returns_once_started_and_takes_a_site_id(stack: Any) -> None:
    _fake, harness, connection = stack
    site = create_site(connection.facade, harness.bucket, FIXTURES / "motion")
    started: list[str] = []
    run = render(connection, RenderRequest(site_id=site.site_id,
                                           output_key="previews/pr-1/video.mp4"),
                 on_started=started.append)
    assert run.result is None and run.downloaded is None and started == []
    assert run.site_id == site.site_id
    done = harness.wait(run.stack.state_machine_arn.replace(":stateMachine:", ":execution:")
                        + f":{run.render_id}")
    assert done.status == "SUCCEEDED"
    (plan,) = harness.calls("plan")
    assert plan.event["output_key"] == "previews/pr-1/video.mp4"
    assert plan.event["options"] == {"parallelism": 3}


class Unreachable:
    """A target that fails the test if anything connects to AWS."""

    def connect(self, on_warning: Any = None) -> Connection:
        raise AssertionError("connected to AWS before the request was checked")


@pytest.mark.parametrize(("request_", "error", "text"), [
    (RenderRequest(), InvalidOption, "give either a project folder or --site-id"),
    (RenderRequest(project=FIXTURES / "motion", site_id="abc"), InvalidOption,
     "give either a project folder or --site-id"),
    (RenderRequest(site_id="abc", presign_expiry_s=0), InvalidOption, "--presign-expiry 0"),
    (RenderRequest(site_id="abc", options=RenderOptions(fps="25")), InvalidFps,
     "distributed renders accept 24, 30, 60 fps; --fps is 25"),
    (RenderRequest(site_id="abc", options=RenderOptions(fps="29.97")), InvalidFps,
     "--fps is 30000/1001"),
    (RenderRequest(site_id="abc", options=RenderOptions(fps="fast")), InvalidFps,
     "'fast', not a frame rate"),
])
def test_the_request_is_checked_before_anything_reaches_aws(
        request_: RenderRequest, error: type[Exception], text: str) -> None:
    with pytest.raises(error) as caught:
        render(Unreachable(), request_)
    assert text in str(caught.value)


def test_the_cli_hands_every_render_flag_to_the_execution(
        stack: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fake, harness, _connection = stack
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({"title": "From file", "count": 3}))
    out = tmp_path / "out.mp4"
    code = main(["lambda", "render", str(FIXTURES / "motion"), "--region", harness.region,
                 "--bucket", harness.bucket, "--state-machine-arn", harness.state_machine_arn,
                 "--entry", "index.html", "--fps", "30", "--width", "320", "--height", "180",
                 "--quality", "high", "--crf", "20", "--chunk-size", "10", "--var",
                 "title=From flag", "--vars-file", str(variables), "--ready-timeout", "12.5",
                 "--strict-fonts", "--wait", "-o", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (plan,) = harness.calls("plan")
    assert plan.event["options"] == {
        "fps": "30", "width": 320, "height": 180, "quality": "high", "crf": 20,
        "chunk_size": 10, "variables": {"title": "From flag", "count": "3"},
        "ready_timeout": 12.5, "strict_fonts": True,
        "parallelism": 8}  # --bucket and --state-machine-arn: no stack parameters read
    done = json.loads(captured.out)
    assert done["status"] == "SUCCEEDED" and out.read_bytes() == VIDEO
    assert f"render {done['render_id']} started" in captured.err
    assert f"downloaded {out}" in captured.err


def test_lambda_render_refuses_an_fps_lambda_cannot_render_before_any_upload(
        capsys: pytest.CaptureFixture[str]) -> None:
    # No AWS at all here: the check comes first.
    code = main(["lambda", "render", str(FIXTURES / "motion"), "--fps", "25",
                 "--region", "us-east-1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: INVALID_FPS: distributed renders accept 24, 30, 60 fps; "
                          "--fps is 25")


def test_find_stack_uses_a_given_stack_as_is_and_warns_of_another_version() -> None:
    machine = "arn:aws:states:us-east-1:1:stateMachine:m"
    given = find_stack(None, "cdk", "bucket-1", machine)  # type: ignore[arg-type]
    assert (given.bucket, given.state_machine_arn, given.function_arn) == \
        ("bucket-1", machine, "")

    class OldStack:
        def stack(self, name: str) -> StackInfo:
            return StackInfo(name=name, bucket="b", state_machine_arn="m", function_arn="f",
                             version="0.0.1")

    warnings: list[str] = []
    found = find_stack(OldStack(), "video", on_warning=warnings.append)  # type: ignore[arg-type]
    assert found.version == "0.0.1"
    assert len(warnings) == 1 and "deployed by hfaction 0.0.1" in warnings[0]
    assert "'hfaction lambda deploy --stack-name video'" in warnings[0]


def test_cleanup_deletes_one_folder_and_refuses_the_top_level_first(stack: Any) -> None:
    _fake, harness, connection = stack
    s3 = harness.client("s3")
    for key in ("previews/pr-1/a.mp4", "previews/pr-1/b.mp4", "previews/pr-2/a.mp4"):
        s3.put_object(Bucket=harness.bucket, Key=key, Body=b"x")
    assert cleanup(connection, "previews/pr-1") == \
        (f"s3://{harness.bucket}/previews/pr-1/", 2)
    assert objects(harness, "previews/") == ["previews/pr-2/a.mp4"]
    with pytest.raises(S3UriNotAllowed):
        cleanup(Unreachable(), "previews/")
