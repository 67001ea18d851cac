"""Run the real state machines (statemachine/*.asl.json) in moto, Lambda done in Python.

moto executes Step Functions for real when configured with
``{"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}``,
but without Docker its Lambda only echoes and it cannot run the render image. So every
Lambda Invoke that the state machine makes is dispatched to a Python callable instead
(``LambdaSimpleBackend.invoke`` is replaced while the harness runs):

- the callable gets the invocation's event (the ``Payload``) as a dict and returns the
  result dict, which becomes the Invoke response's payload;
- an exception it raises becomes a function error, exactly as the Lambda Python runtime
  reports it: ``{"errorType": <exception class name>, "errorMessage": str(exc), ...}``,
  so Step Functions sees the class name as the error (``PLAN_HASH_MISMATCH``) and the
  payload as the cause;
- :class:`LambdaApiError` (see :func:`throttled`) instead makes the Invoke API call itself
  fail, as the Lambda service does when it throttles: Step Functions then sees
  ``Lambda.<code>``, e.g. ``Lambda.TooManyRequestsException``.

What moto does with a Map (moto 5.2.5, checked in the tests): an inline Map starts
``MaxConcurrency`` worker threads (one per item when it is 0) that take items from a
shared queue, so iterations really run concurrently and never more than MaxConcurrency
at once; a Distributed Map does the same inside a "map run", whose child executions do
not appear in the parent's history (and whose failed children moto does not count
against a tolerated-failure threshold: the map run succeeds with ``null`` for them, which
is one reason the ASL's children catch their own errors). When an inline iteration fails,
the Map fails at once; iterations in flight finish their current invocation (their
events can land in the history after ``ExecutionFailed``) but take no new items. Retry
``IntervalSeconds`` really sleep, so the harness shortens every retrier to 1 s (moto's
minimum) unless told otherwise.

Usage::

    with SfnHarness(dispatch, concurrency=4) as sfn:
        result = sfn.run({"render_id": "r1", "site_id": "s1"}, name="r1")
        assert result.status == "SUCCEEDED"
        assert sfn.peak_concurrency("render_chunk") == 4
        # template.yaml's third state machine, statemachine/batch.asl.json:
        batch = sfn.run({"batch_id": "b1", "site_id": "s1", "rows": [{}]}, name="b1",
                        batch=True)
"""

from __future__ import annotations

import json
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import yaml
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.config import DefaultConfig
from moto.core.exceptions import JsonRESTError

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "template.yaml"
ASL = REPO / "statemachine" / "render.asl.json"
# The batch state machine (template.yaml's BatchStateMachine): its own ASL, the same
# substitutions, renders/ only.
BATCH_ASL = REPO / "statemachine" / "batch.asl.json"
BATCH_STATE_MACHINE = "BatchStateMachine"
MOTO_CONFIG: DefaultConfig = {"stepfunctions": {"execute_state_machine": True},
                              "lambda": {"use_docker": False}}
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

Dispatch = Callable[[dict[str, Any]], dict[str, Any]]


# --- the definition ----------------------------------------------------------------------


def load_template() -> dict[str, Any]:
    """template.yaml as data (it uses long-form intrinsics only, so plain YAML reads it)."""
    data = yaml.safe_load(TEMPLATE.read_text())
    assert isinstance(data, dict)
    return data


# template.yaml's state machines: both run the same ASL, with their own substitutions.
STATE_MACHINES = ("RenderStateMachine", "PreviewStateMachine")


def definition_substitution_names(resource: str = "RenderStateMachine") -> set[str]:
    """The names a state machine of the template substitutes into the ASL."""
    machine = load_template()["Resources"][resource]["Properties"]
    return set(machine.get("DefinitionSubstitutions") or {})


def output_prefixes(resource: str = "RenderStateMachine") -> str:
    """The OutputPrefixes a state machine of the template substitutes, as written there."""
    machine = load_template()["Resources"][resource]["Properties"]
    value = machine["DefinitionSubstitutions"]["OutputPrefixes"]
    assert isinstance(value, str), value
    return value


