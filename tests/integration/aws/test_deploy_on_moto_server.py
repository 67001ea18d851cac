"""``hfaction lambda deploy`` with the real ``sam deploy`` against a moto server, then a
render, a second (no-op) deploy and ``progress`` on the stack it made.

The stack runs on tests/integration/aws/moto_stack.py: a moto server in this process on a
free loopback port, patched where moto lacks what AWS does (its docstring lists each patch),
whose Lambda runs the real handler. ``sam`` is the real aws-sam-cli from its own
virtualenv (``scripts/lint-aws.sh`` installs it into .venv-sam; its botocore pin conflicts
with moto's), found through ``HFACTION_SAM``. hfaction's commands run in-process through
:func:`hfaction.cli.main`.

The test skips when aws-sam-cli cannot be installed, naming it, unless
HFACTION_REQUIRE_TOOLS=1 (CI), where it fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from hfaction import __version__
from hfaction.cli import main
from tests.conftest import FIXTURES
from tests.integration.aws.moto_stack import (
    ACCOUNT,
    REGION,
    MotoStack,
    image_uri,
    moto_stack,
    require_sam,
)
from tests.integration.conftest import decode_gray

STACK = "hfdeploytest"
CONCURRENCY = 2
CHUNK = 20  # the motion fixture's 60 frames -> 3 chunks, more than CONCURRENCY
IMAGE_URI = image_uri(STACK)


@pytest.fixture
def aws(tmp_path: Path) -> Iterator[MotoStack]:
    """The patched moto server; this process's and sam's AWS point at it."""
    with moto_stack(sam=require_sam(), work=tmp_path) as stack:
        yield stack


def hfaction_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    """Run an hfaction command in-process; exit 0 and its JSON output."""
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, f"hfaction {' '.join(argv)} exited {code}:\n{captured.err[-3000:]}"
    # The handler runs in this process too: skip the log lines it prints ({"hfaction": ...}).
    documents = []
    decoder, text, position = json.JSONDecoder(), captured.out, 0
    while text[position:].strip():
        position += len(text[position:]) - len(text[position:].lstrip())
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    results = [d for d in documents if not (isinstance(d, dict) and "hfaction" in d)]
    assert len(results) == 1 and isinstance(results[0], dict), captured.out[-3000:]
    return results[0]


def test_deploy_with_sam_then_render_then_an_unchanged_deploy_is_a_no_op(
        aws: MotoStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = boto3.session.Session(region_name=REGION).client
    cloudformation, lambda_api = client("cloudformation"), client("lambda")

    deploy = ["lambda", "deploy", "--stack-name", STACK, "--concurrency", str(CONCURRENCY),
              "--image-uri", IMAGE_URI, "--json"]
    stack = hfaction_json(capsys, *deploy)
    assert stack["bucket"] == f"{STACK}-{ACCOUNT}-{REGION}"
    assert stack["state_machine_arn"].endswith(f":stateMachine:{STACK}-render")
    assert stack["preview_state_machine_arn"].endswith(f":stateMachine:{STACK}-preview")
    assert stack["batch_state_machine_arn"].endswith(f":stateMachine:{STACK}-batch")
    assert stack["version"] == __version__ and stack["status"] == "CREATE_COMPLETE"
    assert stack["parameters"]["ImageUri"] == IMAGE_URI
    assert stack["parameters"]["Concurrency"] == str(CONCURRENCY)
    assert stack["parameters"]["ReserveConcurrency"] == "true"
    function = lambda_api.get_function(FunctionName=f"{STACK}-render")
    assert function["Configuration"]["Environment"]["Variables"]["RENDER_BUCKET"] == \
        stack["bucket"]
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == CONCURRENCY + 2
    # No --permissions-boundary: the roles have none (the template's default).
    iam = client("iam")
    roles = [role["RoleName"] for role in iam.list_roles()["Roles"]
             if role["RoleName"].startswith(f"{STACK}-")]
    assert len(roles) == 4  # the function's and the three state machines'
    assert not any("PermissionsBoundary" in iam.get_role(RoleName=name)["Role"]
                   for name in roles)
    # The state machine runs the shipped ASL with the template's substitutions filled in.
    definition = client("stepfunctions").describe_state_machine(
        stateMachineArn=stack["state_machine_arn"])["definition"]
    assert "${" not in definition
    assert f'"FunctionName": "{stack["function_arn"]}"' in definition
    assert f"States.StringToJson('{CONCURRENCY}')" in definition
    assert definition.count('"output_prefixes": "renders/,previews/"') == 2
    # The preview state machine: the same, its renders under previews/ only.
    preview = client("stepfunctions").describe_state_machine(
        stateMachineArn=stack["preview_state_machine_arn"])["definition"]
    assert preview == definition.replace('"output_prefixes": "renders/,previews/"',
                                         '"output_prefixes": "previews/"')

    # The same deploy again: CloudFormation finds nothing to change, sam stops there.
    events = cloudformation.describe_stack_events(StackName=STACK)["StackEvents"]
    modified = function["Configuration"]["LastModified"]
    again = hfaction_json(capsys, *deploy)
    assert again == stack
    change_sets = cloudformation.list_change_sets(StackName=STACK)["Summaries"]
    assert [(c["Status"], c["ExecutionStatus"]) for c in change_sets] == \
        [("CREATE_COMPLETE", "EXECUTE_COMPLETE"), ("FAILED", "UNAVAILABLE")]
    assert "didn't contain changes" in change_sets[1]["StatusReason"]
    assert cloudformation.describe_stack_events(StackName=STACK)["StackEvents"] == events
    assert cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == \
        "CREATE_COMPLETE"
    assert lambda_api.get_function(FunctionName=f"{STACK}-render")[
        "Configuration"]["LastModified"] == modified

    # Render through the deployed state machine; the handler renders each chunk.
    out = tmp_path / "out.mp4"
    done = hfaction_json(capsys, "lambda", "render", str(FIXTURES / "motion"), "--wait",
                         "-o", str(out), "--chunk-size", str(CHUNK), "--stack-name", STACK,
                         "--json")
    assert done["status"] == "SUCCEEDED"
    assert done["chunks"] == {"total": 3, "done": 3, "in_flight": 0}
    assert done["frames"] == {"total": 60, "done": 60}
    render_id = done["render_id"]
    assert done["output_uri"] == f"s3://{stack['bucket']}/renders/{render_id}/out.mp4"
    assert out.stat().st_size == done["output_bytes"]
    assert decode_gray(out).shape[0] == 60
    assert sorted(aws.lambda_.actions) == \
        ["assemble", "plan", "render_chunk", "render_chunk", "render_chunk"]
    # The server saw it all: sam's change set, hfaction's execution, and the interpreter's
    # invocations (moto's own access key), which reached the handler above.
    assert {"cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet",
            "states:StartExecution"} <= aws.actions()
    assert "lambda:InvokeFunction" in aws.actions("ak")

    current = hfaction_json(capsys, "lambda", "progress", render_id, "--stack-name", STACK,
                            "--json")
    assert current["status"] == "SUCCEEDED"
    assert current["frames"] == {"total": 60, "done": 60}
    cost = current["cost"]
    assert cost == done["cost"]
    assert cost["invocations"] == 5 and cost["state_transitions"] > 0
    assert cost["lambda_usd"] > 0 and cost["step_functions_usd"] > 0
    assert cost["total_usd"] == pytest.approx(cost["lambda_usd"] + cost["step_functions_usd"],
                                              abs=2e-6)


def test_destroy_then_deploy_the_same_name_adopts_the_kept_bucket(
        aws: MotoStack, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13: the bucket outlives 'lambda destroy' (DeletionPolicy Retain); deploying the
    same stack name again used to fail on creating it ("already exists"). The new stack
    adopts it, renders and all, and later deploys keep doing so."""
    client = boto3.session.Session(region_name=REGION).client
    s3, lambda_api = client("s3"), client("lambda")
    deploy = ["lambda", "deploy", "--stack-name", STACK, "--concurrency", str(CONCURRENCY),
              "--image-uri", IMAGE_URI, "--json"]
    first = hfaction_json(capsys, *deploy)
    assert first["parameters"].get("AdoptBucket", "false") == "false"
    bucket = first["bucket"]
    s3.put_object(Bucket=bucket, Key="renders/hf-old/out.mp4", Body=b"an earlier render")

    capsys.readouterr()
    assert main(["lambda", "destroy", "--stack-name", STACK]) == 0
    destroyed = capsys.readouterr().out
    assert f"bucket {bucket} and its renders are kept" in destroyed
    assert s3.head_bucket(Bucket=bucket)

    capsys.readouterr()
    assert main(deploy) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    assert f"note: adopting the bucket {bucket} that a deleted stack {STACK} kept" in \
        captured.err
    again = json.loads(captured.out)
    assert again["status"] == "CREATE_COMPLETE" and again["bucket"] == bucket
    assert again["parameters"]["AdoptBucket"] == "true"
    assert s3.get_object(Bucket=bucket, Key="renders/hf-old/out.mp4")["Body"].read() == \
        b"an earlier render"
    function = lambda_api.get_function(FunctionName=f"{STACK}-render")
    assert function["Configuration"]["Environment"]["Variables"]["RENDER_BUCKET"] == bucket
    # Deploying it again keeps using the bucket it does not own (an unchanged deploy: moto
    # 5.2 cannot update this stack with a changed parameter, see TESTBED.md).
    assert hfaction_json(capsys, *deploy) == again
    assert f"deploying {STACK} again adopts it" in destroyed  # and destroy said so


