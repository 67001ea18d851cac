"""Completion notifications: reading Step Functions' status-change events, the webhook
signature (sign, verify, rotation, every way a request must be refused), webhook URLs and
secrets, and the cost read from the invocation records (moto S3)."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hfaction.aws.cost import FREE_EPHEMERAL_MB, PRICES
from hfaction.aws.handler import lambda_error
from hfaction.aws.notify import (
    DETAIL_TYPE,
    EVENT_SOURCE,
    Notification,
    NotifyConfig,
    check_webhook_secrets,
    check_webhook_url,
    console_url,
    event_pattern,
    exponential_backoff,
    notification_from_event,
    render_cost_from_s3,
    show_url,
)
from hfaction.errors import (
    HfactionError,
    InvalidOption,
    PageScriptError,
    PlanHashMismatch,
    WebhookSignatureInvalid,
)
from hfaction.notify_signature import SIGNATURE_HEADER, parse_header, sign, verify

REGION = "us-east-1"
ACCOUNT = "123456789012"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:hfaction-render"
BUCKET = "hfaction-renders-123456789012"
RENDER_ID = "hf-20240601-101500-1a2b3c4d"
START_MS = 1717236900123
STOP_MS = START_MS + 95_456


# --- events as EventBridge delivers them --------------------------------------------------------


def execution_input(render_id: str = RENDER_ID) -> dict[str, Any]:
    """What hfaction.aws.renders.start_render starts an execution with."""
    return {"render_id": render_id, "bucket": BUCKET, "site_id": "a" * 64,
            "options": {"fps": "30", "parallelism": 8},
            "output_key": f"renders/{render_id}/out.mp4",
            "limits": {"max_frames": 18000, "allow_long": False},
            "presign_expiry_s": 3600}


def assemble_output(render_id: str = RENDER_ID, **extra: Any) -> dict[str, Any]:
    """The execution's output: statemachine/render.asl.json's Assemble ResultSelector."""
    key = f"renders/{render_id}/out.mp4"
    return {"render_id": render_id, "output_key": key, "output_uri": f"s3://{BUCKET}/{key}",
            "bytes": 123456, "frames": 300, "duration": 10.0, **extra}


def lambda_cause(error: HfactionError) -> str:
    """The cause of a typed failure: the Lambda Python runtime's error payload for the
    exception the render function raises (hfaction.aws.handler.lambda_error)."""
    raised = lambda_error(error)
    return json.dumps({"errorMessage": str(raised), "errorType": type(raised).__name__,
                       "requestId": "8f5c7e5e-3b1d-4c55-9a53-1f1fbe0b2c1d",
                       "stackTrace": ['  File "/var/task/hfaction/aws/handler.py", line 99']})


def status_event(status: str, *, render_id: str = RENDER_ID, output: Any = None,
                 error: str | None = None, cause: str | None = None,
                 include_input: bool = True, event_id: str | None = None) -> dict[str, Any]:
    """A "Step Functions Execution Status Change" event, shaped as the EventBridge
    reference shows it: times in epoch milliseconds, input and output as JSON strings
    (null when too large to include), error and cause null unless the execution failed."""
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:hfaction-render:{render_id}"
    ended = status != "RUNNING"
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": EVENT_SOURCE,
        "account": ACCOUNT,
        "time": "2024-06-01T10:16:35Z",
        "region": REGION,
        "resources": [arn],
        "detail": {
            "executionArn": arn,
            "stateMachineArn": MACHINE,
            "name": render_id,
            "status": status,
            "startDate": START_MS,
            "stopDate": STOP_MS if ended else None,
            "input": json.dumps(execution_input(render_id)) if include_input else None,
            "output": json.dumps(output) if output is not None else None,
            "inputDetails": {"included": include_input},
            "outputDetails": {"included": True} if output is not None else None,
            "stateMachineVersionArn": None,
            "stateMachineAliasArn": None,
            "redriveCount": 0,
            "redriveDate": None,
            "redriveStatus": "NOT_REDRIVABLE" if status == "SUCCEEDED" else "REDRIVABLE",
            "redriveStatusReason": f"Execution is {status} and cannot be redriven"
            if status == "SUCCEEDED" else "",
            "error": error,
            "cause": cause,
        },
    }


def ms_time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# --- events to notifications -------------------------------------------------------------------


def test_a_success_names_the_render_its_output_and_times() -> None:
    output = assemble_output()
    event = status_event("SUCCEEDED", output=output)
    notification = notification_from_event(event)

    assert notification is not None
    detail = event["detail"]
    assert notification.id == event["id"]
    assert notification.render_id == execution_input()["render_id"]
    assert notification.status == "succeeded"
    assert notification.execution_arn == detail["executionArn"]
    assert notification.state_machine_arn == detail["stateMachineArn"]
    assert notification.output_uri == output["output_uri"]
    assert notification.started == ms_time(START_MS)
    assert notification.stopped == ms_time(STOP_MS)
    # The execution's output holds no signed link (the Assemble ResultSelector keeps
    # output_uri only): complete_notification reads it.
    assert notification.link is None
    assert notification.cost_usd is None and not notification.cost_complete
    assert notification.error_code is None and notification.error_message is None

    data = notification.to_dict()
    assert data["version"] == 1
    assert data["type"] == "render.succeeded"
    assert data["duration_s"] == (STOP_MS - START_MS) / 1000
    assert data["started"] == ms_time(START_MS).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
    assert data["console_url"] == (
        f"https://{REGION}.console.aws.amazon.com/states/home?region={REGION}"
        f"#/v2/executions/details/{detail['executionArn']}")
    assert json.loads(notification.body()) == data


def test_a_success_takes_the_links_the_assemble_step_signed_unless_expired() -> None:
    signed = datetime(2024, 6, 1, 10, 16, 30, tzinfo=UTC)
    links = {"video_url": f"https://{BUCKET}.s3.{REGION}.amazonaws.com/renders/x.mp4?X-Amz-"
                          "Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc",
             "poster_url": f"https://{BUCKET}.s3.{REGION}.amazonaws.com/renders/x.poster.jpg"
                           "?X-Amz-Algorithm=AWS4-HMAC-SHA256",
             "signed_by": "render function role",
             "latest_expiry": (signed + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
             "expires_at": (signed + timedelta(hours=1)).isoformat().replace("+00:00", "Z")}
    event = status_event("SUCCEEDED", output=assemble_output(links=links))

    fresh = notification_from_event(event, now=signed + timedelta(minutes=1))
    assert fresh is not None
    assert (fresh.link, fresh.poster_link) == (links["video_url"], links["poster_url"])

    late = notification_from_event(event, now=signed + timedelta(hours=2))
    assert late is not None and late.link is None and late.poster_link is None


def test_a_typed_failure_carries_the_functions_error_code_message_and_hint() -> None:
    error = PageScriptError("index.html:12: ReferenceError: gsap is not defined",
                            hint="load gsap before the composition script")
    raised = lambda_error(error)
    # statemachine/render.asl.json's RenderFailed ends the execution with the caught
    # error's name (the exception class name) and the Lambda payload as its cause.
    event = status_event("FAILED", error=type(raised).__name__, cause=lambda_cause(error))
    notification = notification_from_event(event)

    assert notification is not None
    assert notification.status == "failed"
    assert notification.error_code == error.code == "PAGE_SCRIPT_ERROR"
    assert notification.error_message == error.message
    assert notification.error_hint == error.hint
    assert notification.link is None and notification.output_uri is None
    data = notification.to_dict()
    assert data["type"] == "render.failed"
    assert (data["error_code"], data["error_message"]) == (error.code, error.message)


def test_a_generic_error_name_gives_way_to_the_typed_code_in_its_cause() -> None:
    error = PlanHashMismatch("chunk 3 rendered plan 0123abcd", hint="start the render again")
    event = status_event("FAILED", error="States.TaskFailed", cause=lambda_cause(error))
    notification = notification_from_event(event)
    assert notification is not None
    assert (notification.error_code, notification.error_message) == (error.code, error.message)


def test_an_untyped_failure_keeps_its_name_and_the_message_of_its_cause() -> None:
    message = "2024-06-01T10:16:30.000Z 8f5c Task timed out after 900.00 seconds"
    cause = json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"})
    notification = notification_from_event(
        status_event("FAILED", error="Lambda.Unknown", cause=cause))
    assert notification is not None
    assert (notification.error_code, notification.error_message) == ("Lambda.Unknown", message)


def test_a_timeout_is_states_timeout() -> None:
    notification = notification_from_event(status_event("TIMED_OUT"))
    assert notification is not None
    assert notification.status == "timed_out"
    assert notification.to_dict()["type"] == "render.timed_out"
    # As 'hfaction lambda progress' names it.
    assert notification.error_code == "States.Timeout"
    assert notification.error_message and "TimeoutSeconds" in notification.error_message


def test_a_cancelled_render_is_aborted_with_the_stop_executions_error_and_cause() -> None:
    # What hfaction.aws.renders.cancel passes StopExecution.
    cause = "cancelled with 'hfaction lambda cancel'"
    notification = notification_from_event(status_event("ABORTED", error="CANCELLED",
                                                        cause=cause))
    assert notification is not None
    assert notification.status == "aborted"
    assert notification.to_dict()["type"] == "render.aborted"
    assert (notification.error_code, notification.error_message) == ("CANCELLED", cause)


def test_an_abort_without_error_is_named_aborted() -> None:
    notification = notification_from_event(status_event("ABORTED"))
    assert notification is not None
    assert notification.error_code == "ABORTED"


@pytest.mark.parametrize("status", ["RUNNING", "PENDING_REDRIVE", ""])
def test_other_statuses_are_ignored(status: str) -> None:
    assert notification_from_event(status_event(status)) is None


def test_other_events_are_ignored() -> None:
    event = status_event("SUCCEEDED", output=assemble_output())
    assert notification_from_event({**event, "detail-type": "AWS API Call via CloudTrail"}) \
        is None
    assert notification_from_event({**event, "source": "aws.s3"}) is None
    assert notification_from_event({"action": "plan", "render_id": RENDER_ID}) is None
    assert notification_from_event({**event, "detail": "nope"}) is None
    no_arn = {**event, "detail": {**event["detail"], "executionArn": None}}
    assert notification_from_event(no_arn) is None


def test_a_distributed_map_child_execution_is_ignored() -> None:
    event = status_event("FAILED", error="PAGE_SCRIPT_ERROR")
    event["detail"]["stateMachineArn"] = MACHINE + "/chunks"
    event["detail"]["executionArn"] = (f"arn:aws:states:{REGION}:{ACCOUNT}:execution:"
                                       "hfaction-render/chunks:0f9e8d7c")
    assert notification_from_event(event) is None


def test_an_input_too_large_to_include_falls_back_to_the_execution_name() -> None:
    notification = notification_from_event(status_event("SUCCEEDED", include_input=False,
                                                        render_id="hf-big"))
    assert notification is not None
    assert notification.render_id == "hf-big"
    assert notification.output_uri is None


def test_an_event_without_id_gets_a_stable_one() -> None:
    event = status_event("SUCCEEDED")
    del event["id"]
    first, second = notification_from_event(event), notification_from_event(event)
    assert first is not None and second is not None
    assert first.id == second.id and len(first.id) == 32


def test_the_rule_pattern_matches_terminal_statuses_of_the_given_machines() -> None:
    preview = MACHINE.replace("hfaction-render", "hfaction-preview")
    pattern = event_pattern([MACHINE, preview])
    assert pattern == {"source": ["aws.states"],
                       "detail-type": ["Step Functions Execution Status Change"],
                       "detail": {"status": ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"],
                                  "stateMachineArn": [MACHINE, preview]}}


def test_console_urls_per_partition() -> None:
    arn = f"arn:aws-cn:states:cn-north-1:{ACCOUNT}:execution:m:r"
    assert console_url(arn) == ("https://cn-north-1.console.amazonaws.cn/states/home?"
                                f"region=cn-north-1#/v2/executions/details/{arn}")
    assert console_url("arn:aws:s3:::bucket") is None
    assert console_url(f"arn:aws-iso:states:us-iso-east-1:{ACCOUNT}:execution:m:r") is None


# --- signatures ---------------------------------------------------------------------------------

SECRET = "whsec_3b9f0c2e1d7a4c58b6e2f1a09d8c7b6a"
BODY = json.dumps({"version": 1, "type": "render.succeeded", "render_id": RENDER_ID},
                  separators=(",", ":")).encode()
T = 1_717_236_995


def expected_v1(body: bytes, secret: str, timestamp: int) -> str:
    """The documented recipe, independently: HMAC-SHA256(secret, "<t>." + body), hex."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body,
                    hashlib.sha256).hexdigest()


