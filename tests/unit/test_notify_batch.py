"""Issue 15: notifications of batch executions (statemachine/batch.asl.json): the output's
rows, each with its status, link, error and cost, and the totals; the cost read from each
row's invocation records (moto S3) and the batch execution's history.

The execution input and output are the batch contract's (hfaction/aws/batchspec.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hfaction.aws.batchspec import row_render_id
from hfaction.aws.cost import render_cost
from hfaction.aws.facade import AwsClients, AwsFacade
from hfaction.aws.notify import (
    _subject as subject,
)
from hfaction.aws.notify import (
    complete_notification,
    notification_from_event,
    publish_sns,
)
from tests.unit.test_notify import ACCOUNT, BUCKET, REGION, status_event

BATCH_ID = "hf-20240601-101500-9f8e7d6c"
BATCH_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:hfaction-batch"
LATER = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
EARLIER = (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def links(name: str, expires: str = LATER) -> dict[str, Any]:
    return {"video_url": f"https://{BUCKET}.s3.amazonaws.com/renders/{BATCH_ID}/{name}.mp4"
                         "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc",
            "poster_url": f"https://{BUCKET}.s3.amazonaws.com/renders/{BATCH_ID}/{name}.jpg"
                          "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=def",
            "expires_at": expires}


def batch_input(rows: int = 3) -> dict[str, Any]:
    return {"batch_id": BATCH_ID, "bucket": BUCKET, "site_id": "a" * 64,
            "options": {"fps": "30"}, "fail_fast": False,
            "rows": [{"name": f"row{i}", "variables": {"title": f"Hi {i}"}}
                     for i in range(rows)]}


def succeeded_row(index: int, name: str, *, expires: str = LATER) -> dict[str, Any]:
    key = f"renders/{BATCH_ID}/{name}.mp4"
    return {"row": index, "name": name, "render_id": row_render_id(BATCH_ID, index),
            "status": "SUCCEEDED", "output_key": key, "output_uri": f"s3://{BUCKET}/{key}",
            "bytes": 1000 * (index + 1), "frames": 60, "duration": 2.0,
            "links": links(name, expires)}


def batch_output() -> dict[str, Any]:
    """Three rows: alice rendered, bob's page threw, carol rendered but its links expired."""
    return {"batch_id": BATCH_ID, "rows": [
        succeeded_row(0, "alice"),
        {"row": 1, "name": "bob", "render_id": row_render_id(BATCH_ID, 1), "status": "FAILED",
         "error": {"code": "PAGE_SCRIPT_ERROR",
                   "message": "index.html:3: ReferenceError: x is not defined"}},
        succeeded_row(2, "carol", expires=EARLIER)]}


def batch_event(status: str, *, output: Any = None, error: str | None = None,
                cause: str | None = None, rows: int = 3) -> dict[str, Any]:
    event = status_event(status, render_id=BATCH_ID, output=output, error=error, cause=cause)
    detail = event["detail"]
    detail["stateMachineArn"] = BATCH_MACHINE
    detail["executionArn"] = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:hfaction-batch:" \
                             f"{BATCH_ID}"
    detail["input"] = json.dumps(batch_input(rows))
    event["resources"] = [detail["executionArn"]]
    return event


def test_a_batch_success_lists_each_row_with_its_status_link_and_error() -> None:
    notification = notification_from_event(batch_event("SUCCEEDED", output=batch_output()))
    assert notification is not None and notification.batch
    assert notification.type == "batch.succeeded" and notification.render_id == BATCH_ID
    assert notification.rows is not None
    alice, bob, carol = notification.rows
    assert (alice.row, alice.name, alice.status, alice.render_id) == (
        0, "alice", "succeeded", f"{BATCH_ID}-0000")
    assert alice.link == links("alice")["video_url"]
    assert alice.poster_link == links("alice")["poster_url"]
    assert alice.output_uri == f"s3://{BUCKET}/renders/{BATCH_ID}/alice.mp4"
    assert (alice.bytes, alice.duration_s, alice.error_code) == (1000, 2.0, None)
    assert (bob.status, bob.error_code, bob.link) == ("failed", "PAGE_SCRIPT_ERROR", None)
    assert bob.error_message == "index.html:3: ReferenceError: x is not defined"
    assert carol.status == "succeeded" and carol.link is None  # its links expired
    assert carol.output_uri is not None

    body = notification.to_dict()
    assert body["batch_id"] == BATCH_ID and body["type"] == "batch.succeeded"
    assert [row["name"] for row in body["rows"]] == ["alice", "bob", "carol"]
    assert body["totals"] == {"rows": 3, "succeeded": 2, "failed": 1, "bytes": 4000,
                              "duration_s": 4.0, "rows_cost_usd": None}
    assert json.loads(notification.body()) == body
    assert subject(notification) == \
        f"hfaction batch {BATCH_ID} succeeded: 2 of 3 rows, 1 failed"


