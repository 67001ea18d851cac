"""Issue 13: a render of more than 40 chunks at once runs them in a Distributed Map, whose
chunk invocations happen in child executions with their own histories; ``progress`` (so
``lambda progress``, ``render --wait`` and ``cancel``) and the cost must read them.

The parent's history then holds only ``MapRunStarted`` (with the map run's ARN) where an
inline Map would hold every chunk's task, so before this the chunks in flight read 0 and
the Step Functions cost left out every child execution: one transition per child started
plus each child's own. The Lambda cost follows from the invocation records in S3 exactly
as before (the handler writes one per invocation, whichever Map ran it).

moto 5.2 cannot stand in here (checked with 5.2.1): its ListExecutions ignores ``mapRunArn``
(without a ``stateMachineArn`` it fails with a server error) and its DescribeMapRun answers
``{}``, no item counts, unless moto itself executes the state machine (sfn_harness.py). So
the Step Functions client is a real ``boto3.client("stepfunctions")`` under botocore's
:class:`~botocore.stub.Stubber`, answering with responses shaped like the real API's (ARNs,
event types and details as Step Functions writes them for statemachine/render.asl.json). The
Stubber validates every request and every canned response against botocore's service model,
so the calls (``mapRunArn``, ``statusFilter``, ``maxResults``, ``nextToken``) and the
response fields read are checked against AWS's own API shapes; it also fails a test on any
call not expected, in order, which pins down how many calls a poll makes. S3 (the invocation
records) is moto's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from hfaction.aws import s3uri
from hfaction.aws.cost import Cost, render_cost, state_transitions
from hfaction.aws.facade import AwsClients, AwsFacade, StackInfo, execution_arn
from hfaction.aws.renders import progress

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = f"hfaction-{ACCOUNT}-{REGION}"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:hfaction-render"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:hfaction-render"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/hfaction-RenderStateMachineRole-1A2B3C4D5E6F"
RENDER_ID = "hf-20260504-100000-0a1b2c3d"
PARENT = execution_arn(MACHINE, RENDER_ID)
# The ASL's Distributed Map has Label "chunks": AWS puts it in the map run's and the
# children's ARNs (mapRun:MACHINE/LABEL:UUID, execution:MACHINE/LABEL:UUID).
MAP_RUN = (f"arn:aws:states:{REGION}:{ACCOUNT}:mapRun:hfaction-render/chunks:"
           "6c0f5e2a-1b2c-4d3e-8f90-a1b2c3d4e5f6")
CHILD_MACHINE = f"{MACHINE}/chunks"
CHUNKS = 42  # above 40: the Choice sends them to the Distributed Map
FRAMES = 30  # per chunk
RETRIED = 7  # this chunk's first attempt fails with TRANSIENT_ERROR, its retry succeeds
T0 = datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)
FAR = "2099-01-01T00:00:00Z"


# --- responses as Step Functions gives them --------------------------------------------------


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class History:
    """Events of one execution, numbered and chained as GetExecutionHistory returns them."""

    def __init__(self, start: float) -> None:
        self.events: list[dict[str, Any]] = []
        self.clock = start

    def add(self, kind: str, details: dict[str, Any] | None = None,
            previous: int | None = None) -> int:
        self.clock += 0.01
        event: dict[str, Any] = {"timestamp": at(self.clock), "type": kind,
                                 "id": len(self.events) + 1,
                                 "previousEventId": (len(self.events) if previous is None
                                                     else previous)}
        if details is not None:
            event[_details_key(kind)] = details
        self.events.append(event)
        return int(event["id"])

    def state(self, kind: str, name: str, data: Any = None) -> None:
        """A state entered and exited (Pass, Choice, Succeed)."""
        text = json.dumps(data or {})
        self.add(f"{kind}StateEntered", {"name": name, "input": text,
                                         "inputDetails": {"truncated": False}})
        self.add(f"{kind}StateExited", {"name": name, "output": text,
                                        "outputDetails": {"truncated": False}})

    def lambda_task(self, name: str, payload: dict[str, Any],
                    attempts: list[dict[str, Any] | tuple[str, str] | None]) -> None:
        """A Task state invoking the render function: each attempt ends with its Lambda
        result (a dict), a failure (error, cause) or not at all (None: still running)."""
        self.add("TaskStateEntered", {"name": name, "input": json.dumps(payload),
                                      "inputDetails": {"truncated": False}})
        parameters = json.dumps({"FunctionName": FUNCTION, "Payload": payload})
        for attempt in attempts:
            self.add("TaskScheduled", {"resourceType": "lambda", "resource": "invoke",
                                       "region": REGION, "parameters": parameters})
            self.add("TaskStarted", {"resourceType": "lambda", "resource": "invoke"})
            if attempt is None:
                return
            if isinstance(attempt, tuple):
                self.add("TaskFailed", {"resourceType": "lambda", "resource": "invoke",
                                        "error": attempt[0], "cause": attempt[1]})
                continue
            output = {"ExecutedVersion": "$LATEST", "Payload": attempt,
                      "SdkHttpMetadata": {"HttpStatusCode": 200}, "StatusCode": 200}
            self.add("TaskSucceeded", {"resourceType": "lambda", "resource": "invoke",
                                       "output": json.dumps(output),
                                       "outputDetails": {"truncated": False}})
        self.add("TaskStateExited", {"name": name, "output": "{}",
                                     "outputDetails": {"truncated": False}})


def _details_key(kind: str) -> str:
    if kind.endswith(("StateEntered", "StateExited")):
        return "stateEnteredEventDetails" if kind.endswith("Entered") else \
            "stateExitedEventDetails"
    return kind[0].lower() + kind[1:] + "EventDetails"


def page(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"events": events}


def plan_payload() -> dict[str, Any]:
    return {"render_id": RENDER_ID, "bucket": BUCKET,
            "plan_key": s3uri.plan_key(RENDER_ID), "plan_hash": "9" * 64,
            "frames": CHUNKS * FRAMES, "fps": "30", "duration": CHUNKS * FRAMES / 30,
            "width": 1280, "height": 720, "chunk_count": CHUNKS,
            "chunks": [{"index": i, "start": i * FRAMES, "end": (i + 1) * FRAMES}
                       for i in range(CHUNKS)],
            "output_key": s3uri.default_output_key(RENDER_ID), "warnings": []}


def chunk_event(index: int) -> dict[str, Any]:
    return {"action": "render_chunk", "render_id": RENDER_ID, "bucket": BUCKET,
            "plan_key": s3uri.plan_key(RENDER_ID), "plan_hash": "9" * 64, "index": index}


def chunk_result(index: int) -> dict[str, Any]:
    return {"index": index, "key": s3uri.chunk_key(RENDER_ID, index),
            "start": index * FRAMES, "end": (index + 1) * FRAMES, "frames": FRAMES,
            "bytes": 123_456}


TRANSIENT = ("TRANSIENT_ERROR", json.dumps({
    "errorType": "TRANSIENT_ERROR",
    "errorMessage": json.dumps({"code": "TRANSIENT_ERROR", "index": RETRIED,
                                "message": "connection reset by peer"})}))


def parent_history(*, until: str) -> list[dict[str, Any]]:
    """The parent execution: up to the map run started, or to the render's end."""
    history = History(0)
    history.add("ExecutionStarted", {"input": json.dumps({"render_id": RENDER_ID}),
                                     "inputDetails": {"truncated": False}, "roleArn": ROLE})
    history.state("Pass", "Prepare")
    history.lambda_task("Plan", {"action": "plan", "render_id": RENDER_ID},
                        [plan_payload()])
    history.state("Choice", "ChooseMapMode")
    history.add("MapStateEntered", {"name": "RenderChunksDistributed", "input": "{}",
                                    "inputDetails": {"truncated": False}})
    history.add("MapRunStarted", {"mapRunArn": MAP_RUN})
    if until == "running":
        return history.events
    if until == "aborted":
        history.add("MapRunAborted")
        history.add("ExecutionAborted", {"error": "CANCELLED",
                                         "cause": "cancelled with 'hfaction lambda cancel'"})
        return history.events
    history.add("MapRunSucceeded")
    history.add("MapStateExited", {"name": "RenderChunksDistributed", "output": "{}",
                                   "outputDetails": {"truncated": False}})
    history.state("Pass", "CheckChunks")
    history.state("Choice", "AnyChunkFailed")
    history.lambda_task("Assemble", {"action": "assemble", "render_id": RENDER_ID}, [{
        "render_id": RENDER_ID, "output_key": s3uri.default_output_key(RENDER_ID),
        "output_uri": f"s3://{BUCKET}/{s3uri.default_output_key(RENDER_ID)}",
        "bytes": 9_876_543, "frames": CHUNKS * FRAMES, "duration": CHUNKS * FRAMES / 30,
        "links": {"video_url": "https://example.invalid/out.mp4", "expires_at": FAR,
                  "signed_by": "render function role"}}])
    history.state("Succeed", "Done")
    history.add("ExecutionSucceeded", {"output": "{}", "outputDetails": {"truncated": False}})
    return history.events