def render_definition(substitutions: Mapping[str, object], *,
                      retry_interval_seconds: int | None = 1, asl: Path = ASL,
                      resources: tuple[str, ...] = STATE_MACHINES) -> dict[str, Any]:
    """The real ASL (by default render.asl.json, as ``resources`` of the template deploy
    it) with the template's DefinitionSubstitutions filled in, as CloudFormation does
    (plain text replacement), optionally with every retrier shortened."""
    text = asl.read_text()
    used = set(PLACEHOLDER.findall(text))
    for resource in resources:
        declared = definition_substitution_names(resource)
        if used != declared:
            raise AssertionError(f"ASL placeholders {sorted(used)} differ from the "
                                 f"DefinitionSubstitutions of {resource} {sorted(declared)}")
    missing = used - set(substitutions)
    if missing:
        raise AssertionError(f"no value for {sorted(missing)}")
    filled = PLACEHOLDER.sub(lambda match: str(substitutions[match.group(1)]), text)
    definition: dict[str, Any] = json.loads(filled)
    if retry_interval_seconds is not None:
        shorten_retries(definition, retry_interval_seconds)
    return definition


def shorten_retries(node: Any, seconds: int) -> None:
    """Set IntervalSeconds (and cap MaxDelaySeconds) of every retrier, in place.

    moto sleeps for real between attempts and its minimum interval is 1 s; with
    MaxDelaySeconds also 1 and JitterStrategy FULL a retry waits 0-1 s. MaxAttempts,
    BackoffRate and ErrorEquals are kept, so which errors are retried and how often
    is still the definition's.
    """
    if isinstance(node, dict):
        for retrier in node.get("Retry", []) if isinstance(node.get("Retry"), list) else []:
            retrier["IntervalSeconds"] = seconds
            retrier["MaxDelaySeconds"] = seconds
        for value in node.values():
            shorten_retries(value, seconds)
    elif isinstance(node, list):
        for value in node:
            shorten_retries(value, seconds)


def shorten_execution_timeout(definition: dict[str, Any], seconds: int) -> None:
    """Set the state machine's own TimeoutSeconds (the ceiling of a whole execution), in
    place; a definition without one is a failure: its executions could run forever."""
    if "TimeoutSeconds" not in definition:
        raise AssertionError("the state machine has no TimeoutSeconds: an execution could "
                             "run (and bill) forever")
    definition["TimeoutSeconds"] = seconds


def retriers(node: Any) -> Iterator[dict[str, Any]]:
    """Every retrier in a definition, nested Map processors included."""
    if isinstance(node, dict):
        if isinstance(node.get("Retry"), list):
            yield from node["Retry"]
        for value in node.values():
            yield from retriers(value)
    elif isinstance(node, list):
        for value in node:
            yield from retriers(value)


# --- Lambda, replaced ----------------------------------------------------------------------


class LambdaApiError(Exception):
    """Raise from a dispatch to make the Invoke API call fail with this error code.

    Step Functions (``arn:aws:states:::lambda:invoke``) reports it as ``Lambda.<code>``.
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def throttled() -> LambdaApiError:
    """What Lambda answers when the function's reserved concurrency is used up."""
    return LambdaApiError("TooManyRequestsException", "Rate Exceeded.", 429)


class _InvokeApiError(JsonRESTError):
    def __init__(self, error: LambdaApiError) -> None:
        super().__init__(error.code, error.message)
        self.code = error.status


@dataclass
class Invocation:
    """One Lambda invocation as the dispatch saw it."""

    event: dict[str, Any]
    started: float
    ended: float = 0.0
    result: dict[str, Any] | None = None
    error: str | None = None  # exception class name, or Lambda.<code> for an API error

    @property
    def action(self) -> str:
        return str(self.event.get("action", ""))

    @property
    def index(self) -> Any:
        return self.event.get("index")


@dataclass
class ExecutionResult:
    """A finished execution: what describe_execution says, plus its history."""

    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cause_json(self) -> Any:
        """The cause parsed as JSON (a Lambda error payload is), else None."""
        try:
            return json.loads(self.cause or "")
        except json.JSONDecodeError:
            return None

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.history if event["type"] == kind]

    @property
    def states_entered(self) -> int:
        return sum(1 for event in self.history if event["type"].endswith("StateEntered"))

    @property
    def task_retries(self) -> int:
        """Task attempts beyond the first: schedulings that follow a failed attempt rather
        than the task state's entry (robust to iterations still running after a failure)."""
        kinds = {event["id"]: event["type"] for event in self.history}
        return sum(1 for event in self.history
                   if event["type"] in ("TaskScheduled", "LambdaFunctionScheduled")
                   and not kinds.get(event.get("previousEventId"), "").endswith("StateEntered"))

    @property
    def state_transitions(self) -> int:
        """Billable state transitions as AWS counts them: every state entered (the states
        inside inline Map iterations included) plus every retry. A Distributed Map's
        child executions are separate executions with their own histories."""
        return self.states_entered + self.task_retries