def test_sign_is_the_documented_hmac_and_verify_takes_it_back() -> None:
    header = sign(BODY, SECRET, T)
    assert header == f"t={T},v1={expected_v1(BODY, SECRET, T)}"
    assert verify(BODY, header, SECRET, now=T) == T
    assert verify(BODY, header, SECRET, now=T + 300) == T  # the tolerance's edge
    assert verify(BODY, header, SECRET, now=T - 300) == T


def test_a_tampered_body_fails_verification() -> None:
    header = sign(BODY, SECRET, T)
    tampered = BODY.replace(b"render.succeeded", b"render.failed")
    assert tampered != BODY
    with pytest.raises(WebhookSignatureInvalid) as caught:
        verify(tampered, header, SECRET, now=T)
    assert caught.value.code == "WEBHOOK_SIGNATURE_INVALID"
    with pytest.raises(WebhookSignatureInvalid):
        verify(BODY + b" ", header, SECRET, now=T)


def test_another_secret_fails_verification_and_nothing_secret_is_told() -> None:
    header = sign(BODY, SECRET, T)
    with pytest.raises(WebhookSignatureInvalid) as caught:
        verify(BODY, header, SECRET + "x", now=T)
    text = str(caught.value)
    assert SECRET not in text and expected_v1(BODY, SECRET, T) not in text
    assert expected_v1(BODY, SECRET + "x", T) not in text


