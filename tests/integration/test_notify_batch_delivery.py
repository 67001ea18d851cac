"""Issue 15: a batch's notification delivered for real, as a render's is in
test_notify_delivery.py: to the loopback webhook receiver that verifies every signature
with hfaction's ``verify`` and with plain ``hmac`` (the README's recipe for receivers
without hfaction), and to an SNS topic with an SQS queue subscribed (moto).

The batch execution itself is the batch engineer's (statemachine/batch.asl.json); its event
is built from the batch contract's input and output, as EventBridge delivers it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from hfaction.aws.notify import NotifyConfig, handle_event, notification_from_event
from hfaction.errors import PageScriptError, WebhookSignatureInvalid
from hfaction.notify_signature import SIGNATURE_HEADER, verify
from tests.integration.test_notify_delivery import (
    REGION,
    SECRET,
    Receiver,
    Sleeps,
    Topic,
    header,
    make_topic,
    urllib_post,
)
from tests.loopback import RecordingServer
from tests.unit.test_notify import lambda_cause
from tests.unit.test_notify_batch import BATCH_ID, batch_event, batch_output


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """Overrides tests/integration/conftest.py: these tests need no browser nor ffmpeg."""


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, RecordingServer]]:
    route = Receiver()
    server = RecordingServer(route)
    yield route, server
    server.stop()


@pytest.fixture
def topic() -> Iterator[Topic]:
    with mock_aws():
        yield make_topic(boto3.client("sns", region_name=REGION),
                         boto3.client("sqs", region_name=REGION))


def plain_verify(body: bytes, signature: str, secret: str, tolerance_s: int = 300) -> bool:
    """The README's receiver recipe in plain Python (no hfaction)."""
    fields = [part.split("=", 1) for part in signature.split(",") if "=" in part]
    stamps = [value for key, value in fields if key == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit() or \
            abs(time.time() - int(stamps[0])) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), stamps[0].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value.lower())
               for key, value in fields if key == "v1")


def test_a_batch_success_with_a_failed_row_and_a_failed_batch_arrive_signed(
        receiver: tuple[Receiver, RecordingServer]) -> None:
    route, server = receiver
    config = NotifyConfig(webhook_url=server.url + "/hooks/batch",
                          webhook_secrets=(SECRET,)).checked()
    error = PageScriptError("index.html:3: ReferenceError: x is not defined")
    events = [batch_event("SUCCEEDED", output=batch_output()),
              batch_event("FAILED", error="PAGE_SCRIPT_ERROR", cause=lambda_cause(error))]

    outcomes = [handle_event(event, config, sleep=Sleeps()) for event in events]

    assert all(outcome is not None and outcome.ok for outcome in outcomes)
    assert route.refused == [] and len(route.accepted) == 2
    for request in server.requests:
        signature = header(request, SIGNATURE_HEADER)
        assert signature is not None and plain_verify(request.body, signature, SECRET)
    succeeded, failed = route.accepted
    assert succeeded["type"] == "batch.succeeded" and succeeded["batch_id"] == BATCH_ID
    assert succeeded["totals"]["succeeded"] == 2 and succeeded["totals"]["failed"] == 1
    rows = {row["name"]: row for row in succeeded["rows"]}
    assert rows["alice"]["link"].startswith("https://")
    assert rows["bob"]["status"] == "failed" and rows["bob"]["error_code"] == "PAGE_SCRIPT_ERROR"
    assert failed["type"] == "batch.failed" and failed["error_code"] == "PAGE_SCRIPT_ERROR"
    assert failed["rows"] is None and failed["totals"]["rows"] == 3


def test_a_tampered_batch_body_fails_verification_both_ways(
        receiver: tuple[Receiver, RecordingServer]) -> None:
    route, server = receiver
    config = NotifyConfig(webhook_url=server.url, webhook_secrets=(SECRET,)).checked()
    outcome = handle_event(batch_event("SUCCEEDED", output=batch_output()), config,
                           sleep=Sleeps())
    assert outcome is not None and outcome.ok
    (sent,) = server.requests
    signature = header(sent, SIGNATURE_HEADER)
    assert signature is not None
    # A failed row turned into a success on the way: the signature no longer holds.
    tampered = sent.body.replace(b'"failed":1', b'"failed":0')
    assert tampered != sent.body
    assert not plain_verify(tampered, signature, SECRET)
    with pytest.raises(WebhookSignatureInvalid):
        verify(tampered, signature, SECRET)
    assert urllib_post(server.url, tampered, {SIGNATURE_HEADER: signature}) == 400
    assert route.refused == ["WEBHOOK_SIGNATURE_INVALID"]
    assert plain_verify(sent.body, signature, SECRET)
    assert not plain_verify(sent.body, signature, SECRET + "x")


def test_sns_gets_the_batch_with_its_rows(topic: Topic) -> None:
    config = NotifyConfig(topic_arn=topic.topic_arn).checked()
    event = batch_event("SUCCEEDED", output=batch_output())
    outcome = handle_event(event, config, sns_client=topic.sns)
    assert outcome is not None and outcome.ok
    (envelope,) = topic.received(1)
    message = json.loads(envelope["Message"])
    expected = notification_from_event(event)
    assert expected is not None
    assert message["rows"] == [row.to_dict() for row in expected.rows or ()]
    assert envelope["Subject"] == f"hfaction batch {BATCH_ID} succeeded: 2 of 3 rows, 1 failed"
    assert envelope["MessageAttributes"]["rows_failed"]["Value"] == "1"
