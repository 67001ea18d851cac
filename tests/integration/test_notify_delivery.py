"""Completion notifications delivered for real: to a webhook receiver on loopback that
verifies every signature with hfaction's own ``verify`` (as a receiver following the README
would), to an SNS topic with an SQS queue subscribed (moto), and end to end from executions
of the real state machine in moto (the event built from DescribeExecution as EventBridge
would send it, the cost read as ``hfaction lambda progress`` reads it)."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hfaction.aws.cost import PRICES, render_cost
from hfaction.aws.facade import AwsClients, AwsFacade, StackInfo
from hfaction.aws.handler import lambda_error
from hfaction.aws.notify import (
    DETAIL_TYPE,
    EVENT_SOURCE,
    Notification,
    NotifyConfig,
    handle_event,
    handler,
    notification_from_event,
    publish_sns,
    send_webhook,
    show_url,
)
from hfaction.aws.renders import progress
from hfaction.errors import (
    HfactionError,
    PageScriptError,
    WebhookDeliveryFailed,
    WebhookSignatureInvalid,
)
from hfaction.notify_signature import SIGNATURE_HEADER, verify
from tests.integration.aws.sfn_harness import SfnHarness
from tests.integration.aws.test_state_machine_semantics import FakeRender
from tests.loopback import RecordingServer, Reply, Request
from tests.unit.test_notify import (
    assemble_output,
    lambda_cause,
    status_event,
)

SECRET = "whsec_integration_5a4b3c2d1e0f9a8b7c6d5e4f"
REGION = "us-east-1"


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """Overrides tests/integration/conftest.py: these tests need no browser nor ffmpeg."""


def header(request: Request, name: str) -> str | None:
    """A request header, looked up as HTTP says: ignoring case (urllib sends
    ``Hfaction-signature``)."""
    for key, value in request.headers.items():
        if key.lower() == name.lower():
            return value
    return None


@dataclass
class Receiver:
    """A webhook receiver: verifies each request's signature with hfaction's ``verify`` and
    answers 400 when it fails; otherwise answers the next scripted reply (200 when none is
    left) and, on a 2xx, keeps the parsed body."""

    replies: list[Reply] = field(default_factory=list)
    secret: str = SECRET
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    verified_timestamps: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Reply:
        try:
            stamp = verify(request.body, header(request, SIGNATURE_HEADER), self.secret)
        except WebhookSignatureInvalid as error:
            with self.lock:
                self.refused.append(error.code)
            return 400, {"Content-Type": "text/plain"}, b"bad signature"
        with self.lock:
            self.verified_timestamps.append(stamp)
            status, headers, body = self.replies.pop(0) if self.replies else (200, {}, b"ok")
            if 200 <= status < 300:
                self.accepted.append(json.loads(request.body))
        return status, headers, body


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, RecordingServer]]:
    route = Receiver()
    server = RecordingServer(route)
    yield route, server
    server.stop()


class Sleeps:
    """Stands in for time.sleep: records the waits, waits nothing."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def backoff(attempt: int) -> float:
    return 0.25 * attempt


def page_script_error() -> PageScriptError:
    return PageScriptError("index.html:12: ReferenceError: gsap is not defined",
                           hint="load gsap before the composition script")


def success_event() -> dict[str, Any]:
    return status_event("SUCCEEDED", output=assemble_output())


def failure_event(error: HfactionError) -> dict[str, Any]:
    raised = lambda_error(error)
    return status_event("FAILED", error=type(raised).__name__, cause=lambda_cause(error))


# --- the webhook ------------------------------------------------------------------------------