def test_a_changed_timestamp_fails_verification() -> None:
    v1 = expected_v1(BODY, SECRET, T)
    with pytest.raises(WebhookSignatureInvalid, match="no signature matches"):
        verify(BODY, f"t={T + 1},v1={v1}", SECRET, now=T)


@pytest.mark.parametrize("offset", [301, 3600, -301])
def test_a_timestamp_out_of_tolerance_fails_verification(offset: int) -> None:
    header = sign(BODY, SECRET, T)
    with pytest.raises(WebhookSignatureInvalid, match="tolerated"):
        verify(BODY, header, SECRET, now=T + offset)
    assert verify(BODY, header, SECRET, now=T + offset, tolerance_s=abs(offset)) == T


@pytest.mark.parametrize("header", [
    None, "", "garbage", "t=,v1=", f"v1={'a' * 64}", f"t=abc,v1={'a' * 64}",
    f"t={T},t={T},v1={'a' * 64}", f"t={T}", f"t={T},v1=zz", f"t={T},v1={'a' * 63}",
    f"t={T},v0={'a' * 64}", f"t={T}, v1", f"t=-{T},v1={'a' * 64}",
    f"t={T}," + ",".join(f"v1={'a' * 64}" for _ in range(200)),
])
def test_a_missing_or_malformed_header_fails_verification(header: str | None) -> None:
    with pytest.raises(WebhookSignatureInvalid):
        verify(BODY, header, SECRET, now=T)