def child_arn(index: int) -> str:
    return (MACHINE.replace(":stateMachine:", ":execution:") +
            f"/chunks:{index:08x}-5a6b-4c7d-8e9f-0123456789ab")


def child_history(index: int, status: str) -> list[dict[str, Any]]:
    """A child execution of the map run: RenderChunkInChild for one chunk."""
    history = History(10 + index)
    payload = chunk_event(index)
    history.add("ExecutionStarted", {"input": json.dumps(payload),
                                     "inputDetails": {"truncated": False}, "roleArn": ROLE})
    if status == "ABORTED":  # stopped with its invocation still running on Lambda
        history.lambda_task("RenderChunkInChild", payload, [None])
        history.add("ExecutionAborted", {"error": "States.Aborted",
                                         "cause": "the map run was aborted"})
        return history.events
    attempts: list[dict[str, Any] | tuple[str, str] | None] = [chunk_result(index)]
    if index == RETRIED:
        attempts.insert(0, TRANSIENT)
    history.lambda_task("RenderChunkInChild", payload, attempts)
    history.add("ExecutionSucceeded", {"output": json.dumps({**chunk_result(index),
                                                             "failed": False}),
                                       "outputDetails": {"truncated": False}})
    return history.events


def child_item(index: int, status: str) -> dict[str, Any]:
    """A child as ListExecutions(mapRunArn=...) lists it."""
    item: dict[str, Any] = {"executionArn": child_arn(index), "stateMachineArn": CHILD_MACHINE,
                            "name": child_arn(index).rsplit(":", 1)[1], "status": status,
                            "startDate": at(10 + index), "mapRunArn": MAP_RUN, "itemCount": 1,
                            "redriveCount": 0}
    if status != "RUNNING":
        item["stopDate"] = at(40 + index)
    return item


