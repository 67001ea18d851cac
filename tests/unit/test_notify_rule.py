"""Issue 15: the EventBridge rule that sends the executions' ends to the notify function.

The hop EventBridge -> function cannot run in moto (moto's Step Functions sends no
status-change events, moto's EventBridge does not invoke a Lambda target, and moto does not
implement TestEventPattern): so a rule with the pattern template.yaml declares (its Refs
resolved to the state machines' ARNs) is put on moto's EventBridge with an SQS queue as
its target, sample status-change events are put, and the events the rule routed to the
queue are the ones the function would get (moto's rule matcher, the one its put_events
routing uses). The target, retries and the function's wiring are read from the
SAM-translated template. The function itself is tested with real deliveries in
tests/integration/test_notify_delivery.py and test_notify_batch_delivery.py.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from hfaction.aws.deploy import deploy_template_data, resource_path
from hfaction.aws.notify import event_pattern, notification_from_event
from tests.unit.test_notify import ACCOUNT, REGION, status_event

STACK = "video"
MACHINES = {name: f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-{suffix}"
            for name, suffix in (("RenderStateMachine", "render"),
                                 ("PreviewStateMachine", "preview"),
                                 ("BatchStateMachine", "batch"))}


def template() -> dict[str, Any]:
    data = yaml.safe_load(resource_path("template.yaml").read_text())
    assert isinstance(data, dict)
    return data


def resolve(node: Any) -> Any:
    """The pattern as CloudFormation makes it: each Ref of a state machine is its ARN."""
    if isinstance(node, list):
        return [resolve(item) for item in node]
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return MACHINES[node["Ref"]]
        return {key: resolve(value) for key, value in node.items()}
    return node


def rule_pattern() -> dict[str, Any]:
    events = template()["Resources"]["NotifyFunction"]["Properties"]["Events"]
    (event,) = events.values()
    assert event["Type"] == "EventBridgeRule"
    pattern = resolve(event["Properties"]["Pattern"])
    assert isinstance(pattern, dict)
    return pattern


class Bus:
    """moto's EventBridge with the template's rule routing to an SQS queue."""

    def __init__(self, pattern: dict[str, Any]) -> None:
        self.events = boto3.client("events", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.queue = self.sqs.create_queue(QueueName="notify")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(Name=f"{STACK}-notify", EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=f"{STACK}-notify",
                                Targets=[{"Id": "notify", "Arn": queue_arn}])

    def routed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Put the event as its source would; what the rule delivered for it."""
        answer = self.events.put_events(Entries=[{
            "Source": event["source"], "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]), "Resources": event["resources"]}])
        assert answer["FailedEntryCount"] == 0
        received = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10)
        bodies = [json.loads(item["Body"]) for item in received.get("Messages", [])]
        for item in received.get("Messages", []):
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=item["ReceiptHandle"])
        return bodies


@pytest.fixture
def events() -> Iterator[Bus]:
    with mock_aws():
        yield Bus(rule_pattern())


def on(machine: str, status: str, *, child: bool = False) -> dict[str, Any]:
    """A status-change event of an execution of ``machine`` (a Distributed Map's child:
    ``stateMachineArn`` is ``PARENT/LABEL``)."""
    event = copy.deepcopy(status_event(status))
    name = machine.rsplit(":", 1)[-1] + ("/chunks" if child else "")
    arn = machine.replace(":stateMachine:", ":execution:").rsplit(":", 1)[0] + \
        f":{name}:hf-20240601-101500-1a2b3c4d"
    event["detail"]["stateMachineArn"] = machine + ("/chunks" if child else "")
    event["detail"]["executionArn"] = arn
    event["resources"] = [arn]
    return event


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"])
@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_the_rule_routes_every_end_of_the_three_state_machines(
        events: Bus, machine: str, status: str) -> None:
    event = on(MACHINES[machine], status)
    (routed,) = events.routed(event)
    assert routed["detail"] == event["detail"] and routed["source"] == "aws.states"
    # What the function gets is a notification of that execution.
    notification = notification_from_event(routed)
    assert notification is not None
    assert notification.execution_arn == event["detail"]["executionArn"]
    assert notification.status == status.lower()


@pytest.mark.parametrize("status", ["RUNNING", "PENDING_REDRIVE"])
def test_the_rule_ignores_a_start_or_a_pending_redrive(events: Bus, status: str) -> None:
    for machine in MACHINES.values():
        assert events.routed(on(machine, status)) == []


def test_the_rule_ignores_other_state_machines_children_and_other_sources(
        events: Bus) -> None:
    other = MACHINES["RenderStateMachine"].replace(f"{STACK}-render", "other-render")
    assert events.routed(on(other, "FAILED")) == []
    # A Distributed Map's child execution (its chunks): the parent's end is what counts.
    assert events.routed(on(MACHINES["BatchStateMachine"], "FAILED", child=True)) == []
    forged = on(MACHINES["RenderStateMachine"], "FAILED")
    forged["source"] = "my.app"
    assert events.routed(forged) == []
    renamed = on(MACHINES["RenderStateMachine"], "FAILED")
    renamed["detail-type"] = "Step Functions State Machine Status Change"
    assert events.routed(renamed) == []
    # And the bus still routes a real end afterwards (the checks above were not vacuous).
    assert len(events.routed(on(MACHINES["PreviewStateMachine"], "ABORTED"))) == 1


def test_the_template_pattern_is_the_one_notify_documents() -> None:
    """hfaction.aws.notify.event_pattern is what a rule made by hand (CDK, console) uses."""
    assert rule_pattern() == event_pattern(list(MACHINES.values()))


def test_the_rule_targets_the_notify_function_which_lambda_does_not_retry() -> None:
    """SAM's translation: the rule (named after the stack) targets the function with a
    retry policy for deliveries Lambda did not accept, Lambda gives the function no retries
    of its own (a second run would publish again), and the rule may invoke it. All of it
    exists only when a topic or a webhook is configured."""
    from hfaction.cdk.template import translate

    translated = translate(deploy_template_data())["Resources"]
    notifier = {name: resource for name, resource in translated.items()
                if name.startswith("NotifyFunction")}
    assert {resource["Type"] for resource in notifier.values()} == {
        "AWS::Lambda::Function", "AWS::IAM::Role", "AWS::Logs::LogGroup", "AWS::Events::Rule",
        "AWS::Lambda::Permission", "AWS::Lambda::EventInvokeConfig"}
    assert all(resource.get("Condition") == "ShouldNotify" for resource in notifier.values())
    rule = translated["NotifyFunctionExecutionEnded"]["Properties"]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["NotifyFunction", "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 3600
    invoke = translated["NotifyFunctionEventInvokeConfig"]["Properties"]
    assert invoke["MaximumRetryAttempts"] == 0
    permission = translated["NotifyFunctionExecutionEndedPermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    function = translated["NotifyFunction"]["Properties"]
    assert function["ImageConfig"]["Command"] == ["hfaction.aws.notify.handler"]
    assert function["MemorySize"] <= 512 and function["Timeout"] <= 300
    variables = function["Environment"]["Variables"]
    assert set(variables) == {"RENDER_BUCKET", "HFACTION_NOTIFY_TOPIC_ARN",
                              "HFACTION_WEBHOOK_URL", "HFACTION_WEBHOOK_SECRET"}
    assert variables["HFACTION_WEBHOOK_SECRET"] == {"Ref": "WebhookSecret"}
    parameters = template()["Parameters"]
    assert parameters["WebhookSecret"]["NoEcho"] is True
    assert parameters["WebhookSecret"]["Default"] == ""


def test_the_notify_role_publishes_to_its_topic_only_and_reads_records_and_histories() -> None:
    from hfaction.cdk.template import translate

    role = translate(deploy_template_data())["Resources"]["NotifyFunctionRole"]["Properties"]
    (document,) = [policy["PolicyDocument"] for policy in role["Policies"]]
    statements = document["Statement"]
    (topic,) = [s for s in statements if set(s) == {"Fn::If"}]
    condition, publish, otherwise = topic["Fn::If"]
    assert condition == "HasNotifyTopic" and otherwise == {"Ref": "AWS::NoValue"}
    assert publish["Action"] == "sns:Publish" and publish["Resource"] == {"Ref": "NotifyTopicArn"}
    plain = {s["Sid"]: s for s in statements if "Sid" in s}
    assert plain["ReadInvocationRecords"]["Action"] == "s3:GetObject"
    assert plain["ReadInvocationRecords"]["Resource"]["Fn::Sub"].endswith(
        "/work/*/invocations/*")
    assert plain["ListInvocationRecords"]["Condition"] == {
        "StringLike": {"s3:prefix": "work/*/invocations/*"}}
    actions = {a for s in plain.values() for a in
               ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"s3:GetObject", "s3:ListBucket", "states:DescribeExecution",
                       "states:GetExecutionHistory", "states:DescribeMapRun",
                       "states:ListExecutions"}
    assert not any(a.startswith(("s3:Put", "s3:Delete", "states:Start", "states:Stop"))
                   for a in actions)