def test_too_many_signatures_are_refused_even_if_one_matches() -> None:
    good = expected_v1(BODY, SECRET, T)
    header = f"t={T}," + ",".join([f"v1={'0' * 64}"] * 8 + [f"v1={good}"])
    with pytest.raises(WebhookSignatureInvalid, match="more than 8"):
        verify(BODY, header, SECRET, now=T)


def test_rotation_signs_with_both_secrets_and_either_verifies() -> None:
    old, new = SECRET, "whsec_new_6f1e2d3c4b5a69788796a5b4c3d2e1f0"
    header = sign(BODY, [new, old], T)
    assert header == f"t={T},v1={expected_v1(BODY, new, T)},v1={expected_v1(BODY, old, T)}"
    assert verify(BODY, header, old, now=T) == T  # a receiver not yet updated
    assert verify(BODY, header, new, now=T) == T  # one already updated
    assert verify(BODY, sign(BODY, new, T), [old, new], now=T) == T  # a receiver with both
    with pytest.raises(WebhookSignatureInvalid):
        verify(BODY, sign(BODY, new, T), old, now=T)  # the old secret alone, after rotation


def test_unknown_schemes_are_ignored_and_hex_case_does_not_matter() -> None:
    v1 = expected_v1(BODY, SECRET, T)
    assert verify(BODY, f"v0=abc, t={T}, v1={v1.upper()}", SECRET, now=T) == T
    assert parse_header(f"t={T},v0={'b' * 64},v1={v1}") == (T, [v1])


