"""What the render state machine does, executed in moto from the real ASL.

In every test Lambda is replaced by a Python dispatch (:class:`FakeRender`) because moto
cannot run the render image: the dispatch answers with the result shapes of
hfaction/aws/handler.py without rendering, and injects faults from outside, as a failing
function or a throttling Lambda service would. The real handler behind the same harness
is tested elsewhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hfaction.aws.handler import lambda_error
from hfaction.errors import (
    BrowserFailed,
    BrowserGpuNotSoftware,
    FfmpegVersionMismatch,
    HfactionError,
    InvalidOption,
    PlanHashMismatch,
    S3UriNotAllowed,
)
from tests.integration.aws.sfn_harness import LambdaApiError, harness_factory, throttled

RENDER_ID = "r-test"
FRAMES_PER_CHUNK = 10


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """Overrides tests/integration/conftest.py: these tests need no browser nor ffmpeg."""


class TRANSIENT_ERROR(Exception):  # the class name is the error name
    """A failure the state machine retries by name."""


def typed(error: HfactionError) -> Exception:
    """The exception the real handler raises for a typed error (class name = code)."""
    return lambda_error(error)


class FakeRender:
    """Stands in for the render function: plan / render_chunk / assemble results shaped as
    hfaction/aws/handler.py returns them, with faults injected per action and chunk."""

    def __init__(self, chunks: int, *, chunk_seconds: float = 0.02,
                 hold_until_in_flight: int | None = None) -> None:
        self.chunks = chunks
        self.chunk_seconds = chunk_seconds
        # Hold each chunk until this many are in flight (or every chunk has started, or
        # 5 s pass), so a measured peak shows the state machine's limit rather than how
        # fast threads happen to start.
        self.hold_until_in_flight = hold_until_in_flight
        self.faults: dict[tuple[str, int | None], list[Exception]] = {}
        self._in_flight = 0
        self._started: set[int] = set()
        self._changed = threading.Condition()

    def fail(self, action: str, *errors: Exception, index: int | None = None) -> None:
        """The next invocations of (action, chunk index) raise these, one each, in order."""
        self.faults.setdefault((action, index), []).extend(errors)

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        action = event["action"]
        index = event.get("index")
        with self._changed:
            pending = self.faults.get((action, index))
            error = pending.pop(0) if pending else None
        if error is not None:
            raise error
        if action == "plan":
            return self._plan(event)
        if action == "render_chunk":
            return self._chunk(event)
        if action == "assemble":
            return self._assemble(event)
        raise typed(InvalidOption(f"unknown action {action!r}"))

    def _plan(self, event: dict[str, Any]) -> dict[str, Any]:
        render_id = event["render_id"]
        frames = self.chunks * FRAMES_PER_CHUNK
        return {
            "render_id": render_id, "bucket": event["bucket"],
            "plan_key": f"work/{render_id}/plan.tar", "plan_hash": "f" * 64,
            "frames": frames, "fps": 30, "duration": frames / 30, "width": 320,
            "height": 180, "chunk_count": self.chunks,
            "chunks": [{"index": i, "start": i * FRAMES_PER_CHUNK,
                        "end": (i + 1) * FRAMES_PER_CHUNK} for i in range(self.chunks)],
            "output_key": event.get("output_key") or f"renders/{render_id}/out.mp4",
            "invocation": {"action": "plan", "duration_ms": 5},
        }

    def _chunk(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._changed:
            self._in_flight += 1
            self._started.add(int(event["index"]))
            self._changed.notify_all()
            if self.hold_until_in_flight:
                self._changed.wait_for(
                    lambda: self._in_flight >= (self.hold_until_in_flight or 0)
                    or len(self._started) == self.chunks, timeout=5)
        time.sleep(self.chunk_seconds)
        with self._changed:
            self._in_flight -= 1
        index = int(event["index"])
        return {"index": index, "key": f"work/{event['render_id']}/chunks/chunk-{index:05d}.mp4",
                "start": index * FRAMES_PER_CHUNK, "end": (index + 1) * FRAMES_PER_CHUNK,
                "frames": FRAMES_PER_CHUNK, "bytes": 1000 + index,
                "invocation": {"action": "render_chunk", "index": index}}

    def _assemble(self, event: dict[str, Any]) -> dict[str, Any]:
        indexes = sorted(int(item["index"]) for item in event["chunks"])
        assert indexes == list(range(self.chunks)), indexes
        return {"render_id": event["render_id"], "output_key": event["output_key"],
                "output_uri": f"s3://{event['bucket']}/{event['output_key']}",
                "bytes": sum(int(item["bytes"]) for item in event["chunks"]),
                "frames": self.chunks * FRAMES_PER_CHUNK,
                "duration": self.chunks * FRAMES_PER_CHUNK / 30,
                "invocation": {"action": "assemble"}}


@pytest.fixture
def harness() -> Iterator[Any]:
    """harness(fake, concurrency=...) starts moto with the stack; stopped after the test."""
    with harness_factory() as start:
        yield start


def render_input(**extra: Any) -> dict[str, Any]:
    return {"render_id": RENDER_ID, "site_id": "site-1", "options": {"fps": "30"}, **extra}


# --- fan-out -----------------------------------------------------------------------------


@pytest.mark.parametrize(("chunks", "concurrency"), [(10, 3), (2, 8)])
def test_chunks_run_at_most_max_concurrency_at_once(harness: Any, chunks: int,
                                                    concurrency: int) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    fake = FakeRender(chunks, chunk_seconds=0.2,
                      hold_until_in_flight=min(chunks, concurrency))
    sfn = harness(fake, concurrency=concurrency)
    result = sfn.run(render_input(), name=RENDER_ID)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert sfn.peak_concurrency("render_chunk") == min(chunks, concurrency)
    assert sorted(call.index for call in sfn.calls("render_chunk")) == list(range(chunks))
    assert sfn.calls()[0].action == "plan"
    assert sfn.calls()[-1].action == "assemble"
    # Plan and assemble never overlap chunks: room for them is reserved separately.
    assert sfn.peak_concurrency() == min(chunks, concurrency)
    assert "MapRunStarted" not in {event["type"] for event in result.history}  # inline Map
    assert result.output == {
        "render_id": RENDER_ID, "output_key": f"renders/{RENDER_ID}/out.mp4",
        "output_uri": f"s3://{sfn.bucket}/renders/{RENDER_ID}/out.mp4",
        "bytes": sum(1000 + i for i in range(chunks)), "frames": chunks * FRAMES_PER_CHUNK,
        "duration": chunks * FRAMES_PER_CHUNK / 30}


def test_invocation_events_follow_the_handler_contract(harness: Any) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    sfn = harness(FakeRender(3))
    result = sfn.run(render_input(output_key="renders/custom/video.mp4", action="assemble",
                                  output_prefixes="sites/"), name=RENDER_ID)
    assert result.status == "SUCCEEDED", (result.error, result.cause)

    # Plan gets the execution's input, action=plan and the state machine's output prefixes
    # (whatever the input said) and the stack's bucket when the input names none.
    (plan,) = sfn.calls("plan")
    assert plan.event == {"action": "plan", "render_id": RENDER_ID, "bucket": sfn.bucket,
                          "site_id": "site-1", "options": {"fps": "30"},
                          "output_key": "renders/custom/video.mp4",
                          "output_prefixes": "renders/,previews/"}
    # Each chunk gets exactly what render_chunk reads.
    for call in sfn.calls("render_chunk"):
        assert call.event == {"action": "render_chunk", "render_id": RENDER_ID,
                              "bucket": sfn.bucket, "plan_key": f"work/{RENDER_ID}/plan.tar",
                              "plan_hash": "f" * 64, "index": call.index}
    (assemble,) = sfn.calls("assemble")
    assert assemble.event["action"] == "assemble"
    assert assemble.event["output_key"] == "renders/custom/video.mp4"
    assert assemble.event["output_prefixes"] == "renders/,previews/"
    assert assemble.event["plan_key"] == f"work/{RENDER_ID}/plan.tar"
    assert [chunk["key"] for chunk in assemble.event["chunks"]] == [
        f"work/{RENDER_ID}/chunks/chunk-{i:05d}.mp4" for i in range(3)]


def test_the_preview_state_machine_tells_plan_and_assemble_previews_only(
        harness: Any) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    # Issue 13: an execution's input cannot widen where the preview state machine's
    # renders write: its prefixes are constants of its definition, merged last.
    sfn = harness(FakeRender(2))
    result = sfn.run(render_input(output_key="previews/pr-3/video.mp4",
                                  output_prefixes="renders/,previews/"),
                     name=RENDER_ID, preview=True)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.arn.startswith(sfn.preview_state_machine_arn.replace(":stateMachine:",
                                                                       ":execution:"))
    (plan,) = sfn.calls("plan")
    (assemble,) = sfn.calls("assemble")
    assert plan.event["output_prefixes"] == assemble.event["output_prefixes"] == "previews/"
    assert all("output_prefixes" not in call.event for call in sfn.calls("render_chunk"))


def test_a_bucket_in_the_input_reaches_the_handler(harness: Any) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    # The handler, not the state machine, refuses a foreign bucket; it must see it.
    fake = FakeRender(2)
    fake.fail("plan", typed(S3UriNotAllowed("bucket 'elsewhere' is not this stack's")))
    sfn = harness(fake)
    result = sfn.run(render_input(bucket="elsewhere"), name=RENDER_ID)
    assert sfn.calls("plan")[0].event["bucket"] == "elsewhere"
    assert result.status == "FAILED"
    assert result.error == "S3_URI_NOT_ALLOWED"


def test_more_chunks_than_the_inline_limit_at_default_concurrency(harness: Any) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    fake = FakeRender(60, chunk_seconds=0.01, hold_until_in_flight=8)
    sfn = harness(fake, concurrency=8)
    result = sfn.run(render_input(), name=RENDER_ID)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert len(sfn.calls("render_chunk")) == 60
    assert sfn.peak_concurrency("render_chunk") == 8
    assert "MapRunStarted" not in {event["type"] for event in result.history}


def test_above_40_at_once_uses_the_distributed_map(harness: Any) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    fake = FakeRender(50, chunk_seconds=0.2, hold_until_in_flight=45)
    sfn = harness(fake, concurrency=45)
    result = sfn.run(render_input(), name=RENDER_ID)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    kinds = {event["type"] for event in result.history}
    assert {"MapRunStarted", "MapRunSucceeded"} <= kinds
    assert sfn.peak_concurrency("render_chunk") == 45
    assert sorted(call.index for call in sfn.calls("render_chunk")) == list(range(50))
    assert result.output["frames"] == 50 * FRAMES_PER_CHUNK


def test_above_40_at_once_with_few_chunks_stays_inline(harness: Any) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    sfn = harness(FakeRender(5), concurrency=45)
    result = sfn.run(render_input(), name=RENDER_ID)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert "MapRunStarted" not in {event["type"] for event in result.history}


# --- retries -----------------------------------------------------------------------------


TRANSIENT_FAULTS: dict[str, Callable[[], Exception]] = {
    "TRANSIENT_ERROR": lambda: TRANSIENT_ERROR("connection reset"),
    "BROWSER_FAILED": lambda: typed(BrowserFailed("the browser crashed")),
    "Lambda.ServiceException": lambda: LambdaApiError("ServiceException", "internal", 500),
}


@pytest.mark.parametrize("error_name", sorted(TRANSIENT_FAULTS))
def test_a_transient_chunk_failure_is_retried(harness: Any, error_name: str) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    fake = FakeRender(4)
    fake.fail("render_chunk", TRANSIENT_FAULTS[error_name](), index=2)
    sfn = harness(fake)
    result = sfn.run(render_input(), name=RENDER_ID)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert [call.error for call in sfn.calls("render_chunk", index=2)] == [error_name, None]
    assert len(sfn.calls("render_chunk")) == 5
    failed = [event["taskFailedEventDetails"]["error"] for event in result.events("TaskFailed")]
    assert failed == [error_name]
    assert result.task_retries == 1


def test_transient_failures_give_up_after_max_attempts(harness: Any) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    fake = FakeRender(2)
    fake.fail("render_chunk", *(TRANSIENT_ERROR(f"attempt {n}") for n in range(10)), index=0)
    sfn = harness(fake)
    result = sfn.run(render_input(), name=RENDER_ID)

    attempts = 1 + next(r["MaxAttempts"] for r in sfn.definition["States"][
        "RenderChunksInline"]["ItemProcessor"]["States"]["RenderChunk"]["Retry"]
        if "TRANSIENT_ERROR" in r["ErrorEquals"])
    assert len(sfn.calls("render_chunk", index=0)) == attempts
    assert result.status == "FAILED"
    assert result.error == "TRANSIENT_ERROR"
    assert result.cause_json["errorMessage"] == f"attempt {attempts - 1}"
    assert not sfn.calls("assemble")


@pytest.mark.parametrize("action", ["plan", "render_chunk", "assemble"])
def test_throttling_is_retried_with_backoff(harness: Any, action: str) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    fake = FakeRender(3)
    index = 1 if action == "render_chunk" else None
    fake.fail(action, throttled(), throttled(), index=index)
    sfn = harness(fake)
    result = sfn.run(render_input(), name=RENDER_ID)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert [call.error for call in sfn.calls(action, index=index)] == [
        "Lambda.TooManyRequestsException", "Lambda.TooManyRequestsException", None]
    failed = [event["taskFailedEventDetails"] for event in result.events("TaskFailed")]
    assert [detail["error"] for detail in failed] == ["Lambda.TooManyRequestsException"] * 2
    assert "TooManyRequestsException" in failed[0]["cause"]


# --- typed errors ------------------------------------------------------------------------


TYPED_FAULTS = [
    ("render_chunk", PlanHashMismatch("chunk 1 rendered plan aaaa, the execution planned ffff",
                                      hint="start the render again")),
    ("render_chunk", FfmpegVersionMismatch("ffmpeg 6.0 here, 5.1 planned")),
    ("render_chunk", BrowserGpuNotSoftware("the browser uses a GPU")),
    ("plan", InvalidOption("unknown render option 'bogus'")),
    ("plan", S3UriNotAllowed("site id '../x' is not a valid id")),
    ("assemble", S3UriNotAllowed("chunk key 'work/other/x.mp4' does not belong to render")),
]


@pytest.mark.parametrize(("action", "error"), TYPED_FAULTS,
                         ids=[f"{a}-{e.code}" for a, e in TYPED_FAULTS])
def test_a_typed_error_is_not_retried_and_ends_the_execution(
        harness: Any, action: str, error: HfactionError) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    fake = FakeRender(4)
    index = 1 if action == "render_chunk" else None
    fake.fail(action, typed(error), index=index)
    sfn = harness(fake)
    result = sfn.run(render_input(), name=RENDER_ID)

    assert result.status == "FAILED"
    assert result.error == error.code
    # The cause is the function's error payload; its message is the typed error as JSON.
    assert result.cause_json["errorType"] == error.code
    assert result.cause_json["errorMessage"] == typed(error).args[0]
    assert [call.error for call in sfn.calls(action, index=index)] == [error.code]
    assert result.task_retries == 0
    if action != "assemble":
        assert not sfn.calls("assemble")


def test_plan_hash_mismatch_in_a_chunk(harness: Any) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    fake = FakeRender(6)
    mismatch = PlanHashMismatch("chunk 3 of render r-test rendered plan 0123, the execution "
                                "planned ffff", hint="start the render again")
    fake.fail("render_chunk", typed(mismatch), index=3)
    sfn = harness(fake, concurrency=2)
    result = sfn.run(render_input(), name=RENDER_ID)

    assert result.status == "FAILED"
    assert result.error == "PLAN_HASH_MISMATCH"
    assert mismatch.message in result.cause_json["errorMessage"]
    assert len(sfn.calls("render_chunk", index=3)) == 1  # invoked once: never retried
    assert not sfn.calls("assemble")
    assert result.events("ExecutionFailed")[0]["executionFailedEventDetails"]["error"] == \
        "PLAN_HASH_MISMATCH"


def test_a_typed_error_in_the_distributed_map_ends_the_execution(harness: Any) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    fake = FakeRender(45)
    fake.fail("render_chunk", typed(PlanHashMismatch("chunk 7 differs")), index=7)
    fake.fail("render_chunk", TRANSIENT_ERROR("once"), index=8)
    sfn = harness(fake, concurrency=41)
    result = sfn.run(render_input(), name=RENDER_ID)

    assert "MapRunStarted" in {event["type"] for event in result.history}
    assert result.status == "FAILED"
    assert result.error == "PLAN_HASH_MISMATCH"
    assert result.cause_json["errorType"] == "PLAN_HASH_MISMATCH"
    assert len(sfn.calls("render_chunk", index=7)) == 1
    assert len(sfn.calls("render_chunk", index=8)) == 2  # retried inside its child
    assert not sfn.calls("assemble")


# --- billing input -----------------------------------------------------------------------


def test_state_transitions_are_counted_from_the_history(harness: Any) -> None:
    # Lambda is replaced by a Python dispatch: moto cannot run the render image.
    fake = FakeRender(3)
    fake.fail("render_chunk", TRANSIENT_ERROR("once"), index=0)
    sfn = harness(fake)
    result = sfn.run(render_input(), name=RENDER_ID)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    # Worked out by hand: Prepare, Plan, ChooseMapMode, RenderChunksInline, three
    # RenderChunk iterations, Assemble, Done = 9 states entered, plus one retry.
    assert result.states_entered == 9
    assert result.task_retries == 1
    assert result.state_transitions == 10