def map_run(status: str, **counts: int) -> dict[str, Any]:
    """DescribeMapRun's answer; ``counts`` are the item counts (executions alike here:
    one item per child, no ItemBatcher)."""
    every = {"pending": 0, "running": 0, "succeeded": 0, "failed": 0, "timedOut": 0,
             "aborted": 0, "total": CHUNKS, "resultsWritten": 0, **counts}
    answer: dict[str, Any] = {"mapRunArn": MAP_RUN, "executionArn": PARENT, "status": status,
                              "startDate": at(5), "maxConcurrency": 100,
                              "toleratedFailurePercentage": 0.0, "toleratedFailureCount": 0,
                              "itemCounts": every, "executionCounts": dict(every)}
    if status != "RUNNING":
        answer["stopDate"] = at(90)
    return answer


def execution(status: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"executionArn": PARENT, "stateMachineArn": MACHINE,
                              "name": RENDER_ID, "status": status, "startDate": at(0)}
    if status != "RUNNING":
        answer["stopDate"] = at(100)
    return answer


# --- invocation records in S3, as the handler writes them ------------------------------------


def record(action: str, index: int | None, *, status: str = "ok", duration_ms: int,
           init_ms: int = 0, frames: int | None = None,
           error: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"action": action, "render_id": RENDER_ID, "index": index,
                             "cold": init_ms > 0, "init_ms": init_ms, "status": status,
                             "duration_ms": duration_ms, "memory_mb": 10240,
                             "request_id": f"{action}-{index}-{duration_ms}-{status}",
                             "architecture": "x86_64", "timings": {}}
    if status == "ok":
        entry["frames"] = frames
    else:
        entry.update(error=error, message="connection reset by peer")
    return entry