class SfnHarness:
    """moto with the render stack's bucket, function and state machine, Lambda in Python."""

    def __init__(self, dispatch: Dispatch, *, concurrency: int = 8,
                 retry_interval_seconds: int | None = 1, region: str = "us-east-1",
                 execution_timeout_seconds: int | None = None,
                 bucket: str = "hfaction-test-renders",
                 function_name: str = "hfaction-test-render",
                 state_machine_name: str = "hfaction-test-render",
                 preview_state_machine_name: str = "hfaction-test-preview",
                 batch_state_machine_name: str = "hfaction-test-batch") -> None:
        self.dispatch = dispatch
        self.concurrency = concurrency
        self.retry_interval_seconds = retry_interval_seconds
        self.execution_timeout_seconds = execution_timeout_seconds
        self.region = region
        self.bucket = bucket
        self.function_name = function_name
        self.state_machine_name = state_machine_name
        self.preview_state_machine_name = preview_state_machine_name
        self.batch_state_machine_name = batch_state_machine_name
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._peaks: dict[str, int] = {}
        self._mock: Any = None
        self._patch: Any = None
        self.function_arn = ""
        self.state_machine_arn = ""
        self.preview_state_machine_arn = ""  # template.yaml's PreviewStateMachine
        self.batch_state_machine_arn = ""  # template.yaml's BatchStateMachine
        self.definition: dict[str, Any] = {}
        self.preview_definition: dict[str, Any] = {}
        self.batch_definition: dict[str, Any] = {}

    # lifecycle

    def __enter__(self) -> SfnHarness:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._mock = mock_aws(config=MOTO_CONFIG)
        self._mock.start()
        harness = self

        def invoke(backend: Any, function_name: str, qualifier: Any, body: Any,
                   headers: Any, response_headers: dict[str, str]) -> bytes:
            return harness._invoke(body, response_headers)

        self._patch = mock.patch.object(LambdaSimpleBackend, "invoke", invoke)
        self._patch.start()
        try:
            self._create_stack()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        # After a failure moto lets a Map's other iterations finish their invocation (as
        # Lambda would): let them end here rather than in the next test's moto.
        self.wait_idle()
        if self._patch is not None:
            self._patch.stop()
            self._patch = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)

    def _create_stack(self) -> None:
        self.client("s3").create_bucket(Bucket=self.bucket)
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]}}]}
        role = self.client("iam").create_role(
            RoleName=f"{self.function_name}-role",
            AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        # moto without Docker never runs the image; it only needs a function record.
        self.function_arn = self.client("lambda").create_function(
            FunctionName=self.function_name, Role=role, PackageType="Image",
            Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/hfaction:test"},
            MemorySize=10240, Timeout=900,
            Environment={"Variables": {"RENDER_BUCKET": self.bucket}},
        )["FunctionArn"]
        # Both of the template's state machines, each with its own OutputPrefixes.
        definitions = []
        for resource in STATE_MACHINES:
            definition = render_definition(
                {"RenderFunctionArn": self.function_arn, "RenderBucketName": self.bucket,
                 "MaxConcurrency": self.concurrency,
                 "OutputPrefixes": output_prefixes(resource)},
                retry_interval_seconds=self.retry_interval_seconds)
            if self.execution_timeout_seconds is not None:
                shorten_execution_timeout(definition, self.execution_timeout_seconds)
            definitions.append(definition)
        self.definition, self.preview_definition = definitions
        sfn = self.client("stepfunctions")
        self.state_machine_arn = sfn.create_state_machine(
            name=self.state_machine_name, definition=json.dumps(self.definition),
            roleArn=role, type="STANDARD")["stateMachineArn"]
        self.preview_state_machine_arn = sfn.create_state_machine(
            name=self.preview_state_machine_name,
            definition=json.dumps(self.preview_definition), roleArn=role,
            type="STANDARD")["stateMachineArn"]
        self.batch_definition = render_definition(
            {"RenderFunctionArn": self.function_arn, "RenderBucketName": self.bucket,
             "MaxConcurrency": self.concurrency,
             "OutputPrefixes": output_prefixes(BATCH_STATE_MACHINE)},
            retry_interval_seconds=self.retry_interval_seconds, asl=BATCH_ASL,
            resources=(BATCH_STATE_MACHINE,))
        if self.execution_timeout_seconds is not None:
            shorten_execution_timeout(self.batch_definition, self.execution_timeout_seconds)
        self.batch_state_machine_arn = sfn.create_state_machine(
            name=self.batch_state_machine_name, definition=json.dumps(self.batch_definition),
            roleArn=role, type="STANDARD")["stateMachineArn"]

    # Lambda

    def _invoke(self, body: Any, response_headers: dict[str, str]) -> bytes:
        raw = body.decode() if isinstance(body, bytes | bytearray) else str(body or "{}")
        event = json.loads(raw or "{}")
        record = Invocation(event=event if isinstance(event, dict) else {"payload": event},
                            started=time.monotonic())
        action = record.action
        with self._lock:
            self.invocations.append(record)
            self._running[action] = self._running.get(action, 0) + 1
            self._running["*"] = self._running.get("*", 0) + 1
            for key in (action, "*"):
                self._peaks[key] = max(self._peaks.get(key, 0), self._running[key])
        try:
            result = self.dispatch(record.event)
            record.result = result
            return json.dumps(result).encode()
        except LambdaApiError as error:
            record.error = f"Lambda.{error.code}"
            raise _InvokeApiError(error) from None
        except Exception as error:  # the function failed: report it as Lambda's runtime does
            record.error = type(error).__name__
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "requestId": str(uuid.uuid4()),
                "stackTrace": traceback.format_tb(error.__traceback__),
            }).encode()
        finally:
            record.ended = time.monotonic()
            with self._lock:
                self._running[action] -= 1
                self._running["*"] -= 1

    def in_flight(self) -> int:
        with self._lock:
            return self._running.get("*", 0)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no invocation is in flight; False if some still are after timeout."""
        deadline = time.monotonic() + timeout
        while self.in_flight() and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.in_flight()

    def peak_concurrency(self, action: str | None = None) -> int:
        """Most invocations in flight at once (of one action, or of all)."""
        with self._lock:
            return self._peaks.get(action or "*", 0)

    def calls(self, action: str | None = None, index: int | None = None) -> list[Invocation]:
        with self._lock:
            return [call for call in self.invocations
                    if (action is None or call.action == action)
                    and (index is None or call.index == index)]

    def reset(self) -> None:
        """Forget recorded invocations and peaks (between executions of one test)."""
        with self._lock:
            self.invocations.clear()
            self._peaks.clear()

    # executions

    def start_execution(self, execution_input: Mapping[str, Any], name: str, *,
                        preview: bool = False, batch: bool = False) -> str:
        """Start an execution of the main state machine (``preview``: the preview one,
        ``batch``: the batch one)."""
        arn = (self.batch_state_machine_arn if batch else
               self.preview_state_machine_arn if preview else self.state_machine_arn)
        # Always name executions: moto returns a broken ARN otherwise.
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=arn, name=name, input=json.dumps(execution_input))
        return str(response["executionArn"])

    def wait(self, execution_arn: str, timeout: float = 120.0) -> ExecutionResult:
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                sfn.stop_execution(executionArn=execution_arn, cause="test timeout")
                raise TimeoutError(f"{execution_arn} still running after {timeout} s")
            time.sleep(0.05)
        # A failed execution may still have Map iterations finishing: let them, so the
        # history and the recorded invocations are complete.
        self.wait_idle()
        history: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(
                executionArn=execution_arn):
            history.extend(page["events"])
        output = described.get("output")
        return ExecutionResult(
            arn=execution_arn, status=described["status"],
            output=json.loads(output) if output else None,
            error=described.get("error"), cause=described.get("cause"), history=history)

    def run(self, execution_input: Mapping[str, Any], name: str,
            timeout: float = 120.0, *, preview: bool = False,
            batch: bool = False) -> ExecutionResult:
        return self.wait(self.start_execution(execution_input, name, preview=preview,
                                              batch=batch), timeout)


@contextmanager
def harness_factory() -> Iterator[Callable[..., SfnHarness]]:
    """``start(dispatch, concurrency=4)`` starts a harness (moto with the stack); every one
    started is stopped on leaving. The semantics tests' ``harness`` fixture yields it."""
    started: list[SfnHarness] = []

    def start(dispatch: Callable[[dict[str, Any]], dict[str, Any]],
              concurrency: int = 4) -> SfnHarness:
        sfn = SfnHarness(dispatch, concurrency=concurrency)
        sfn.start()
        started.append(sfn)
        return sfn

    try:
        yield start
    finally:
        for sfn in started:
            sfn.stop()