def test_a_success_and_a_typed_failure_arrive_signed(
        receiver: tuple[Receiver, RecordingServer]) -> None:
    route, server = receiver
    config = NotifyConfig(webhook_url=server.url + "/hooks/hfaction",
                          webhook_secrets=(SECRET,)).checked()
    error = page_script_error()
    events = [success_event(), failure_event(error)]

    outcomes = [handle_event(event, config, sleep=Sleeps()) for event in events]

    assert all(outcome is not None and outcome.ok for outcome in outcomes)
    assert route.refused == []
    assert len(server.requests) == 2 and len(route.accepted) == 2
    for request in server.requests:
        assert request.method == "POST" and request.path == "/hooks/hfaction"
        assert header(request, "Content-Type") == "application/json; charset=utf-8"
    succeeded, failed = route.accepted
    expected = [notification_from_event(event) for event in events]
    assert [succeeded, failed] == [item.to_dict() for item in expected if item is not None]
    # What the receiver learns, derived from the events.
    detail = events[0]["detail"]
    assert succeeded["type"] == "render.succeeded" and succeeded["version"] == 1
    assert succeeded["render_id"] == json.loads(detail["input"])["render_id"]
    assert succeeded["output_uri"] == json.loads(detail["output"])["output_uri"]
    assert succeeded["id"] == events[0]["id"]
    assert failed["type"] == "render.failed"
    assert (failed["error_code"], failed["error_message"], failed["error_hint"]) == (
        error.code, error.message, error.hint)


def test_a_tampered_body_fails_the_receivers_verification(
        receiver: tuple[Receiver, RecordingServer]) -> None:
    route, server = receiver
    notification = notification_from_event(failure_event(page_script_error()))
    assert notification is not None
    send_webhook(server.url, notification, SECRET, sleep=Sleeps())
    (sent,) = server.requests
    signature = header(sent, SIGNATURE_HEADER)
    assert signature is not None

    # The same signature over a body changed in transit: the receiver refuses it.
    tampered = sent.body.replace(b'"status":"failed"', b'"status":"succeeded"')
    assert tampered != sent.body
    for body in (tampered, sent.body):
        replay = urllib_post(server.url, body, {SIGNATURE_HEADER: signature,
                                                "Content-Type": "application/json"})
        assert replay == (400 if body is tampered else 200)
    assert route.refused == ["WEBHOOK_SIGNATURE_INVALID"]
    with pytest.raises(WebhookSignatureInvalid):
        verify(tampered, signature, SECRET)


def urllib_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_two_503s_then_a_200_take_three_attempts_each_signed_anew(
        receiver: tuple[Receiver, RecordingServer]) -> None:
    route, server = receiver
    route.replies = [(503, {"Retry-After": "2"}, b"busy"), (503, {}, b"busy")]
    sleeps = Sleeps()
    # A clock a little behind the receiver's, within its tolerance, ticking 7 s a call.
    clock_values = iter(range(int(time.time()) - 100, int(time.time()), 7))
    notification = notification_from_event(success_event())
    assert notification is not None

    sent = send_webhook(server.url, notification, SECRET, backoff=backoff, sleep=sleeps,
                        clock=lambda: float(next(clock_values)))

    assert (sent.status, sent.attempts) == (200, 3)
    assert len(server.requests) == 3 and route.refused == []
    # The first wait is what Retry-After asked, the second the backoff's for attempt 2.
    assert sleeps.waits == [2.0, backoff(2)]
    # Every attempt is signed with its own time, over the same body.
    assert len(set(route.verified_timestamps)) == 3
    assert len({request.body for request in server.requests}) == 1
    assert route.accepted == [notification.to_dict()]


def test_a_long_retry_after_gives_way_to_the_backoff(
        receiver: tuple[Receiver, RecordingServer]) -> None:
    route, server = receiver
    route.replies = [(429, {"Retry-After": "3600"}, b"slow down")]
    sleeps = Sleeps()
    notification = notification_from_event(success_event())
    assert notification is not None
    sent = send_webhook(server.url, notification, SECRET, backoff=backoff, sleep=sleeps)
    assert sent.attempts == 2 and sleeps.waits == [backoff(1)]