def chunk_records(indices: range | list[int]) -> list[dict[str, Any]]:
    records = []
    for index in indices:
        if index == RETRIED:
            records.append(record("render_chunk", index, status="error",
                                  duration_ms=1_200, error="TRANSIENT_ERROR"))
        records.append(record("render_chunk", index, duration_ms=20_000 + 37 * index,
                              init_ms=900 if index % 10 == 0 else 0, frames=FRAMES))
    return records


PLAN_RECORD = record("plan", None, duration_ms=4_321, init_ms=1_500)
ASSEMBLE_RECORD = record("assemble", None, duration_ms=8_765)


# --- the harness ---------------------------------------------------------------------------


class Setup:
    def __init__(self) -> None:
        self.s3 = boto3.client("s3", region_name=REGION)
        self.s3.create_bucket(Bucket=BUCKET)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.stub = Stubber(self.sfn)
        self.facade = AwsFacade(AwsClients(s3=self.s3, sfn=self.sfn, lambda_=None,
                                           cloudformation=None))
        self.stack = StackInfo(name="hfaction", bucket=BUCKET, state_machine_arn=MACHINE,
                               function_arn=FUNCTION)
        self.records: list[dict[str, Any]] = []

    def write(self, records: list[dict[str, Any]]) -> None:
        for entry in records:
            self.records.append(entry)
            self.s3.put_object(Bucket=BUCKET, Key=s3uri.invocation_key(
                RENDER_ID, f"{entry['action']}-{entry['index']}-{entry['request_id']}"),
                Body=json.dumps(entry).encode(), ContentType="application/json")

    def expect_parent(self, status: str, events: list[dict[str, Any]]) -> None:
        self.stub.add_response("describe_execution", execution(status),
                               {"executionArn": PARENT})
        self.stub.add_response("get_execution_history", page(events),
                               {"executionArn": PARENT})

    def expect_children(self, items: list[dict[str, Any]], split: int) -> None:
        """ListExecutions(mapRunArn) over two pages, ``split`` children on the first."""
        self.stub.add_response("list_executions",
                               {"executions": items[:split], "nextToken": "page-2-token"},
                               {"mapRunArn": MAP_RUN, "maxResults": 1000})
        self.stub.add_response("list_executions", {"executions": items[split:]},
                               {"mapRunArn": MAP_RUN, "maxResults": 1000,
                                "nextToken": "page-2-token"})

    def expect_history(self, index: int, events: list[dict[str, Any]]) -> None:
        self.stub.add_response("get_execution_history", page(events),
                               {"executionArn": child_arn(index)})


@pytest.fixture
def setup() -> Iterator[Setup]:
    with mock_aws():
        harness = Setup()
        with harness.stub:
            yield harness
        harness.stub.assert_no_pending_responses()


