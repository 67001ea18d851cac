"""Issue 13: the deploy policy cannot make an unbounded role, the boundary of the stack's
roles, and the pull-request policy that cannot write renders/.

IAM's policy simulator is not in moto: the decisions are hfaction's own evaluator's
(:func:`hfaction.policies.decide`), on policies printed through ``hfaction.cli.main``, with
the request's condition keys (``iam:PermissionsBoundary``) given as the request context.
That the deployed roles carry the boundary is shown on moto in
tests/integration/aws/test_deploy_on_moto_server.py.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hfaction.cli import main
from hfaction.policies import (
    StackScope,
    Statement,
    condition_holds,
    decide,
    parse_statements,
)

ACCOUNT = "111122223333"
REGION = "eu-west-1"
SCOPE = ["--stack-name", "video", "--region", REGION, "--account", ACCOUNT]
BUCKET = f"arn:aws:s3:::video-{ACCOUNT}-{REGION}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/video-RenderFunctionRole-1A2B3C4D5E6F"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/video-boundary"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:video-render"
PREVIEW_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:video-preview"
BATCH_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:video-batch"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:renders"


def execution(machine: str, name: str = "hf-1") -> str:
    return machine.replace(":stateMachine:", ":execution:") + f":{name}"


def map_run(machine: str) -> str:
    """A Distributed Map's run (the ASL's Label is "chunks"), as AWS names it."""
    return machine.replace(":stateMachine:", ":mapRun:") + \
        "/chunks:6c0f5e2a-1b2c-4d3e-8f90-a1b2c3d4e5f6"


def child(machine: str) -> str:
    """One of its child executions."""
    return machine.replace(":stateMachine:", ":execution:") + \
        "/chunks:0000002a-5a6b-4c7d-8e9f-0123456789ab"
ROLE_WRITES = ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy",
               "iam:PutRolePermissionsBoundary")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def printed(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, "policies", *argv)
    assert code == 0, err
    document = json.loads(out)
    assert isinstance(document, dict)
    return document


def statements(document: dict[str, Any]) -> list[Statement]:
    return parse_statements(document.get("permissions_policy", document), "printed")


def status(policy: list[Statement], action: str, resource: str,
           context: Mapping[str, str | None] | None = None) -> str:
    return decide(policy, action, resource, context=context).status


def validate(capsys: pytest.CaptureFixture[str], tmp_path: Path, document: Any,
             *extra: str) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document))
    code, out, _ = run(capsys, "policies", "validate", str(path), *SCOPE, "--json", *extra)
    return code, json.loads(out)


# --- A: the deploy policy and the permissions boundary ---------------------------------------


@pytest.mark.parametrize("scope", [SCOPE, ["--stack-name", "video"]],
                         ids=["account", "any-account"])
def test_the_deploy_policy_makes_and_changes_roles_only_with_the_stacks_boundary(
        capsys: pytest.CaptureFixture[str], scope: list[str]) -> None:
    policy = statements(printed(capsys, "user", *scope, "--part", "deploy"))
    without = {"iam:PermissionsBoundary": None}  # the request names no boundary
    bounded = {"iam:PermissionsBoundary": BOUNDARY}
    other = {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess"}
    for action in ROLE_WRITES:
        assert status(policy, action, ROLE, without) == "missing", action
        assert status(policy, action, ROLE, other) == "missing", action
        assert status(policy, action, ROLE, bounded) == "allowed", action
        # Without a request context the condition is reported, never assumed to hold.
        assert status(policy, action, ROLE) == "conditional", action
    # Only the stack's roles, even with the boundary; and lifting it is denied outright.
    assert status(policy, "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/admin",
                  bounded) == "missing"
    assert status(policy, "iam:DeleteRolePermissionsBoundary", ROLE, bounded) == "denied"
    assert status(policy, "iam:DeleteRolePermissionsBoundary", ROLE) == "denied"
    # What needs no boundary condition stays unconditional.
    assert status(policy, "iam:DeleteRole", ROLE) == "allowed"


def test_the_boundary_allows_what_the_stacks_roles_do_and_nothing_of_iam(
        capsys: pytest.CaptureFixture[str]) -> None:
    from hfaction.cdk.template import sam_template, translate

    boundary = printed(capsys, "boundary", *SCOPE)
    policy = statements(boundary)
    assert {s.effect for s in policy} == {"Allow"}
    assert not any(action.startswith("iam:") or action == "*" or action.endswith(":*")
                   for s in policy for action in s.actions)
    roles = {name: resource for name, resource in translate(sam_template())["Resources"].items()
             if resource["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {"RenderFunctionRole", "RenderStateMachineRole",
                          "PreviewStateMachineRole", "BatchStateMachineRole",
                          "NotifyFunctionRole"}
    checked = 0
    for name, role in roles.items():
        properties = role["Properties"]
        assert properties["PermissionsBoundary"] == {"Fn::If": [
            "HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]}
        # The notify role's topic statement is there only with a topic (Fn::If).
        grants = [statement["Fn::If"][1] if set(statement) == {"Fn::If"} else statement
                  for document in properties["Policies"]
                  for statement in document["PolicyDocument"]["Statement"]]
        if any("AWSLambdaBasicExecutionRole" in json.dumps(arn)
               for arn in properties.get("ManagedPolicyArns", [])):
            # The managed policy's logs calls, on the function's own log group.
            grants.append({"Effect": "Allow", "Action": [
                "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/"
                            "video-render:log-stream:2026/01/01/[$LATEST]abc"})
        for grant in grants:
            actions = grant["Action"] if isinstance(grant["Action"], list) else [grant["Action"]]
            resources = grant["Resource"] if isinstance(grant["Resource"], list) \
                else [grant["Resource"]]
            for action in actions:
                for resource in resources:
                    arn = resolved(resource)
                    # SAM's LambdaInvokePolicy grants function:NAME*; the state machine
                    # calls the function (and its versions) itself, and the boundary
                    # allows no more than that.
                    arns = [arn.removesuffix("*"), arn.removesuffix("*") + ":1"] \
                        if arn.endswith(":function:video-render*") else [arn]
                    for one in arns:
                        assert status(policy, action, one) == "allowed", (name, action, one)
                        checked += 1
    assert checked > 20
    # Beyond the stack: nothing.
    for action, resource in [
            ("sns:Publish", f"arn:aws:sns:{REGION}:444455556666:renders"),
            ("s3:GetObject", f"arn:aws:s3:::other-{ACCOUNT}-{REGION}/renders/x"),
            ("s3:DeleteBucket", BUCKET),
            ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:other"),
            ("states:StartExecution", MACHINE.replace("video-render", "other")),
            ("iam:CreateRole", ROLE), ("iam:PassRole", ROLE), ("sts:AssumeRole", ROLE)]:
        assert status(policy, action, resource) == "missing", (action, resource)


def resolved(node: Any) -> str:
    """A role policy's resource with the stack's names: Fn::Sub of the template's
    parameters and pseudo parameters, Ref of the function."""
    values = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
              "ProjectName": "video"}
    if isinstance(node, str):
        return node
    if node == {"Ref": "NotifyTopicArn"}:  # a topic of the account, as deploy is given
        return TOPIC
    (function, body), = node.items()
    assert function == "Fn::Sub", node
    text, variables = (body, {}) if isinstance(body, str) else body
    for key, value in variables.items():
        assert value == {"Ref": "RenderFunction"}, value
        values[key] = "video-render"
    return re.sub(r"\$\{([^}]+)\}", lambda match: values[match.group(1)], text)


def test_the_deployed_template_puts_the_boundary_parameter_on_every_role() -> None:
    from hfaction.cdk.template import stack_template

    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/video-render:1"
    bounded = stack_template({"ImageUri": image, "PermissionsBoundaryArn": BOUNDARY})
    plain = stack_template({"ImageUri": image})
    for template, expected in ((bounded, BOUNDARY), (plain, None)):
        roles = [r["Properties"] for r in template["Resources"].values()
                 if r["Type"] == "AWS::IAM::Role"]
        assert len(roles) == 4  # the function's and the three state machines'
        assert [role.get("PermissionsBoundary") for role in roles] == [expected] * 4
    # With notifications, the notifier's role too.
    notifying = stack_template({"ImageUri": image, "PermissionsBoundaryArn": BOUNDARY,
                                "NotifyTopicArn": TOPIC})
    roles = {name: r["Properties"] for name, r in notifying["Resources"].items()
             if r["Type"] == "AWS::IAM::Role"}
    assert "NotifyFunctionRole" in roles and len(roles) == 5
    assert {role.get("PermissionsBoundary") for role in roles.values()} == {BOUNDARY}


def test_validate_flags_role_writes_without_a_boundary_condition(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    policy = printed(capsys, "user", *SCOPE)
    code, result = validate(capsys, tmp_path, policy)
    assert code == 0 and result["over_broad"] == []
    # The boundary condition holds for the request CloudFormation makes: allowed.
    assert [item["action"] for item in result["conditional"]] == ["iam:PassRole"]

    # The deploy policy of before: role writes with no condition, and the boundary's removal.
    unbounded = copy.deepcopy(policy)
    for statement in unbounded["Statement"]:
        if statement.get("Condition", {}).get("ArnEquals"):
            del statement["Condition"]
    unbounded["Statement"].append({"Sid": "Lift", "Effect": "Allow",
                                   "Action": "iam:DeleteRolePermissionsBoundary",
                                   "Resource": f"arn:aws:iam::{ACCOUNT}:role/video-*"})
    code, result = validate(capsys, tmp_path, unbounded)
    assert code == 0  # still covers every call: a warning, as iam:PassRole's is
    findings = [f for f in result["over_broad"] if "iam:PermissionsBoundary" in f]
    assert len(findings) == 1 and "privilege escalation" in findings[0]
    assert all(action in findings[0] for action in
               ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"))
    assert BOUNDARY in findings[0]
    assert any("statement" in f and "(Lift)" in f and "lift the permissions boundary" in f
               for f in result["over_broad"])
    code, out, _ = run(capsys, "policies", "validate", str(tmp_path / "policy.json"), *SCOPE)
    assert "without an iam:PermissionsBoundary condition" in out

    # A hand-written policy: any role, any policy, no condition.
    handmade = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["iam:CreateRole", "iam:AttachRolePolicy"],
        "Resource": "*"}]}
    _, result = validate(capsys, tmp_path, handmade)
    assert any("statement 1: iam:CreateRole, iam:AttachRolePolicy without an "
               "iam:PermissionsBoundary condition" in f for f in result["over_broad"])

    # A boundary condition naming another policy refuses what CloudFormation asks for.
    elsewhere = json.loads(json.dumps(policy).replace("policy/video-boundary",
                                                      "policy/someone-elses"))
    code, result = validate(capsys, tmp_path, elsewhere)
    assert code == 1
    assert {item["action"] for item in result["missing"]} >= {"iam:CreateRole",
                                                              "iam:PutRolePolicy"}
    # ... unless told that is the boundary's name.
    code, result = validate(capsys, tmp_path, elsewhere, "--boundary-name", "someone-elses")
    assert code == 0 and result["missing"] == []


@pytest.mark.parametrize(("condition", "context", "expected"), [
    ({"ArnEquals": {"iam:PermissionsBoundary": BOUNDARY}}, {"iam:PermissionsBoundary": BOUNDARY},
     True),
    ({"ArnEquals": {"iam:PermissionsBoundary": BOUNDARY}}, {"iam:PermissionsBoundary": None},
     False),
    ({"StringEquals": {"iam:permissionsboundary": [BOUNDARY, "x"]}},
     {"iam:PermissionsBoundary": BOUNDARY}, True),
    ({"ArnLike": {"iam:PermissionsBoundary": "arn:aws:iam::*:policy/video-*"}},
     {"iam:PermissionsBoundary": BOUNDARY}, True),
    # An unknown account in the request stands for the one the policy names.
    ({"ArnEquals": {"iam:PermissionsBoundary": BOUNDARY}},
     {"iam:PermissionsBoundary": StackScope("video").boundary_arn()}, True),
    ({"StringNotEquals": {"iam:PermissionsBoundary": BOUNDARY}},
     {"iam:PermissionsBoundary": None}, True),
    ({"StringEqualsIfExists": {"iam:PermissionsBoundary": BOUNDARY}},
     {"iam:PermissionsBoundary": None}, True),
    ({"Null": {"iam:PermissionsBoundary": "true"}}, {"iam:PermissionsBoundary": None}, True),
    ({"Bool": {"aws:SecureTransport": "false"}}, {"iam:PermissionsBoundary": BOUNDARY}, None),
    ({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
     {"aws:MultiFactorAuthAge": "10"}, None),
    ({"ArnEquals": {"iam:PermissionsBoundary": BOUNDARY}}, None, None),
])
def test_conditions_are_evaluated_on_the_keys_the_context_knows(
        condition: dict[str, Any], context: Mapping[str, str | None] | None,
        expected: bool | None) -> None:
    assert condition_holds(condition, context) is expected


# --- B: the pull-request policy ----------------------------------------------------------------


def test_the_pull_request_policy_writes_sites_reads_previews_and_never_touches_renders(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    document = printed(capsys, "user", *SCOPE, "--part", "pull-request")
    # A role trusted by pull requests gets it by default.
    role = printed(capsys, "role", *SCOPE, "--github-repo", "acme/videos", "--pull-requests")
    assert role["permissions_policy"] == document
    assert role["trust_policy"]["Statement"][0]["Condition"]["StringEquals"][
        "token.actions.githubusercontent.com:sub"] == "repo:acme/videos:pull_request"
    policy = statements(document)
    expected = {
        ("s3:PutObject", f"{BUCKET}/renders/hf-1/out.mp4"): "missing",
        ("s3:PutObject", f"{BUCKET}/previews/pr-1/x/1-1/preview.mp4"): "missing",
        ("s3:PutObject", f"{BUCKET}/work/hf-1/plan.json"): "missing",
        ("s3:PutObject", f"{BUCKET}/sites/abc123/index.html"): "allowed",
        ("s3:GetObject", f"{BUCKET}/previews/pr-1/x/1-1/preview.mp4"): "allowed",
        ("s3:GetObject", f"{BUCKET}/work/hf-1/invocations/plan.json"): "allowed",
        ("s3:GetObject", f"{BUCKET}/sites/abc123/.hfaction-site.json"): "allowed",
        ("s3:GetObject", f"{BUCKET}/renders/hf-1/out.mp4"): "missing",
        ("s3:DeleteObject", f"{BUCKET}/previews/pr-1/x/1-1/preview.mp4"): "allowed",
        ("s3:DeleteObject", f"{BUCKET}/renders/hf-1/out.mp4"): "missing",
        ("s3:DeleteObject", f"{BUCKET}/sites/abc123/index.html"): "missing",
        ("s3:ListBucket", BUCKET): "allowed",
        # Only the preview state machine, whose renders write previews/ only: the main
        # one would have the function's role write wherever the input's output key says.
        ("states:StartExecution", PREVIEW_MACHINE): "allowed",
        ("states:StartExecution", MACHINE): "missing",
        ("states:StartExecution", MACHINE.replace("video-render", "other-render")): "missing",
        ("states:DescribeExecution", execution(PREVIEW_MACHINE)): "allowed",
        ("states:GetExecutionHistory", execution(PREVIEW_MACHINE)): "allowed",
        ("states:StopExecution", execution(PREVIEW_MACHINE)): "allowed",
        # The main state machine's executions hold the links the function signed to
        # renders/: not readable.
        ("states:DescribeExecution", execution(MACHINE)): "missing",
        ("states:GetExecutionHistory", execution(MACHINE)): "missing",
        ("states:StopExecution", execution(MACHINE)): "missing",
        # A preview of more than 40 chunks at once: its Distributed Map's run and children.
        ("states:DescribeMapRun", map_run(PREVIEW_MACHINE)): "allowed",
        ("states:ListExecutions", map_run(PREVIEW_MACHINE)): "allowed",
        ("states:GetExecutionHistory", child(PREVIEW_MACHINE)): "allowed",
        ("states:DescribeMapRun", map_run(MACHINE)): "missing",
        ("states:ListExecutions", map_run(MACHINE)): "missing",
        ("states:GetExecutionHistory", child(MACHINE)): "missing",
        # Batches write renders/: a pull request neither starts nor reads them.
        ("states:StartExecution", BATCH_MACHINE): "missing",
        ("states:DescribeExecution", execution(BATCH_MACHINE)): "missing",
        ("states:GetExecutionHistory", execution(BATCH_MACHINE)): "missing",
        ("states:StopExecution", execution(BATCH_MACHINE)): "missing",
        ("states:DescribeMapRun", map_run(BATCH_MACHINE)): "missing",
        ("cloudformation:DescribeStacks",
         f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/video/1"): "allowed",
        ("cloudformation:CreateChangeSet",
         f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/video/1"): "missing",
        ("lambda:UpdateFunctionCode",
         f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:video-render"): "missing",
        ("iam:PassRole", ROLE): "missing",
    }
    found = {key: status(policy, *key) for key in expected}
    assert found == expected
    assert not any(action.startswith("iam:") for s in policy for action in s.actions)

    # It validates for what a pull request does, not for rendering anywhere.
    code, result = validate(capsys, tmp_path, document, "--part", "pull-request")
    assert code == 0 and result["over_broad"] == [] and result["lint"] == []
    code, out, _ = run(capsys, "policies", "validate", str(tmp_path / "policy.json"), *SCOPE,
                       "--part", "pull-request")
    assert code == 0 and "required to render pull-request previews on stack video" in out
    code, result = validate(capsys, tmp_path, document, "--part", "render")
    assert code == 1 and {"s3:PutObject", "s3:DeleteObject"} <= {
        item["action"] for item in result["missing"]}
    # And a render policy is wider than a pull request needs: the check says so.
    render = printed(capsys, "user", *SCOPE, "--part", "render")
    code, result = validate(capsys, tmp_path, render, "--part", "pull-request")
    assert code == 0


def test_the_render_part_runs_batches_and_the_deploy_part_makes_the_notifier(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 15: the render part starts, follows and stops the batch state machine's
    executions (and their Distributed Map's run and children); the deploy part lets
    CloudFormation make the notifier (its function, the EventBridge rule and the rule's
    permission to invoke it, its log group), and nothing of another stack's."""
    render = statements(printed(capsys, "user", *SCOPE, "--part", "render"))
    for action, resource in [
            ("states:StartExecution", BATCH_MACHINE),
            ("states:DescribeExecution", execution(BATCH_MACHINE)),
            ("states:GetExecutionHistory", execution(BATCH_MACHINE)),
            ("states:StopExecution", execution(BATCH_MACHINE)),
            ("states:DescribeMapRun", map_run(BATCH_MACHINE)),
            ("states:ListExecutions", map_run(BATCH_MACHINE)),
            ("states:GetExecutionHistory", child(BATCH_MACHINE))]:
        assert status(render, action, resource) == "allowed", (action, resource)
    assert status(render, "states:StartExecution",
                  BATCH_MACHINE.replace("video-batch", "other-batch")) == "missing"
    assert status(render, "events:PutRule",
                  f"arn:aws:events:{REGION}:{ACCOUNT}:rule/video-notify") == "missing"

    deploy = statements(printed(capsys, "user", *SCOPE, "--part", "deploy"))
    notify = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:video-notify"
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/video-notify"
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/video-notify"
    for action, resource in [
            ("lambda:CreateFunction", notify), ("lambda:AddPermission", notify),
            ("lambda:RemovePermission", notify),
            ("lambda:PutFunctionEventInvokeConfig", notify),
            ("events:PutRule", rule), ("events:PutTargets", rule),
            ("events:DeleteRule", rule), ("events:RemoveTargets", rule),
            ("logs:CreateLogGroup", logs),
            ("states:CreateStateMachine", BATCH_MACHINE)]:
        assert status(deploy, action, resource) == "allowed", (action, resource)
    for action, resource in [
            ("events:PutRule", rule.replace("video-notify", "other-notify")),
            ("events:PutTargets", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/anything"),
            ("lambda:AddPermission", notify.replace("video-notify", "other-notify")),
            # Publishing is the notify function's role's, never the deployer's.
            ("sns:Publish", TOPIC)]:
        assert status(deploy, action, resource) == "missing", (action, resource)