def test_a_render_notification_has_no_batch_fields() -> None:
    from tests.unit.test_notify import assemble_output

    notification = notification_from_event(status_event("SUCCEEDED", output=assemble_output()))
    assert notification is not None and not notification.batch
    assert notification.type == "render.succeeded"
    assert not {"rows", "totals", "batch_id"} & set(notification.to_dict())


def test_a_batch_that_failed_as_a_whole_has_its_typed_error_and_row_count() -> None:
    """--fail-fast (or a plan that failed for every row): the execution fails with the
    typed error; it has no output, so the rows are unknown, their number is the input's."""
    from hfaction.errors import PageScriptError
    from tests.unit.test_notify import lambda_cause

    error = PageScriptError("index.html:3: ReferenceError: x is not defined")
    notification = notification_from_event(batch_event(
        "FAILED", error="PAGE_SCRIPT_ERROR", cause=lambda_cause(error), rows=5))
    assert notification is not None and notification.type == "batch.failed"
    assert notification.error_code == "PAGE_SCRIPT_ERROR"
    assert notification.rows is None and notification.row_count == 5
    body = notification.to_dict()
    assert body["rows"] is None and body["totals"]["rows"] == 5
    assert subject(notification) == f"hfaction batch {BATCH_ID} failed: PAGE_SCRIPT_ERROR"


def test_a_row_without_a_typed_error_is_batch_failed() -> None:
    output = {"batch_id": BATCH_ID, "rows": [{"row": 0, "name": "x", "status": "FAILED"}]}
    notification = notification_from_event(batch_event("SUCCEEDED", output=output, rows=1))
    assert notification is not None and notification.rows is not None
    (row,) = notification.rows
    assert (row.error_code, row.error_message) == ("BATCH_FAILED", "the row did not render")


# --- the cost, per row and in all ---------------------------------------------------------------


def record(render_id: str, action: str, ms: int, index: int | None = None) -> dict[str, Any]:
    """An invocation record as hfaction/aws/handler.py writes it."""
    return {"render_id": render_id, "action": action, "status": "ok", "billed_ms": ms,
            "duration_ms": ms, "memory_mb": 1769, "architecture": "x86_64", "index": index}