def assert_cost(cost: Cost, records: list[dict[str, Any]], transitions: int) -> None:
    """The cost is what :func:`render_cost` gives for these records and transitions (the
    dollar sums to rounding: S3 lists the records in another order than written)."""
    expected = render_cost(records, transitions)
    assert (cost.invocations, cost.billed_ms, cost.transitions) == \
        (expected.invocations, expected.billed_ms, expected.transitions)
    for name in ("lambda_compute", "lambda_requests", "lambda_ephemeral", "step_functions"):
        assert getattr(cost, name) == pytest.approx(getattr(expected, name), rel=1e-12), name


def expected_transitions(parent: list[dict[str, Any]],
                         children: list[list[dict[str, Any]]], started: int) -> int:
    """AWS bills a Distributed Map one transition per child execution it starts, and each
    STANDARD child its own transitions (its states entered and its retries)."""
    return state_transitions(parent) + started + sum(state_transitions(c) for c in children)


# --- the tests -------------------------------------------------------------------------------


def test_a_running_distributed_map_counts_its_children_in_flight_and_in_the_cost(
        setup: Setup) -> None:
    """The undercount of issue 13: 42 chunks, 30 done, 5 rendering, 7 not started. Before,
    the parent history held no chunk task, so 0 chunks were in flight and the Step
    Functions cost was the parent's 4 transitions only."""
    done, running = list(range(30)), list(range(30, 35))
    setup.write([PLAN_RECORD, *chunk_records(done)])
    parent = parent_history(until="running")
    items = [child_item(i, "SUCCEEDED") for i in done] + \
        [child_item(i, "RUNNING") for i in running]
    histories = {i: child_history(i, "SUCCEEDED") for i in done}
    setup.expect_parent("RUNNING", parent)
    setup.stub.add_response("describe_map_run",
                            map_run("RUNNING", succeeded=30, running=5, pending=7),
                            {"mapRunArn": MAP_RUN})
    setup.expect_children(items, split=20)
    for index in done:  # the running children's histories are not read
        setup.expect_history(index, histories[index])

    state = progress(setup.facade, setup.stack, RENDER_ID)

    assert state.status == "RUNNING"
    assert (state.chunks_total, state.chunks_done, state.chunks_in_flight) == (CHUNKS, 30, 5)
    assert (state.frames_total, state.frames_done) == (CHUNKS * FRAMES, 30 * FRAMES)
    # parent: Prepare, Plan, ChooseMapMode, RenderChunksDistributed; 35 children started;
    # each ended child 1 transition, the retried chunk 1 more.
    transitions = expected_transitions(parent, list(histories.values()), started=35)
    assert transitions == 4 + 35 + 30 + 1
    assert state.cost.transitions == transitions
    assert_cost(state.cost, setup.records, transitions)
    assert state.cost.invocations == 1 + 30 + 1  # plan, 30 chunks, the failed attempt
    assert [(e.index, e.code) for e in state.errors] == [(RETRIED, "TRANSIENT_ERROR")]
    assert state.warnings == []


def test_following_a_render_reads_each_ended_childs_history_once(setup: Setup) -> None:
    """A poll reads the parent, DescribeMapRun, the child listing and the history of each
    child that has ended since the last poll, nothing more (the Stubber fails on any other
    call): 2 + 1 + pages + newly ended children."""
    setup.write([PLAN_RECORD, *chunk_records(range(10))])
    parent = parent_history(until="running")
    setup.expect_parent("RUNNING", parent)
    setup.stub.add_response("describe_map_run",
                            map_run("RUNNING", succeeded=10, running=32),
                            {"mapRunArn": MAP_RUN})
    setup.expect_children([child_item(i, "SUCCEEDED") for i in range(10)] +
                          [child_item(i, "RUNNING") for i in range(10, CHUNKS)], split=21)
    for index in range(10):
        setup.expect_history(index, child_history(index, "SUCCEEDED"))
    first = progress(setup.facade, setup.stack, RENDER_ID)
    assert (first.chunks_done, first.chunks_in_flight) == (10, 32)

    setup.write(chunk_records([10, 11, 12]))
    setup.expect_parent("RUNNING", parent)
    setup.stub.add_response("describe_map_run",
                            map_run("RUNNING", succeeded=13, running=29),
                            {"mapRunArn": MAP_RUN})
    setup.expect_children([child_item(i, "SUCCEEDED") for i in range(13)] +
                          [child_item(i, "RUNNING") for i in range(13, CHUNKS)], split=21)
    for index in (10, 11, 12):  # only the three that ended since
        setup.expect_history(index, child_history(index, "SUCCEEDED"))
    second = progress(setup.facade, setup.stack, RENDER_ID)
    assert (second.chunks_done, second.chunks_in_flight) == (13, 29)
    assert first.warnings == second.warnings == []
    histories = [child_history(i, "SUCCEEDED") for i in range(13)]
    assert_cost(second.cost, setup.records, expected_transitions(parent, histories, started=CHUNKS))