def test_a_400_is_not_retried(receiver: tuple[Receiver, RecordingServer]) -> None:
    route, server = receiver
    route.replies = [(400, {}, b"unknown render")]
    sleeps = Sleeps()
    notification = notification_from_event(success_event())
    assert notification is not None

    with pytest.raises(WebhookDeliveryFailed) as caught:
        send_webhook(server.url + "/T0KEN", notification, SECRET, sleep=sleeps)

    assert len(server.requests) == 1 and sleeps.waits == []
    assert (caught.value.attempts, caught.value.status) == (1, 400)
    assert caught.value.code == "WEBHOOK_DELIVERY_FAILED"
    text = str(caught.value)
    assert "HTTP 400" in text and show_url(server.url) in text
    assert "T0KEN" not in text and SECRET not in text


def test_every_attempt_failing_is_a_typed_error_after_the_last(
        receiver: tuple[Receiver, RecordingServer]) -> None:
    route, server = receiver
    route.replies = [(500, {}, b"oops")] * 3
    sleeps = Sleeps()
    notification = notification_from_event(success_event())
    assert notification is not None
    with pytest.raises(WebhookDeliveryFailed) as caught:
        send_webhook(server.url, notification, SECRET, attempts=3, backoff=backoff,
                     sleep=sleeps)
    assert len(server.requests) == 3 and sleeps.waits == [backoff(1), backoff(2)]
    assert (caught.value.attempts, caught.value.status) == (3, 500)


def test_a_refused_connection_is_retried(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    notification = notification_from_event(success_event())
    assert notification is not None
    with pytest.raises(WebhookDeliveryFailed) as caught:
        send_webhook(f"http://127.0.0.1:{port}/hook", notification, SECRET, attempts=3,
                     backoff=backoff, sleep=sleeps)
    assert (caught.value.attempts, caught.value.status) == (3, None)
    assert sleeps.waits == [backoff(1), backoff(2)]
    logged = capsys.readouterr().out
    assert "notify_retry" in logged and SECRET not in logged and "v1=" not in logged


def test_a_redirect_is_not_followed(receiver: tuple[Receiver, RecordingServer]) -> None:
    elsewhere = RecordingServer(lambda request: (200, {}, b"ok"))
    try:
        route, server = receiver
        route.replies = [(302, {"Location": elsewhere.url + "/stolen"}, b"")]
        notification = notification_from_event(success_event())
        assert notification is not None
        with pytest.raises(WebhookDeliveryFailed) as caught:
            send_webhook(server.url, notification, SECRET, sleep=Sleeps())
        assert caught.value.status == 302 and caught.value.attempts == 1
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()


def test_rotation_reaches_receivers_on_either_secret(
        receiver: tuple[Receiver, RecordingServer]) -> None:
    route, server = receiver
    new = "whsec_rotated_0a1b2c3d4e5f60718293a4b5"
    notification = notification_from_event(success_event())
    assert notification is not None
    send_webhook(server.url, notification, [new, SECRET], sleep=Sleeps())  # old receiver
    route.secret = new
    send_webhook(server.url, notification, [new, SECRET], sleep=Sleeps())  # updated one
    assert route.refused == [] and len(route.accepted) == 2


# --- SNS (moto), an SQS queue subscribed --------------------------------------------------------


@dataclass
class Topic:
    sns: Any
    sqs: Any
    topic_arn: str
    queue_url: str

    def received(self, count: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        for _ in range(5):
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                              WaitTimeSeconds=0)
            messages.extend(json.loads(item["Body"]) for item in answer.get("Messages", []))
            if len(messages) >= count:
                break
        return messages


def make_topic(sns: Any, sqs: Any) -> Topic:
    topic_arn = sns.create_topic(Name="hfaction-renders")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="render-ends")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return Topic(sns, sqs, topic_arn, queue_url)