class History:
    """Step Functions' part of the facade: the batch execution's history."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.asked: list[str] = []

    def get_paginator(self, name: str) -> Any:
        assert name == "get_execution_history"
        history = self

        class Paginator:
            def paginate(self, executionArn: str) -> Iterator[dict[str, Any]]:
                history.asked.append(executionArn)
                yield {"events": history.events}

        return Paginator()


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        yield client


def put_records(s3: Any, render_id: str, records: list[dict[str, Any]]) -> None:
    for number, item in enumerate(records):
        s3.put_object(Bucket=BUCKET, Key=f"work/{render_id}/invocations/{number}.json",
                      Body=json.dumps(item).encode())


def transitions(count: int, *, map_run: bool = False) -> list[dict[str, Any]]:
    events = [{"type": "TaskStateEntered"} for _ in range(count)]
    return events + ([{"type": "MapRunStarted"}] if map_run else [])


def test_each_rows_cost_comes_from_its_own_records_and_the_total_adds_the_transitions(
        s3: Any) -> None:
    per_row = {0: [record(f"{BATCH_ID}-0000", "render_chunk", 4000, 0),
                   record(f"{BATCH_ID}-0000", "assemble_row", 900)],
               1: [record(f"{BATCH_ID}-0001", "render_chunk", 2500, 0)],
               2: [record(f"{BATCH_ID}-0002", "render_chunk", 3000, 0),
                   record(f"{BATCH_ID}-0002", "render_chunk", 3100, 1)]}
    for index, records in per_row.items():
        put_records(s3, row_render_id(BATCH_ID, index), records)
    # Another batch's and a single render's records are not this batch's.
    put_records(s3, "hf-20240601-101500-00000000-0000", [record("x", "render_chunk", 99999)])
    history = History(transitions(40))
    facade = AwsFacade(AwsClients(s3=s3, sfn=history, lambda_=None, cloudformation=None))
    notification = notification_from_event(batch_event("SUCCEEDED", output=batch_output()))
    assert notification is not None

    done = complete_notification(notification, facade, BUCKET)

    assert history.asked == [notification.execution_arn]
    assert done.rows is not None
    for row in done.rows:
        expected = render_cost(per_row[row.row], 0).total
        assert row.cost_usd == pytest.approx(expected) and expected > 0
    every = [item for records in per_row.values() for item in records]
    assert done.cost_usd == pytest.approx(render_cost(every, 40).total)
    assert done.cost_usd > sum(row.cost_usd or 0 for row in done.rows)  # + Step Functions
    assert done.cost_complete
    assert done.to_dict()["totals"]["rows_cost_usd"] == pytest.approx(
        sum(row.cost_usd or 0 for row in done.rows), abs=1e-6)
    # The links stay the ones the rows were signed with.
    assert [row.link for row in done.rows] == [row.link for row in notification.rows or ()]


def test_a_failed_batch_costs_the_rows_it_was_started_with_and_is_not_final(s3: Any) -> None:
    from hfaction.errors import PageScriptError
    from tests.unit.test_notify import lambda_cause

    put_records(s3, row_render_id(BATCH_ID, 1), [record("r", "render_chunk", 5000, 0)])
    facade = AwsFacade(AwsClients(s3=s3, sfn=History(transitions(7)), lambda_=None,
                                  cloudformation=None))
    error = PageScriptError("boom")
    notification = notification_from_event(batch_event(
        "FAILED", error="PAGE_SCRIPT_ERROR", cause=lambda_cause(error), rows=2))
    assert notification is not None
    done = complete_notification(notification, facade, BUCKET)
    assert done.cost_usd == pytest.approx(
        render_cost([record("r", "render_chunk", 5000, 0)], 7).total)
    assert not done.cost_complete  # chunks of a failed batch may still be running


def test_a_distributed_map_or_an_unreadable_history_leaves_the_cost_not_final(
        s3: Any) -> None:
    class NoStepFunctions:
        def get_paginator(self, name: str) -> Any:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}},
                              "GetExecutionHistory")

    notification = notification_from_event(batch_event("SUCCEEDED", output=batch_output()))
    assert notification is not None
    for sfn in (History(transitions(3, map_run=True)), NoStepFunctions()):
        facade = AwsFacade(AwsClients(s3=s3, sfn=sfn, lambda_=None, cloudformation=None))
        done = complete_notification(notification, facade, BUCKET)
        assert done.cost_usd is not None
        assert not done.cost_complete


def test_sns_carries_the_failed_row_count_for_filters() -> None:
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="renders")["TopicArn"]
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        notification = notification_from_event(batch_event("SUCCEEDED", output=batch_output()))
        assert notification is not None
        message_id = publish_sns(sns, topic, notification)
        (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
        envelope = json.loads(message["Body"])
        assert envelope["MessageId"] == message_id
        assert json.loads(envelope["Message"]) == notification.to_dict()
        attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
        assert attributes == {"status": "succeeded", "type": "batch.succeeded",
                              "render_id": BATCH_ID, "rows_failed": "1"}


def test_a_batch_id_that_is_not_the_executions_name_reads_no_records(s3: Any) -> None:
    """The batch id comes from the execution's input: one naming another execution's id
    (whose rows' records it would read) is not believed."""
    put_records(s3, row_render_id(BATCH_ID, 0), [record("r", "render_chunk", 5000, 0)])
    event = batch_event("SUCCEEDED", output=batch_output())
    event["detail"]["executionArn"] = event["detail"]["executionArn"].replace(
        BATCH_ID, "hf-20240601-101500-11111111")
    notification = notification_from_event(event)
    assert notification is not None and notification.render_id == BATCH_ID
    facade = AwsFacade(AwsClients(s3=s3, sfn=History(transitions(3)), lambda_=None,
                                  cloudformation=None))
    done = complete_notification(notification, facade, BUCKET)
    assert done.cost_usd is None and not done.cost_complete