def test_a_finished_distributed_render_costs_what_its_records_and_children_give(
        setup: Setup) -> None:
    setup.write([PLAN_RECORD, *chunk_records(range(CHUNKS)), ASSEMBLE_RECORD])
    parent = parent_history(until="succeeded")
    histories = {i: child_history(i, "SUCCEEDED") for i in range(CHUNKS)}
    setup.expect_parent("SUCCEEDED", parent)
    setup.stub.add_response("describe_map_run", map_run("SUCCEEDED", succeeded=CHUNKS),
                            {"mapRunArn": MAP_RUN})
    # Newest first, as ListExecutions lists them.
    setup.expect_children([child_item(i, "SUCCEEDED") for i in reversed(range(CHUNKS))],
                          split=25)
    for index in range(CHUNKS):  # read oldest first, so errors come in start order
        setup.expect_history(index, histories[index])

    state = progress(setup.facade, setup.stack, RENDER_ID)

    assert state.status == "SUCCEEDED"
    assert (state.chunks_total, state.chunks_done, state.chunks_in_flight) == (CHUNKS, CHUNKS,
                                                                               0)
    assert state.frames_done == CHUNKS * FRAMES
    transitions = expected_transitions(parent, list(histories.values()), started=CHUNKS)
    # parent: Prepare, Plan, ChooseMapMode, RenderChunksDistributed, CheckChunks,
    # AnyChunkFailed, Assemble, Done; 42 children started, 42 child tasks and one retry.
    assert transitions == 8 + CHUNKS + CHUNKS + 1
    assert_cost(state.cost, setup.records, transitions)
    assert state.cost.invocations == 1 + CHUNKS + 1 + 1
    assert state.output_uri == f"s3://{BUCKET}/{s3uri.default_output_key(RENDER_ID)}"
    assert [(e.index, e.code) for e in state.errors] == [(RETRIED, "TRANSIENT_ERROR")]
    assert state.warnings == []


def test_a_cancelled_distributed_render_counts_invocations_its_aborted_children_left(
        setup: Setup) -> None:
    """Stopping the parent aborts the map run and its children, but their invocations run
    on to their end on Lambda: each is in flight until its record lands, as for an inline
    Map (``cancel`` waits on this count)."""
    done, aborted = list(range(40)), [40, 41]
    setup.write([PLAN_RECORD, *chunk_records(done), *chunk_records([40])])  # 41 still runs
    parent = parent_history(until="aborted")
    histories = {**{i: child_history(i, "SUCCEEDED") for i in done},
                 **{i: child_history(i, "ABORTED") for i in aborted}}
    setup.expect_parent("ABORTED", parent)
    setup.stub.add_response("describe_map_run",
                            map_run("ABORTED", succeeded=40, aborted=2),
                            {"mapRunArn": MAP_RUN})
    setup.expect_children([child_item(i, "SUCCEEDED") for i in done] +
                          [child_item(i, "ABORTED") for i in aborted], split=30)
    for index in [*done, *aborted]:
        setup.expect_history(index, histories[index])

    state = progress(setup.facade, setup.stack, RENDER_ID)

    assert state.status == "ABORTED"
    assert (state.chunks_done, state.chunks_in_flight) == (41, 1)
    assert state.warnings == []
    assert_cost(state.cost, setup.records, expected_transitions(
        parent, list(histories.values()), started=CHUNKS))


