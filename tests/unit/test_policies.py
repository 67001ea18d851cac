"""``hfaction policies``: the printed policies and the check of a user's policy.

Policies are built from hfaction's own output and edited the way a user would (a
statement dropped, a wildcard, a Deny added), then checked through ``hfaction.cli.main``
or the library; parliament runs for real.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from hfaction.cli import main
from hfaction.policies import (
    MANAGED_POLICY_LIMIT,
    UNUSED_FEATURES,
    StackScope,
    action_matches,
    identity_policy,
    permissions_data,
    policy_size,
    required,
    resource_covers,
    resource_overlaps,
    validate_document,
)

REPO = Path(__file__).resolve().parents[2]
SCOPE = ["--stack-name", "video", "--region", "eu-west-1", "--account", "111122223333"]
ACCOUNT = "111122223333"
SM = "arn:aws:states:eu-west-1:111122223333:stateMachine:video-render"
BUCKET = "arn:aws:s3:::video-111122223333-eu-west-1"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def policy(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, _ = run(capsys, "policies", "user", *SCOPE)
    assert code == 0
    document = json.loads(out)
    assert isinstance(document, dict)
    return document


def validate(capsys: pytest.CaptureFixture[str], tmp_path: Path, document: Any,
             *extra: str) -> tuple[int, str, str]:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document, indent=1))
    return run(capsys, "policies", "validate", str(path), *SCOPE, *extra)


def report(capsys: pytest.CaptureFixture[str], tmp_path: Path,
           document: Any) -> tuple[int, dict[str, Any]]:
    code, out, _ = validate(capsys, tmp_path, document, "--json")
    return code, json.loads(out)


def without(document: dict[str, Any], action: str) -> dict[str, Any]:
    """The policy with one action removed wherever it is listed."""
    edited = copy.deepcopy(document)
    for statement in edited["Statement"]:
        statement["Action"] = [item for item in statement["Action"] if item != action]
    edited["Statement"] = [s for s in edited["Statement"] if s["Action"]]
    return edited


def missing_actions(result: dict[str, Any]) -> set[str]:
    return {item["action"] for item in result["missing"]}


# --- the printed policy ----------------------------------------------------------------------


def test_complete_policy_passes_with_no_lint_findings(
        policy: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = validate(capsys, tmp_path, policy)
    assert code == 0, out
    assert "OK: every required action is allowed" in out
    code, result = report(capsys, tmp_path, policy)
    assert code == 0 and result["ok"] and result["missing"] == []
    assert result["required"] == len({need.action for need in required()}) > 100
    assert result["over_broad"] == [] and result["lint"] == []
    # iam:PassRole is granted under iam:PassedToService: reported, not assumed.
    assert [item["action"] for item in result["conditional"]] == ["iam:PassRole"]


def test_printed_policy_is_scoped_to_the_stack(policy: dict[str, Any]) -> None:
    resources = {arn for statement in policy["Statement"]
                 for arn in ([statement["Resource"]] if isinstance(statement["Resource"], str)
                             else statement["Resource"])}
    assert BUCKET in resources and f"{BUCKET}/*" in resources and SM in resources
    assert "arn:aws:cloudformation:eu-west-1:111122223333:stack/video/*" in resources
    assert "arn:aws:ecr:eu-west-1:111122223333:repository/video-render" in resources
    assert "arn:aws:lambda:eu-west-1:111122223333:function:video-render" in resources
    assert "arn:aws:iam::111122223333:role/video-*" in resources
    assert "arn:aws:cloudformation:eu-west-1:aws:transform/Serverless-2016-10-31" in resources
    unscoped = [s for s in policy["Statement"] if s["Resource"] == "*"]
    assert [s["Sid"] for s in unscoped] == ["DeployAccountLevelNoResourceArn"]
    assert "ecr:GetAuthorizationToken" in unscoped[0]["Action"]
    assert not any(action_matches(action, "iam:PassRole") for action in unscoped[0]["Action"])
    assert all(not action.endswith(":*") and action != "*"
               for statement in policy["Statement"] for action in statement["Action"])
    pass_role = next(s for s in policy["Statement"] if "iam:PassRole" in s["Action"])
    assert pass_role["Condition"]["StringEquals"]["iam:PassedToService"] == \
        ["lambda.amazonaws.com", "states.amazonaws.com"]
    sids = [statement["Sid"] for statement in policy["Statement"]]
    assert len(set(sids)) == len(sids)
    assert any(sid.startswith("Deploy") for sid in sids)
    assert any(sid.startswith("Render") for sid in sids)


def test_every_wildcard_in_the_printed_policy_reaches_only_needed_calls_or_reads(
        policy: dict[str, Any]) -> None:
    from parliament import expand_action

    needed = {need.action.lower() for need in required()}
    wildcards = [action for statement in policy["Statement"] for action in statement["Action"]
                 if "*" in action]
    assert wildcards  # the S3 bucket's configuration calls are grouped
    for wildcard in wildcards:
        service = wildcard.split(":")[0]
        for item in expand_action(wildcard):
            action = f"{service}:{item['action']}"
            assert action.lower() in needed or \
                item["action"].startswith(("Get", "List", "Describe")), (wildcard, action)


@pytest.mark.parametrize("scope", [
    ["--stack-name", "hfaction", "--region", "us-east-1", "--account", "123456789012"],
    ["--stack-name", "a" * 35, "--region", "ap-southeast-1", "--account", "123456789012"],
], ids=["default", "long-name"])
def test_policy_fits_a_managed_policy_or_says_how_to_split_it(
        capsys: pytest.CaptureFixture[str], scope: list[str]) -> None:
    """The three state machines' runs (Distributed Map runs and child executions included)
    and the notifier make the whole policy, and the deploy part, larger than one managed
    policy holds: the command says how to split them, and each smallest part fits one.
    The two halves of the deploy part are the deploy part, split."""
    code, out, err = run(capsys, "policies", "user", *scope)
    assert code == 0 and json.loads(out)["Statement"]
    assert policy_size(json.loads(out)) > MANAGED_POLICY_LIMIT
    assert "--part deploy-stack, --part deploy-resources and --part render" in err
    code, out, err = run(capsys, "policies", "user", *scope, "--part", "deploy")
    deploy = json.loads(out)
    assert code == 0 and policy_size(deploy) > MANAGED_POLICY_LIMIT
    assert "--part deploy-stack and --part deploy-resources" in err
    halves: list[dict[str, Any]] = []
    for part in ("deploy-stack", "deploy-resources", "render", "pull-request"):
        code, out, err = run(capsys, "policies", "user", *scope, "--part", part)
        document = json.loads(out)
        assert code == 0 and err == "" and policy_size(document) <= MANAGED_POLICY_LIMIT
        label = "PullRequest" if part == "pull-request" else part.split("-")[0].capitalize()
        assert {s["Sid"][:len(label)] for s in document["Statement"]} == {label}
        if part.startswith("deploy-"):
            halves.append(document)

    def grants(document: dict[str, Any]) -> set[tuple[str, str, str]]:
        return {(s["Effect"], action, resource) for s in document["Statement"]
                for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
                for resource in ([s["Resource"]] if isinstance(s["Resource"], str)
                                 else s["Resource"])}

    assert grants(halves[0]) | grants(halves[1]) == grants(deploy)
    # The role-managing half keeps the Deny that stops lifting the roles' boundary.
    assert any(s["Effect"] == "Deny" for s in halves[0]["Statement"])
    assert not any(a.startswith("iam:") for s in halves[1]["Statement"]
                   for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))


def test_permissions_data_matches_the_template_and_every_exclusion_is_used() -> None:
    data = permissions_data()
    assert data["template_sha256"] == \
        hashlib.sha256((REPO / "template.yaml").read_bytes()).hexdigest(), \
        "template.yaml changed: run .venv-sam/bin/python scripts/gen-permissions.py"
    assert {"AWS::S3::Bucket", "AWS::Lambda::Function", "AWS::IAM::Role",
            "AWS::StepFunctions::StateMachine"} <= set(data["resource_types"])
    listed = [(resource_type, action) for resource_type, entry in data["resource_types"].items()
              for permissions in entry["handlers"].values() for action in permissions]
    for type_, pattern in UNUSED_FEATURES:
        assert any(type_ in ("*", resource_type) and action_matches(pattern, action)
                   for resource_type, action in listed), f"stale exclusion {type_} {pattern}"
    # Every remaining handler permission is required (and scoped: required() raises when a
    # schema update brings a service no rule scopes).
    actions = {need.action for need in required()}
    assert {"lambda:CreateFunction", "iam:CreateRole", "states:CreateStateMachine",
            "s3:PutBucketPolicy", "logs:CreateLogGroup"} <= actions
    assert not any(action.startswith(("kms:", "ec2:")) for action in actions)


# --- validate -------------------------------------------------------------------------------


def test_missing_action_is_reported_and_exits_1(
        policy: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = validate(capsys, tmp_path, without(policy, "states:StartExecution"))
    assert code == 1
    assert "states:StartExecution" in out and "FAIL: 1 required action not allowed" in out
    assert SM in out
    code, result = report(capsys, tmp_path, without(policy, "states:StartExecution"))
    assert code == 1 and missing_actions(result) == {"states:StartExecution"}


def test_wildcards_cover_actions_case_insensitively(
        policy: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    edited = without(without(without(policy, "s3:GetObject"), "s3:PutObject"),
                     "s3:DeleteObject")
    edited = without(without(edited, "states:DescribeExecution"), "states:StopExecution")
    executions = [f"arn:aws:states:eu-west-1:111122223333:execution:video-{name}:*"
                  for name in ("render", "preview", "batch")]
    edited["Statement"] += [
        {"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": f"{BUCKET}/*"},
        {"Sid": "Describe", "Effect": "Allow", "Action": ["STATES:describe*"],
         "Resource": executions}]
    code, result = report(capsys, tmp_path, edited)
    # s3:* and states:Describe* cover the removed ones; StopExecution is no Describe*.
    assert missing_actions(result) == {"states:StopExecution"} and code == 1
    assert any("s3:*" in finding and "every s3 action" in finding
               for finding in result["over_broad"])
    edited["Statement"][-1]["Action"] = ["states:Describe*", "states:St?pExecution"]
    code, result = report(capsys, tmp_path, edited)
    assert code == 0 and result["missing"] == []


def test_explicit_deny_overrides_allow(
        policy: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    denied = copy.deepcopy(policy)
    denied["Statement"].append({"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"})
    code, result = report(capsys, tmp_path, denied)
    assert code == 1 and missing_actions(result) == {"s3:PutObject"}
    assert result["missing"][0]["status"] == "denied"
    # A Deny with NotAction denies everything else: here all but S3 and CloudFormation.
    not_action = copy.deepcopy(policy)
    not_action["Statement"].append({"Effect": "Deny", "NotAction": ["s3:*", "cloudformation:*"],
                                    "Resource": "*"})
    code, result = report(capsys, tmp_path, not_action)
    missing = missing_actions(result)
    assert code == 1 and {"states:StartExecution", "lambda:CreateFunction"} <= missing
    assert not any(action.startswith(("s3:", "cloudformation:")) for action in missing)
    # A Deny under a Condition is reported, not assumed to apply.
    conditional = copy.deepcopy(policy)
    conditional["Statement"].append({
        "Effect": "Deny", "Action": "s3:PutObject", "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    code, result = report(capsys, tmp_path, conditional)
    assert code == 0 and result["missing"] == []
    assert any("under a Condition" in note for item in result["notes"]
               for note in item["notes"])
    # A Deny on a prefix hfaction keeps objects under (sites/, work/, renders/) breaks
    # uploads, renders or downloads: the action is denied, naming the prefix.
    partial = copy.deepcopy(policy)
    partial["Statement"].append({"Effect": "Deny", "Action": "s3:PutObject",
                                 "Resource": f"{BUCKET}/sites/*"})
    code, out, _ = validate(capsys, tmp_path, partial)
    assert code == 1 and "s3:PutObject" in out and f"{BUCKET}/sites/*" in out
    code, result = report(capsys, tmp_path, partial)
    assert code == 1 and missing_actions(result) == {"s3:PutObject"}
    assert result["missing"][0]["status"] == "denied"
    assert any(f"{BUCKET}/sites/*" in note for note in result["missing"][0]["notes"])
    # A Deny on keys hfaction does not use (unless told to) is reported, not a failure.
    elsewhere = copy.deepcopy(policy)
    elsewhere["Statement"].append({"Effect": "Deny", "Action": "s3:PutObject",
                                   "Resource": f"{BUCKET}/private/*"})
    code, result = report(capsys, tmp_path, elsewhere)
    assert code == 0 and any("on part of" in note for item in result["notes"]
                             for note in item["notes"])


def test_a_deny_whose_wildcards_intersect_the_needed_objects_fails(
        policy: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Neither "video-*/renders/*" nor "video-ACCOUNT-REGION/*" matches the other as a
    # string, but both name video-ACCOUNT-REGION/renders/x.
    denied = copy.deepcopy(policy)
    denied["Statement"].append({"Sid": "NoOutputs", "Effect": "Deny",
                                "Action": ["s3:PutObject", "s3:GetObject"],
                                "Resource": "arn:aws:s3:::video-*/renders/*"})
    code, out, _ = validate(capsys, tmp_path, denied)
    assert code == 1 and f"{BUCKET}/renders/*" in out and "NoOutputs" in out
    code, result = report(capsys, tmp_path, denied)
    assert code == 1 and missing_actions(result) == {"s3:PutObject", "s3:GetObject"}
    assert {item["status"] for item in result["missing"]} == {"denied"}
    # Under a Condition the same Deny is reported, not applied.
    denied["Statement"][-1]["Condition"] = {"Bool": {"aws:SecureTransport": "false"}}
    code, result = report(capsys, tmp_path, denied)
    assert code == 0 and any("under a Condition" in note for item in result["notes"]
                             if item["action"] == "s3:GetObject" for note in item["notes"])
    # An Allow on everything but those objects does not allow the bucket's objects.
    not_resource = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::video-*/renders/*"}]}
    code, result = report(capsys, tmp_path, not_resource)
    assert code == 1 and {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"} == \
        {action for action in missing_actions(result) if action.endswith("Object")}
    assert "states:StartExecution" not in missing_actions(result)


def test_a_question_mark_matches_one_character_not_a_whole_wildcard(
        policy: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # The printed policy with every trailing "/*" and ":*" made "/?" and ":?".
    edited = copy.deepcopy(policy)
    for statement in edited["Statement"]:
        arns = statement["Resource"]
        arns = [arns] if isinstance(arns, str) else arns
        statement["Resource"] = [arn[:-1] + "?" if arn.endswith(("/*", ":*")) else arn
                                 for arn in arns]
    code, result = report(capsys, tmp_path, edited)
    missing = missing_actions(result)
    assert code == 1
    assert {"s3:GetObject", "s3:PutObject", "cloudformation:CreateChangeSet",
            "states:DescribeExecution", "logs:CreateLogGroup"} <= missing
    assert "states:StartExecution" not in missing  # its ARN has no wildcard
    objects = f"{BUCKET}/*"
    assert not resource_covers(f"{BUCKET}/?", objects)
    assert not resource_covers(f"{BUCKET}/??????????", objects)
    for pattern in (objects, f"{BUCKET}*", "*", "arn:aws:s3:::*/*", f"{BUCKET}/**",
                    "arn:aws:s3:::video-????????????-eu-west-1/*"):
        assert resource_covers(pattern, objects), pattern
    changesets = "arn:aws:cloudformation:eu-west-1:111122223333:changeSet/hfaction-deploy*/*"
    assert resource_covers(changesets, changesets)
    assert resource_covers("arn:aws:cloudformation:eu-west-1:111122223333:changeSet/*",
                           changesets)
    assert not resource_covers(changesets.replace("deploy*", "deploy?*"), changesets)
    assert not resource_covers(changesets.replace("*/*", "*/?"), changesets)
    # A "?" the needed pattern has is any one character, in the pattern as well.
    assert resource_covers("a*", "a?") and resource_covers("a?c", "a?c")
    assert not resource_covers("abc", "a?c") and not resource_covers("a?", "a*")


@pytest.mark.parametrize(("left", "right", "expected"), [
    ("arn:aws:s3:::video-*/renders/*", f"{BUCKET}/*", True),
    (f"{BUCKET}/*", "arn:aws:s3:::video-*/renders/*", True),
    ("*a", "b*", True),
    ("a*", "b*", False),
    ("a?c", "*b*", True),
    ("a?c", "*d*", True),
    ("a?c", "*dd*", False),
    ("?", "", False),
    ("*x*", "*y*", True),
    ("*x", "*y", False),
    ("arn:aws:s3:::other-*/*", f"{BUCKET}/*", False),
    (f"{BUCKET}/sites/*", f"{BUCKET}/work/*", False),
    (f"{BUCKET}/??", f"{BUCKET}/*", True),
])
def test_resource_overlaps_is_a_real_intersection(left: str, right: str,
                                                  expected: bool) -> None:
    assert resource_overlaps(left, right) is expected


def test_the_user_policy_help_says_the_role_management_is_powerful(
        capsys: pytest.CaptureFixture[str]) -> None:
    import hfaction.policies

    code, out, _ = run(capsys, "policies", "user", "--help")
    assert code == 0
    text = " ".join(out.replace("│", " ").split())
    assert "role/STACK-*" in text and "iam:PermissionsBoundary" in text
    assert hfaction.policies.__doc__ and "iam:PermissionsBoundary" in hfaction.policies.__doc__


def test_not_action_allow_grants_everything_else_and_is_flagged(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": ["iam:*", "ecr:*"], "Resource": "*"}]}
    code, result = report(capsys, tmp_path, document)
    missing = missing_actions(result)
    assert code == 1 and missing and all(a.startswith(("iam:", "ecr:")) for a in missing)
    assert "states:StartExecution" not in missing and "iam:PassRole" in missing
    assert any("NotAction" in finding for finding in result["over_broad"])
    assert any("Resource \"*\"" in finding for finding in result["over_broad"])


def test_resources_are_matched_against_the_stacks_names(
        policy: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # The same policy checked for another stack: nothing scoped to "video" counts.
    code, out, _ = validate(capsys, tmp_path, policy, "--stack-name", "other")
    assert code == 1 and "arn:aws:s3:::other-111122223333-eu-west-1/*" in out
    # Narrower than needed: objects under sites/ only do not cover the bucket's objects.
    narrow = without(policy, "s3:PutObject")
    narrow["Statement"].append({"Effect": "Allow", "Action": "s3:PutObject",
                                "Resource": f"{BUCKET}/sites/*"})
    code, result = report(capsys, tmp_path, narrow)
    assert code == 1 and missing_actions(result) == {"s3:PutObject"}
    # NotResource: everything but the bucket's objects.
    not_resource = without(policy, "s3:GetObject")
    not_resource["Statement"].append({"Effect": "Allow", "Action": "s3:GetObject",
                                      "NotResource": f"{BUCKET}/*"})
    code, result = report(capsys, tmp_path, not_resource)
    assert code == 1 and missing_actions(result) == {"s3:GetObject"}
    # Over-broad: Resource "*" where the stack's ARNs would do, and iam:PassRole on "*".
    broad = copy.deepcopy(policy)
    broad["Statement"].append({"Effect": "Allow", "Action": ["iam:PassRole", "s3:GetObject"],
                               "Resource": "*"})
    code, result = report(capsys, tmp_path, broad)
    assert code == 0
    assert any("iam:PassRole on every role" in finding for finding in result["over_broad"])
    assert any("s3:GetObject" in finding and "Resource \"*\"" in finding
               for finding in result["over_broad"])


def test_a_render_only_policy_validates_for_the_render_part_only(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "policies", "user", *SCOPE, "--part", "render")
    render_only = json.loads(out)
    code, out, _ = validate(capsys, tmp_path, render_only, "--part", "render")
    assert code == 0, out
    code, result = report(capsys, tmp_path, render_only)
    missing = missing_actions(result)
    assert code == 1 and "cloudformation:CreateChangeSet" in missing
    assert not missing & {"states:StartExecution", "s3:GetObject", "s3:PutObject"}


def test_without_region_and_account_any_the_policy_names_is_accepted(
        policy: dict[str, Any]) -> None:
    loose = validate_document(policy, StackScope("video"), lint=False)
    assert loose.ok
    wrong = validate_document(policy, StackScope("video", "eu-west-1", "999999999999"),
                              lint=False)
    assert not wrong.ok
    assert resource_covers("arn:aws:s3:::video-*", "arn:aws:s3:::video-{account}-{region}/*")
    assert not resource_covers("arn:aws:s3:::video-1*", "arn:aws:s3:::video-2{account}")


def test_malformed_json_is_one_clear_line_and_exit_2(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow",,}\n')
    code, out, err = run(capsys, "policies", "validate", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "POLICY_FILE_INVALID" in err and f"{path}:4:24" in err and "malformed JSON" in err
    code, _, err = run(capsys, "policies", "validate", str(tmp_path / "absent.json"))
    assert code == 2 and "no such file" in err
    path.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}))
    code, _, err = run(capsys, "policies", "validate", str(path))
    assert code == 2 and "statement 1" in err and "Resource" in err


def test_a_trust_policy_is_refused_not_linted(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "policies", "role", *SCOPE, "--github-repo", "acme/videos")
    both = json.loads(out)
    code, _, err = validate(capsys, tmp_path, both["trust_policy"])
    assert code == 2 and "trust or resource policy" in err
    # The role command's whole output validates: its permissions policy is checked.
    code, out, _ = validate(capsys, tmp_path, both)
    assert code == 0, out


# --- role and the OIDC trust policy ----------------------------------------------------------


@pytest.mark.parametrize(("mode", "subject"), [
    ([], "repo:acme/videos:ref:refs/heads/main"),
    (["--ref", "refs/heads/release/2.x"], "repo:acme/videos:ref:refs/heads/release/2.x"),
    (["--ref", "refs/tags/v1.0.0"], "repo:acme/videos:ref:refs/tags/v1.0.0"),
    (["--pull-requests"], "repo:acme/videos:pull_request"),
    (["--environment", "production"], "repo:acme/videos:environment:production"),
])
def test_trust_policy_subject_per_mode(capsys: pytest.CaptureFixture[str], mode: list[str],
                                       subject: str) -> None:
    code, out, err = run(capsys, "policies", "role", *SCOPE, "--github-repo", "acme/videos",
                         *mode)
    assert code == 0, err
    result = json.loads(out)
    # A role pull requests may assume gets the pull-request part unless told otherwise.
    part = "pull-request" if "--pull-requests" in mode else "all"
    assert result["permissions_policy"] == identity_policy(
        StackScope("video", "eu-west-1", ACCOUNT), part)
    (statement,) = result["trust_policy"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/"
                                                   "token.actions.githubusercontent.com"}
    assert statement["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": subject}}


def test_role_without_a_repository_prints_only_the_permissions_policy(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "policies", "role", *SCOPE)
    assert code == 0 and set(json.loads(out)) == {"permissions_policy"}
    code, out, err = run(capsys, "policies", "role", *SCOPE, "--pull-requests")
    assert code == 2 and out == "" and "--github-repo" in err
    code, out, err = run(capsys, "policies", "role", "--github-repo", "acme/videos")
    assert code == 2 and out == "" and "--account" in err


@pytest.mark.parametrize("argv", [
    ["--github-repo", "acme/*"],
    ["--github-repo", "*/videos"],
    ["--github-repo", "acme/vid*"],
    ["--github-repo", 'acme/videos"'],
    ["--github-repo", "acme/videos'"],
    ["--github-repo", "acme/videos:ref:refs/heads/main"],
    ["--github-repo", "acme/videos/extra"],
    ["--github-repo", "acme"],
    ["--github-repo", "acme/.."],
    ["--github-repo", "-acme/videos"],
    ["--github-repo", "acme/vid eos"],
    ["--github-repo", "acme/videos\n"],
    ["--github-repo", "acme/videos", "--ref", "refs/heads/*"],
    ["--github-repo", "acme/videos", "--ref", 'refs/heads/main"'],
    ["--github-repo", "acme/videos", "--ref", "refs/heads/../main"],
    ["--github-repo", "acme/videos", "--ref", "main"],
    ["--github-repo", "acme/videos", "--ref", "refs/heads/ma in"],
    ["--github-repo", "acme/videos", "--environment", "prod*"],
    ["--github-repo", "acme/videos", "--environment", 'prod"'],
    ["--github-repo", "acme/videos", "--environment", "prod:ref"],
    ["--github-repo", "acme/videos", "--pull-requests", "--environment", "prod"],
])
def test_hostile_repository_ref_or_environment_is_refused(
        capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, "policies", "role", *SCOPE, *argv)
    assert code == 2, out
    assert out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and "GITHUB_SUBJECT_INVALID" in err


@pytest.mark.parametrize("argv", [["--stack-name", "Bad_Name"], ["--region", "moon-1"],
                                  ["--account", "12345"], ["--part", "everything"]])
def test_bad_scope_is_refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, "policies", "user", *argv)
    assert code == 2 and out == "" and "INVALID_OPTION" in err


def test_a_hostile_wildcard_is_matched_without_backtracking(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # A backtracking (regular expression) matcher takes minutes on these: a regression
    # shows as this test hanging, not as a timing assertion (speed lives in benchmarks).
    hostile = "s3:" + "*a" * 12 + "b"
    assert not action_matches(hostile, "s3:" + "a" * 30)
    assert action_matches(hostile, "s3:" + "a" * 30 + "b")
    assert not resource_covers("*a" * 12 + "b", "a" * 30)
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": hostile, "Resource": "*" + "a*" * 12 + "?" * 50}]}
    code, result = report(capsys, tmp_path, document)
    assert code == 1 and "states:StartExecution" in missing_actions(result)


# --- issue 13: broad wildcards that overlap the stack's ARNs are still flagged ----------------


def _with_statement(document: dict[str, Any], statement: dict[str, Any]) -> dict[str, Any]:
    edited = copy.deepcopy(document)
    edited["Statement"].append(statement)
    return edited


def test_pass_role_on_every_role_without_passed_to_service_warns(
        policy: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    document = _with_statement(policy, {"Effect": "Allow", "Action": "iam:PassRole",
                                        "Resource": "arn:aws:iam::*:role/*"})
    code, out, _ = validate(capsys, tmp_path, document)
    assert code == 0, out  # still covered: warnings do not fail the check
    where = f"statement {len(document['Statement'])}"
    assert f"{where}: iam:PassRole without an iam:PassedToService condition" in out
    assert f"{where}: resource arn:aws:iam::*:role/* names every account ('*')" in out
    assert f"{where}: resource arn:aws:iam::*:role/* matches every role of iam" in out
    # With the condition and the stack's roles, as printed: nothing to say.
    scoped = _with_statement(policy, {
        "Effect": "Allow", "Action": "iam:PassRole",
        "Resource": f"arn:aws:iam::{ACCOUNT}:role/video-*",
        "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}})
    _code, result = report(capsys, tmp_path, scoped)
    assert result["over_broad"] == []


@pytest.mark.parametrize(("resource", "expected"), [
    ("arn:aws:s3:::*", "matches every bucket of s3"),
    ("arn:aws:s3:::*/*", "matches every bucket of s3"),
    ("arn:aws:states:eu-west-1:*:stateMachine:video-render", "names every account ('*')"),
    ("arn:aws:lambda:eu-west-1:111122223333:function:*", "matches every function of lambda"),
    ("arn:aws:logs:eu-west-1:111122223333:log-group:*", "matches every log-group of logs"),
])
def test_wildcards_in_an_arns_account_or_resource_fields_are_flagged(
        policy: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path,
        resource: str, expected: str) -> None:
    document = _with_statement(policy, {"Effect": "Allow", "Action": "s3:GetObject",
                                        "Resource": resource})
    _code, result = report(capsys, tmp_path, document)
    where = f"statement {len(document['Statement'])}"
    assert any(finding.startswith(f"{where}: resource {resource} ") and expected in finding
               for finding in result["over_broad"]), result["over_broad"]