def test_signing_needs_a_secret_and_a_unix_time() -> None:
    for secret in ("", [], [""]):
        with pytest.raises(ValueError):
            sign(BODY, secret, T)
    with pytest.raises(ValueError):
        sign(BODY, SECRET, -1)
    assert SIGNATURE_HEADER == "Hfaction-Signature"


# --- webhook URLs, secrets and configuration ------------------------------------------------------


@pytest.mark.parametrize("url", [
    "https://hooks.example.com/hfaction/T0KEN", "http://127.0.0.1:8080/hook",
    "http://localhost/hook", "http://[::1]:9000/", "HTTPS://Example.com",
])
def test_webhook_urls_are_https_or_loopback(url: str) -> None:
    assert check_webhook_url(url) == url


@pytest.mark.parametrize("url", [
    "http://hooks.example.com/hfaction/T0KEN", "ftp://example.com/x", "file:///etc/passwd",
    "https://", "hooks.example.com", "https://user:pa55@hooks.example.com/T0KEN",
    "http://10.0.0.1/T0KEN", "https://example.com:99999/",
])
def test_other_webhook_urls_are_refused_without_showing_their_path(url: str) -> None:
    with pytest.raises(InvalidOption) as caught:
        check_webhook_url(url)
    assert "T0KEN" not in str(caught.value) and "pa55" not in str(caught.value)


def test_shown_urls_keep_scheme_host_and_port_only() -> None:
    assert show_url("https://user:pw@Hooks.example.com:8443/a/T0KEN?x=1") == \
        "https://hooks.example.com:8443"
    assert show_url("http://[::1]:9000/x") == "http://[::1]:9000"


def test_webhook_secrets_must_be_long_enough_and_are_never_shown() -> None:
    assert check_webhook_secrets(SECRET) == (SECRET,)
    assert check_webhook_secrets([SECRET, SECRET + "2"]) == (SECRET, SECRET + "2")
    for bad in ("short-secret", "", [], [SECRET, "tiny"]):
        with pytest.raises(InvalidOption) as caught:
            check_webhook_secrets(bad)
        assert "tiny" not in str(caught.value) and "short-secret" not in str(caught.value)


def test_config_from_the_functions_environment_hides_its_secrets() -> None:
    config = NotifyConfig.from_env({
        "RENDER_BUCKET": BUCKET, "HFACTION_NOTIFY_TOPIC_ARN":
            f"arn:aws:sns:{REGION}:{ACCOUNT}:hfaction-renders",
        "HFACTION_WEBHOOK_URL": "https://hooks.example.com/x",
        "HFACTION_WEBHOOK_SECRET": SECRET, "HFACTION_WEBHOOK_PREVIOUS_SECRET": SECRET + "old",
        "HFACTION_EPHEMERAL_MB": "4096"})
    assert config.webhook_secrets == (SECRET, SECRET + "old")
    assert config.bucket == BUCKET and config.ephemeral_mb == 4096
    assert SECRET not in repr(config)
    with pytest.raises(InvalidOption):  # a webhook without its secret
        NotifyConfig.from_env({"HFACTION_WEBHOOK_URL": "https://hooks.example.com/x"})
    assert NotifyConfig.from_env({}) == NotifyConfig()


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    for attempt in range(1, 10):
        ceiling = min(30.0, 2.0 ** (attempt - 1))
        for _ in range(20):
            assert ceiling / 2 <= exponential_backoff(attempt) <= ceiling


