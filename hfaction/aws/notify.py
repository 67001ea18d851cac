"""Completion notifications: a message when a render on AWS succeeds, fails, is stopped or
times out, sent from AWS itself so it arrives when nobody waits for the render.

The source is EventBridge's "Step Functions Execution Status Change" event, which Step
Functions sends for every execution of the render state machines (a rule matching
:func:`event_pattern` delivers it to a function calling :func:`handler`, or
:func:`handle_event`). From it:

1. :func:`notification_from_event` reads the render id, status, output and typed error
   (pure: no AWS call);
2. :func:`complete_notification` adds what the event lacks, read as ``hfaction lambda
   progress`` reads it (:func:`hfaction.aws.renders.progress`): the cost, the links the
   assemble step signed, the failed chunk;
3. :func:`deliver` publishes it to an SNS topic (:func:`publish_sns`) and POSTs it to a
   webhook (:func:`send_webhook`): JSON signed with HMAC-SHA256 over the timestamp and
   the body (:mod:`hfaction.notify_signature`), retried with backoff.

A batch's execution (the batch state machine: its input has ``batch_id`` and ``rows``)
gives a ``batch.*`` notification whose ``rows`` hold each row's status, link, cost and
error, with ``totals``; a batch that succeeded may have failed rows (``totals.failed``).

Neither the webhook secret nor a signature is ever logged or put in an error message;
webhook URLs are shown as scheme://host only (their paths often hold tokens).
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from hfaction import __version__
from hfaction.aws import s3uri
from hfaction.aws.cost import Cost, render_cost, state_transitions
from hfaction.aws.facade import AwsClients, AwsFacade, StackInfo, execution_arn
from hfaction.errors import (
    HfactionError,
    InvalidOption,
    WebhookDeliveryFailed,
)
from hfaction.notify_signature import SIGNATURE_HEADER, sign, verify

__all__ = [
    "DETAIL_TYPE", "EVENT_SOURCE", "SIGNATURE_HEADER", "Delivery", "Notification",
    "NotifyConfig", "NotifyOutcome", "RowNotice", "WebhookDelivery", "check_webhook_url",
    "complete_notification", "deliver", "event_pattern", "exponential_backoff",
    "handle_event", "handler", "notification_from_event", "publish_sns",
    "render_cost_from_s3", "send_webhook", "sign", "verify", "webhook_opener",
]

NOTIFICATION_VERSION = 1
EVENT_SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"
# Step Functions' terminal statuses and the notification's names for them.
STATUSES: dict[str, str] = {"SUCCEEDED": "succeeded", "FAILED": "failed",
                            "TIMED_OUT": "timed_out", "ABORTED": "aborted"}
# The error of an execution that ended without one: what progress reports for them.
_DEFAULT_ERRORS: dict[str, tuple[str, str]] = {
    "FAILED": ("FAILED", "the render's execution failed"),
    "TIMED_OUT": ("States.Timeout", "the execution ran longer than the state machine's "
                                    "TimeoutSeconds allows and was stopped"),
    "ABORTED": ("ABORTED", "the render's execution was stopped"),
}
MAX_ERROR_MESSAGE_CHARS = 2000
_TYPED_CODE = re.compile(r"[A-Z][A-Z0-9_]{2,63}")


def event_pattern(state_machine_arns: Sequence[str]) -> dict[str, Any]:
    """The EventBridge rule's pattern: the terminal status changes of these state machines
    (the render, preview and batch ones: template.yaml's NotifyFunction rule is this
    pattern; a Distributed Map's child executions are left out, their state machine ARN
    being ``PARENT/LABEL``)."""
    return {"source": [EVENT_SOURCE], "detail-type": [DETAIL_TYPE],
            "detail": {"status": list(STATUSES), "stateMachineArn": list(state_machine_arns)}}


# --- the notification ------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """What a render ended with. ``status``: succeeded, failed, aborted or timed_out.
    ``link``: the MP4's presigned HTTPS link (a success whose links are known);
    ``cost_usd``: as ``hfaction lambda progress`` computes it (None: not read), final when
    ``cost_complete`` (no invocation of the render still running, everything read);
    ``error_code``: the typed error the execution ended with (PAGE_SCRIPT_ERROR, ...,
    States.Timeout, or the StopExecution error such as CANCELLED)."""

    id: str  # the EventBridge event's id: the same on a redelivery (deduplicate on it)
    render_id: str
    status: str
    execution_arn: str
    state_machine_arn: str
    started: datetime | None = None
    stopped: datetime | None = None
    link: str | None = None
    poster_link: str | None = None
    output_uri: str | None = None
    cost_usd: float | None = None
    cost_complete: bool = False
    error_code: str | None = None
    error_message: str | None = None
    error_hint: str | None = None
    error_chunk: int | None = None
    # A batch's execution: True, and its rows once the output lists them (None: unknown,
    # e.g. a batch stopped before its end). ``render_id`` is then the batch id.
    batch: bool = False
    rows: tuple[RowNotice, ...] | None = None
    row_count: int | None = None  # the rows the batch was started with

    @property
    def type(self) -> str:
        return f"{'batch' if self.batch else 'render'}.{self.status}"

    def totals(self) -> dict[str, Any]:
        """A batch's rows counted: all, succeeded, failed, and their bytes, seconds of
        video and cost (of the rows whose cost was read)."""
        rows = self.rows or ()
        costs = [row.cost_usd for row in rows if row.cost_usd is not None]
        return {
            "rows": len(rows) if self.rows is not None else self.row_count,
            "succeeded": sum(row.status == "succeeded" for row in rows),
            "failed": sum(row.status == "failed" for row in rows),
            "bytes": sum(row.bytes or 0 for row in rows),
            "duration_s": round(sum(row.duration_s or 0.0 for row in rows), 3),
            "rows_cost_usd": round(sum(costs), 6) if costs else None,
        }

    @property
    def console_url(self) -> str | None:
        return console_url(self.execution_arn)

    def to_dict(self) -> dict[str, Any]:
        duration = (round((self.stopped - self.started).total_seconds(), 3)
                    if self.started and self.stopped else None)
        return {
            "version": NOTIFICATION_VERSION, "type": self.type, "id": self.id,
            "render_id": self.render_id, "status": self.status,
            "execution_arn": self.execution_arn, "state_machine_arn": self.state_machine_arn,
            "console_url": self.console_url,
            "started": _iso(self.started), "stopped": _iso(self.stopped),
            "duration_s": duration,
            "link": self.link, "poster_link": self.poster_link, "output_uri": self.output_uri,
            "cost_usd": round(self.cost_usd, 6) if self.cost_usd is not None else None,
            "cost_complete": self.cost_complete,
            "error_code": self.error_code, "error_message": self.error_message,
            "error_hint": self.error_hint, "error_chunk": self.error_chunk,
            **({"batch_id": self.render_id,
                "rows": [row.to_dict() for row in self.rows] if self.rows is not None
                else None, "totals": self.totals()} if self.batch else {}),
        }

    def body(self) -> bytes:
        """The webhook's body (compact JSON, UTF-8): the bytes that are signed."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()


