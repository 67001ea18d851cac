"""A render through the real state machine (statemachine/render.asl.json executed by
moto) with every Lambda invocation dispatched to the real handler, in-process.

Lambda itself is replaced by a Python dispatch because moto cannot run the image here
(the image runs under the Lambda runtime emulator in tests/integration/image). Faults are
injected by that dispatch, from outside the handler, never by switches in its code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hfaction.aws.facade import AwsClients, AwsFacade, StackInfo
from hfaction.aws.handler import Deps, handle
from hfaction.aws.renders import create_site, progress, start_render, wait
from hfaction.errors import PlanHashMismatch
from hfaction.render.local import render_local
from hfaction.render.options import RenderOptions
from tests.conftest import FIXTURES
from tests.integration.aws.sfn_harness import SfnHarness, throttled
from tests.integration.conftest import decode_gray, psnr_per_frame

CONCURRENCY = 2
CHUNK = 20  # 60 frames -> 3 chunks, more than CONCURRENCY


class RealLambda:
    """Each invocation runs the real handler like a fresh container: its own S3 client
    and browser, closed afterwards (a browser belongs to the thread that launched it)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.harness: SfnHarness | None = None
        self.before: Callable[[dict[str, Any]], dict[str, Any]] = lambda event: event

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.harness is not None
        event = self.before(event)
        deps = Deps(s3=self.harness.client("s3"), bucket=self.harness.bucket,
                    work_root=self.work)
        context = SimpleNamespace(memory_limit_in_mb=10240,
                                  aws_request_id=f"req-{event.get('action')}-"
                                                 f"{event.get('index')}-{id(deps)}")
        try:
            return handle(event, context, deps)
        finally:
            if deps.session is not None:
                deps.session.__exit__(None, None, None)


@pytest.fixture
def real(tmp_path: Path) -> Any:
    lambda_ = RealLambda(tmp_path / "lambda-tmp")
    with SfnHarness(lambda_, concurrency=CONCURRENCY) as harness:
        lambda_.harness = harness
        yield lambda_, harness


def stack_of(harness: SfnHarness) -> tuple[AwsFacade, StackInfo]:
    facade = AwsFacade(AwsClients(s3=harness.client("s3"), sfn=harness.client("stepfunctions"),
                                  lambda_=harness.client("lambda"),
                                  cloudformation=harness.client("cloudformation")))
    stack = StackInfo(name="test", bucket=harness.bucket,
                      state_machine_arn=harness.state_machine_arn,
                      function_arn=harness.function_arn,
                      parameters={"Concurrency": str(CONCURRENCY)})
    return facade, stack


def records(harness: SfnHarness, render_id: str) -> list[dict[str, Any]]:
    s3 = harness.client("s3")
    listed = s3.list_objects_v2(Bucket=harness.bucket,
                                Prefix=f"work/{render_id}/invocations/").get("Contents", [])
    return [json.loads(s3.get_object(Bucket=harness.bucket, Key=item["Key"])["Body"].read())
            for item in listed]


def test_a_render_through_the_state_machine_matches_a_local_render(
        real: Any, tmp_path: Path) -> None:
    _lambda, harness = real
    facade, stack = stack_of(harness)
    site = create_site(facade, stack.bucket, FIXTURES / "motion")
    render_id = start_render(facade, stack, site.site_id, {"chunk_size": CHUNK})
    done = wait(facade, stack, render_id, poll_s=0.2, timeout_s=300)
    assert done.status == "SUCCEEDED"
    assert (done.chunks_total, done.chunks_done, done.frames_total, done.frames_done) == \
        (3, 3, 60, 60)
    assert done.output_uri == f"s3://{stack.bucket}/renders/{render_id}/out.mp4"
    assert done.output_url and done.output_url.startswith("https://")
    # No more chunks ran at once than the Map allows, and it was reached.
    assert harness.peak_concurrency("render_chunk") == CONCURRENCY
    remote = tmp_path / "remote.mp4"
    facade.download_file(stack.bucket, f"renders/{render_id}/out.mp4", remote)
    local = tmp_path / "local.mp4"
    render_local(FIXTURES / "motion", local, RenderOptions(chunk_size=CHUNK), workers=1)
    psnr = psnr_per_frame(local, remote)
    assert len(psnr) == 60 and min(psnr) >= 50.0
    # The poster is the middle frame of that video, beside it, and the result says how
    # long the video lasts and how long its links live.
    assert done.poster_uri == f"s3://{stack.bucket}/renders/{render_id}/out.poster.jpg"
    assert done.poster_url and done.poster_url.startswith("https://")
    assert (done.duration_s, done.fps) == (2.0, "30")
    assert done.url_expires_at is not None
    poster = tmp_path / "poster.jpg"
    facade.download_file(stack.bucket, f"renders/{render_id}/out.poster.jpg", poster)
    middle = decode_gray(remote)[30].astype(float)
    picture = decode_gray(poster).astype(float)[0]
    assert picture.shape == middle.shape
    assert abs(picture - middle).mean() < 3.0
    assert abs(picture - decode_gray(remote)[0].astype(float)).mean() > 3.0

    # The cost, worked out by hand from what was recorded: 10 GB functions at the
    # x86_64 price per GB-second, $0.20 per million requests, 9.5 GB of extra ephemeral
    # storage, and $0.000025 per state transition.
    invocations = records(harness, render_id)
    assert len(invocations) == 5  # plan, three chunks, assemble
    seconds = [math.ceil(r["duration_ms"] + r["init_ms"]) / 1000 for r in invocations]
    lambda_usd = sum(10 * s * 0.0000166667 + 9.5 * s * 0.0000000309 for s in seconds)
    lambda_usd += 5 * 0.0000002
    history = harness.client("stepfunctions").get_execution_history(
        executionArn=stack.state_machine_arn.replace(":stateMachine:", ":execution:")
        + f":{render_id}", maxResults=1000)["events"]
    entered = sum(1 for event in history if event["type"].endswith("StateEntered"))
    sfn_usd = entered * 0.000025  # no retries in this render
    assert done.cost.transitions == entered
    assert done.cost.lambda_total == pytest.approx(lambda_usd, abs=1e-12)
    assert done.cost.step_functions == pytest.approx(sfn_usd, abs=1e-12)
    assert done.cost.total == pytest.approx(lambda_usd + sfn_usd, abs=1e-12)