@pytest.fixture
def topic() -> Iterator[Topic]:
    with mock_aws():
        yield make_topic(boto3.client("sns", region_name=REGION),
                         boto3.client("sqs", region_name=REGION))


def test_sns_delivers_a_success_and_a_typed_failure_to_the_subscribed_queue(
        topic: Topic) -> None:
    error = page_script_error()
    notifications = [notification_from_event(success_event()),
                     notification_from_event(failure_event(error))]
    sent = [publish_sns(topic.sns, topic.topic_arn, item) for item in notifications if item]
    assert len(sent) == 2 and all(sent)

    envelopes = topic.received(2)
    assert [envelope["MessageId"] for envelope in envelopes] == sent
    for envelope, notification in zip(envelopes, notifications, strict=True):
        assert notification is not None
        assert envelope["TopicArn"] == topic.topic_arn
        assert json.loads(envelope["Message"]) == notification.to_dict()
        assert envelope["Subject"].startswith(f"hfaction render {notification.render_id} ")
        attributes = {name: value["Value"]
                      for name, value in envelope["MessageAttributes"].items()}
        assert attributes["status"] == notification.status
        assert attributes["type"] == notification.type
        assert attributes["render_id"] == notification.render_id
        assert attributes.get("error_code") == notification.error_code
    assert envelopes[1]["Subject"].endswith(f"failed: {error.code}")


def test_a_missing_topic_is_a_typed_aws_error(topic: Topic) -> None:
    notification = notification_from_event(success_event())
    assert notification is not None
    missing = topic.topic_arn.replace("hfaction-renders", "gone")
    with pytest.raises(HfactionError) as caught:
        publish_sns(topic.sns, missing, notification)
    assert caught.value.code == "AWS_CALL_FAILED" and "SNS Publish" in caught.value.message


def test_both_targets_get_it_and_one_failing_does_not_stop_the_other(
        topic: Topic, receiver: tuple[Receiver, RecordingServer]) -> None:
    route, server = receiver
    route.replies = [(400, {}, b"no")]
    config = NotifyConfig(topic_arn=topic.topic_arn, webhook_url=server.url,
                          webhook_secrets=(SECRET,)).checked()
    outcome = handle_event(failure_event(page_script_error()), config,
                           sns_client=topic.sns, sleep=Sleeps())
    assert outcome is not None and not outcome.ok
    sns, webhook = outcome.deliveries
    assert (sns.target, sns.ok, webhook.target, webhook.ok) == ("sns", True, "webhook", False)
    assert webhook.http_status == 400 and webhook.attempts == 1
    assert len(topic.received(1)) == 1
    with pytest.raises(WebhookDeliveryFailed):
        outcome.raise_if_failed()
    # Not a render's end: nothing is sent.
    assert handle_event(status_event("RUNNING"), config, sns_client=topic.sns) is None


def test_the_function_entry_point_reads_its_environment_and_publishes(
        topic: Topic, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    bucket = "hfaction-renders-test"
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=bucket)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("RENDER_BUCKET", bucket)
    monkeypatch.setenv("HFACTION_NOTIFY_TOPIC_ARN", topic.topic_arn)
    event = failure_event(page_script_error())

    answer = handler(event, None)

    assert answer == {"notified": True, "id": event["id"],
                      "render_id": json.loads(event["detail"]["input"])["render_id"],
                      "status": "failed", "targets": ["sns"]}
    (envelope,) = topic.received(1)
    message = json.loads(envelope["Message"])
    # No such execution in this account: progress is not read, the cost comes from the
    # (here absent) invocation records alone and is not complete.
    assert (message["cost_usd"], message["cost_complete"]) == (0.0, False)
    assert "notify_warning" in capsys.readouterr().out
    assert handler(status_event("RUNNING"), None) == {"notified": False}


# --- end to end: executions of the real state machine (moto) -------------------------------------

MEMORY_MB = 3008


