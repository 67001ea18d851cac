"""Issue 13, "Safe on a real AWS account": what ``hfaction lambda`` does when the region is
missing, a page's error text holds Rich markup, a render is far too long or interrupted,
a render is cancelled (or was already over), a folder lacks its entry, a site was changed
in the bucket, or an output key points outside renders/ and previews/.

Black-box through :func:`hfaction.cli.main` against moto: the real state machine
(sfn_harness.py), Lambda answered by canned results (test_state_machine_semantics.py's
FakeRender, here also writing the handler's invocation records so cost is accounted) or,
for the plan step, by the real handler (which fails these renders before any browser).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hfaction.aws.facade import AwsClients, AwsFacade, StackInfo
from hfaction.aws.handler import Deps, handle
from hfaction.aws.renders import create_site, progress
from hfaction.cli import main
from hfaction.errors import InvalidOption
from tests.conftest import FIXTURES
from tests.integration.aws.sfn_harness import ASL, SfnHarness
from tests.integration.aws.test_state_machine_semantics import FakeRender, typed

MARKUP = "the page said [/] and [bold]loud[/bold] [link=x]"


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """Overrides tests/integration/conftest.py: these tests need no browser nor ffmpeg."""


class RecordingFake(FakeRender):
    """The canned render, writing an invocation record per invocation as the handler does
    (cost is computed from them), with chunks that can be held until released."""

    def __init__(self, chunks: int, *, duration_ms: int = 60_000,
                 on_chunk: Callable[[dict[str, Any]], None] | None = None,
                 hold: threading.Event | None = None, **kwargs: Any) -> None:
        super().__init__(chunks, **kwargs)
        self.duration_ms = duration_ms
        self.on_chunk = on_chunk
        self.hold = hold
        self.harness: SfnHarness | None = None

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        status = "error"
        try:
            result = super().__call__(event)
            status = "ok"
            return result
        finally:
            self._record(event, status)

    def _chunk(self, event: dict[str, Any]) -> dict[str, Any]:
        if self.on_chunk is not None:
            self.on_chunk(event)
        if self.hold is not None:
            self.hold.wait(timeout=30)
        return super()._chunk(event)

    def _assemble(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.harness is not None
        self.harness.client("s3").put_object(Bucket=event["bucket"], Key=event["output_key"],
                                             Body=b"video")
        return super()._assemble(event)

    def _record(self, event: dict[str, Any], status: str) -> None:
        assert self.harness is not None
        render_id, action = event["render_id"], event["action"]
        record = {"action": action, "render_id": render_id, "index": event.get("index"),
                  "status": status, "frames": 10 if action == "render_chunk" else None,
                  "duration_ms": self.duration_ms, "init_ms": 0, "memory_mb": 10240,
                  "architecture": "x86_64", "request_id": str(uuid.uuid4())}
        self.harness.client("s3").put_object(
            Bucket=event["bucket"],
            Key=f"work/{render_id}/invocations/{action}-{event.get('index')}-"
                f"{record['request_id']}.json", Body=json.dumps(record).encode())


@pytest.fixture
def moto() -> Iterator[Callable[..., SfnHarness]]:
    """moto(dispatch, **harness options): the stack on moto, stopped after the test."""
    started: list[SfnHarness] = []

    def start(dispatch: Any, **options: Any) -> SfnHarness:
        harness = SfnHarness(dispatch, **options)
        harness.start()
        started.append(harness)
        if isinstance(dispatch, RecordingFake):
            dispatch.harness = harness
        return harness

    yield start
    for harness in started:
        # No execution may outlive its test: its invocations would reach the next one's.
        sfn = harness.client("stepfunctions")
        for execution in executions(harness) + executions(harness, preview=True):
            if execution["status"] == "RUNNING":
                sfn.stop_execution(executionArn=execution["executionArn"], cause="test over")
                harness.wait(execution["executionArn"], timeout=30)
        harness.stop()


def on(harness: SfnHarness) -> list[str]:
    """The flags that point a command at the harness's stack (no stack lookup)."""
    return ["--bucket", harness.bucket, "--state-machine-arn", harness.state_machine_arn,
            "--region", harness.region]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def keys(harness: SfnHarness, prefix: str = "") -> list[str]:
    listed = harness.client("s3").list_objects_v2(Bucket=harness.bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def executions(harness: SfnHarness, *, preview: bool = False) -> list[dict[str, Any]]:
    """The executions of the main state machine (``preview``: of the preview one)."""
    return list(harness.client("stepfunctions").list_executions(
        stateMachineArn=harness.preview_state_machine_arn if preview
        else harness.state_machine_arn)["executions"])


def on_preview(harness: SfnHarness) -> list[str]:
    """The flags that point a command at the harness's preview state machine."""
    return ["--bucket", harness.bucket, "--state-machine-arn",
            harness.preview_state_machine_arn, "--region", harness.region, "--preview"]


def execution_of(harness: SfnHarness, render_id: str) -> str:
    return harness.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{render_id}"


def facade_of(harness: SfnHarness) -> tuple[AwsFacade, StackInfo]:
    facade = AwsFacade(AwsClients(
        s3=harness.client("s3"), sfn=harness.client("stepfunctions"),
        lambda_=harness.client("lambda"), cloudformation=harness.client("cloudformation")))
    return facade, StackInfo(name="test", bucket=harness.bucket,
                             state_machine_arn=harness.state_machine_arn,
                             function_arn=harness.function_arn)


def project(tmp_path: Path, *, duration: str = "2", name: str = "index.html") -> Path:
    folder = tmp_path / "project"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(
        '<!doctype html><html><body><div id="root" data-composition-id="main" '
        f'data-width="320" data-height="180" data-fps="30" data-duration="{duration}">'
        "</div></body></html>")
    return folder


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- 1. no region: one typed line, not botocore's traceback ---------------------------------


@pytest.mark.parametrize("argv", [
    ["deploy", "--image-uri", "1.dkr.ecr.us-east-1.amazonaws.com/r:1"],
    ["destroy"],
    ["render", str(FIXTURES / "motion")],
    ["render", "--site-id", "abc"],
    ["progress", "hf-1"],
    ["cancel", "hf-1"],
    ["cleanup", "--prefix", "previews/pr-1/"],
    ["sites", "create", str(FIXTURES / "motion")],
], ids=lambda argv: " ".join(argv[:2]))
def test_every_lambda_command_without_a_region_says_so_in_one_line(
        argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    code, out, err = run(capsys, "lambda", *argv)
    assert code == 2, err
    assert err.startswith("error: AWS_REGION_MISSING: ") and err.count("\n") == 1, err
    assert "--region" in err and "AWS_REGION" in err
    assert "Traceback" not in err and out == ""


def test_a_missing_stack_names_the_region_it_was_looked_for_in(
        capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        code, _out, err = run(capsys, "lambda", "progress", "hf-1", "--stack-name", "video",
                              "--region", "eu-west-3")
    assert code == 2
    assert err.startswith("error: STACK_NOT_FOUND: stack 'video' does not exist in region "
                          "eu-west-3"), err
    assert "--region" in err


# --- 2. page-controlled text is printed literally -------------------------------------------


def test_progress_prints_an_error_holding_rich_markup_literally(
        moto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    fake = RecordingFake(2)
    fake.fail("render_chunk", typed(InvalidOption(MARKUP)), index=1)
    harness = moto(fake)
    result = harness.run({"render_id": "hf-markup", "site_id": "s1"}, name="hf-markup")
    assert result.status == "FAILED"
    code, out, err = run(capsys, "lambda", "progress", "hf-markup", *on(harness))
    assert code == 0, err
    assert f"INVALID_OPTION: {MARKUP}\n" in out
    # And with --wait, the failure itself (main prints errors literally already).
    code, out, err = run(capsys, "lambda", "cancel", "hf-markup", *on(harness))
    assert code == 2 and "RENDER_NOT_RUNNING" in err


# --- 3. runaway renders ---------------------------------------------------------------------


def test_a_declared_duration_above_the_ceiling_is_refused_before_uploading(
        moto: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    harness = moto(RecordingFake(2))
    folder = project(tmp_path, duration="601")  # 10 min 1 s: 18,030 frames at 30 fps
    code, _out, err = run(capsys, "lambda", "render", str(folder), *on(harness))
    assert code == 2
    assert err.startswith("error: RENDER_TOO_LONG: the composition 'main' (index.html:1) "
                          "has 18030 frames (10:01 at 30 fps), more than the default "
                          "ceiling of 18000 frames (10 minutes at 30 fps)"), err
    assert "--max-frames 18030" in err and "--allow-long" in err
    # --max-frames lowers the ceiling.
    code, _out, err = run(capsys, "lambda", "render", str(FIXTURES / "motion"),
                          "--max-frames", "59", *on(harness))
    assert code == 2 and "has 60 frames (0:02 at 30 fps), more than --max-frames 59" in err
    assert keys(harness) == [] and executions(harness) == []  # nothing uploaded, nothing run

    # --allow-long lifts it, and the execution's input carries it to the plan step.
    code, out, err = run(capsys, "lambda", "render", str(folder), "--allow-long",
                         *on(harness))
    assert code == 0, err
    wait_for(lambda: bool(harness.calls("plan")))
    (plan,) = harness.calls("plan")
    assert plan.event["limits"] == {"max_frames": None, "allow_long": True}
    assert plan.event["render_id"] == out.strip()
    assert harness.wait(execution_of(harness, out.strip())).status == "SUCCEEDED"


def test_the_plan_step_refuses_a_render_above_the_ceiling_it_was_given(
        moto: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The real handler plans; it refuses before launching a browser.
    fake = RecordingFake(2)

    def dispatch(event: dict[str, Any]) -> dict[str, Any]:
        if event.get("action") != "plan":
            return fake(event)
        deps = Deps(s3=harness.client("s3"), bucket=harness.bucket,
                    work_root=tmp_path / "lambda-tmp")
        return handle(event, SimpleNamespace(memory_limit_in_mb=10240, aws_request_id="r"),
                      deps)

    harness = moto(dispatch)
    facade, _stack = facade_of(harness)
    site = create_site(facade, harness.bucket, project(tmp_path, duration="601"))
    # The client cannot see a site's duration: the plan step checks it.
    code, _out, err = run(capsys, "lambda", "render", "--site-id", site.site_id, "--wait",
                          *on(harness))
    assert code == 2, err
    assert "RENDER_TOO_LONG" in err and "18030 frames" in err
    assert harness.calls("render_chunk") == []  # no chunk ever ran


def test_the_state_machine_times_out_a_render_that_runs_too_long(
        moto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from hfaction.aws.renders import EXECUTION_TIMEOUT_S

    asl = json.loads(ASL.read_text())
    assert asl["TimeoutSeconds"] == EXECUTION_TIMEOUT_S == 24 * 3600
    # The same definition with its ceiling shortened to 2 s, and chunks of 5 s.
    harness = moto(RecordingFake(2, chunk_seconds=5), execution_timeout_seconds=2)
    result = harness.run({"render_id": "hf-slow", "site_id": "s1"}, name="hf-slow",
                         timeout=60)
    assert result.status == "TIMED_OUT"
    code, out, err = run(capsys, "lambda", "progress", "hf-slow", *on(harness))
    assert code == 0, err
    assert err.startswith("timed_out: ")
    assert "error: States.Timeout: the execution ran longer than the state machine's " \
        "TimeoutSeconds allows" in out


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130),
                                                    (signal.SIGTERM, 143)])
def test_an_interrupted_render_wait_stops_its_execution(
        moto: Any, signum: int, exit_code: int, capsys: pytest.CaptureFixture[str]) -> None:
    release = threading.Event()
    sent: list[int] = []
    armed = threading.Event()
    armed.set()

    def interrupt(event: dict[str, Any]) -> None:
        # As if Ctrl-C (or the CI runner's SIGTERM) came while chunks run: once, and only
        # while this test's handler is installed.
        if armed.is_set() and not sent:
            sent.append(event["index"])
            os.kill(os.getpid(), signum)

    fake = RecordingFake(6, on_chunk=interrupt, hold=release)
    harness = moto(fake, concurrency=1)

    def before(signum_: int, frame: Any) -> None:  # what ran before: must come back after
        raise SystemExit(99)

    previous = signal.signal(signum, before)
    try:
        code, _out, err = run(capsys, "lambda", "render", str(FIXTURES / "motion"), "--wait",
                              *on(harness))
        assert signal.getsignal(signum) is before
    finally:
        armed.clear()
        signal.signal(signum, previous)
        release.set()
    name = signal.Signals(signum).name
    assert code == exit_code, err
    render_id = executions(harness)[0]["name"]
    assert f"{name}: stopped render {render_id}" in err
    harness.wait_idle()
    done = harness.wait(execution_of(harness, render_id), timeout=30)
    # AWS says ABORTED; moto 5.2 says FAILED when the held chunk returns after the stop.
    assert done.status in ("ABORTED", "FAILED")
    assert len(harness.calls("render_chunk")) < 6 and harness.calls("assemble") == []


# --- 4. cancel ------------------------------------------------------------------------------


def test_cancel_waits_for_running_invocations_and_reports_the_final_cost(
        moto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    release = threading.Event()
    fake = RecordingFake(6, hold=release)
    harness = moto(fake, concurrency=2)
    harness.start_execution({"render_id": "hf-cancel", "site_id": "s1"}, name="hf-cancel")
    wait_for(lambda: harness.in_flight() == 2)
    timer = threading.Timer(1.5, release.set)  # the two chunks end 1.5 s after the stop
    timer.start()
    try:
        code, out, err = run(capsys, "lambda", "cancel", "hf-cancel", *on(harness))
    finally:
        release.set()
        timer.cancel()
    assert code == 0, err
    harness.wait_idle()
    facade, stack = facade_of(harness)
    final = progress(facade, stack, "hf-cancel")
    # plan + the two chunks that were running, each 60 s at 10 GB: all paid, all reported.
    assert final.cost.invocations == 3 and final.chunks_in_flight == 0
    assert f"every invocation has ended; final cost ${final.cost.total:.4f}" in out
    assert len(harness.calls("render_chunk")) == 2


def test_cancel_says_how_many_invocations_still_run_when_it_stops_waiting(
        moto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    release = threading.Event()
    harness = moto(RecordingFake(4, hold=release), concurrency=2)
    harness.start_execution({"render_id": "hf-busy", "site_id": "s1"}, name="hf-busy")
    wait_for(lambda: harness.in_flight() == 2)
    try:
        code, out, err = run(capsys, "lambda", "cancel", "hf-busy", "--timeout", "1",
                             *on(harness))
    finally:
        release.set()
    assert code == 0, err
    assert "2 invocations still running on Lambda after 1s" in out
    assert "not in this cost" in out


def test_cancel_of_a_render_that_has_ended_says_so_and_exits_2(
        moto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    harness = moto(RecordingFake(2))
    assert harness.run({"render_id": "hf-done", "site_id": "s1"},
                       name="hf-done").status == "SUCCEEDED"
    code, out, err = run(capsys, "lambda", "cancel", "hf-done", *on(harness))
    assert code == 2 and out == ""
    assert err.startswith("error: RENDER_NOT_RUNNING: render hf-done already succeeded: "
                          "nothing to cancel (it cost $"), err
    status = harness.client("stepfunctions").describe_execution(
        executionArn=execution_of(harness, "hf-done"))["status"]
    assert status == "SUCCEEDED"


# --- 5. a folder Lambda would refuse is never uploaded --------------------------------------


def test_a_folder_without_its_entry_is_refused_before_uploading(
        moto: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    harness = moto(RecordingFake(2))
    empty = tmp_path / "no-index"
    empty.mkdir()
    (empty / "style.css").write_text("body {}")
    for argv in (["render", str(empty)], ["sites", "create", str(empty)],
                 ["render", str(FIXTURES / "motion"), "--entry", "intro.html"],
                 ["sites", "create", str(FIXTURES / "motion"), "--entry", "intro.html"]):
        code, out, err = run(capsys, "lambda", *argv, *on(harness))
        assert code == 2, (argv, err)
        assert err.startswith("error: ENTRY_NOT_FOUND: no "), err
        assert out == ""
    assert keys(harness) == [] and executions(harness) == []
    # The same folder with --entry naming its file is fine.
    other = project(tmp_path, name="intro.html")
    code, out, err = run(capsys, "lambda", "sites", "create", str(other), "--entry",
                         "intro.html", *on(harness))
    assert code == 0, err
    assert f"sites/{out.strip()}/intro.html" in keys(harness, "sites/")


def test_a_site_about_to_expire_is_uploaded_again(moto: Any) -> None:
    harness = moto(RecordingFake(2))
    facade, _stack = facade_of(harness)
    first = create_site(facade, harness.bucket, FIXTURES / "motion", refresh_after_days=29)
    again = create_site(facade, harness.bucket, FIXTURES / "motion", refresh_after_days=29)
    assert first.uploaded and not again.uploaded
    # A copy older than refresh_after_days (here: any) goes up again before it expires.
    stale = create_site(facade, harness.bucket, FIXTURES / "motion", refresh_after_days=0)
    assert stale.uploaded and stale.site_id == first.site_id


# --- 8. sites are checked by content; outputs stay under renders/ and previews/ --------------


def real_plan(harness_of: Callable[[], SfnHarness], work: Path) -> Callable[..., Any]:
    fake = RecordingFake(2)

    def dispatch(event: dict[str, Any]) -> dict[str, Any]:
        harness = harness_of()
        fake.harness = harness
        if event.get("action") != "plan":
            return fake(event)
        deps = Deps(s3=harness.client("s3"), bucket=harness.bucket, work_root=work)
        try:
            return handle(event, SimpleNamespace(memory_limit_in_mb=10240,
                                                 aws_request_id=str(uuid.uuid4())), deps)
        finally:
            if deps.session is not None:
                deps.session.__exit__(None, None, None)

    return dispatch


def test_a_site_changed_in_the_bucket_is_refused_by_the_plan_step(
        moto: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    holder: list[SfnHarness] = []
    harness = moto(real_plan(lambda: holder[0], tmp_path / "lambda-tmp"))
    holder.append(harness)
    code, out, err = run(capsys, "lambda", "sites", "create", str(FIXTURES / "motion"),
                         *on(harness))
    assert code == 0, err
    site_id = out.strip()
    # Someone with write access to sites/ swaps the page after the upload.
    harness.client("s3").put_object(Bucket=harness.bucket, Key=f"sites/{site_id}/index.html",
                                    Body=b"<div data-composition-id='x' data-duration='1'>")
    code, _out, err = run(capsys, "lambda", "render", "--site-id", site_id, "--wait",
                          *on(harness))
    assert code == 1, err
    assert "SITE_HASH_MISMATCH: render " in err and f"the files of site {site_id[:12]}" in err
    assert harness.calls("render_chunk") == []


def test_output_keys_outside_renders_and_previews_are_refused(
        moto: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    holder: list[SfnHarness] = []
    harness = moto(real_plan(lambda: holder[0], tmp_path / "lambda-tmp"))
    holder.append(harness)
    for key in ("sites/abc/index.html", "work/x/plan.tar", "out.mp4", "renders"):
        code, _out, err = run(capsys, "lambda", "render", str(FIXTURES / "motion"),
                              "--output-key", key, *on(harness))
        assert code == 2, err
        assert err.startswith("error: S3_URI_NOT_ALLOWED: "), err
    assert keys(harness) == [] and executions(harness) == []
    # An execution started by other means is refused by the plan step itself.
    result = harness.run({"render_id": "hf-key", "site_id": "s1",
                          "output_key": "sites/abc/index.html"}, name="hf-key")
    assert result.status == "FAILED" and result.error == "S3_URI_NOT_ALLOWED"
    # previews/ is allowed (here the plan step goes on to find no such site).
    code, out, err = run(capsys, "lambda", "render", "--site-id", "no-such-site",
                         "--output-key", "previews/pr-7/intro.mp4", *on(harness))
    assert code == 0, err
    done = harness.wait(execution_of(harness, out.strip()))
    assert done.status == "FAILED" and done.error == "INVALID_OPTION"


# --- 9. a pull-request preview cannot get renders/ written ------------------------------------
#
# A pull-request role may start only the preview state machine (hfaction policies user
# --part pull-request; its policy is checked in tests/unit/test_policies_boundary.py). Its
# renders write under previews/ only: the client refuses another key before uploading, and
# the function refuses it whoever started the execution and whatever its input says.


def test_a_preview_renders_under_previews_on_the_preview_state_machine(
        moto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    harness = moto(RecordingFake(2))
    code, out, err = run(capsys, "lambda", "render", str(FIXTURES / "motion"), "--wait",
                         "--json", *on_preview(harness))
    assert code == 0, err
    done = json.loads(out)
    render_id = done["render_id"]
    # On the preview state machine, and under previews/ by default.
    assert [item["name"] for item in executions(harness, preview=True)] == [render_id]
    assert executions(harness) == []
    assert done["output_uri"] == f"s3://{harness.bucket}/previews/{render_id}/out.mp4"
    assert keys(harness, "previews/") == [f"previews/{render_id}/out.mp4"]
    assert keys(harness, "renders/") == []
    # progress and cancel find it with --preview (and only there).
    code, out, err = run(capsys, "lambda", "progress", render_id, "--json",
                         *on_preview(harness))
    assert code == 0 and json.loads(out)["status"] == "SUCCEEDED", err
    code, out, err = run(capsys, "lambda", "cancel", render_id, *on_preview(harness))
    assert code == 2 and "RENDER_NOT_RUNNING" in err
    code, out, err = run(capsys, "lambda", "progress", render_id, *on(harness))
    assert code != 0 and "ExecutionDoesNotExist" in err, err


def test_a_preview_refuses_an_output_key_outside_previews_before_uploading(
        moto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    harness = moto(RecordingFake(2))
    for key in ("renders/intro.mp4", "renders/hf-1/out.mp4", "sites/abc/index.html"):
        code, out, err = run(capsys, "lambda", "render", str(FIXTURES / "motion"),
                             "--output-key", key, *on_preview(harness))
        assert code == 2, err
        assert err.startswith("error: S3_URI_NOT_ALLOWED: "), err
        assert out == ""
        if key.startswith("renders/"):
            assert "outside previews/: the preview state machine writes previews only" \
                in err, err
    assert keys(harness) == [] and executions(harness, preview=True) == []


@pytest.mark.parametrize("execution_input", [
    {"output_key": "renders/hf-evil/out.mp4"},
    # The input cannot widen the state machine's prefixes: they are merged last.
    {"output_key": "renders/hf-evil/out.mp4", "output_prefixes": "renders/,previews/"},
    {"output_key": "renders/hf-evil/out.mp4", "output_prefixes": "renders/"},
], ids=["renders-key", "renders-key-and-prefixes", "renders-prefix-only"])
def test_the_plan_step_of_a_preview_refuses_renders_whoever_started_it(
        moto: Any, tmp_path: Path, execution_input: dict[str, Any]) -> None:
    """What a pull-request role could do with StartExecution on the preview state machine
    alone, bypassing hfaction's client: the real handler's plan step refuses it."""
    holder: list[SfnHarness] = []
    harness = moto(real_plan(lambda: holder[0], tmp_path / "lambda-tmp"))
    holder.append(harness)
    site = create_site(facade_of(harness)[0], harness.bucket, FIXTURES / "motion")
    result = harness.run({"render_id": "hf-evil", "site_id": site.site_id, **execution_input},
                         name="hf-evil", preview=True)
    assert result.status == "FAILED" and result.error == "S3_URI_NOT_ALLOWED", result.cause
    assert "outside previews/" in str(result.cause)
    assert harness.calls("render_chunk") == [] and harness.calls("assemble") == []
    assert keys(harness, "renders/") == [] and keys(harness, "previews/") == []
    # The same input on the main state machine is allowed to get past this check.
    main = harness.run({"render_id": "hf-main", "site_id": "no-such-site",
                        **execution_input}, name="hf-main")
    assert main.error != "S3_URI_NOT_ALLOWED", main.cause


def test_the_assemble_step_of_a_preview_refuses_renders_too(
        moto: Any, tmp_path: Path) -> None:
    """Defence in depth: even with a plan result naming renders/ (the plan step refuses
    that), the real assemble step writes nothing there: it checks the key against the
    preview state machine's own prefixes before any download."""
    fake = RecordingFake(2)
    holder: list[SfnHarness] = []

    def dispatch(event: dict[str, Any]) -> dict[str, Any]:
        harness = holder[0]
        if event["action"] == "plan":
            return {**fake(event), "output_key": "renders/hf-evil/out.mp4"}
        if event["action"] != "assemble":
            return fake(event)
        deps = Deps(s3=harness.client("s3"), bucket=harness.bucket,
                    work_root=tmp_path / "lambda-tmp")
        return handle(event, SimpleNamespace(memory_limit_in_mb=10240,
                                             aws_request_id=str(uuid.uuid4())), deps)

    harness = moto(dispatch)
    fake.harness = harness
    holder.append(harness)
    result = harness.run({"render_id": "hf-evil", "site_id": "s1"}, name="hf-evil",
                         preview=True)
    assert result.status == "FAILED" and result.error == "S3_URI_NOT_ALLOWED", result.cause
    (assemble,) = harness.calls("assemble")
    assert assemble.event["output_key"] == "renders/hf-evil/out.mp4"
    assert assemble.event["output_prefixes"] == "previews/"
    assert keys(harness, "renders/") == []


def fake_stack(harness: SfnHarness, name: str, *, with_preview: bool = True) -> None:
    """A CloudFormation stack with the render stack's outputs (moto keeps literal ones)."""
    outputs = {"RenderBucketName": harness.bucket,
               "RenderStateMachineArn": harness.state_machine_arn,
               "RenderFunctionArn": harness.function_arn}
    if with_preview:
        outputs["PreviewStateMachineArn"] = harness.preview_state_machine_arn
    template = {"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {}}},
                "Outputs": {key: {"Value": value} for key, value in outputs.items()}}
    harness.client("cloudformation").create_stack(StackName=name,
                                                  TemplateBody=json.dumps(template))


def test_render_preview_finds_the_stacks_preview_state_machine(
        moto: Any, capsys: pytest.CaptureFixture[str]) -> None:
    harness = moto(RecordingFake(2))
    fake_stack(harness, "video")
    fake_stack(harness, "older", with_preview=False)
    lookup = ["--region", harness.region]
    code, out, err = run(capsys, "lambda", "render", "--site-id", "s1", "--stack-name",
                         "video", "--preview", *lookup)
    assert code == 0, err
    render_id = out.strip()
    assert [item["name"] for item in executions(harness, preview=True)] == [render_id]
    assert executions(harness) == []
    done = harness.wait(harness.preview_state_machine_arn.replace(
        ":stateMachine:", ":execution:") + f":{render_id}")
    assert done.status == "SUCCEEDED"
    assert done.output["output_key"] == f"previews/{render_id}/out.mp4"
    code, out, err = run(capsys, "lambda", "progress", render_id, "--stack-name", "video",
                         "--preview", "--json", *lookup)
    assert code == 0 and json.loads(out)["output_uri"].endswith(
        f"/previews/{render_id}/out.mp4"), err
    # A stack deployed before the preview state machine existed says so, starting nothing.
    code, out, err = run(capsys, "lambda", "render", "--site-id", "s1", "--stack-name",
                         "older", "--preview", *lookup)
    assert code == 2 and out == ""
    assert "STACK_NOT_FOUND" in err and "no preview state machine" in err, err
    assert len(executions(harness, preview=True)) == 1 and executions(harness) == []


def test_region_given_through_boto3_environment_is_used(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # AWS_DEFAULT_REGION (boto3's own variable) is enough: not a missing region.
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    with mock_aws():
        boto3.client("s3")  # moto's credentials
        code, _out, err = run(capsys, "lambda", "progress", "hf-1", "--stack-name", "video")
    assert code == 2 and "region ap-south-1" in err


# --- 6. a stack whose deploy failed can still be destroyed ----------------------------------


def test_a_failed_stack_without_outputs_can_be_destroyed(
        capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name="us-east-1")
        template = json.dumps({"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup",
                                                      "Properties": {}}}})
        # What a failed 'sam deploy' leaves: hfaction's tags, none of its outputs.
        cloudformation.create_stack(StackName="video", TemplateBody=template,
                                    Tags=[{"Key": "hfaction-version", "Value": "0.1.0"}])
        cloudformation.create_stack(StackName="someone-else", TemplateBody=template)
        code, out, err = run(capsys, "lambda", "destroy", "--stack-name", "video",
                             "--region", "us-east-1")
        assert code == 0, err
        assert out.startswith("removed stack video (CREATE_COMPLETE, without outputs)")
        statuses = {stack["StackName"]: stack["StackStatus"]
                    for stack in cloudformation.list_stacks()["StackSummaries"]}
        assert statuses["video"] == "DELETE_COMPLETE"
        # A stack hfaction did not make is not deleted.
        code, _out, err = run(capsys, "lambda", "destroy", "--stack-name", "someone-else",
                              "--region", "us-east-1")
        assert code == 2 and "is not an hfaction stack" in err
        assert statuses["someone-else"] == "CREATE_COMPLETE"