@dataclass(frozen=True)
class RowNotice:
    """One row of a batch as its notification reports it (the execution's output row:
    hfaction/aws/batchspec.py). ``status``: succeeded or failed."""

    row: int
    name: str
    render_id: str
    status: str
    link: str | None = None
    poster_link: str | None = None
    output_uri: str | None = None
    bytes: int | None = None
    duration_s: float | None = None
    cost_usd: float | None = None
    error_code: str | None = None
    error_message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "name": self.name, "render_id": self.render_id,
                "status": self.status, "link": self.link, "poster_link": self.poster_link,
                "output_uri": self.output_uri, "bytes": self.bytes,
                "duration_s": self.duration_s,
                "cost_usd": round(self.cost_usd, 6) if self.cost_usd is not None else None,
                "error_code": self.error_code, "error_message": self.error_message}


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return kind(value)


def rows_from_output(output: Mapping[str, Any], now: datetime) -> tuple[RowNotice, ...] | None:
    """The rows of a batch execution's output (None when it lists none). A row is
    succeeded only when the output says SUCCEEDED; its link only when signed and unexpired;
    a row without a typed error gets BATCH_FAILED."""
    items = output.get("rows")
    if not isinstance(items, list):
        return None
    rows: list[RowNotice] = []
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            continue
        index = item.get("row")
        index = index if isinstance(index, int) and not isinstance(index, bool) else position
        render_id = item.get("render_id")
        uri = item.get("output_uri")
        name = str(item.get("name") or f"row-{index + 1:04d}")
        row_id = render_id if isinstance(render_id, str) else ""
        if item.get("status") == "SUCCEEDED":
            link, poster = _signed_link(item.get("links"), now)
            rows.append(RowNotice(
                row=index, name=name, render_id=row_id, status="succeeded", link=link,
                poster_link=poster,
                output_uri=uri if isinstance(uri, str) and uri.startswith("s3://") else None,
                bytes=_number(item.get("bytes"), int),
                duration_s=_number(item.get("duration"), float)))
            continue
        found = item.get("error")
        error: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        code = error.get("code")
        rows.append(RowNotice(
            row=index, name=name, render_id=row_id, status="failed",
            error_code=code if isinstance(code, str) and code else "BATCH_FAILED",
            error_message=_text(error.get("message")) or "the row did not render"))
    return tuple(rows)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def console_url(arn: str) -> str | None:
    """The execution's page in the Step Functions console."""
    parts = arn.split(":")
    if len(parts) < 8 or parts[2] != "states" or parts[5] != "execution":
        return None
    partition, region = parts[1], parts[3]
    domain = {"aws": "console.aws.amazon.com", "aws-cn": "console.amazonaws.cn",
              "aws-us-gov": "console.amazonaws-us-gov.com"}.get(partition)
    if domain is None or not re.fullmatch(r"[a-z0-9-]+", region):
        return None
    return (f"https://{region}.{domain}/states/home?region={region}"
            f"#/v2/executions/details/{arn}")