class RecordingRender:
    """The canned render of test_state_machine_semantics.py, writing one invocation record
    per invocation as hfaction/aws/handler.py does (failed ones included), with known
    durations."""

    def __init__(self, fake: FakeRender) -> None:
        self.fake = fake
        self.harness: SfnHarness | None = None
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            duration = 1000 + 250 * len(self.records) + 0.4
        record: dict[str, Any] = {"action": event["action"], "render_id": event["render_id"],
                                  "index": event.get("index"), "duration_ms": duration,
                                  "init_ms": 0, "memory_mb": MEMORY_MB,
                                  "architecture": "x86_64"}
        try:
            result = self.fake(event)
            record["status"] = "ok"
            return result
        except Exception as error:
            record.update(status="error", error=type(error).__name__)
            raise
        finally:
            with self.lock:
                self.records.append(record)
            assert self.harness is not None
            self.harness.client("s3").put_object(
                Bucket=self.harness.bucket,
                Key=f"work/{event['render_id']}/invocations/{uuid.uuid4()}.json",
                Body=json.dumps(record).encode())


def event_from_execution(harness: SfnHarness, arn: str) -> dict[str, Any]:
    """The status-change event EventBridge sends, from DescribeExecution's fields."""
    described = harness.client("stepfunctions").describe_execution(executionArn=arn)

    def ms(value: Any) -> int | None:
        return round(value.timestamp() * 1000) if isinstance(value, datetime) else None

    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": DETAIL_TYPE,
        "source": EVENT_SOURCE, "account": arn.split(":")[4], "region": harness.region,
        "time": "2024-06-01T10:16:35Z", "resources": [arn],
        "detail": {
            "executionArn": arn, "stateMachineArn": described["stateMachineArn"],
            "name": described["name"], "status": described["status"],
            "startDate": ms(described.get("startDate")),
            "stopDate": ms(described.get("stopDate")),
            "input": described.get("input"), "inputDetails": {"included": True},
            "output": described.get("output"),
            "outputDetails": {"included": True} if described.get("output") else None,
            "error": described.get("error"), "cause": described.get("cause"),
        },
    }


@pytest.fixture
def render_stack() -> Iterator[tuple[RecordingRender, SfnHarness, Topic]]:
    """The stack in moto, Lambda answered by the canned render, and a topic beside it."""
    recording = RecordingRender(FakeRender(3))
    with SfnHarness(recording, concurrency=4) as harness:
        recording.harness = harness
        yield recording, harness, make_topic(harness.client("sns"), harness.client("sqs"))


