"""The deployment description passes its linters, and says what issue 3 asks of it.

The linters (scripts/lint-aws.sh) run offline: cfn-lint and ``sam validate --lint`` from
aws-sam-cli in its own virtualenv (.venv-sam; its botocore pin conflicts with moto's)
and the npm package asl-validator (.cache/asl-validator) on the state machine, which
neither of the others reads. The first run installs them (aws-sam-cli takes minutes);
later runs reuse them. A tool that cannot be installed skips its test, naming it,
unless HFACTION_REQUIRE_TOOLS=1 (CI), where it fails.

The rest checks the template and the ASL as data: things a linter cannot know.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from hfaction.errors import all_error_classes
from tests.integration.aws.sfn_harness import (
    ASL,
    PLACEHOLDER,
    REPO,
    definition_substitution_names,
    load_template,
    retriers,
)

LINT = REPO / "scripts" / "lint-aws.sh"
# The only errors worth another attempt: Lambda's own transient failures and throttling,
# plus two hfaction names for failures that a new container usually does not repeat.
TRANSIENT = {"Lambda.ServiceException", "Lambda.AWSLambdaException",
             "Lambda.SdkClientException", "Lambda.ClientExecutionTimeoutException",
             "Lambda.TooManyRequestsException", "TRANSIENT_ERROR", "BROWSER_FAILED"}


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """Overrides tests/integration/conftest.py: these tests need no browser nor ffmpeg."""


# --- the linters -------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["cfn-lint", "sam", "asl"])
def test_linter_passes(tool: str) -> None:
    # Tools are installed by the script on first use (minutes for aws-sam-cli), then reused.
    run = subprocess.run(["bash", str(LINT), tool], capture_output=True, text=True,
                         timeout=1500, check=False)
    output = f"{run.stdout}\n{run.stderr}".strip()
    if run.returncode == 3:
        missing = next((line for line in output.splitlines() if "cannot install" in line),
                       output[-500:])
        if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    assert run.returncode == 0, f"scripts/lint-aws.sh {tool} failed:\n{output}"


# --- the template as data ----------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    # Plain YAML (long-form intrinsics only): hfaction.aws.deploy reads it with safe_load.
    return load_template()


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    # Valid JSON before substitution, so it can be read (and inlined) without filling it in.
    data = json.loads(ASL.read_text())
    assert isinstance(data, dict)
    return data


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    value = template["Resources"][name]
    assert isinstance(value, dict)
    return value


def test_parameters_and_outputs(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    assert parameters["Concurrency"]["Default"] == 8
    assert parameters["MemorySize"]["Default"] == 1769  # hfaction.aws.sizing.DEFAULT_MEMORY_MB
    assert parameters["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]
    assert parameters["IntermediateRetentionDays"]["Default"] == 7
    assert {"ProjectName", "ImageUri", "HfactionVersion"} <= set(parameters)
    assert {"RenderBucketName", "RenderStateMachineArn", "PreviewStateMachineArn",
            "BatchStateMachineArn", "RenderFunctionArn", "HfactionVersion"} <= \
        set(template["Outputs"])
    # Issue 15: notifications are off unless deploy names a topic or a webhook.
    for name in ("NotifyTopicArn", "WebhookUrl", "WebhookSecret"):
        assert parameters[name]["Default"] == ""
    assert parameters["WebhookSecret"].get("NoEcho") is True
    assert resource(template, "NotifyFunction")["Condition"] == "ShouldNotify"


def test_every_physical_name_contains_the_project_name(template: dict[str, Any]) -> None:
    names = {
        "RenderBucket": resource(template, "RenderBucket")["Properties"]["BucketName"],
        "RenderFunction": resource(template, "RenderFunction")["Properties"]["FunctionName"],
        "RenderStateMachine": resource(template, "RenderStateMachine")["Properties"]["Name"],
        "PreviewStateMachine":
            resource(template, "PreviewStateMachine")["Properties"]["Name"],
        "BatchStateMachine": resource(template, "BatchStateMachine")["Properties"]["Name"],
        "NotifyFunction": resource(template, "NotifyFunction")["Properties"]["FunctionName"],
        "NotifyFunctionLogGroup":
            resource(template, "NotifyFunctionLogGroup")["Properties"]["LogGroupName"],
        "RenderFunctionLogGroup":
            resource(template, "RenderFunctionLogGroup")["Properties"]["LogGroupName"],
        "RenderStateMachineLogGroup":
            resource(template, "RenderStateMachineLogGroup")["Properties"]["LogGroupName"],
    }
    for logical, name in names.items():
        assert "${ProjectName}" in name["Fn::Sub"], logical
    # The bucket name (63 at most) adds "-<12-digit account>-<region of up to 14>".
    pattern = template["Parameters"]["ProjectName"]["AllowedPattern"]
    assert pattern == "^[a-z]([a-z0-9-]{0,33}[a-z0-9])?$"
    assert 35 + 1 + 12 + 1 + len("ap-southeast-5") <= 63


def test_bucket_is_retained_private_encrypted_tls_only(template: dict[str, Any]) -> None:
    bucket = resource(template, "RenderBucket")
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    properties = bucket["Properties"]
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    sse = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    statement = resource(template, "RenderBucketPolicy")["Properties"]["PolicyDocument"][
        "Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {
        "aws:SecureTransport": "false"}} for s in statement)


def test_lifecycle_expires_everything_but_final_renders(template: dict[str, Any]) -> None:
    # Issue 13: uploaded sites and pull-request previews expire too (each after its own
    # parameter's days); final renders under renders/ are kept.
    rules = resource(template, "RenderBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {rule["Prefix"]: rule["ExpirationInDays"] for rule in rules
                if "ExpirationInDays" in rule or "Expiration" in rule}
    assert expiring == {"work/": {"Ref": "IntermediateRetentionDays"},
                        "sites/": {"Ref": "SiteRetentionDays"},
                        "previews/": {"Ref": "PreviewRetentionDays"}}
    parameters = template["Parameters"]
    assert parameters["SiteRetentionDays"]["Default"] == 30
    assert parameters["SiteRetentionDays"]["MinValue"] == 2  # a site is refreshed a day early
    assert parameters["PreviewRetentionDays"]["Default"] == 30
    for rule in rules:  # nothing else deletes objects: renders/ is kept
        assert set(rule) <= {"Id", "Status", "Prefix", "ExpirationInDays",
                             "AbortIncompleteMultipartUpload"}
        assert not rule.get("Prefix", "").startswith("renders")


def test_function(template: dict[str, Any]) -> None:
    properties = resource(template, "RenderFunction")["Properties"]
    assert properties["PackageType"] == "Image"
    assert properties["ImageUri"] == {"Ref": "ImageUri"}
    assert properties["EphemeralStorage"] == {"Size": 10240}
    assert properties["Timeout"] == 900
    assert properties["MemorySize"] == {"Ref": "MemorySize"}
    assert properties["Architectures"] == [{"Ref": "Architecture"}]
    assert set(properties["Environment"]["Variables"]) == {"RENDER_BUCKET",
                                                           "HFACTION_ARCHITECTURE"}
    assert properties["Tags"]["hfaction-version"] == {"Ref": "HfactionVersion"}
    # Every S3 permission is on the render bucket or its objects, nothing else (named as
    # the bucket is named, so an adopted bucket is the same one).
    for policy in properties["Policies"]:
        for statement in policy["Statement"]:
            resources = statement["Resource"]
            for item in resources if isinstance(resources, list) else [resources]:
                assert item["Fn::Sub"].startswith(f"arn:${{AWS::Partition}}:s3:::{BUCKET_NAME}"), \
                    statement


BUCKET_NAME = "${ProjectName}-${AWS::AccountId}-${AWS::Region}"


def test_a_retained_bucket_is_adopted_by_a_stack_of_the_same_name(
        template: dict[str, Any]) -> None:
    # Issue 13: deleting the stack keeps the bucket; deploying the same name again must not
    # fail on "already exists" but use it, renders and all (AdoptBucket="true").
    bucket = resource(template, "RenderBucket")
    assert bucket["Condition"] == "CreateBucket"
    assert bucket["Properties"]["BucketName"] == {"Fn::Sub": BUCKET_NAME}
    assert template["Conditions"]["CreateBucket"] == {
        "Fn::Equals": [{"Ref": "AdoptBucket"}, "false"]}
    assert template["Parameters"]["AdoptBucket"]["Default"] == "false"
    name = {"Fn::If": ["CreateBucket", {"Ref": "RenderBucket"}, {"Fn::Sub": BUCKET_NAME}]}
    function = resource(template, "RenderFunction")["Properties"]
    assert function["Environment"]["Variables"]["RENDER_BUCKET"] == name
    for machine in ("RenderStateMachine", "PreviewStateMachine", "BatchStateMachine"):
        properties = resource(template, machine)["Properties"]
        assert properties["DefinitionSubstitutions"]["RenderBucketName"] == name
    notifier = resource(template, "NotifyFunction")["Properties"]
    assert notifier["Environment"]["Variables"]["RENDER_BUCKET"] == name
    assert resource(template, "RenderBucketPolicy")["Properties"]["Bucket"] == name
    assert template["Outputs"]["RenderBucketName"]["Value"] == name
    # Nothing refers to the bucket resource unconditionally (it may not exist).
    text = json.dumps({key: value for key, value in template["Resources"].items()
                       if key != "RenderBucket"})
    assert text.count('"RenderBucket"') == text.count('{"Ref": "RenderBucket"}') == 6
    assert "RenderBucket.Arn" not in text


def test_reserved_concurrency_is_concurrency_plus_two(template: dict[str, Any]) -> None:
    # CloudFormation has no arithmetic: the template selects entry Concurrency of a list.
    # Reserved only when ReserveConcurrency is "true" (small accounts cannot reserve).
    condition, select, otherwise = resource(template, "RenderFunction")["Properties"][
        "ReservedConcurrentExecutions"]["Fn::If"]
    assert condition == "ShouldReserveConcurrency"
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert template["Conditions"]["ShouldReserveConcurrency"] == {
        "Fn::Equals": [{"Ref": "ReserveConcurrency"}, "true"]}
    assert template["Parameters"]["ReserveConcurrency"]["Default"] == "true"
    index, listed = select["Fn::Select"]
    assert index == {"Ref": "Concurrency"}
    delimiter, text = listed["Fn::Split"]
    values = text.split(delimiter)
    concurrency = template["Parameters"]["Concurrency"]
    assert len(values) == concurrency["MaxValue"] + 1
    for i in range(concurrency["MinValue"], concurrency["MaxValue"] + 1):
        assert values[i] == str(i + 2)


@pytest.mark.parametrize("machine", ["RenderStateMachine", "PreviewStateMachine"])
def test_state_machine_substitutions_match_the_asl(template: dict[str, Any],
                                                   machine: str) -> None:
    properties = resource(template, machine)["Properties"]
    assert properties["Type"] == "STANDARD"
    assert properties["DefinitionUri"] == "statemachine/render.asl.json"
    substitutions = properties["DefinitionSubstitutions"]
    assert substitutions["MaxConcurrency"] == {"Ref": "Concurrency"}
    assert substitutions["RenderFunctionArn"] == {"Fn::GetAtt": "RenderFunction.Arn"}
    assert set(PLACEHOLDER.findall(ASL.read_text())) == definition_substitution_names(machine)
    assert properties["Logging"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"] \
        == {"Fn::GetAtt": "RenderStateMachineLogGroup.Arn"}
    for name in ("RenderFunctionLogGroup", "RenderStateMachineLogGroup"):
        assert resource(template, name)["Properties"]["RetentionInDays"] == {
            "Ref": "LogRetentionDays"}


def test_the_preview_state_machine_is_the_main_one_writing_previews_only(
        template: dict[str, Any], asl: dict[str, Any]) -> None:
    """Issue 13: a pull-request role may start only the preview state machine; its renders
    must not reach renders/. The two differ in their name, OutputPrefixes and the ARNs of
    their own child executions, nothing else; the prefixes reach the handler as constants
    the execution's input cannot override."""
    from hfaction.aws.s3uri import OUTPUT_PREFIXES, PREVIEW_OUTPUT_PREFIXES, check_output_prefixes

    main = resource(template, "RenderStateMachine")["Properties"]
    preview = resource(template, "PreviewStateMachine")["Properties"]
    assert main["Name"] == {"Fn::Sub": "${ProjectName}-render"}
    assert preview["Name"] == {"Fn::Sub": "${ProjectName}-preview"}
    assert check_output_prefixes(main["DefinitionSubstitutions"]["OutputPrefixes"]) == \
        OUTPUT_PREFIXES
    assert check_output_prefixes(preview["DefinitionSubstitutions"]["OutputPrefixes"]) == \
        PREVIEW_OUTPUT_PREFIXES
    names = json.dumps(main).replace("${ProjectName}-render", "${ProjectName}-MACHINE")
    assert json.loads(names.replace("renders/,previews/", "PREFIXES")) == json.loads(
        json.dumps(preview).replace("${ProjectName}-preview", "${ProjectName}-MACHINE")
        .replace('"previews/"', '"PREFIXES"'))
    assert template["Outputs"]["PreviewStateMachineArn"]["Value"] == {
        "Ref": "PreviewStateMachine"}
    # The Plan payload merges the action and the prefixes last (they win over the input);
    # Assemble names them itself.
    prepare = asl["States"]["Prepare"]["Parameters"]
    assert prepare["plan_action"] == {"action": "plan", "output_prefixes": "${OutputPrefixes}"}
    plan = asl["States"]["Plan"]["Parameters"]["Payload.$"]
    assert plan.endswith(", $.config.plan_action, false)")
    assert asl["States"]["Assemble"]["Parameters"]["Payload"]["output_prefixes"] == \
        "${OutputPrefixes}"
    # No other task passes output prefixes: only Plan and Assemble write outputs.
    text = json.dumps(asl)
    assert text.count("${OutputPrefixes}") == 2