def _moment(value: Any) -> datetime | None:
    """A time as EventBridge (epoch milliseconds), DescribeExecution (datetime) or a
    signed-links record (ISO 8601) gives it."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    return None


def _json(value: Any) -> Any:
    """An execution's input or output: a JSON string in the event (null when too large to
    include: ``inputDetails.included`` false)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return None


def _text(value: Any, limit: int = MAX_ERROR_MESSAGE_CHARS) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    if not text:
        return None
    return text if len(text) <= limit else text[:limit - 1] + "…"


def decode_error(status: str, error: Any, cause: Any) -> tuple[str, str, str | None]:
    """(code, message, hint) of an execution that did not succeed.

    The render function raises typed errors as exceptions named by their code, so the
    execution fails with that code as its ``error`` (statemachine/render.asl.json's
    RenderFailed keeps the caught error's name) and the Lambda error payload as ``cause``:
    ``{"errorType": CODE, "errorMessage": "{\\"code\\": ..., \\"message\\": ...,
    \\"hint\\": ...}", ...}``. A generic name (``States.TaskFailed``, ``Lambda.Unknown``)
    gives way to the typed code its cause holds."""
    default_code, default_message = _DEFAULT_ERRORS.get(status, _DEFAULT_ERRORS["FAILED"])
    code = error.strip() if isinstance(error, str) and error.strip() else None
    message: Any = cause if isinstance(cause, str) and cause.strip() else None
    hint: Any = None
    inner_code: Any = None
    parsed = _json(message)
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        message = parsed.get("errorMessage")
        inner_code = parsed.get("errorType")
        parsed = _json(message)
    if isinstance(parsed, dict) and ("code" in parsed or "message" in parsed):
        inner_code = parsed.get("code") or inner_code
        message = parsed.get("message", message)
        hint = parsed.get("hint") or None
    typed = inner_code if isinstance(inner_code, str) and _TYPED_CODE.fullmatch(inner_code) \
        else None
    if code is None or (typed and code.startswith(("States.", "Lambda."))
                        and code != "States.Timeout"):
        code = typed or code
    return (code or default_code, _text(message) or default_message, _text(hint))


def _signed_link(links: Any, now: datetime) -> tuple[str | None, str | None]:
    """The video and poster links the assemble step signed, unless expired."""
    if not isinstance(links, dict):
        return None, None
    video = links.get("video_url")
    if not isinstance(video, str) or not video.startswith("https://"):
        return None, None
    ends = [_moment(links.get(name)) for name in ("expires_at", "latest_expiry")]
    if any(end is not None and end <= now for end in ends):
        return None, None
    poster = links.get("poster_url")
    return video, poster if isinstance(poster, str) and poster.startswith("https://") else None


def notification_from_event(event: Mapping[str, Any], *,
                            now: datetime | None = None) -> Notification | None:
    """The notification of a "Step Functions Execution Status Change" event; None for any
    other event, a RUNNING (or other non-terminal) status, or a Distributed Map's child
    execution.

    The render id is the execution input's ``render_id`` (hfaction starts each execution
    under the render id as its name: the name when the input was too large to include).
    A success's ``output`` is the assemble step's result: ``output_uri``, and ``links``
    (video_url, poster_url) once the state machine passes them on; without them ``link``
    stays None until :func:`complete_notification` reads them.
    """
    detail = event.get("detail") if isinstance(event, Mapping) else None
    if not isinstance(detail, Mapping):
        return None
    if event.get("source", EVENT_SOURCE) != EVENT_SOURCE or \
            event.get("detail-type", DETAIL_TYPE) != DETAIL_TYPE:
        return None
    status = STATUSES.get(str(detail.get("status", "")))
    arn = detail.get("executionArn")
    machine = str(detail.get("stateMachineArn") or "")
    if status is None or not isinstance(arn, str) or not arn:
        return None
    if "/" in machine.rsplit(":", 1)[-1]:  # stateMachine:PARENT/LABEL: a map run's child
        return None
    request = _json(detail.get("input"))
    output = _json(detail.get("output"))
    batch = (isinstance(request, dict) and "batch_id" in request) or \
        (isinstance(output, dict) and "batch_id" in output and "rows" in output)
    key = "batch_id" if batch else "render_id"
    render_id = request.get(key) if isinstance(request, dict) else None
    if not isinstance(render_id, str) or not render_id:
        render_id = str(detail.get("name") or arn.rsplit(":", 1)[-1])
    row_count = len(request["rows"]) if batch and isinstance(request, dict) and \
        isinstance(request.get("rows"), list) else None
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        event_id = hashlib.sha256(
            f"{arn}|{status}|{detail.get('stopDate')}".encode()).hexdigest()[:32]
    notification = Notification(
        id=event_id, render_id=render_id, status=status, execution_arn=arn,
        state_machine_arn=machine, started=_moment(detail.get("startDate")),
        stopped=_moment(detail.get("stopDate")), batch=batch, row_count=row_count)
    if status == "succeeded":
        if not isinstance(output, dict):
            return notification
        if batch:
            rows = rows_from_output(output, now or datetime.now(UTC))
            return replace(notification, rows=rows,
                           row_count=len(rows) if rows is not None else row_count)
        uri = output.get("output_uri")
        link, poster = _signed_link(output.get("links"), now or datetime.now(UTC))
        return replace(notification, link=link, poster_link=poster,
                       output_uri=uri if isinstance(uri, str) and uri.startswith("s3://")
                       else None)
    code, message, hint = decode_error(str(detail.get("status")), detail.get("error"),
                                       detail.get("cause"))
    return replace(notification, error_code=code, error_message=message, error_hint=hint)


