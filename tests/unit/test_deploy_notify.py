"""Issue 15: ``hfaction lambda deploy`` with completion notifications and the batch state
machine: the options are checked before anything is deployed, the webhook's secret is in
no plan, message or output (only in the CreateChangeSet request, as a NoEcho parameter),
and the template sent to CloudFormation stays within its TemplateBody limit with every
state machine's own definition inlined.

Pure: a fake facade (as tests/unit/test_deploy.py), no AWS. The real change sets run on
the moto server in tests/integration/aws/test_deploy_on_moto_server.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hfaction.aws import deploy
from hfaction.aws.deploy import (
    TEMPLATE_BODY_LIMIT,
    DeployOptions,
    change_set_request,
    cloudformation_deploy,
    deploy_template,
    deploy_template_data,
    notify_parameters,
    plan_deploy,
    strip_comments,
    template_parameter_names,
)
from hfaction.aws.facade import StackInfo
from hfaction.cli import main
from hfaction.errors import AwsCallFailed, InvalidOption, StackNotFound
from tests.unit.test_deploy import FakeFacade

SECRET = "s3cr3t-Value-0123456789-abcdef"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:renders"
HOOK = "https://hooks.example.com/hfaction/T0KEN"


def plan(env: dict[str, str] | None = None, stack: StackInfo | None = None,
         **options: Any) -> deploy.DeployPlan:
    environ = {"HOOK_SECRET": SECRET} if env is None else env
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HOOK_SECRET", "EMPTY_SECRET", "SHORT_SECRET"):
            patch.delenv(name, raising=False)
        for name, value in environ.items():
            patch.setenv(name, value)
        return plan_deploy(DeployOptions(stack_name="video", image_uri="repo:tag", **options),
                           FakeFacade(1000, 1000, stack))


# --- the template sam deploys ------------------------------------------------------------------


def test_the_deploy_template_fits_cloudformations_template_body_limit(tmp_path: Path) -> None:
    """CloudFormation refuses a TemplateBody above 51,200 bytes; hfaction deploys without an
    artifact bucket, so the template with its three inlined definitions must stay below."""
    path = deploy_template(tmp_path)
    size = path.stat().st_size
    assert size <= TEMPLATE_BODY_LIMIT, size
    template = json.loads(path.read_text())  # JSON, which sam and CloudFormation take
    machines = {name: resource["Properties"] for name, resource in
                template["Resources"].items()
                if resource["Type"] == "AWS::Serverless::StateMachine"}
    assert set(machines) == {"RenderStateMachine", "PreviewStateMachine", "BatchStateMachine"}
    assert all("Definition" in p and "DefinitionUri" not in p for p in machines.values())
    # The YAML it replaces (and sam deploy's re-serialization of any template it is given)
    # would not fit: the limit is what forces the compact form and the direct change set.
    assert len(yaml.safe_dump(template, default_flow_style=False).encode()) > \
        TEMPLATE_BODY_LIMIT


def test_each_state_machine_gets_its_own_definition_without_comments() -> None:
    """deploy.py used to inline render.asl.json into every state machine: the batch one
    gets statemachine/batch.asl.json. Comments go (size); payload fields stay whole."""
    template = deploy_template_data()
    source = yaml.safe_load(deploy.resource_path("template.yaml").read_text())
    for name in ("RenderStateMachine", "PreviewStateMachine", "BatchStateMachine"):
        uri = source["Resources"][name]["Properties"]["DefinitionUri"]
        original = json.loads(deploy.resource_path(uri).read_text())
        inlined = template["Resources"][name]["Properties"]["Definition"]
        assert inlined == strip_comments(original)
        assert inlined["States"].keys() == original["States"].keys()
        assert '"Comment"' not in json.dumps(inlined)
    batch = template["Resources"]["BatchStateMachine"]["Properties"]["Definition"]
    render = template["Resources"]["RenderStateMachine"]["Properties"]["Definition"]
    assert batch != render
    assert deploy.definition_uris() == ["statemachine/render.asl.json",
                                        "statemachine/batch.asl.json"]


def test_strip_comments_keeps_a_payloads_own_comment_field() -> None:
    asl = {"Comment": "top", "StartAt": "A", "States": {"A": {
        "Type": "Task", "Comment": "why", "Parameters": {"Comment": "data", "x.$": "$.x"},
        "Retry": [{"Comment": "retry", "ErrorEquals": ["States.ALL"]}], "End": True}}}
    assert strip_comments(asl) == {"StartAt": "A", "States": {"A": {
        "Type": "Task", "Parameters": {"Comment": "data", "x.$": "$.x"},
        "Retry": [{"ErrorEquals": ["States.ALL"]}], "End": True}}}


def test_a_changed_batch_definition_makes_the_stack_outdated(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    before = deploy.stack_digest()
    edited = tmp_path / "batch.asl.json"
    edited.write_bytes(deploy.resource_path("statemachine/batch.asl.json").read_bytes() + b"\n")
    real = deploy.resource_path
    monkeypatch.setattr(deploy, "resource_path", lambda relative: edited
                        if relative == "statemachine/batch.asl.json" else real(relative))
    assert deploy.stack_digest() != before


# --- the notification options ------------------------------------------------------------------


def request(plan_: deploy.DeployPlan, deployed: dict[str, str] | None = None
            ) -> dict[str, Any]:
    return change_set_request(plan_, "{}", deployed, template_parameter_names(),
                              change_set_name="hfaction-deploy1")


def values(request_: dict[str, Any]) -> dict[str, Any]:
    return {p["ParameterKey"]: p.get("ParameterValue", "(previous)") for p in
            request_["Parameters"]}


def test_topic_and_webhook_become_parameters_and_the_secret_stays_out_of_the_plan() -> None:
    plan_ = plan(notify_topic=TOPIC, webhook_url=HOOK, webhook_secret_env="HOOK_SECRET")
    assert plan_.parameters["NotifyTopicArn"] == TOPIC
    assert plan_.parameters["WebhookUrl"] == HOOK
    assert "WebhookSecret" not in plan_.parameters
    assert plan_.secret_parameters == {"WebhookSecret": SECRET}
    shown = json.dumps(plan_.to_dict()) + repr(plan_)
    assert SECRET not in shown and '"secret_parameters": ["WebhookSecret"]' in shown
    # The secret travels in the CreateChangeSet request only (the template's NoEcho).
    sent = values(request(plan_))
    assert sent["NotifyTopicArn"] == TOPIC and sent["WebhookUrl"] == HOOK
    assert sent["WebhookSecret"] == SECRET


def test_options_left_out_keep_the_stacks_notifications_and_empty_removes_them() -> None:
    untouched = plan()
    assert not {"NotifyTopicArn", "WebhookUrl"} & set(untouched.parameters)
    assert untouched.secret_parameters == {}
    deployed = {"NotifyTopicArn": TOPIC, "WebhookUrl": HOOK, "WebhookSecret": "****"}
    kept = values(request(untouched, deployed))
    assert kept["NotifyTopicArn"] == kept["WebhookUrl"] == kept["WebhookSecret"] == \
        "(previous)"
    removed = plan(notify_topic="", webhook_url="")
    assert removed.parameters["NotifyTopicArn"] == "" and removed.parameters["WebhookUrl"] == ""
    assert removed.secret_parameters == {"WebhookSecret": ""}  # no secret left behind
    sent = values(request(removed, deployed))
    assert (sent["NotifyTopicArn"], sent["WebhookUrl"], sent["WebhookSecret"]) == ("", "", "")
    # A stack with a webhook: another URL keeps its secret (UsePreviousValue).
    stack = StackInfo("video", "b", "arn:sm", "arn:fn",
                      parameters={"WebhookUrl": HOOK, "WebhookSecret": "****"})
    moved = plan(stack=stack, webhook_url="https://other.example.com/hook")
    assert moved.parameters["WebhookUrl"] == "https://other.example.com/hook"
    assert moved.secret_parameters == {}
    assert values(request(moved, stack.parameters))["WebhookSecret"] == "(previous)"


@pytest.mark.parametrize(("options", "env", "message"), [
    ({"notify_topic": "renders"}, None, "is not an SNS topic's ARN"),
    ({"notify_topic": "arn:aws:sqs:eu-west-1:123456789012:renders"}, None, "SNS topic"),
    ({"notify_topic": "arn:aws:sns:eu-west-1:1234:renders"}, None, "SNS topic"),
    ({"webhook_url": "http://hooks.example.com/x", "webhook_secret_env": "HOOK_SECRET"},
     None, "is not https"),
    ({"webhook_url": "ftp://hooks.example.com/x", "webhook_secret_env": "HOOK_SECRET"},
     None, "not an http(s) URL"),
    ({"webhook_url": "https://user:pw@hooks.example.com/x",
      "webhook_secret_env": "HOOK_SECRET"}, None, "user name or password"),
    ({"webhook_url": HOOK}, None, "--webhook needs the secret"),
    ({"webhook_url": HOOK, "webhook_secret_env": "MISSING_SECRET"}, None,
     "MISSING_SECRET (--webhook-secret-env) is not set or empty"),
    ({"webhook_url": HOOK, "webhook_secret_env": "EMPTY_SECRET"}, {"EMPTY_SECRET": "  "},
     "EMPTY_SECRET (--webhook-secret-env) is not set or empty"),
    ({"webhook_url": HOOK, "webhook_secret_env": "SHORT_SECRET"},
     {"SHORT_SECRET": "short"}, "shorter than 16 characters"),
    ({"webhook_url": HOOK, "webhook_secret_env": SECRET}, {SECRET: "x" * 20},
     "is not an environment variable's name"),
    ({"webhook_url": "", "webhook_secret_env": "HOOK_SECRET"}, None, "removes it"),
])
def test_bad_notification_options_are_refused_before_deploying(
        options: dict[str, Any], env: dict[str, str] | None, message: str) -> None:
    with pytest.raises(InvalidOption) as raised:
        plan(env, **options)
    assert message in str(raised.value) and raised.value.exit_code == 2
    assert "short" not in raised.value.one_line().replace("shorter", "")
    assert "x" * 20 not in raised.value.one_line()


def test_http_is_accepted_for_a_loopback_webhook_only() -> None:
    parameters, secrets = notify_parameters(
        DeployOptions(webhook_url="http://127.0.0.1:8080/hook", webhook_secret_env="S"),
        None, {"S": SECRET})
    assert parameters == {"WebhookUrl": "http://127.0.0.1:8080/hook"}
    assert secrets == {"WebhookSecret": SECRET}


class FakeCloudFormation:
    """The facade's CloudFormation part, scripted: the stack's status before the deploy,
    how the change set ends, and how the stack ends."""

    region = "eu-west-1"

    def __init__(self, before: str | None, change_set: tuple[str, str] = ("CREATE_COMPLETE", ""),
                 after: str = "CREATE_COMPLETE", events: list[dict[str, Any]] = ()) -> None:
        self.status = before
        self.change_set, self.after, self.events = change_set, after, list(events)
        self.calls: list[str] = []
        self.requests: list[dict[str, Any]] = []

    def describe_stack(self, name: str) -> dict[str, Any]:
        self.calls.append("DescribeStacks")
        if self.status is None:
            raise StackNotFound(f"stack {name!r} does not exist")
        return {"StackStatus": self.status,
                "Parameters": [{"ParameterKey": "WebhookSecret", "ParameterValue": "****"}]}

    def delete_stack(self, name: str) -> None:
        self.calls.append("DeleteStack")
        self.status = None

    def create_change_set(self, request_: dict[str, Any]) -> str:
        self.calls.append("CreateChangeSet")
        self.requests.append(request_)
        return "arn:changeSet"

    def describe_change_set(self, stack: str, name: str) -> dict[str, Any]:
        self.calls.append("DescribeChangeSet")
        status, reason = self.change_set
        return {"Status": status, "StatusReason": reason}

    def execute_change_set(self, stack: str, name: str) -> None:
        self.calls.append("ExecuteChangeSet")
        self.status = self.after

    def stack_events(self, name: str) -> list[dict[str, Any]]:
        self.calls.append("DescribeStackEvents")
        return self.events


def deploy_on(fake: FakeCloudFormation, plan_: deploy.DeployPlan | None = None) -> bool:
    return cloudformation_deploy(plan_ or plan(), fake, "{}",  # type: ignore[arg-type]
                                 sleep=lambda seconds: None)


def test_a_new_stack_is_created_and_an_unchanged_one_is_left_alone() -> None:
    fresh = FakeCloudFormation(None)
    assert deploy_on(fresh) is True
    assert fresh.calls == ["DescribeStacks", "CreateChangeSet", "DescribeChangeSet",
                           "ExecuteChangeSet", "DescribeStacks"]
    assert fresh.requests[0]["ChangeSetType"] == "CREATE"
    same = FakeCloudFormation("UPDATE_COMPLETE", change_set=(
        "FAILED", "The submitted information didn't contain changes. Submit different "
                  "information to create a change set."))
    assert deploy_on(same) is False
    assert "ExecuteChangeSet" not in same.calls
    assert same.requests[0]["ChangeSetType"] == "UPDATE"


def test_a_stack_whose_creation_failed_is_deleted_and_made_again() -> None:
    failed = FakeCloudFormation("ROLLBACK_COMPLETE")
    assert deploy_on(failed) is True
    assert failed.calls[:3] == ["DescribeStacks", "DeleteStack", "CreateChangeSet"]
    assert failed.requests[0]["ChangeSetType"] == "CREATE"


def test_a_busy_stack_is_refused() -> None:
    with pytest.raises(InvalidOption, match="UPDATE_IN_PROGRESS"):
        deploy_on(FakeCloudFormation("UPDATE_IN_PROGRESS"))


def test_a_failed_deploy_names_cloudformations_reasons_and_never_the_secret(
        monkeypatch: pytest.MonkeyPatch) -> None:
    plan_ = plan(webhook_url=HOOK, webhook_secret_env="HOOK_SECRET")
    fake = FakeCloudFormation(None, after="ROLLBACK_COMPLETE", events=[
        {"LogicalResourceId": "NotifyFunction", "ResourceStatus": "CREATE_FAILED",
         "ResourceStatusReason": f"Environment variable HFACTION_WEBHOOK_SECRET={SECRET} "
                                 "is too long"},
        {"LogicalResourceId": "RenderBucket", "ResourceStatus": "CREATE_COMPLETE"}])
    monkeypatch.setattr(fake, "stack", lambda name: None, raising=False)
    with pytest.raises(AwsCallFailed) as raised:
        deploy.execute_deploy(plan_, fake)  # type: ignore[arg-type]
    text = raised.value.one_line()
    assert "ROLLBACK_COMPLETE" in text and "NotifyFunction" in text
    assert SECRET not in text and SECRET not in str(raised.value)
    assert "HFACTION_WEBHOOK_SECRET=**** is too long" in text
    # It reached CloudFormation, in the request only.
    assert values(fake.requests[0])["WebhookSecret"] == SECRET
    refused = FakeCloudFormation(None, change_set=("FAILED", "Template format error"))
    with pytest.raises(AwsCallFailed, match="Template format error"):
        deploy_on(refused)


def test_only_if_outdated_deploys_when_a_secret_is_given() -> None:
    """CloudFormation describes a NoEcho parameter as ****: a given secret cannot be
    compared, so the stack is deployed (with it) rather than called up to date."""
    from hfaction.aws.deploy import DIGEST_TAG, current_stack
    from hfaction.aws.image import image_tag

    plan_ = plan(webhook_url=HOOK, webhook_secret_env="HOOK_SECRET")
    tag = image_tag(deploy.recipe_digest(), plan_.parameters["Architecture"])
    stack = StackInfo("video", "b", "arn:sm", "arn:fn", version=plan_.tags["hfaction-version"],
                      status="UPDATE_COMPLETE", tags={DIGEST_TAG: plan_.tags[DIGEST_TAG]},
                      parameters={**plan_.parameters, "WebhookSecret": "****",
                                  "ImageUri": f"repo:{tag}"})
    assert current_stack(plan_, FakeFacade(1000, 1000, stack)) is None  # type: ignore[arg-type]
    # No secret given: the stack's stays (UsePreviousValue) and the rest is compared.
    deployed = StackInfo("video", "b", "arn:sm", "arn:fn", version=plan_.tags["hfaction-version"],
                         status="UPDATE_COMPLETE", tags={DIGEST_TAG: plan_.tags[DIGEST_TAG]},
                         parameters={**plan_.parameters, "WebhookSecret": "****"})
    unchanged = plan(stack=deployed, webhook_url=HOOK)
    assert unchanged.secret_parameters == {}
    assert current_stack(unchanged, FakeFacade(1000, 1000, deployed)) is not None  # type: ignore[arg-type]


def test_the_cli_refuses_a_missing_secret_without_echoing_anything_secret(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "tooshort")
    monkeypatch.setattr("hfaction.aws.renders.StackRef.facade",
                        lambda self: FakeFacade(1000, 1000))
    code = main(["lambda", "deploy", "--stack-name", "video", "--image-uri", "repo:tag",
                 "--webhook", HOOK, "--webhook-secret-env", "HOOK_SECRET"])
    captured = capsys.readouterr()
    assert code == 2
    assert "INVALID_OPTION" in captured.err and "HOOK_SECRET" in captured.err
    assert "tooshort" not in captured.err + captured.out
    # A refused URL is shown as scheme://host: its path often holds a token.
    code = main(["lambda", "deploy", "--stack-name", "video", "--image-uri", "repo:tag",
                 "--webhook", "http://hooks.example.com/T0KEN", "--webhook-secret-env",
                 "HOOK_SECRET"])
    captured = capsys.readouterr()
    assert code == 2 and "http://hooks.example.com is not https" in captured.err
    assert "T0KEN" not in captured.err + captured.out


def test_stack_info_reads_the_batch_state_machine_output() -> None:
    from hfaction.aws.facade import AwsClients, AwsFacade

    class Cloudformation:
        meta = None

        def __init__(self, outputs: dict[str, str]) -> None:
            self.outputs = outputs

        def describe_stacks(self, StackName: str) -> dict[str, Any]:
            return {"Stacks": [{"StackStatus": "CREATE_COMPLETE", "Outputs": [
                {"OutputKey": key, "OutputValue": value}
                for key, value in self.outputs.items()]}]}

    base = {"RenderBucketName": "b", "RenderStateMachineArn": "arn:sm",
            "RenderFunctionArn": "arn:fn"}
    batch = "arn:aws:states:eu-west-1:123456789012:stateMachine:video-batch"
    for outputs, expected in (({**base, "BatchStateMachineArn": batch}, batch), (base, "")):
        facade = AwsFacade(AwsClients(s3=None, sfn=None, lambda_=None,
                                      cloudformation=Cloudformation(outputs)))
        stack = facade.stack("video")
        assert stack.batch_state_machine_arn == expected
        assert stack.to_dict()["batch_state_machine_arn"] == expected