# --- the ASL as data ---------------------------------------------------------------------


def states(node: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, those inside Map item processors included."""
    for name, state in node["States"].items():
        yield name, state
        if "ItemProcessor" in state:
            yield from states(state["ItemProcessor"])


def test_retry_only_transient_errors_with_backoff(asl: dict[str, Any]) -> None:
    typed = {cls.code for cls in all_error_classes()}
    found = list(retriers(asl))
    assert found
    for retrier in found:
        assert set(retrier["ErrorEquals"]) <= TRANSIENT, retrier
        assert not set(retrier["ErrorEquals"]) & (typed - {"BROWSER_FAILED"}), retrier
        assert "States.ALL" not in retrier["ErrorEquals"]
        assert retrier["BackoffRate"] == 2
        assert retrier["JitterStrategy"] == "FULL"
        assert retrier["IntervalSeconds"] >= 1 and retrier["MaxAttempts"] >= 2
    throttling = [r for r in found if r["ErrorEquals"] == ["Lambda.TooManyRequestsException"]]
    others = [r for r in found if r not in throttling]
    # Throttling (two renders sharing the reserved concurrency) gets more attempts and
    # longer waits: those renders should slow down, not fail.
    for slow in throttling:
        for fast in others:
            assert slow["MaxAttempts"] > fast["MaxAttempts"]
            assert slow["IntervalSeconds"] > fast["IntervalSeconds"]


def test_every_lambda_task_retries_and_is_caught(asl: dict[str, Any]) -> None:
    tasks = {name: state for name, state in states(asl) if state["Type"] == "Task"}
    assert set(tasks) == {"Plan", "RenderChunk", "RenderChunkInChild", "Assemble"}
    for name, task in tasks.items():
        assert task["Resource"] == "arn:aws:states:::lambda:invoke", name
        assert task["Parameters"]["FunctionName"] == "${RenderFunctionArn}", name
        assert {tuple(r["ErrorEquals"]) for r in task["Retry"]} == {
            ("Lambda.TooManyRequestsException",),
            ("Lambda.ServiceException", "Lambda.AWSLambdaException",
             "Lambda.SdkClientException", "Lambda.ClientExecutionTimeoutException",
             "TRANSIENT_ERROR", "BROWSER_FAILED")}, name
    # Every top-level state that can fail ends in RenderFailed, which keeps the error's name.
    for name, state in asl["States"].items():
        if state["Type"] in ("Task", "Map"):
            assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure",
                                       "Next": "RenderFailed"}], name
    assert asl["States"]["RenderFailed"] == {
        "Type": "Fail", "Comment": asl["States"]["RenderFailed"]["Comment"],
        "ErrorPath": "$.failure.Error", "CausePath": "$.failure.Cause"}


def test_both_map_variants_fan_out_the_same_items(asl: dict[str, Any]) -> None:
    inline = asl["States"]["RenderChunksInline"]
    distributed = asl["States"]["RenderChunksDistributed"]
    assert inline["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert distributed["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    for state in (inline, distributed):
        assert state["ItemsPath"] == "$.plan.chunks"
        assert state["MaxConcurrencyPath"] == "$.config.max_concurrency"
        assert state["ItemSelector"] == {
            "action": "render_chunk", "render_id.$": "$.plan.render_id",
            "bucket.$": "$.plan.bucket", "plan_key.$": "$.plan.plan_key",
            "plan_hash.$": "$.plan.plan_hash", "index.$": "$$.Map.Item.Value.index"}
    assert asl["States"]["Prepare"]["Parameters"]["max_concurrency.$"] == \
        "States.StringToJson('${MaxConcurrency}')"
    choice = asl["States"]["ChooseMapMode"]
    assert choice["Choices"][0]["Next"] == "RenderChunksDistributed"
    assert choice["Default"] == "RenderChunksInline"