def test_without_permission_to_read_the_map_run_progress_still_answers_and_says_so(
        setup: Setup) -> None:
    """A user policy printed before issue 13 lacks states:DescribeMapRun: waiting for the
    render must not fail for accounting; the numbers leave the children out, and say so."""
    setup.write([PLAN_RECORD, *chunk_records(range(5))])
    parent = parent_history(until="running")
    setup.expect_parent("RUNNING", parent)
    setup.stub.add_client_error(
        "describe_map_run", service_error_code="AccessDeniedException",
        service_message=f"User: arn:aws:iam::{ACCOUNT}:user/ci is not authorized to "
        f"perform: states:DescribeMapRun on resource: {MAP_RUN}", http_status_code=400,
        expected_params={"mapRunArn": MAP_RUN})

    state = progress(setup.facade, setup.stack, RENDER_ID)

    assert (state.chunks_total, state.chunks_done, state.chunks_in_flight) == (CHUNKS, 5, 0)
    assert_cost(state.cost, setup.records, state_transitions(parent))
    assert len(state.warnings) == 1
    assert "AccessDeniedException" in state.warnings[0]
    assert "states:DescribeMapRun" in state.warnings[0]


def test_the_facade_lists_a_map_runs_children_over_pages_with_a_status_filter(
        setup: Setup) -> None:
    items = [child_item(i, "SUCCEEDED") for i in range(3)]
    setup.stub.add_response("list_executions", {"executions": items[:2], "nextToken": "t2"},
                            {"mapRunArn": MAP_RUN, "statusFilter": "SUCCEEDED",
                             "maxResults": 1000})
    setup.stub.add_response("list_executions", {"executions": items[2:]},
                            {"mapRunArn": MAP_RUN, "statusFilter": "SUCCEEDED",
                             "maxResults": 1000, "nextToken": "t2"})
    setup.stub.add_response("describe_map_run", map_run("RUNNING", succeeded=3, running=39),
                            {"mapRunArn": MAP_RUN})
    listed = setup.facade.list_map_run_executions(MAP_RUN, status="SUCCEEDED")
    assert [item["executionArn"] for item in listed] == [child_arn(i) for i in range(3)]
    assert setup.facade.describe_map_run(MAP_RUN)["itemCounts"]["running"] == 39


# --- what progress calls, against the policies hfaction prints --------------------------------


def sfn_resource(params: dict[str, Any]) -> str:
    """The resource IAM authorises a Step Functions call on: the ARN the request names
    (ListExecutions with mapRunArn: the map run, per the Service Authorization Reference)."""
    for key in ("mapRunArn", "executionArn", "stateMachineArn"):
        if params.get(key):
            return str(params[key])
    raise AssertionError(f"no resource ARN in {params}")


def s3_call(operation: str, params: dict[str, Any]) -> tuple[str, str]:
    bucket = f"arn:aws:s3:::{params['Bucket']}"
    action = {"ListObjectsV2": "s3:ListBucket", "GetObject": "s3:GetObject",
              "HeadObject": "s3:GetObject"}[operation]
    return action, bucket if action == "s3:ListBucket" else f"{bucket}/{params['Key']}"


