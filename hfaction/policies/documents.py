"""The policy documents ``hfaction policies`` prints: the identity policy of a user or
role (one statement per group of resources), a role's GitHub OIDC trust policy, and the
permissions boundary of the stack's own roles.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hfaction.errors import GithubSubjectInvalid, InvalidOption
from hfaction.policies.compress import MANAGED_POLICY_LIMIT, compress_actions, policy_size
from hfaction.policies.required import (
    BOUNDARY_REMOVING_ACTIONS,
    RESOURCE_KINDS,
    StackScope,
    _printed,
    boundary_condition,
    check_scope,
    required,
)

VERSION = "2012-10-17"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"


# CloudFormation's statements print all three (few characters, fewer statements).
_CLOUDFORMATION_KINDS = ("stack", "changeset", "sam_transform")
# Statement ids name their resources; "any" says why it cannot be scoped.
_KIND_LABEL = {"stack": "Stack", "changeset": "", "sam_transform": "",
               "bucket": "Bucket", "objects": "Objects", "site_objects": "Sites",
               "work_objects": "Work", "preview_objects": "Previews",
               "function": "Function", "rule": "Rule", "topics": "Topics",
               "roles": "Roles", "log_groups": "LogGroups",
               "state_machine": "StateMachine", "preview_state_machine": "PreviewStateMachine",
               "executions": "Executions", "preview_executions": "PreviewExecutions",
               "map_runs": "MapRuns", "preview_map_runs": "PreviewMapRuns",
               "child_executions": "ChildExecutions",
               "preview_child_executions": "PreviewChildExecutions",
               "repository": "ImageRepository",
               "boundary": "PermissionsBoundary", "any": "AccountLevelNoResourceArn"}
# Statement id suffix of a conditional statement, by the condition key it tests.
_CONDITION_LABEL = {"iam:PassedToService": "ToLambdaOrStates",
                    "iam:PermissionsBoundary": "WithPermissionsBoundary"}


def identity_policy(scope: StackScope, part: str = "all") -> dict[str, Any]:
    """The least-privilege identity policy for deploying and rendering on the stack (or
    one part: "deploy" or "render", e.g. for two managed policies when one is too large).

    One statement per (group, resources, condition); resources are the stack's own ARNs,
    "*" only for calls AWS authorises on no resource (the statement id says so)."""
    groups: dict[tuple[str, tuple[str, ...], str], list[str]] = {}
    conditions: dict[str, dict[str, Any]] = {}
    merged: dict[tuple[str, str], set[str]] = {}
    for need in required(scope, part):
        merged.setdefault((need.group, need.action), set()).update(need.kinds)
        if need.condition:
            conditions[need.action] = need.condition
        if need.boundary:
            conditions[need.action] = boundary_condition(scope)
    # Both parts at once: what the deploy part already allows is not written again (so
    # the whole policy fits one managed policy).
    for (group, action), kinds in list(merged.items()):
        if group != "Deploy" and kinds <= merged.get(("Deploy", action), set()):
            del merged[(group, action)]
    for (group, action), needed_kinds in merged.items():
        kinds = needed_kinds
        if "any" in kinds:  # already unscoped: other kinds add nothing
            kinds = {"any"}
        elif group == "Deploy" and kinds <= set(_CLOUDFORMATION_KINDS):
            kinds = set(_CLOUDFORMATION_KINDS)
        ordered = tuple(kind for kind in RESOURCE_KINDS if kind in kinds)
        condition = json.dumps(conditions.get(action), sort_keys=True)
        groups.setdefault((group, ordered, condition), []).append(action)
    statements: list[dict[str, Any]] = []
    for (group, statement_kinds, condition), actions in sorted(
            groups.items(), key=lambda item: (item[0][0] != "Deploy", item[0][1], item[0][2])):
        sid = group + "".join(_KIND_LABEL[kind] for kind in statement_kinds)
        if condition != "null":
            keys = [key for block in json.loads(condition).values() for key in block]
            sid += "".join(_CONDITION_LABEL[key] for key in keys)
        arns = sorted({_printed(arn) for kind in statement_kinds
                       for arn in scope.resource(kind)})
        statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow",
                                     "Action": compress_actions(actions, arns),
                                     "Resource": arns[0] if len(arns) == 1 else arns}
        if condition != "null":
            statement["Condition"] = json.loads(condition)
        statements.append(statement)
    if part in ("all", "deploy", "deploy-stack"):
        statements.insert(_after_deploy(statements), _boundary_guard(scope))
    return {"Version": VERSION, "Statement": statements}


def _after_deploy(statements: list[dict[str, Any]]) -> int:
    return sum(1 for statement in statements if statement["Sid"].startswith("Deploy"))


def _boundary_guard(scope: StackScope) -> dict[str, Any]:
    """The deploy part's Deny: whatever else its holder may do (another policy), the stack's
    roles keep their boundary. (Nothing here allows changing the boundary policy itself.)"""
    (roles,) = scope.resource("roles")
    return {"Sid": "DeployKeepsPermissionsBoundary", "Effect": "Deny",
            "Action": list(BOUNDARY_REMOVING_ACTIONS), "Resource": _printed(roles)}


# The most any role of the stack may do (template.yaml's RenderFunctionRole, the roles of
# its three state machines, NotifyFunctionRole, and AWSLambdaBasicExecutionRole on the
# functions' log groups):
# (statement id, actions, resource kinds). Nothing of IAM, nothing outside the stack.
_BOUNDARY_GRANTS: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("BoundaryBucket", ["s3:ListBucket"], ("bucket",)),
    ("BoundaryObjects", ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
     ("objects",)),
    ("BoundaryFunction", ["lambda:InvokeFunction"], ("function",)),
    # Each state machine starts its Distributed Map's child executions, and describes and
    # stops them.
    ("BoundaryStateMachine", ["states:StartExecution"], ("state_machine",)),
    ("BoundaryExecutions", ["states:DescribeExecution", "states:StopExecution"],
     ("executions", "child_executions")),
    # The notify function reads an ended execution's history (cost, failed chunk) and its
    # Distributed Map's run, and publishes to the deployer's topic.
    ("BoundaryExecutionHistories", ["states:GetExecutionHistory"],
     ("executions", "child_executions")),
    ("BoundaryMapRuns", ["states:DescribeMapRun", "states:ListExecutions"], ("map_runs",)),
    ("BoundaryTopics", ["sns:Publish"], ("topics",)),
    ("BoundaryLogGroups", ["logs:CreateLogGroup", "logs:CreateLogStream",
                           "logs:PutLogEvents"], ("log_groups",)),
    # Step Functions configures its log delivery through account-level APIs.
    ("BoundaryAccountLevelNoResourceArn",
     ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"], ("any",)),
]


def boundary_policy(scope: StackScope) -> dict[str, Any]:
    """``hfaction policies boundary``: the permissions boundary of the stack's roles, a
    managed policy named :attr:`StackScope.boundary_name`, created once by an admin.

    A role's permissions are what both its own policies and its boundary allow: this is
    the most the stack's roles may ever do (its bucket, function, state machines, log
    groups and log delivery), whatever policies a deployer writes on them."""
    check_scope(scope)
    statements = []
    for sid, actions, kinds in _BOUNDARY_GRANTS:
        arns = [_printed(arn) for kind in kinds for arn in scope.resource(kind)]
        statements.append({"Sid": sid, "Effect": "Allow", "Action": actions,
                           "Resource": arns[0] if len(arns) == 1 else arns})
    return {"Version": VERSION, "Statement": statements}


def user_policy(scope: StackScope, part: str = "all") -> tuple[dict[str, Any], str | None]:
    """``hfaction policies user``: the policy, and a warning when it is too large to be one
    managed policy."""
    check_scope(scope)
    document = identity_policy(scope, part)
    size = policy_size(document)
    if size <= MANAGED_POLICY_LIMIT:
        return document, None
    if part == "deploy":
        split = "two with --part deploy-stack and --part deploy-resources"
    elif part == "all" and policy_size(identity_policy(scope, "deploy")) > MANAGED_POLICY_LIMIT:
        split = ("three with --part deploy-stack, --part deploy-resources and "
                 "--part render")
    else:
        split = "two with --part deploy and --part render"
    return document, (f"this policy is {size} characters, more than the "
                      f"{MANAGED_POLICY_LIMIT} a managed policy holds: create {split}, or "
                      "attach it inline to a role (10240)")


# GitHub: owner (user or organisation) and repository names, and what the three subject
# forms may contain. Anything else (wildcards, quotes, colons, spaces) is refused: the
# subject ends up in a trust policy, and a wildcard there trusts other repositories.
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_REF = re.compile(r"^refs/(heads|tags)/[A-Za-z0-9._/+-]{1,240}$")
_ENVIRONMENT = re.compile(r"^[A-Za-z0-9._-](?:[A-Za-z0-9._ -]{0,253}[A-Za-z0-9._-])?$")


def github_subject(repository: str, *, ref: str | None = None, pull_requests: bool = False,
                   environment: str | None = None) -> str:
    """The ``sub`` claim of GitHub's OIDC token that the role trusts (one mode)."""
    owner, slash, name = repository.partition("/")
    if not slash or not _OWNER.fullmatch(owner) or not _REPO.fullmatch(name) or name in (".", ".."):
        raise GithubSubjectInvalid(
            f"--github-repo {repository!r} is not OWNER/REPO",
            hint="letters, digits and '-' for the owner; letters, digits, '.', '_' and '-' "
                 "for the repository; no wildcards")
    modes = [ref is not None, pull_requests, environment is not None]
    if sum(modes) > 1:
        raise GithubSubjectInvalid("give one of --ref, --pull-requests, --environment")
    if pull_requests:
        return f"repo:{owner}/{name}:pull_request"
    if environment is not None:
        if not _ENVIRONMENT.fullmatch(environment):
            raise GithubSubjectInvalid(
                f"--environment {environment!r} is not a plain environment name",
                hint="letters, digits, ' ', '.', '_' and '-'; no wildcards or quotes")
        return f"repo:{owner}/{name}:environment:{environment}"
    ref = "refs/heads/main" if ref is None else ref
    parts = ref.split("/")
    if not _REF.fullmatch(ref) or ".." in ref or "//" in ref or ref.endswith(("/", ".", ".lock")) \
            or any(part.startswith(".") for part in parts):
        raise GithubSubjectInvalid(
            f"--ref {ref!r} is not a branch or tag ref",
            hint="like refs/heads/main or refs/tags/v1; no wildcards, quotes or spaces")
    return f"repo:{owner}/{name}:ref:{ref}"