# --- cost, links and the failed chunk, as progress reads them ---------------------------------

DEFAULT_EPHEMERAL_MB = 10240  # the template's EphemeralStorage default
DEFAULT_PRESIGN_EXPIRY_S = 3600


def invocations_prefix(render_id: str) -> str:
    """Where the render function writes one record per invocation (handler.py's
    ``_save_invocation``, read by progress for the Lambda cost)."""
    return f"{s3uri.WORK_PREFIX}{s3uri.check_id(render_id, 'render id')}/invocations/"


def render_cost_from_s3(s3_client: Any, bucket: str, render_id: str, *,
                        history: Sequence[Mapping[str, Any]] = (),
                        ephemeral_mb: int = DEFAULT_EPHEMERAL_MB) -> Cost:
    """A render's cost as :func:`hfaction.aws.renders.progress` computes it, from its
    invocation records in ``bucket`` (Lambda: compute, requests, ephemeral storage) and,
    when given, its execution ``history`` (Step Functions state transitions; without it
    that part is 0, and a Distributed Map's child executions are never in it)."""
    facade = AwsFacade(AwsClients(s3=s3_client, sfn=None, lambda_=None, cloudformation=None))
    records = [facade.get_json(bucket, key)
               for key in facade.list_keys(bucket, invocations_prefix(render_id))]
    return render_cost([record for record in records if isinstance(record, dict)],
                       state_transitions(history), ephemeral_mb=ephemeral_mb)


# progress() adds this (hfaction/aws/renders.py's read_map_runs) when a Distributed Map's
# children could not be read: their Step Functions cost is then left out.
_MAP_RUN_UNREAD = "could not be read, so chunks in flight and the Step Functions cost"


def complete_notification(notification: Notification, facade: AwsFacade, bucket: str, *,
                          ephemeral_mb: int = DEFAULT_EPHEMERAL_MB,
                          presign_expiry_s: int = DEFAULT_PRESIGN_EXPIRY_S) -> Notification:
    """The notification with its cost, its links and the chunk that failed, read with
    :func:`hfaction.aws.renders.progress` (DescribeExecution, GetExecutionHistory, the map
    runs of a Distributed Map, and the invocation records in ``bucket``, the stack's render
    bucket, never one an execution's input names).

    ``cost_complete`` is True when nothing the render started still runs on Lambda (a
    failed or stopped render's chunks finish after its end) and everything was read. When
    progress cannot be read (a policy without Step Functions reads) the Lambda cost alone
    is given, not complete; when that fails too, the notification is returned unchanged.
    Never raises for an AWS failure: a notification is better late than never sent.
    """
    from hfaction.aws.renders import progress

    if notification.batch:
        return complete_batch_notification(notification, facade, bucket,
                                           ephemeral_mb=ephemeral_mb)
    stack = StackInfo(name="", bucket=bucket, function_arn="",
                      state_machine_arn=notification.state_machine_arn,
                      parameters={"EphemeralStorage": str(ephemeral_mb)})
    try:
        render_id = s3uri.check_id(notification.render_id, "render id")
        if execution_arn(stack.state_machine_arn, render_id) != notification.execution_arn:
            raise InvalidOption(f"execution {notification.execution_arn} is not named by "
                                f"its render id {render_id}")
        current = progress(facade, stack, render_id, presign_expiry_s=presign_expiry_s)
    except HfactionError as error:
        _log("notify_warning", render_id=notification.render_id,
             message=f"progress not read: {error.one_line()}")
        try:
            cost = render_cost_from_s3(facade.clients.s3, bucket, notification.render_id,
                                       ephemeral_mb=ephemeral_mb)
        except HfactionError as again:
            _log("notify_warning", render_id=notification.render_id,
                 message=f"cost not read: {again.one_line()}")
            return notification
        return replace(notification, cost_usd=cost.total, cost_complete=False)
    changes: dict[str, Any] = {
        "cost_usd": current.cost.total,
        "cost_complete": current.chunks_in_flight == 0 and
        not any(_MAP_RUN_UNREAD in warning for warning in current.warnings),
    }
    if notification.status == "succeeded":
        if notification.link is None and current.output_url:
            changes.update(link=current.output_url, poster_link=current.poster_url)
        if notification.output_uri is None and current.output_uri:
            changes["output_uri"] = current.output_uri
    elif notification.error_chunk is None:
        chunks = [error.index for error in current.errors
                  if error.code == notification.error_code and isinstance(error.index, int)]
        if chunks:
            changes["error_chunk"] = chunks[0]
    return replace(notification, **changes)