# --- the cost, from the invocation records --------------------------------------------------------


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_the_cost_is_read_from_the_invocation_records_as_progress_reads_it(s3: Any) -> None:
    # Records as hfaction/aws/handler.py's _save_invocation writes them.
    records: list[dict[str, Any]] = [
        {"action": "plan", "index": None, "duration_ms": 2400, "init_ms": 1800,
         "memory_mb": 3008, "architecture": "x86_64", "status": "ok"},
        {"action": "render_chunk", "index": 0, "duration_ms": 41000.4, "init_ms": 0,
         "memory_mb": 3008, "architecture": "x86_64", "status": "ok"},
        {"action": "render_chunk", "index": 1, "duration_ms": 39876, "init_ms": 950.2,
         "memory_mb": 3008, "architecture": "arm64", "status": "error",
         "error": "PAGE_SCRIPT_ERROR"},
    ]
    for number, record in enumerate(records):
        s3.put_object(Bucket=BUCKET, Key=f"work/{RENDER_ID}/invocations/{number}.json",
                      Body=json.dumps(record).encode())
    s3.put_object(Bucket=BUCKET, Key=f"work/{RENDER_ID}/invocations/garbage.json",
                  Body=b"[1, 2]")  # not a record: left out
    s3.put_object(Bucket=BUCKET, Key="work/hf-other/invocations/0.json",
                  Body=json.dumps(records[0]).encode())  # another render's
    # Pass, Task (scheduled twice: one retry), Succeed: 3 states entered + 1 retry.
    history = [{"type": "PassStateEntered"}, {"type": "TaskStateEntered"},
               {"type": "TaskScheduled"}, {"type": "TaskFailed"}, {"type": "TaskScheduled"},
               {"type": "TaskSucceeded"}, {"type": "SucceedStateEntered"}]
    ephemeral_mb = 4096

    cost = render_cost_from_s3(s3, BUCKET, RENDER_ID, history=history,
                               ephemeral_mb=ephemeral_mb)

    # By hand, from AWS's pricing rules: duration (+ init) billed per ms, rounded up.
    compute = ephemeral = 0.0
    for record in records:
        ms = math.ceil(record["duration_ms"] + record["init_ms"])
        compute += record["memory_mb"] / 1024 * ms / 1000 * \
            PRICES[f"lambda_gb_second_{record['architecture']}"]
        ephemeral += (ephemeral_mb - FREE_EPHEMERAL_MB) / 1024 * ms / 1000 * \
            PRICES["lambda_ephemeral_gb_second"]
    requests = len(records) * PRICES["lambda_request"]
    step_functions = 4 * PRICES["sfn_state_transition"]
    assert cost.invocations == len(records) and cost.transitions == 4
    assert cost.total == pytest.approx(compute + ephemeral + requests + step_functions,
                                       rel=1e-12)
    without_history = render_cost_from_s3(s3, BUCKET, RENDER_ID, ephemeral_mb=ephemeral_mb)
    assert without_history.total == pytest.approx(compute + ephemeral + requests, rel=1e-12)
    assert render_cost_from_s3(s3, BUCKET, "hf-none").total == 0.0


def test_the_cost_of_a_bad_render_id_is_refused_before_any_read(s3: Any) -> None:
    with pytest.raises(HfactionError) as caught:
        render_cost_from_s3(s3, BUCKET, "../sites")
    assert caught.value.code == "S3_URI_NOT_ALLOWED"


def test_a_notification_is_frozen() -> None:
    notification = Notification(id="1", render_id=RENDER_ID, status="succeeded",
                                execution_arn="arn", state_machine_arn=MACHINE)
    with pytest.raises(AttributeError):
        notification.status = "failed"  # type: ignore[misc]