def trust_policy(account: str, subject: str, partition: str = "aws") -> dict[str, Any]:
    """Lets GitHub Actions runs whose token has this subject assume the role (OIDC)."""
    provider = f"arn:{partition}:iam::{account}:oidc-provider/{GITHUB_OIDC_HOST}"
    return {"Version": VERSION, "Statement": [{
        "Sid": "GitHubActionsOidc",
        "Effect": "Allow",
        "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": GITHUB_AUDIENCE,
                                       f"{GITHUB_OIDC_HOST}:sub": subject}},
    }]}


@dataclass(frozen=True)
class RoleRequest:
    scope: StackScope
    github_repo: str | None = None
    ref: str | None = None
    pull_requests: bool = False
    environment: str | None = None
    # None: "pull-request" for a role trusted by pull requests, else "all".
    part: str | None = None


def role_policies(request: RoleRequest) -> dict[str, Any]:
    """The role's permissions policy and, for a GitHub repository, its trust policy.

    A role that pull requests may assume gets the pull-request part unless told otherwise:
    a pull request's code must not deploy (the deploy part manages the stack's roles) nor
    overwrite final renders."""
    check_scope(request.scope)
    part = request.part or ("pull-request" if request.pull_requests else "all")
    result: dict[str, Any] = {"permissions_policy": identity_policy(request.scope, part)}
    if request.github_repo is None:
        if request.ref is not None or request.pull_requests or request.environment is not None:
            raise GithubSubjectInvalid("--ref, --pull-requests and --environment need "
                                       "--github-repo OWNER/REPO")
        return result
    subject = github_subject(request.github_repo, ref=request.ref,
                             pull_requests=request.pull_requests,
                             environment=request.environment)
    if request.scope.account is None:
        raise InvalidOption("the trust policy names your account's GitHub OIDC provider: "
                            "pass --account with your 12-digit account id")
    result["trust_policy"] = trust_policy(request.scope.account, subject,
                                          request.scope.partition)
    return result