def complete_batch_notification(notification: Notification, facade: AwsFacade, bucket: str,
                                *, ephemeral_mb: int = DEFAULT_EPHEMERAL_MB) -> Notification:
    """A batch's notification with its cost: each row's Lambda cost from its invocation
    records (work/<row render id>/invocations/ in ``bucket``, the rows of the output, else
    as many as the batch was started with), plus the batch execution's state transitions.
    Not complete when the execution failed or was stopped (chunks may still run), when it
    ran a Distributed Map (its children's transitions are not read), or when anything could
    not be read. Never raises for an AWS failure."""
    from hfaction.aws.batchspec import row_render_id

    try:
        batch_id = s3uri.check_id(notification.render_id, "batch id")
        if execution_arn(notification.state_machine_arn, batch_id) != \
                notification.execution_arn:
            raise InvalidOption(f"execution {notification.execution_arn} is not named by "
                                f"its batch id {batch_id}")
        if notification.rows is not None:
            ids = [row.render_id for row in notification.rows]
        else:
            ids = [row_render_id(batch_id, index)
                   for index in range(notification.row_count or 0)]
        facade_s3 = AwsFacade(AwsClients(s3=facade.clients.s3, sfn=None, lambda_=None,
                                         cloudformation=None))
        records: dict[str, list[dict[str, Any]]] = {}
        for render_id in ids:
            if not render_id:
                continue
            found = [facade_s3.get_json(bucket, key)
                     for key in facade_s3.list_keys(bucket, invocations_prefix(render_id))]
            records[render_id] = [record for record in found if isinstance(record, dict)]
    except HfactionError as error:
        _log("notify_warning", render_id=notification.render_id,
             message=f"cost not read: {error.one_line()}")
        return notification
    complete = notification.status == "succeeded"
    history: list[dict[str, Any]] = []
    try:
        history = facade.execution_history(notification.execution_arn)
    except HfactionError as error:
        complete = False
        _log("notify_warning", render_id=notification.render_id,
             message=f"history not read: {error.one_line()}")
    if any(event.get("type") == "MapRunStarted" for event in history):
        complete = False
    every = [record for found in records.values() for record in found]
    total = render_cost(every, state_transitions(history), ephemeral_mb=ephemeral_mb)
    rows = notification.rows
    if rows is not None:
        rows = tuple(replace(row, cost_usd=render_cost(records.get(row.render_id, []), 0,
                                                       ephemeral_mb=ephemeral_mb).total)
                     for row in rows)
    return replace(notification, rows=rows, cost_usd=total.total, cost_complete=complete)


# --- SNS ----------------------------------------------------------------------------------------


def _subject(notification: Notification) -> str:
    """An SNS subject: ASCII, one line, under 100 characters."""
    words = {"succeeded": "succeeded", "failed": "failed", "aborted": "was stopped",
             "timed_out": "timed out"}
    kind = "batch" if notification.batch else "render"
    text = f"hfaction {kind} {notification.render_id} {words[notification.status]}"
    if notification.error_code:
        text += f": {notification.error_code}"
    elif notification.batch and notification.rows is not None:
        totals = notification.totals()
        text += f": {totals['succeeded']} of {totals['rows']} rows"
        if totals["failed"]:
            text += f", {totals['failed']} failed"
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return text if len(text) < 100 else text[:96] + "..."


def publish_sns(sns_client: Any, topic_arn: str, notification: Notification) -> str:
    """Publish the notification (its JSON as the message) to an SNS topic; the message id.

    Message attributes ``status``, ``type``, ``render_id`` and ``error_code`` (on failure)
    let subscriptions filter (a filter policy such as ``{"status": ["failed",
    "timed_out"]}``). A FIFO topic groups by render id and deduplicates on the
    notification's id. AWS_CALL_FAILED when SNS refuses.
    """
    attributes = {"status": notification.status, "type": notification.type,
                  "render_id": notification.render_id}
    if notification.error_code:
        attributes["error_code"] = notification.error_code
    if notification.batch and notification.rows is not None:
        attributes["rows_failed"] = str(notification.totals()["failed"])
    fifo = topic_arn.endswith(".fifo")
    facade = AwsFacade(AwsClients(s3=None, sfn=None, lambda_=None, cloudformation=None,
                                  sns=sns_client))
    message_id = facade.publish_sns(
        topic_arn, json.dumps(notification.to_dict(), indent=2, sort_keys=True),
        subject=_subject(notification), attributes=attributes,
        group_id=notification.render_id if fifo else None,
        deduplication_id=notification.id[:128] if fifo else None)
    _log("notify_sent", target="sns", render_id=notification.render_id,
         status=notification.status, message_id=message_id)
    return message_id