def recording(setup: Setup) -> list[tuple[str, str]]:
    """Every AWS call the facade's clients make from now on, as (IAM action, resource)."""
    calls: list[tuple[str, str]] = []

    def on_sfn(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((f"states:{model.name}", sfn_resource(params)))

    def on_s3(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append(s3_call(model.name, params))

    setup.sfn.meta.events.register("before-parameter-build.sfn", on_sfn)
    setup.s3.meta.events.register("before-parameter-build.s3", on_s3)
    return calls


@pytest.fixture(params=["render", "preview"])
def machine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The module's ARNs for the stack's main state machine or its preview one (template.yaml
    names them STACK-render and STACK-preview)."""
    name = f"hfaction-{request.param}"
    module = __import__(__name__, fromlist=["MACHINE"])
    machine_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
    monkeypatch.setattr(module, "MACHINE", machine_arn)
    monkeypatch.setattr(module, "PARENT", execution_arn(machine_arn, RENDER_ID))
    monkeypatch.setattr(module, "MAP_RUN", MAP_RUN.replace(":hfaction-render/",
                                                           f":{name}/"))
    monkeypatch.setattr(module, "CHILD_MACHINE", f"{machine_arn}/chunks")
    yield str(request.param)


def test_the_map_run_label_is_the_one_the_arns_name() -> None:
    """AWS names a Distributed Map's run and children after the Map's Label (the policy
    allows them as mapRun:MACHINE/* and execution:MACHINE/*, whatever the label)."""
    asl = json.loads((Path(__file__).resolve().parents[2] / "statemachine" /
                      "render.asl.json").read_text())
    assert asl["States"]["RenderChunksDistributed"]["Label"] == "chunks"
    assert ":mapRun:hfaction-render/chunks:" in MAP_RUN


@pytest.mark.parametrize("part", ["all", "render", "pull-request"])
def test_every_call_progress_makes_on_a_distributed_render_is_allowed_by_its_policy_part(
        machine: str, part: str) -> None:
    """Issue 13: following a render whose chunks ran in a Distributed Map calls
    DescribeMapRun and ListExecutions on its map run and GetExecutionHistory on each ended
    child. Every call is checked against the policy ``hfaction policies user --part PART``
    prints, with hfaction's evaluator: the main state machine's renders are the render
    part's (and all's), the preview state machine's everyone's; the pull-request part reads
    nothing of the main state machine (its histories hold the links to renders/)."""
    from hfaction.policies import StackScope, decide, identity_policy, parse_statements

    with mock_aws():
        setup = Setup()
        with setup.stub:
            setup.write([PLAN_RECORD, *chunk_records(range(CHUNKS)), ASSEMBLE_RECORD])
            setup.expect_parent("SUCCEEDED", parent_history(until="succeeded"))
            setup.stub.add_response("describe_map_run", map_run("SUCCEEDED",
                                                                succeeded=CHUNKS),
                                    {"mapRunArn": MAP_RUN})
            setup.expect_children([child_item(i, "SUCCEEDED") for i in range(CHUNKS)],
                                  split=25)
            for index in range(CHUNKS):
                setup.expect_history(index, child_history(index, "SUCCEEDED"))
            calls = recording(setup)
            state = progress(setup.facade, setup.stack, RENDER_ID)
            setup.stub.assert_no_pending_responses()
    assert state.status == "SUCCEEDED" and state.warnings == []
    actions = {action for action, _ in calls}
    assert {"states:DescribeMapRun", "states:ListExecutions", "states:GetExecutionHistory",
            "states:DescribeExecution", "s3:ListBucket", "s3:GetObject"} <= actions
    assert any(":mapRun:" in resource for _, resource in calls)
    assert any("/chunks:" in resource and ":execution:" in resource for _, resource in calls)

    policy = parse_statements(identity_policy(StackScope("hfaction", REGION, ACCOUNT), part),
                              f"--part {part}")
    refused = sorted({(action, resource) for action, resource in calls
                      if decide(policy, action, resource).status != "allowed"})
    if part == "pull-request" and machine == "render":
        # Nothing of a main render: its execution, map run and children are refused.
        assert {action for action, _ in refused} >= {
            "states:DescribeExecution", "states:GetExecutionHistory",
            "states:DescribeMapRun", "states:ListExecutions"}
        assert not [resource for _, resource in refused if "hfaction-preview" in resource]
    else:
        assert refused == [], refused