@pytest.mark.parametrize("fails", [False, True], ids=["succeeded", "page_script_error"])
def test_a_render_on_the_state_machine_notifies_with_its_cost(
        render_stack: tuple[RecordingRender, SfnHarness, Topic],
        receiver: tuple[Receiver, RecordingServer], fails: bool) -> None:
    recording, harness, topic = render_stack
    route, server = receiver
    error = page_script_error()
    if fails:
        recording.fake.fail("render_chunk", lambda_error(error), index=1)
    render_id = "hf-20240601-101500-0badc0de"
    result = harness.run({"render_id": render_id, "bucket": harness.bucket, "site_id": "s1",
                          "options": {"fps": "30"}}, name=render_id)
    assert result.status == ("FAILED" if fails else "SUCCEEDED"), (result.error, result.cause)

    facade = AwsFacade(AwsClients(s3=harness.client("s3"),
                                  sfn=harness.client("stepfunctions"),
                                  lambda_=None, cloudformation=None))
    config = NotifyConfig(bucket=harness.bucket, topic_arn=topic.topic_arn,
                          webhook_url=server.url, webhook_secrets=(SECRET,),
                          ephemeral_mb=2048).checked()
    outcome = handle_event(event_from_execution(harness, result.arn), config, facade=facade,
                           sns_client=topic.sns, sleep=Sleeps())

    assert outcome is not None and outcome.ok, outcome
    (received,) = route.accepted
    (envelope,) = topic.received(1)
    assert json.loads(envelope["Message"]) == received
    assert route.refused == []
    notification = outcome.notification
    assert received == notification.to_dict()
    assert notification.render_id == render_id
    assert notification.execution_arn == result.arn

    # The cost, by hand from the records the render wrote and the harness's own count of
    # the execution's state transitions.
    records = recording.records
    lambda_usd = sum(MEMORY_MB / 1024 * math.ceil(r["duration_ms"]) / 1000 *
                     PRICES["lambda_gb_second_x86_64"] +
                     (2048 - 512) / 1024 * math.ceil(r["duration_ms"]) / 1000 *
                     PRICES["lambda_ephemeral_gb_second"] for r in records)
    lambda_usd += len(records) * PRICES["lambda_request"]
    expected = lambda_usd + result.state_transitions * PRICES["sfn_state_transition"]
    assert notification.cost_usd == pytest.approx(expected, rel=1e-9)
    assert received["cost_usd"] == round(expected, 6)
    assert notification.cost_complete
    # ... and what 'hfaction lambda progress' says.
    stack = StackInfo(name="t", bucket=harness.bucket, function_arn="",
                      state_machine_arn=harness.state_machine_arn,
                      parameters={"EphemeralStorage": "2048"})
    assert notification.cost_usd == progress(facade, stack, render_id).cost.total
    assert render_cost(records, result.state_transitions,
                       ephemeral_mb=2048).total == pytest.approx(expected, rel=1e-12)

    if fails:
        assert received["type"] == "render.failed"
        assert (received["error_code"], received["error_message"]) == (error.code,
                                                                       error.message)
        assert received["error_chunk"] == 1  # from the failed invocation's record
        assert received["link"] is None
    else:
        key = f"renders/{render_id}/out.mp4"
        assert received["type"] == "render.succeeded" and received["error_code"] is None
        assert received["output_uri"] == f"s3://{harness.bucket}/{key}"
        # The assemble result in moto holds no signed links: progress signs one.
        assert received["link"].startswith("https://") and key in received["link"]
        assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in received["link"]


def test_when_progress_cannot_be_read_the_lambda_cost_alone_is_sent(
        render_stack: tuple[RecordingRender, SfnHarness, Topic],
        receiver: tuple[Receiver, RecordingServer]) -> None:
    recording, harness, _topic = render_stack
    route, server = receiver
    render_id = "hf-20240601-101500-00c0ffee"
    result = harness.run({"render_id": render_id, "bucket": harness.bucket, "site_id": "s1",
                          "options": {"fps": "30"}}, name=render_id)
    assert result.status == "SUCCEEDED"

    class NoStepFunctions:
        meta = harness.client("stepfunctions").meta

        def __getattr__(self, name: str) -> Any:
            from botocore.exceptions import ClientError

            def refuse(*args: Any, **kwargs: Any) -> Any:
                raise ClientError({"Error": {"Code": "AccessDeniedException",
                                             "Message": "not allowed"}}, name)
            return refuse

    facade = AwsFacade(AwsClients(s3=harness.client("s3"), sfn=NoStepFunctions(),
                                  lambda_=None, cloudformation=None))
    config = NotifyConfig(bucket=harness.bucket, webhook_url=server.url,
                          webhook_secrets=(SECRET,)).checked()
    outcome = handle_event(event_from_execution(harness, result.arn), config, facade=facade,
                           sleep=Sleeps())
    assert outcome is not None and outcome.ok
    (received,) = route.accepted
    expected = render_cost(recording.records, 0).total
    assert received["cost_usd"] == round(expected, 6) and received["cost_complete"] is False
    assert received["link"] is None


def test_a_notification_round_trips_through_json() -> None:
    notification = notification_from_event(success_event())
    assert isinstance(notification, Notification)
    assert json.loads(notification.body().decode()) == notification.to_dict()