def test_deploy_with_a_permissions_boundary_puts_it_on_every_role_of_the_stack(
        aws: MotoStack, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13: the deploy policy lets CloudFormation create the stack's roles only with
    the boundary ``hfaction policies boundary`` prints; ``--permissions-boundary`` puts it
    on every role the stack creates, and a later deploy without the flag keeps it."""
    iam = boto3.session.Session(region_name=REGION).client("iam")
    capsys.readouterr()
    assert main(["policies", "boundary", "--stack-name", STACK, "--region", REGION,
                 "--account", ACCOUNT]) == 0
    document = capsys.readouterr().out
    arn = iam.create_policy(PolicyName=f"{STACK}-boundary",
                            PolicyDocument=document)["Policy"]["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/{STACK}-boundary"

    deploy = ["lambda", "deploy", "--stack-name", STACK, "--concurrency", str(CONCURRENCY),
              "--image-uri", IMAGE_URI, "--json"]
    stack = hfaction_json(capsys, *deploy, "--permissions-boundary", arn)
    assert stack["status"] == "CREATE_COMPLETE"
    assert stack["parameters"]["PermissionsBoundaryArn"] == arn

    def boundaries() -> dict[str, Any]:
        names = [role["RoleName"] for role in iam.list_roles()["Roles"]
                 if role["RoleName"].startswith(f"{STACK}-")]
        return {name: iam.get_role(RoleName=name)["Role"].get("PermissionsBoundary")
                for name in names}

    found = boundaries()
    assert sorted(name.split("-")[1] for name in found) == [
        "BatchStateMachineRole", "PreviewStateMachineRole", "RenderFunctionRole",
        "RenderStateMachineRole"]
    assert all(boundary == {"PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                            "PermissionsBoundaryArn": arn} for boundary in found.values()), found
    # Deployed again without the flag: the stack keeps its boundary (nothing changes).
    again = hfaction_json(capsys, *deploy)
    assert again == stack and boundaries() == found


WEBHOOK_SECRET = "whsec-moto-deploy-0123456789abcdef"


def test_deploy_makes_the_notifier_only_when_told_where_to_send_and_never_shows_the_secret(
        aws: MotoStack, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: without --notify-topic or --webhook the stack has no notify function nor
    rule (the template's ShouldNotify); with both, CloudFormation makes the function (the
    render image, the notifier's handler, the topic, webhook and secret in its environment)
    and the EventBridge rule matching the three state machines' ends, targeting it. The
    secret, read from the variable --webhook-secret-env names, is in no output of deploy.

    The rule cannot deliver here (moto's Step Functions sends no events, its EventBridge
    invokes no Lambda): tests/unit/test_notify_rule.py routes sample events through the
    same pattern, test_notify_delivery.py delivers the function's notifications."""
    client = boto3.session.Session(region_name=REGION).client
    lambda_api, events = client("lambda"), client("events")
    topic = client("sns").create_topic(Name="render-ends")["TopicArn"]

    # A deploy without notifications: nothing of the notifier.
    plain = f"{STACK}plain"
    stack = hfaction_json(capsys, "lambda", "deploy", "--stack-name", plain, "--concurrency",
                          str(CONCURRENCY), "--image-uri", image_uri(plain), "--json")
    assert stack["status"] == "CREATE_COMPLETE"
    functions = {f["FunctionName"] for f in lambda_api.list_functions()["Functions"]}
    assert f"{plain}-render" in functions and f"{plain}-notify" not in functions
    assert events.list_rules(NamePrefix=plain)["Rules"] == []
    resources = {r["LogicalResourceId"] for r in client("cloudformation").list_stack_resources(
        StackName=plain)["StackResourceSummaries"]}
    assert "BatchStateMachine" in resources and not any(
        name.startswith("NotifyFunction") for name in resources)

    # With a topic and a webhook.
    monkeypatch.setenv("HOOK_SECRET", WEBHOOK_SECRET)
    capsys.readouterr()
    code = main(["lambda", "deploy", "--stack-name", STACK, "--concurrency", str(CONCURRENCY),
                 "--image-uri", IMAGE_URI, "--notify-topic", topic,
                 "--webhook", "https://hooks.example.com/hfaction/T0KEN",
                 "--webhook-secret-env", "HOOK_SECRET", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    assert WEBHOOK_SECRET not in captured.out + captured.err
    notified = json.loads(captured.out)
    assert notified["status"] == "CREATE_COMPLETE"
    assert notified["parameters"]["NotifyTopicArn"] == topic
    assert notified["parameters"]["WebhookUrl"] == "https://hooks.example.com/hfaction/T0KEN"
    assert notified["parameters"]["WebhookSecret"] == "****"
    assert WEBHOOK_SECRET not in json.dumps(notified)
    stack_file = next((Path(aws.env["XDG_CONFIG_HOME"]) / "hfaction" / "stacks").glob(
        f"*-{STACK}.json"))
    assert WEBHOOK_SECRET not in stack_file.read_text()  # the saved stack record

    function = lambda_api.get_function(FunctionName=f"{STACK}-notify")["Configuration"]
    variables = function["Environment"]["Variables"]
    assert variables["HFACTION_NOTIFY_TOPIC_ARN"] == topic
    assert variables["HFACTION_WEBHOOK_URL"] == "https://hooks.example.com/hfaction/T0KEN"
    assert variables["HFACTION_WEBHOOK_SECRET"] == WEBHOOK_SECRET  # it reached the function
    assert variables["RENDER_BUCKET"] == notified["bucket"]
    assert function["MemorySize"] <= 512 and function["Timeout"] <= 300
    image = lambda_api.get_function(FunctionName=f"{STACK}-notify")["Code"]
    assert image.get("ImageUri", IMAGE_URI) == IMAGE_URI

    (rule,) = events.list_rules(NamePrefix=f"{STACK}-notify")["Rules"]
    pattern = json.loads(rule["EventPattern"])
    assert pattern["source"] == ["aws.states"]
    assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "SUCCEEDED",
                                                   "TIMED_OUT"]
    assert sorted(pattern["detail"]["stateMachineArn"]) == sorted([
        notified["state_machine_arn"], notified["preview_state_machine_arn"],
        notified["batch_state_machine_arn"]])
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == function["FunctionArn"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    # The rule may invoke the function.
    policy = json.loads(lambda_api.get_policy(FunctionName=f"{STACK}-notify")["Policy"])
    assert any(statement["Principal"] == {"Service": "events.amazonaws.com"}
               for statement in policy["Statement"])