# --- webhooks -----------------------------------------------------------------------------------

MIN_SECRET_CHARS = 16
DEFAULT_ATTEMPTS = 5
DEFAULT_TIMEOUT_S = 10.0
MAX_RETRY_AFTER_S = 60.0
USER_AGENT = f"hfaction/{__version__} (webhook)"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def show_url(url: str) -> str:
    """A webhook URL as messages show it: scheme://host[:port] (a path may hold a token)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


def check_webhook_url(url: str) -> str:
    """A webhook URL hfaction POSTs to: https, or http to this machine's loopback only
    (tests, a local relay); no user:password@ part. INVALID_OPTION otherwise (before any
    request or deploy)."""
    parts = urlsplit(url.strip() if isinstance(url, str) else "")
    scheme = parts.scheme.lower()
    try:
        host = parts.hostname or ""
        _ = parts.port  # a malformed port raises here
    except ValueError:
        host = ""
    if scheme not in ("http", "https") or not host:
        raise InvalidOption("the webhook URL is not an http(s) URL with a host",
                            hint="give an https://... URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidOption(f"the webhook URL {show_url(url)} holds a user name or password",
                            hint="authenticate with the signature header instead (verify "
                                 "it with the webhook secret)")
    if scheme == "http" and not _is_loopback(host):
        raise InvalidOption(f"the webhook URL {show_url(url)} is not https",
                            hint="notifications (with their video links) are only sent "
                                 "over https; http is allowed to loopback only")
    return url.strip()


def check_webhook_secrets(secret: str | Sequence[str]) -> tuple[str, ...]:
    """The secrets to sign with (the current one first); INVALID_OPTION when one is shorter
    than 16 characters. The message never holds a secret."""
    found = (secret,) if isinstance(secret, str) else tuple(secret)
    if not found or any(not isinstance(item, str) or len(item) < MIN_SECRET_CHARS
                        for item in found):
        raise InvalidOption(f"the webhook secret must have at least {MIN_SECRET_CHARS} "
                            "characters",
                            hint="generate one, e.g. python -c 'import secrets; "
                                 "print(secrets.token_urlsafe(32))'")
    return found


def webhook_opener(*, proxies: bool = True) -> urllib.request.OpenerDirector:
    """An opener that speaks http and https only (no ftp, file or data handler, unlike
    build_opener) and follows no redirect: a 3xx answer is a refusal, so a notification
    never goes where its URL did not say (nor turns into a GET, as urllib's redirects of a
    POST do). ``proxies``: those of the environment, for http(s) only."""
    opener = urllib.request.OpenerDirector()
    found = {scheme: url for scheme, url in urllib.request.getproxies().items()
             if scheme in ("http", "https")} if proxies else {}
    for handler in (
        urllib.request.ProxyHandler(found),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def exponential_backoff(attempt: int, *, base_s: float = 1.0, cap_s: float = 30.0) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1, 2, ...): base * 2^(attempt-1),
    at most ``cap_s``, with jitter (between half and all of it)."""
    return min(cap_s, base_s * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def _retryable(status: int) -> bool:
    return status in (408, 429) or 500 <= status <= 599


def _retry_after(value: str | None, now: float) -> float | None:
    """Retry-After: seconds, or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


@dataclass(frozen=True)
class WebhookDelivery:
    """A webhook that accepted the notification: its (shown) URL, HTTP status, attempts."""

    url: str
    status: int
    attempts: int


def send_webhook(url: str, notification: Notification, secret: str | Sequence[str], *,
                 attempts: int = DEFAULT_ATTEMPTS,
                 backoff: Callable[[int], float] = exponential_backoff,
                 timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_retry_after_s: float = MAX_RETRY_AFTER_S,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time,
                 opener: urllib.request.OpenerDirector | None = None) -> WebhookDelivery:
    """POST the notification as JSON, signed (``Hfaction-Signature: t=...,v1=...``; one
    ``v1`` per secret while rotating), until a 2xx answer.

    Each attempt is signed anew (a fresh timestamp) over the same body. Connection errors,
    timeouts, 5xx, 408 and 429 are retried, up to ``attempts`` requests in all, waiting
    ``backoff(attempt)`` seconds in between, or what Retry-After asks when it is at most
    ``max_retry_after_s``; any other answer (4xx, a redirect) is final. WEBHOOK_DELIVERY_FAILED
    when no attempt was accepted (its ``attempts`` and last ``status`` say how it went).
    """
    target = check_webhook_url(url)
    keys = check_webhook_secrets(secret)
    if attempts < 1:
        raise InvalidOption(f"webhook attempts must be at least 1, not {attempts}")
    shown = show_url(target)
    body = notification.body()
    if opener is None:
        opener = webhook_opener(proxies=not _is_loopback(urlsplit(target).hostname or ""))
    status: int | None = None
    last = "no attempt"
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(target, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(body, keys, int(clock())),
        })
        wait: float | None = None
        try:
            with opener.open(request, timeout=timeout_s) as response:
                response.read(64 * 1024)
                status = int(response.status)
            _log("notify_sent", target="webhook", url=shown, render_id=notification.render_id,
                 status=notification.status, http_status=status, attempts=attempt)
            return WebhookDelivery(shown, status, attempt)
        except urllib.error.HTTPError as error:
            status = int(error.code)
            last = f"HTTP {status}"
            wait = _retry_after(error.headers.get("Retry-After") if error.headers else None,
                                clock())
            error.close()
            if not _retryable(status):
                raise _delivery_failed(
                    f"webhook {shown} refused the notification of render "
                    f"{notification.render_id}: HTTP {status}", attempt, status,
                    hint="a 4xx (or a redirect) is not retried: check the URL and that the "
                         "receiver verifies with the same secret") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            status = None
            reason = getattr(error, "reason", None) or error
            last = f"{type(reason).__name__}: {reason}" if str(reason) else \
                type(reason).__name__
        if attempt == attempts:
            break
        delay = wait if wait is not None and wait <= max_retry_after_s else backoff(attempt)
        _log("notify_retry", target="webhook", url=shown, render_id=notification.render_id,
             attempt=attempt, error=last, retry_in_s=round(delay, 3))
        sleep(delay)
    raise _delivery_failed(
        f"webhook {shown} did not accept the notification of render "
        f"{notification.render_id} after {attempts} attempts: {last}", attempts, status,
        hint="check that the receiver is reachable from AWS and answers 2xx quickly")


def _delivery_failed(message: str, attempts: int, status: int | None, *,
                     hint: str) -> WebhookDeliveryFailed:
    error = WebhookDeliveryFailed(message, hint=hint)
    error.attempts, error.status = attempts, status
    return error


# --- configuration and the function -------------------------------------------------------------

ENV_TOPIC_ARN = "HFACTION_NOTIFY_TOPIC_ARN"
ENV_WEBHOOK_URL = "HFACTION_WEBHOOK_URL"
ENV_WEBHOOK_SECRET = "HFACTION_WEBHOOK_SECRET"
ENV_WEBHOOK_PREVIOUS_SECRET = "HFACTION_WEBHOOK_PREVIOUS_SECRET"  # while rotating
ENV_BUCKET = "RENDER_BUCKET"
ENV_EPHEMERAL_MB = "HFACTION_EPHEMERAL_MB"
ENV_PRESIGN_EXPIRY_S = "HFACTION_PRESIGN_EXPIRY_S"


@dataclass(frozen=True)
class NotifyConfig:
    """Where notifications go: an SNS topic, a webhook, or both; ``bucket``: the stack's
    render bucket, where the cost is read. The secrets are left out of its repr."""

    bucket: str = ""
    topic_arn: str | None = None
    webhook_url: str | None = None
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    ephemeral_mb: int = DEFAULT_EPHEMERAL_MB
    presign_expiry_s: int = DEFAULT_PRESIGN_EXPIRY_S
    attempts: int = DEFAULT_ATTEMPTS

    def checked(self) -> NotifyConfig:
        """INVALID_OPTION for an unusable webhook (URL, or secret missing or short)."""
        if self.webhook_url is not None:
            check_webhook_url(self.webhook_url)
            check_webhook_secrets(self.webhook_secrets)
        if self.topic_arn is not None and not self.topic_arn.startswith("arn:"):
            raise InvalidOption(f"{self.topic_arn!r} is not an SNS topic ARN")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotifyConfig:
        """The function's configuration: RENDER_BUCKET, HFACTION_NOTIFY_TOPIC_ARN,
        HFACTION_WEBHOOK_URL, HFACTION_WEBHOOK_SECRET (and HFACTION_WEBHOOK_PREVIOUS_SECRET
        while rotating), HFACTION_EPHEMERAL_MB, HFACTION_PRESIGN_EXPIRY_S."""
        env = os.environ if environ is None else environ
        secrets = tuple(value for value in (env.get(ENV_WEBHOOK_SECRET, "").strip(),
                                            env.get(ENV_WEBHOOK_PREVIOUS_SECRET, "").strip())
                        if value)
        return cls(bucket=env.get(ENV_BUCKET, "").strip(),
                   topic_arn=env.get(ENV_TOPIC_ARN, "").strip() or None,
                   webhook_url=env.get(ENV_WEBHOOK_URL, "").strip() or None,
                   webhook_secrets=secrets,
                   ephemeral_mb=_int(env.get(ENV_EPHEMERAL_MB), DEFAULT_EPHEMERAL_MB),
                   presign_expiry_s=_int(env.get(ENV_PRESIGN_EXPIRY_S),
                                         DEFAULT_PRESIGN_EXPIRY_S)).checked()


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value and value.strip() else default
    except ValueError:
        return default


@dataclass(frozen=True)
class Delivery:
    """How one target took the notification."""

    target: str  # "sns" or "webhook"
    destination: str  # the topic ARN, or the webhook as scheme://host
    ok: bool
    attempts: int = 1
    http_status: int | None = None
    message_id: str | None = None
    error: HfactionError | None = None


@dataclass(frozen=True)
class NotifyOutcome:
    notification: Notification
    deliveries: list[Delivery]

    @property
    def ok(self) -> bool:
        return all(delivery.ok for delivery in self.deliveries)

    def raise_if_failed(self) -> None:
        """The first failed delivery's typed error, after every target was tried."""
        for delivery in self.deliveries:
            if delivery.error is not None:
                raise delivery.error


def deliver(notification: Notification, config: NotifyConfig, *, sns_client: Any = None,
            **webhook_options: Any) -> list[Delivery]:
    """Send the notification to every configured target, each whatever the other did;
    ``webhook_options`` go to :func:`send_webhook` (``sleep``, ``backoff``, ...)."""
    deliveries: list[Delivery] = []
    if config.topic_arn:
        try:
            if sns_client is None:
                raise InvalidOption("an SNS topic is configured but no SNS client was given")
            message_id = publish_sns(sns_client, config.topic_arn, notification)
            deliveries.append(Delivery("sns", config.topic_arn, True, message_id=message_id))
        except HfactionError as error:
            _log("notify_failed", target="sns", render_id=notification.render_id,
                 error=error.one_line())
            deliveries.append(Delivery("sns", config.topic_arn, False, error=error))
    if config.webhook_url:
        shown = show_url(config.webhook_url)
        options = {"attempts": config.attempts, **webhook_options}
        try:
            sent = send_webhook(config.webhook_url, notification, config.webhook_secrets,
                                **options)
            deliveries.append(Delivery("webhook", sent.url, True, attempts=sent.attempts,
                                       http_status=sent.status))
        except WebhookDeliveryFailed as error:
            _log("notify_failed", target="webhook", render_id=notification.render_id,
                 error=error.one_line())
            deliveries.append(Delivery("webhook", shown, False, attempts=error.attempts,
                                       http_status=error.status, error=error))
        except HfactionError as error:
            deliveries.append(Delivery("webhook", shown, False, attempts=0, error=error))
    return deliveries


def handle_event(event: Mapping[str, Any], config: NotifyConfig, *,
                 facade: AwsFacade | None = None, sns_client: Any = None,
                 **webhook_options: Any) -> NotifyOutcome | None:
    """An EventBridge event to delivered notifications: None when it is not a render's end.
    With a ``facade`` (and the config's bucket) the cost and links are read first."""
    notification = notification_from_event(event)
    if notification is None:
        return None
    if facade is not None and config.bucket:
        notification = complete_notification(notification, facade, config.bucket,
                                             ephemeral_mb=config.ephemeral_mb,
                                             presign_expiry_s=config.presign_expiry_s)
    return NotifyOutcome(notification, deliver(notification, config, sns_client=sns_client,
                                               **webhook_options))


# The function's Timeout (template.yaml: 180 s) must hold every webhook attempt (5 of at
# most DEFAULT_TIMEOUT_S) and the waits between them (backoff of at most 1+2+4+8 s): a
# Retry-After above this falls back to the backoff.
HANDLER_MAX_RETRY_AFTER_S = 15.0


def topic_region(topic_arn: str | None) -> str | None:
    """The region of an SNS topic's ARN (arn:PARTITION:sns:REGION:ACCOUNT:NAME)."""
    parts = (topic_arn or "").split(":")
    return parts[3] if len(parts) >= 6 and parts[2] == "sns" and parts[3] else None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The notifier function's entry point (the rule's target). Raises the first failed
    delivery's typed error once every target was tried (the webhook has retried already:
    give the function no retries of its own, and an on-failure destination)."""
    import boto3

    config = NotifyConfig.from_env()
    session = boto3.session.Session()
    facade = AwsFacade(AwsClients(s3=session.client("s3"),
                                  sfn=session.client("stepfunctions"),
                                  lambda_=None, cloudformation=None, session=session))
    # SNS takes a publish only in the topic's own region, which may not be the function's.
    sns = session.client("sns", region_name=topic_region(config.topic_arn)) \
        if config.topic_arn else None
    outcome = handle_event(event, config, facade=facade, sns_client=sns,
                           max_retry_after_s=HANDLER_MAX_RETRY_AFTER_S)
    if outcome is None:
        return {"notified": False}
    outcome.raise_if_failed()
    return {"notified": True, "id": outcome.notification.id,
            "render_id": outcome.notification.render_id,
            "status": outcome.notification.status,
            "targets": [delivery.target for delivery in outcome.deliveries]}


def _log(kind: str, **fields: Any) -> None:
    """One JSON line on stdout (CloudWatch Logs on Lambda), as the render function logs."""
    print(json.dumps({f"hfaction_{kind}": fields}, sort_keys=True, default=str),
          file=sys.stdout, flush=True)