def test_a_chunk_throttled_once_is_retried_and_the_render_succeeds(real: Any) -> None:
    lambda_, harness = real
    facade, stack = stack_of(harness)
    throttled_once: list[int] = []

    def flaky(event: dict[str, Any]) -> dict[str, Any]:
        if event.get("action") == "render_chunk" and event.get("index") == 1 \
                and not throttled_once:
            throttled_once.append(1)
            raise throttled()
        return event

    lambda_.before = flaky
    site = create_site(facade, stack.bucket, FIXTURES / "frame-index")
    render_id = start_render(facade, stack, site.site_id, {"chunk_size": CHUNK})
    done = wait(facade, stack, render_id, poll_s=0.2, timeout_s=300)
    assert done.status == "SUCCEEDED" and done.frames_done == 60
    assert [call.error for call in harness.calls("render_chunk", 1)] == \
        ["Lambda.TooManyRequestsException", None]


def test_a_plan_hash_mismatch_is_not_retried_and_progress_names_its_chunk(real: Any) -> None:
    lambda_, harness = real
    facade, stack = stack_of(harness)

    def tampered(event: dict[str, Any]) -> dict[str, Any]:
        # As if chunk 1 were handed a plan from another planning run.
        if event.get("action") == "render_chunk" and event.get("index") == 1:
            return {**event, "plan_hash": "0" * 64}
        return event

    lambda_.before = tampered
    site = create_site(facade, stack.bucket, FIXTURES / "frame-index")
    render_id = start_render(facade, stack, site.site_id, {"chunk_size": CHUNK})
    with pytest.raises(PlanHashMismatch) as caught:
        wait(facade, stack, render_id, poll_s=0.2, timeout_s=300)
    assert "chunk 1" in str(caught.value)
    assert len(harness.calls("render_chunk", 1)) == 1  # typed errors are never retried
    harness.wait_idle()
    state = progress(facade, stack, render_id)
    assert state.status == "FAILED"
    assert [(e.index, e.code) for e in state.errors] == [(1, "PLAN_HASH_MISMATCH")]
    assert state.output_uri is None


def test_cancel_stops_the_render_and_reports_the_cost_so_far(real: Any) -> None:
    import threading
    import time

    from hfaction.aws.renders import cancel

    lambda_, harness = real
    facade, stack = stack_of(harness)
    release = threading.Event()

    def slow_chunks(event: dict[str, Any]) -> dict[str, Any]:
        if event.get("action") == "render_chunk":
            release.wait(timeout=30)
        return event

    lambda_.before = slow_chunks
    site = create_site(facade, stack.bucket, FIXTURES / "frame-index")
    render_id = start_render(facade, stack, site.site_id, {"chunk_size": CHUNK})
    deadline = time.monotonic() + 60
    while not harness.calls("render_chunk") and time.monotonic() < deadline:
        time.sleep(0.05)
    # Chunks in flight finish their invocation (as on Lambda) a moment after the stop.
    timer = threading.Timer(1.0, release.set)
    timer.start()
    try:
        stopped = cancel(facade, stack, render_id)
    finally:
        release.set()
        timer.cancel()
    # AWS reports ABORTED; moto 5.2 reports FAILED when a stopped execution's in-flight
    # tasks return afterwards. Either way the render ended without output.
    assert stopped.status in ("ABORTED", "FAILED")
    assert stopped.cost.invocations >= 1  # the plan ran and is paid for
    assert stopped.cost.total > 0 and stopped.output_uri is None
