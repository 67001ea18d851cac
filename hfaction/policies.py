"""The IAM policies deploying and rendering need, and a check of a policy kept by the user.

Everything here is a pure function over dicts, except the two readers at the edge
(:func:`load_policy_file` and :func:`lint_policy`, which runs parliament).

What is required comes from three sources, never from a guess:

- what CloudFormation calls for each resource type of the stack: the handler permissions
  (create, read, update, delete) in the resource type schemas that cfn-lint bundles,
  generated into ``hfaction/aws/permissions.json`` by ``scripts/gen-permissions.py`` (after
  the SAM transform, so the real types); features of a type the template does not use
  are dropped in :data:`UNUSED_FEATURES`, each with its reason;
- what ``sam deploy`` calls itself (samcli/lib/deploy/deployer.py) and what hfaction's
  image build and push need (:data:`DEPLOY_CALLS`);
- what hfaction calls through :mod:`hfaction.aws.facade` to render (:data:`RENDER_CALLS`).

tests/integration/aws/test_policy_coverage.py records every call a moto run of deploy and
render makes and checks that the printed policy allows each one.

What the deploy part grants is powerful, by nature: CloudFormation creates the stack's
roles with the deployer's credentials, so the policy allows creating, changing and deleting
any role named ``role/STACK-*`` (STACK the stack name) and attaching or writing any policy
to it. It has no ``iam:PermissionsBoundary`` condition (template.yaml sets no boundary on
its roles, so one would refuse the deploy): whoever holds the deploy part can make a
``STACK-*`` role with any permissions in the account. ``iam:PassRole`` is narrower: only
those roles, and only to Lambda and Step Functions (``iam:PassedToService``). Give the
deploy part to deploy jobs only; a render-only job needs ``--part render``, which has no
IAM action.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from hfaction.errors import GithubSubjectInvalid, InvalidOption, PolicyFileInvalid

VERSION = "2012-10-17"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
SAM_TRANSFORM = "Serverless-2016-10-31"
# Same rule as ``hfaction lambda deploy`` (the template's ProjectName inside bucket names).
STACK_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,33}[a-z0-9])?$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
ACCOUNT = re.compile(r"^\d{12}$")
# Markers for a region or account the user did not give: printed as "*", matched as
# "whatever the policy names" when validating.
ANY_REGION = "{region}"
ANY_ACCOUNT = "{account}"
# What a policy may cover: everything, or deploying or rendering only.
PARTS = ("all", "deploy", "render")


# --- the stack's resources -----------------------------------------------------------------


@dataclass(frozen=True)
class StackScope:
    """The names the render stack gives its resources (template.yaml, deploy.py)."""

    stack_name: str = "hfaction"
    region: str | None = None
    account: str | None = None
    partition: str = "aws"

    def resource(self, kind: str) -> list[str]:
        """The ARN patterns of one kind of resource (see :data:`RESOURCE_KINDS`)."""
        p, r = self.partition, self.region or ANY_REGION
        a, s = self.account or ANY_ACCOUNT, self.stack_name
        bucket = self._bucket()
        log_groups = [f"/aws/lambda/{s}-render", f"/aws/vendedlogs/states/{s}-render"]
        arns = {
            "stack": [f"arn:{p}:cloudformation:{r}:{a}:stack/{s}/*"],
            # sam deploy names its change sets samcli-deploy<timestamp>; IAM checks change
            # set calls against the stack, but the ARN is printed so that a policy keeps
            # working where they are checked against the change set.
            "changeset": [f"arn:{p}:cloudformation:{r}:{a}:changeSet/samcli-deploy*/*"],
            # The template declares the SAM transform, which CloudFormation authorises
            # against this AWS-owned ARN when the change set is made.
            "sam_transform": [f"arn:{p}:cloudformation:{r}:aws:transform/{SAM_TRANSFORM}"],
            "bucket": [bucket],
            "objects": [f"{bucket}/*"],
            "function": [f"arn:{p}:lambda:{r}:{a}:function:{s}-render",
                         f"arn:{p}:lambda:{r}:{a}:function:{s}-render:*"],
            # CloudFormation names the roles SAM adds STACK-LogicalId-RANDOM.
            "roles": [f"arn:{p}:iam::{a}:role/{s}-*"],
            "log_groups": [f"arn:{p}:logs:{r}:{a}:log-group:{name}{suffix}"
                           for name in log_groups for suffix in ("", ":*")],
            "state_machine": [f"arn:{p}:states:{r}:{a}:stateMachine:{s}-render"],
            "executions": [f"arn:{p}:states:{r}:{a}:execution:{s}-render:*"],
            "repository": [f"arn:{p}:ecr:{r}:{a}:repository/{s}-render"],
            "any": ["*"],
        }
        return arns[kind]

    def _bucket(self) -> str:
        p, r = self.partition, self.region or ANY_REGION
        a, s = self.account or ANY_ACCOUNT, self.stack_name
        return f"arn:{p}:s3:::{s}-{a}-{r}"  # ProjectName-AccountId-Region

    def in_use(self, kind: str) -> list[str]:
        """Where hfaction itself keeps resources of a kind, when the policy must still
        allow the whole kind: a Deny there breaks deploying or rendering, even on part.

        Objects: ``--output-key`` and ``lambda cleanup --prefix`` take any key, so the
        policy allows ``BUCKET/*``; sites, intermediates and renders live under these
        prefixes (hfaction/aws/s3uri.py)."""
        if kind != "objects":
            return []
        from hfaction.aws.s3uri import RENDERS_PREFIX, SITES_PREFIX, WORK_PREFIX

        return [f"{self._bucket()}/{prefix}*"
                for prefix in (SITES_PREFIX, WORK_PREFIX, RENDERS_PREFIX)]


RESOURCE_KINDS = ("stack", "changeset", "sam_transform", "bucket", "objects", "function",
                  "roles", "log_groups", "state_machine", "executions", "repository", "any")
# CloudFormation's statements print all three (few characters, fewer statements).
_CLOUDFORMATION_KINDS = ("stack", "changeset", "sam_transform")
# Statement ids name their resources; "any" says why it cannot be scoped.
_KIND_LABEL = {"stack": "Stack", "changeset": "", "sam_transform": "",
               "bucket": "Bucket", "objects": "Objects",
               "function": "Function", "roles": "Roles", "log_groups": "LogGroups",
               "state_machine": "StateMachine",
               "executions": "Executions", "repository": "ImageRepository",
               "any": "AccountLevelNoResourceArn"}

PASS_ROLE_CONDITION = {"StringEquals": {"iam:PassedToService": ["lambda.amazonaws.com",
                                                                "states.amazonaws.com"]}}


@dataclass(frozen=True)
class Need:
    """One action hfaction (or CloudFormation, for it) calls, on some of the stack's
    resources."""

    action: str
    kinds: tuple[str, ...]
    group: str  # "Deploy" or "Render"
    why: str
    condition: dict[str, Any] | None = None

    def resources(self, scope: StackScope) -> list[str]:
        return [arn for kind in self.kinds for arn in scope.resource(kind)]

    def in_use(self, scope: StackScope) -> list[str]:
        return [arn for kind in self.kinds for arn in scope.in_use(kind)]


def _needs(group: str, why: str, kinds: Sequence[str], actions: Iterable[str]) -> list[Need]:
    return [Need(action, tuple(kinds), group, why) for action in actions]


# What ``sam deploy`` and ``hfaction lambda deploy`` call themselves.
DEPLOY_CALLS: list[Need] = [
    # samcli/lib/deploy/deployer.py: has_stack, create_changeset (GetTemplateSummary when
    # the stack exists), the change set waiter, execute_changeset, the event poller; hfaction
    # reads the outputs (facade.stack) and lambda destroy deletes the stack (sam also
    # deletes a stack whose creation failed).
    *_needs("Deploy", "sam deploy", ("stack",),
            ["cloudformation:DescribeStacks", "cloudformation:GetTemplateSummary",
             "cloudformation:DescribeStackEvents", "cloudformation:DeleteStack",
             "cloudformation:DescribeChangeSet", "cloudformation:ExecuteChangeSet"]),
    Need("cloudformation:CreateChangeSet", ("stack", "sam_transform"), "Deploy",
         "sam deploy: a change set of a template with the SAM transform"),
    # facade.account_concurrency: an account-level read.
    Need("lambda:GetAccountSettings", ("any",), "Deploy",
         "hfaction lambda deploy: reserved concurrency (no resource ARN exists)"),
    # facade.ecr_login: registry tokens are account-wide; AWS accepts only "*".
    Need("ecr:GetAuthorizationToken", ("any",), "Deploy",
         "image push: registry login (AWS requires Resource *)"),
    # facade.ensure_repository / image_uri_if_pushed / delete_repository, then the push
    # (docker/podman push) and Lambda's pull when it creates or updates the function with
    # the deployer's permissions, adding itself to the repository policy when missing.
    *_needs("Deploy", "image repository, push and Lambda's pull", ("repository",),
            ["ecr:DescribeRepositories", "ecr:CreateRepository", "ecr:DescribeImages",
             "ecr:DeleteRepository", "ecr:BatchCheckLayerAvailability",
             "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
             "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
             "ecr:GetRepositoryPolicy", "ecr:SetRepositoryPolicy"]),
    # Creating a state machine with Logging configures CloudWatch log delivery through
    # account-level APIs, checked against the caller (the template's DeliverLogs says so).
    *_needs("Deploy", "state machine logging: account-level log delivery APIs", ("any",),
            ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
             "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
             "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"]),
]

# What hfaction calls through hfaction/aws/facade.py to render, follow and clean up.
RENDER_CALLS: list[Need] = [
    Need("cloudformation:DescribeStacks", ("stack",), "Render", "facade.stack"),
    Need("states:StartExecution", ("state_machine",), "Render", "facade.start_execution"),
    *_needs("Render", "facade: describe_execution, execution_history, stop_execution",
            ("executions",), ["states:DescribeExecution", "states:GetExecutionHistory",
                              "states:StopExecution"]),
    # HeadObject, GetObject, download_file and the presigned links all need s3:GetObject;
    # put_bytes s3:PutObject; DeleteObjects s3:DeleteObject per key.
    *_needs("Render", "facade: object_exists, get_json, download_file, presign_get, "
            "put_bytes, delete_prefix", ("objects",),
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]),
    Need("s3:ListBucket", ("bucket",), "Render", "facade.list_keys (ListObjectsV2)"),
]

# Handler permissions for features of a resource type that template.yaml does not use.
# (resource type or "*", action glob) -> why it is not needed.
UNUSED_FEATURES: dict[tuple[str, str], str] = {
    ("*", "kms:*"): "no customer-managed KMS key (the bucket uses SSE-S3, the function's "
                    "environment the AWS-managed key)",
    ("*", "ec2:*"): "the function is not in a VPC",
    ("*", "elasticfilesystem:*"): "the function mounts no EFS file system",
    ("*", "s3files:*"): "the function mounts no S3 file system",
    ("*", "s3tables:*"): "the bucket has no metadata table configuration",
    ("*", "firehose:*"): "the log groups deliver to no Firehose stream",
    ("*", "s3:REST.PUT.OBJECT"): "not an IAM action (a log-delivery detail in the schema)",
    ("AWS::S3::Bucket", "iam:PassRole"): "the bucket has no replication or inventory role",
    ("AWS::S3::Bucket", "s3:PutObjectAcl"): "no ACLs: the bucket enforces BucketOwnerEnforced",
    ("AWS::S3::Bucket", "s3:DeleteObject"): "no object lock or metadata tables to clear",
    ("AWS::Lambda::Function", "s3:GetObject*"): "the function's code is an image, not S3",
    ("AWS::Lambda::Function", "lambda:GetLayerVersion"): "the function has no layers",
    ("AWS::Lambda::Function", "lambda:GetCodeSigningConfig"): "no code signing config",
    ("AWS::Lambda::Function", "lambda:PassCapacityProvider"): "no capacity provider",
    ("AWS::StepFunctions::StateMachine", "s3:GetObject*"):
        "the definition is inlined by hfaction lambda deploy, not read from S3",
}
# Logs APIs that act on the account, not on a log group.
_LOGS_ACCOUNT_LEVEL = {"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                       "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
                       "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
                       "logs:DeleteResourcePolicy", "logs:DescribeLogGroups"}


@cache
def permissions_data() -> dict[str, Any]:
    """hfaction/aws/permissions.json (generated by scripts/gen-permissions.py)."""
    text = (resources.files("hfaction.aws") / "permissions.json").read_text()
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


def unused_feature(resource_type: str, action: str) -> str | None:
    """Why a handler permission is not needed for this template, or None."""
    for (type_, pattern), why in UNUSED_FEATURES.items():
        if type_ in ("*", resource_type) and _glob(pattern, ignore_case=True).match(action):
            return why
    return None


def handler_kinds(action: str) -> tuple[str, ...]:
    """The stack's resources a CloudFormation handler permission acts on."""
    service, _, name = action.partition(":")
    if service == "s3":
        # Object-level calls act on keys; the bucket's object lock settings do not.
        on_objects = "Object" in name and "Bucket" not in name and "Lock" not in name
        return ("objects",) if on_objects else ("bucket",)
    if service == "lambda":
        return ("function",)
    if service == "iam":
        return ("roles",)
    if service == "states":
        return ("state_machine",)
    if service == "logs":
        return ("any",) if action in _LOGS_ACCOUNT_LEVEL else ("log_groups",)
    raise ValueError(f"{action}: no rule scopes this service's resources (hfaction.policies)")


def cloudformation_needs(data: dict[str, Any] | None = None) -> list[Need]:
    """What CloudFormation calls, with the deployer's credentials, for each resource of
    the stack, less :data:`UNUSED_FEATURES`."""
    data = data if data is not None else permissions_data()
    needs: list[Need] = []
    for resource_type, entry in data["resource_types"].items():
        actions = sorted({action for permissions in entry["handlers"].values()
                          for action in permissions})
        for action in actions:
            if unused_feature(resource_type, action):
                continue
            condition = PASS_ROLE_CONDITION if action == "iam:PassRole" else None
            needs.append(Need(action, handler_kinds(action), "Deploy",
                              f"CloudFormation handlers of {resource_type}", condition))
    return needs


def required(scope: StackScope | None = None, part: str = "all") -> list[Need]:
    """Every action deploying and rendering need, or one part's ("deploy", "render");
    the scope only checks the names."""
    if scope is not None:
        check_scope(scope)
    if part not in PARTS:
        raise InvalidOption(f"--part {part!r}: use all, deploy or render")
    needs = [*DEPLOY_CALLS, *cloudformation_needs(), *RENDER_CALLS]
    return [need for need in needs if part in ("all", need.group.lower())]


def check_scope(scope: StackScope) -> None:
    if not STACK_NAME.fullmatch(scope.stack_name):
        raise InvalidOption(f"--stack-name {scope.stack_name!r} must be lowercase letters, "
                            "digits and '-' (at most 35), starting with a letter")
    if scope.region is not None and not REGION.fullmatch(scope.region):
        raise InvalidOption(f"--region {scope.region!r} is not an AWS region name "
                            "(like us-east-1)")
    if scope.account is not None and not ACCOUNT.fullmatch(scope.account):
        raise InvalidOption(f"--account {scope.account!r} must be a 12-digit AWS account id")


# --- printing the policies -------------------------------------------------------------------


def _printed(arn: str) -> str:
    return arn.replace(ANY_REGION, "*").replace(ANY_ACCOUNT, "*")


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
            sid += "ToLambdaOrStates"
        arns = sorted({_printed(arn) for kind in statement_kinds
                       for arn in scope.resource(kind)})
        statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow",
                                     "Action": compress_actions(actions, arns),
                                     "Resource": arns[0] if len(arns) == 1 else arns}
        if condition != "null":
            statement["Condition"] = json.loads(condition)
        statements.append(statement)
    return {"Version": VERSION, "Statement": statements}


READ_VERBS = ("Get", "List", "Describe")
# A managed policy holds 6144 characters (whitespace aside), and the schemas list dozens of
# calls per resource type (most of S3's bucket configuration API): listed one by one the
# policy does not fit. So groups of actions are written as ``svc:Prefix*`` when, in
# parliament's IAM action database, every action the wildcard matches takes the
# statement's resources (a wildcard on the bucket's ARN cannot reach objects; parliament
# then finds no RESOURCE_MISMATCH) and is either needed or a read (Get, List, Describe) of
# those resources. Statements on "*" are never compressed.
MANAGED_POLICY_LIMIT = 6144


def _camel_prefixes(name: str) -> list[str]:
    """``PutBucketPolicy`` -> ``["Put", "PutBucket"]`` (word boundaries, shortest first)."""
    bounds = [match.start() for match in re.finditer(r"[A-Z][a-z0-9]*", name)][1:]
    return [name[:bound] for bound in bounds]


def compress_actions(actions: Sequence[str], resources: Sequence[str],
                     at_least: int = 2) -> list[str]:
    """The statement's actions with groups of them written as ``svc:Prefix*`` (see
    :data:`MANAGED_POLICY_LIMIT`); at least ``at_least`` needed actions per wildcard."""
    if "*" in resources:
        return sorted(set(actions), key=str.lower)
    by_service: dict[str, set[str]] = {}
    for action in actions:
        service, _, name = action.partition(":")
        by_service.setdefault(service, set()).add(name)
    result: list[str] = []
    for service, names in by_service.items():
        result += [f"{service}:{name}" for name in
                   _compress_service(service, names, tuple(resources), at_least)]
    return sorted(result, key=str.lower)


def _compress_service(service: str, names: set[str], resources: tuple[str, ...],
                      at_least: int) -> list[str]:
    """One service's action names, greedily grouped under the widest safe prefixes."""
    from parliament import UnknownPrefixException, expand_action

    try:
        universe = [str(item["action"]) for item in expand_action(f"{service}:*")]
    except UnknownPrefixException:
        return sorted(names)
    listed = {name.lower() for name in names}

    def may_match(prefix: str) -> bool:
        matched = [name for name in universe if name.lower().startswith(prefix.lower())]
        return bool(matched) and all(
            (name.lower() in listed or name.startswith(READ_VERBS))
            and _takes(service, name, resources) for name in matched)

    remaining = set(names)
    chosen: list[str] = []
    while True:
        best: tuple[str, set[str]] | None = None
        for name in sorted(remaining):
            for prefix in _camel_prefixes(name):
                covered = {other for other in remaining
                           if other.lower().startswith(prefix.lower())}
                if len(covered) < at_least:
                    break  # longer prefixes cover fewer
                if may_match(prefix):
                    if best is None or len(covered) > len(best[1]):
                        best = (prefix, covered)
                    break
        if best is None:
            return chosen + sorted(remaining)
        chosen.append(f"{best[0]}*")
        remaining -= best[1]


@cache
def _takes(service: str, action: str, resources: tuple[str, ...]) -> bool:
    """Does every resource type the action requires (parliament's database) match one of
    the resources? False for actions that take only "*"."""
    from parliament import is_arn_strictly_valid
    from parliament.statement import get_arn_format, get_privilege_info

    info = get_privilege_info(service, action)
    types = [str(item["resource_type"]) for item in info["resource_types"]]
    if not [type_ for type_ in types if type_]:
        return False
    for type_ in types:
        if "*" not in type_:  # optional resource type
            continue
        arn_format = get_arn_format(type_, info["service_resources"])
        if not any(is_arn_strictly_valid(type_, arn_format, resource)
                   for resource in resources):
            return False
    return True


def policy_size(document: dict[str, Any]) -> int:
    """Characters IAM counts against a policy's size limit (whitespace excluded)."""
    return len(re.sub(r"\s", "", json.dumps(document, separators=(",", ":"))))


def user_policy(scope: StackScope, part: str = "all") -> tuple[dict[str, Any], str | None]:
    """``hfaction policies user``: the policy, and a warning when it is too large to be one
    managed policy."""
    check_scope(scope)
    document = identity_policy(scope, part)
    size = policy_size(document)
    if size <= MANAGED_POLICY_LIMIT:
        return document, None
    return document, (f"this policy is {size} characters, more than the "
                      f"{MANAGED_POLICY_LIMIT} a managed policy holds: create two with "
                      "--part deploy and --part render, or attach it inline to a role "
                      "(10240)")


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
    part: str = "all"


def role_policies(request: RoleRequest) -> dict[str, Any]:
    """The role's permissions policy and, for a GitHub repository, its trust policy."""
    check_scope(request.scope)
    result: dict[str, Any] = {"permissions_policy": identity_policy(request.scope,
                                                                    request.part)}
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


# --- evaluating a policy ---------------------------------------------------------------------


@cache
def _glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM wildcards: ``*`` any run of characters, ``?`` one; everything else literal."""
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char)
                   for char in pattern)
    return re.compile(f"^{body}\\Z", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: wildcards, case-insensitive (``s3:*``, ``states:Describe*``).
    On the pattern's automaton (:func:`_glob_includes`): a regular expression made of a
    hostile policy's ``*a*a*a...`` backtracks for minutes."""
    return _matches(pattern.lower(), action.lower())


def _matches(pattern: str, text: str) -> bool:
    """Does the glob match this plain text? Greedy, going back only to the last ``*``
    seen (what an earlier one would take, the last can): at most len(pattern) * len(text)
    steps."""
    p = t = 0
    star, resume = -1, 0
    while t < len(text):
        token = pattern[p] if p < len(pattern) else None
        if token == "*":
            star, resume = p, t
            p += 1
        elif token is not None and (token == "?" or token == text[t]):
            p, t = p + 1, t + 1
        elif star >= 0:  # the last "*" takes one more character
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


_ACCOUNT_IN = re.compile(r"\d{12}")
_REGION_IN = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")


def _instances(needed: str, pattern: str) -> list[str]:
    """The needed ARN with an unknown region or account replaced by each value the
    pattern names (or a value no one names): "the user's account, whatever it is"."""
    accounts = ([*_ACCOUNT_IN.findall(pattern), "000000000000"]
                if ANY_ACCOUNT in needed else [""])
    regions = [*_REGION_IN.findall(pattern), "xx-none-0"] if ANY_REGION in needed else [""]
    return [needed.replace(ANY_ACCOUNT, account).replace(ANY_REGION, region)
            for account in accounts for region in regions]


# Resource patterns are globs over ``*`` (any run of characters, maybe none) and ``?`` (one
# character), so deciding whether one covers or meets another is a question about two
# regular languages, answered on their automata: a regular expression of one matched
# against the other's text takes the other's wildcards literally.
# A pattern state is the set of positions in the pattern reached so far.
_FRESH = None  # a character no pattern names: only "?" and "*" match it
_MAX_STATES = 100_000  # a hostile file cannot make the check run for ever


def _closure(pattern: str, positions: Iterable[int]) -> frozenset[int]:
    """The positions, each ``*`` also skipped; positions before the last ``*`` reached
    dropped (from that ``*`` every word they would accept is accepted too)."""
    reached = set(positions)
    for index in sorted(reached):
        while index < len(pattern) and pattern[index] == "*":
            index += 1
            reached.add(index)
    stars = [index for index in reached if index < len(pattern) and pattern[index] == "*"]
    floor = max(stars, default=0)
    return frozenset(index for index in reached if index >= floor)


def _step(pattern: str, state: frozenset[int], char: str | None) -> frozenset[int]:
    after = set()
    for index in state:
        if index == len(pattern):
            continue
        token = pattern[index]
        if token == "*":
            after.add(index)
        elif token == "?" or token == char:
            after.add(index + 1)
    return _closure(pattern, after)


def _glob_includes(pattern: str, needed: str) -> bool:
    """Does the glob ``pattern`` match every string the glob ``needed`` matches?

    The needed glob's ``?`` and ``*`` are walked with a character the pattern does not
    name (if the pattern matches a string with it there, it matches every string with any
    character there); a ``*`` takes every length, until the pattern's state repeats."""
    start = _closure(pattern, {0})
    todo = [(0, start)]
    seen: set[tuple[int, frozenset[int]]] = set()
    while todo:
        position, state = todo.pop()
        if (position, state) in seen:
            continue
        seen.add((position, state))
        if not state or len(seen) > _MAX_STATES:
            return False  # some string of the needed glob is not matched (or: too costly)
        if position == len(needed):
            if len(pattern) not in state:
                return False
            continue
        token = needed[position]
        if token == "*":
            lengths: set[frozenset[int]] = set()
            while state not in lengths:
                lengths.add(state)
                todo.append((position + 1, state))
                state = _step(pattern, state, _FRESH)
        else:
            todo.append((position + 1, _step(pattern, state, _FRESH if token == "?" else token)))
    return True


def _glob_intersects(left: str, right: str) -> bool:
    """Is there a string both globs match? (Both walked together: a memoized search over
    pairs of positions.)"""
    todo = [(0, 0)]
    seen: set[tuple[int, int]] = set()
    while todo:
        i, j = todo.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        a = left[i] if i < len(left) else None
        b = right[j] if j < len(right) else None
        if a is None and b is None:
            return True
        if a == "*":
            todo.append((i + 1, j))
        if b == "*":
            todo.append((i, j + 1))
        # One character for both; both "*" taking it is never needed (drop it from the
        # string and both still match).
        if a is not None and b is not None and not (a == "*" and b == "*") and \
                (a in "*?" or b in "*?" or a == b):
            todo.append((i if a == "*" else i + 1, j if b == "*" else j + 1))
    return False


def resource_covers(pattern: str, needed: str) -> bool:
    """Does the policy's resource pattern match every resource the needed pattern names?
    (``bucket/*`` is covered by ``bucket/*``, ``bucket*`` or ``*``; not by
    ``bucket/sites/*`` nor by ``bucket/?``, whose ``?`` is one character.)"""
    return any(_glob_includes(pattern, instance) for instance in _instances(needed, pattern))


def resource_overlaps(pattern: str, needed: str) -> bool:
    """Does the policy's resource pattern match some of the needed resources?"""
    return any(_glob_intersects(pattern, instance) for instance in _instances(needed, pattern))


@dataclass(frozen=True)
class Statement:
    index: int  # 1-based, as people count
    sid: str
    effect: str
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: dict[str, Any] | None

    @property
    def where(self) -> str:
        return f"statement {self.index}" + (f" ({self.sid})" if self.sid else "")

    def applies_to_action(self, action: str) -> bool:
        matched = any(action_matches(pattern, action) for pattern in self.actions)
        return matched != self.not_action

    def reach(self, needed: str) -> str:
        """'all', 'part' or 'none' of the needed resources."""
        if self.not_resource:
            if any(resource_covers(pattern, needed) for pattern in self.resources):
                return "none"
            if any(resource_overlaps(pattern, needed) for pattern in self.resources):
                return "part"
            return "all"
        if any(resource_covers(pattern, needed) for pattern in self.resources):
            return "all"
        if any(resource_overlaps(pattern, needed) for pattern in self.resources):
            return "part"
        return "none"


def _strings(value: Any, what: str, where: str, source: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or \
            not all(isinstance(item, str) for item in values):
        raise PolicyFileInvalid(f"{source}: {where}: {what} must be a string or a non-empty "
                                "list of strings")
    return tuple(values)


def parse_statements(document: Any, source: str) -> list[Statement]:
    """The statements of an identity policy, checked for the shape IAM accepts."""
    if not isinstance(document, dict) or "Statement" not in document:
        raise PolicyFileInvalid(f"{source}: not an IAM policy: no top-level \"Statement\"",
                                hint="print one with 'hfaction policies user'")
    raw = document["Statement"]
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list) or not raw:
        raise PolicyFileInvalid(f"{source}: \"Statement\" must be an object or a non-empty "
                                "list")
    statements = []
    for index, item in enumerate(raw, 1):
        where = f"statement {index}"
        if not isinstance(item, dict):
            raise PolicyFileInvalid(f"{source}: {where} is not an object")
        sid = item.get("Sid", "")
        where += f" ({sid})" if isinstance(sid, str) and sid else ""
        effect = item.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyFileInvalid(f"{source}: {where}: Effect must be \"Allow\" or \"Deny\"")
        if "Principal" in item or "NotPrincipal" in item:
            raise PolicyFileInvalid(f"{source}: {where} has a Principal: this is a trust or "
                                    "resource policy, not the identity policy",
                                    hint="check the role's permissions policy")
        if ("Action" in item) == ("NotAction" in item):
            raise PolicyFileInvalid(f"{source}: {where} needs exactly one of Action and "
                                    "NotAction")
        if ("Resource" in item) == ("NotResource" in item):
            raise PolicyFileInvalid(f"{source}: {where} needs exactly one of Resource and "
                                    "NotResource")
        action_key = "Action" if "Action" in item else "NotAction"
        resource_key = "Resource" if "Resource" in item else "NotResource"
        condition = item.get("Condition")
        if condition is not None and not isinstance(condition, dict):
            raise PolicyFileInvalid(f"{source}: {where}: Condition must be an object")
        statements.append(Statement(
            index=index, sid=sid if isinstance(sid, str) else "", effect=str(effect),
            actions=_strings(item[action_key], action_key, where, source),
            not_action=action_key == "NotAction",
            resources=_strings(item[resource_key], resource_key, where, source),
            not_resource=resource_key == "NotResource",
            condition=condition or None))
    return statements


@dataclass
class Verdict:
    """Whether one required action is allowed on the resources it needs."""

    action: str
    resources: list[str]
    group: str
    why: str
    status: str  # allowed | conditional | missing | denied
    allowed_by: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "resources": self.resources, "group": self.group,
                "why": self.why, "status": self.status, "allowed_by": self.allowed_by,
                "notes": self.notes}


_RANK = {"allowed": 0, "conditional": 1, "missing": 2, "denied": 3}


def decide(statements: Sequence[Statement], action: str, needed: str, *,
           any_part: bool = False) -> Verdict:
    """IAM's decision for one action on one needed resource pattern: an explicit Deny wins,
    else an Allow, else the implicit deny. Conditions are not evaluated: an Allow that
    has one counts as "conditional", a Deny that has one is reported, not applied.
    A Deny on part of the resources is reported, or (``any_part``: resources hfaction
    uses, see :meth:`StackScope.in_use`) denies the action."""
    verdict = Verdict(action, [needed], "", "", "missing")
    allows: list[Statement] = []
    partial_allows: list[Statement] = []
    for statement in statements:
        if not statement.applies_to_action(action):
            continue
        reach = statement.reach(needed)
        if reach == "none":
            continue
        if statement.effect == "Deny":
            if statement.condition:
                verdict.notes.append(f"{statement.where} denies it under a Condition "
                                     "(not evaluated)")
            elif reach == "part" and not any_part:
                verdict.notes.append(f"{statement.where} denies it on part of "
                                     f"{_printed(needed)}")
            else:
                verdict.status = "denied"
                verdict.allowed_by = []
                verdict.notes.append(f"explicitly denied on {_printed(needed)} by "
                                     f"{statement.where}")
                return verdict
        elif reach == "all":
            allows.append(statement)
        else:
            partial_allows.append(statement)
    unconditional = [statement for statement in allows if not statement.condition]
    if unconditional:
        verdict.status = "allowed"
        verdict.allowed_by = [statement.where for statement in unconditional]
    elif allows:
        verdict.status = "conditional"
        verdict.allowed_by = [statement.where for statement in allows]
        verdict.notes.append("allowed only under a Condition (not evaluated)")
    else:
        verdict.notes += [f"{statement.where} allows it on part of {_printed(needed)} only"
                          for statement in partial_allows]
    return verdict


def evaluate(statements: Sequence[Statement], needs: Sequence[Need],
             scope: StackScope) -> list[Verdict]:
    """One verdict per required action (merged over its needs), the worst over its
    resources."""
    merged: dict[str, Need] = {}
    resources: dict[str, list[str]] = {}
    in_use: dict[str, list[str]] = {}
    for need in needs:
        merged.setdefault(need.action, need)
        for arn in need.resources(scope):
            if arn not in resources.setdefault(need.action, []):
                resources[need.action].append(arn)
        for arn in need.in_use(scope):
            if arn not in in_use.setdefault(need.action, []):
                in_use[need.action].append(arn)
    verdicts = []
    for action, need in merged.items():
        parts = [decide(statements, action, arn) for arn in resources[action]]
        # A Deny on any part of what hfaction uses fails, whatever the Allows say.
        parts += [part for part in (decide(statements, action, arn, any_part=True)
                                    for arn in in_use.get(action, ()))
                  if part.status == "denied"]
        worst = max(parts, key=lambda part: _RANK[part.status])
        verdict = Verdict(action, [_printed(arn) for arn in resources[action]], need.group,
                          need.why, worst.status)
        verdict.allowed_by = sorted({where for part in parts for where in part.allowed_by})
        verdict.notes = sorted({note for part in parts for note in part.notes})
        if worst.status == "denied":  # the reason it fails; the rest would bury it
            verdict.notes = [note for note in verdict.notes
                             if note.startswith("explicitly denied")]
        if worst.status in ("missing", "conditional"):
            uncovered = [_printed(part.resources[0]) for part in parts
                         if part.status == worst.status]
            if len(uncovered) < len(parts):
                verdict.notes.append(f"not on {', '.join(uncovered)}")
        verdicts.append(verdict)
    return verdicts


def over_broad(statements: Sequence[Statement], needs: Sequence[Need],
               scope: StackScope) -> list[str]:
    """What the policy's Allow statements grant beyond what hfaction needs."""
    findings: list[str] = []
    unscoped_actions = {need.action for need in needs if "any" in need.kinds}
    scoped = {need.action for need in needs} - unscoped_actions
    needed_actions = {need.action for need in needs}
    arns = [arn for need in needs for arn in need.resources(scope)]
    for statement in statements:
        if statement.effect != "Allow":
            continue
        where = statement.where
        if statement.not_action:
            findings.append(f"{where}: Allow with NotAction grants every action it does not "
                            "list; list the actions instead")
        for pattern in statement.actions if not statement.not_action else ():
            if pattern == "*":
                findings.append(f"{where}: Action \"*\" grants every action of every service")
            elif pattern.endswith(":*"):
                findings.append(f"{where}: Action \"{pattern}\" grants every "
                                f"{pattern[:-2]} action; list the ones needed")
            elif not any(action_matches(pattern, action) for action in needed_actions):
                findings.append(f"{where}: {pattern} is not needed by hfaction")
        granted = [action for action in sorted(needed_actions)
                   if statement.applies_to_action(action)]
        unscoped = statement.not_resource or "*" in statement.resources
        if unscoped:
            could_scope = [action for action in granted if action in scoped]
            if could_scope:
                shown = ", ".join(could_scope[:4]) + (" ..." if len(could_scope) > 4 else "")
                findings.append(f"{where}: Resource \"*\" (or NotResource) for actions that "
                                f"take the stack's own ARNs ({shown}); scope them as "
                                "'hfaction policies user' prints")
            if any(action_matches(pattern, "iam:PassRole") for pattern in statement.actions) \
                    != statement.not_action:
                findings.append(f"{where}: iam:PassRole on every role lets its holder hand "
                                "any role to a service (privilege escalation); scope it to "
                                f"{_printed(scope.resource('roles')[0])}")
        else:
            for pattern in statement.resources:
                if not any(resource_overlaps(pattern, arn) for arn in arns):
                    findings.append(f"{where}: resource {pattern} is none of the stack's "
                                    f"(stack {scope.stack_name})")
    return findings


# --- reading and linting the file --------------------------------------------------------------


def load_policy_file(path: Path) -> tuple[str, Any]:
    """The file's text and JSON; a malformed file is a one-line error with its position."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyFileInvalid(f"{path}: no such file",
                                hint="write one with 'hfaction policies user > FILE'") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyFileInvalid(f"{path}: cannot read it: {error}") from None
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyFileInvalid(f"{path}:{error.lineno}:{error.colno}: malformed JSON: "
                                f"{error.msg}", hint="fix the JSON; an IAM policy is one "
                                "JSON object") from None


def identity_document(document: Any) -> Any:
    """The permissions policy of a file: a policy, or 'hfaction policies role' output."""
    if isinstance(document, dict) and "permissions_policy" in document:
        return document["permissions_policy"]  # its trust policy is not linted or checked
    return document


@dataclass(frozen=True)
class LintFinding:
    issue: str
    severity: str
    title: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"issue": self.issue, "severity": self.severity, "title": self.title,
                "detail": self.detail}


def lint_policy(document: Any, known_actions: Iterable[str] = ()) -> list[LintFinding]:
    """parliament's findings on an identity policy (never a trust policy: it reports false
    positives there). ``known_actions`` exist although parliament's action database, older
    than the resource schemas that list them, does not know them: no UNKNOWN_ACTION for
    those."""
    known = {action.lower() for action in known_actions}
    import parliament
    from parliament.cli import is_finding_filtered

    policy = parliament.analyze_policy_string(json.dumps(document))
    findings = []
    for finding in policy.findings:
        parliament.enhance_finding(finding)
        if is_finding_filtered(finding):
            continue
        if finding.issue == "UNKNOWN_ACTION" and \
                str(finding.detail).rsplit(" ", 1)[-1].lower() in known:
            continue
        detail = finding.detail
        if finding.issue == "RESOURCE_MISMATCH" and isinstance(detail, list):
            # parliament's database wants Step Functions' express execution ARNs as well as
            # standard ones for DescribeExecution; a standard state machine has none.
            detail = [item for item in detail if not (
                isinstance(item, dict) and ":express:" in str(item.get("required_format")))]
            if not detail:
                continue
        location = finding.location if isinstance(finding.location, dict) else {}
        if finding.issue == "INVALID_ARN" and \
                f":aws:transform/{SAM_TRANSFORM}" in str(location.get("string", "")):
            continue  # AWS's own ARN: its account field is "aws", as documented
        findings.append(LintFinding(issue=str(finding.issue), severity=str(finding.severity),
                                    title=str(finding.title),
                                    detail=" ".join(str(detail).split())))
    return sorted(findings, key=lambda item: (item.issue, item.detail))


@dataclass
class Report:
    source: str
    scope: StackScope
    verdicts: list[Verdict]
    over_broad: list[str]
    lint: list[LintFinding]
    part: str = "all"

    @property
    def missing(self) -> list[Verdict]:
        return [verdict for verdict in self.verdicts if verdict.status in ("missing", "denied")]

    @property
    def conditional(self) -> list[Verdict]:
        return [verdict for verdict in self.verdicts if verdict.status == "conditional"]

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.source, "ok": self.ok, "part": self.part,
            "stack_name": self.scope.stack_name,
            "region": self.scope.region, "account": self.scope.account,
            "required": len(self.verdicts),
            "missing": [verdict.to_dict() for verdict in self.missing],
            "conditional": [verdict.to_dict() for verdict in self.conditional],
            "notes": [verdict.to_dict() for verdict in self.verdicts
                      if verdict.notes and verdict.status == "allowed"],
            "over_broad": self.over_broad,
            "lint": [finding.to_dict() for finding in self.lint],
        }


def validate_document(document: Any, scope: StackScope, *, source: str = "policy",
                      lint: bool = True, part: str = "all") -> Report:
    """Check an identity policy against everything deploying and rendering need (or one
    part of it)."""
    needs = required(scope, part)
    document = identity_document(document)
    statements = parse_statements(document, source)
    return Report(source=source, scope=scope, part=part,
                  verdicts=evaluate(statements, needs, scope),
                  over_broad=over_broad(statements, needs, scope),
                  lint=lint_policy(document, [need.action for need in needs]) if lint else [])


def validate_file(path: Path, scope: StackScope, part: str = "all") -> Report:
    """``hfaction policies validate FILE``."""
    check_scope(scope)
    required(scope, part)  # a bad --part is refused before the file is read
    _, document = load_policy_file(path)
    return validate_document(document, scope, source=str(path), part=part)


def format_report(report: Report) -> str:
    """The human report."""
    scope = report.scope
    what = {"all": "deploy and render", "deploy": "deploy", "render": "render"}[report.part]
    lines = [f"{report.source}: {len(report.verdicts)} actions required to {what} "
             f"stack {scope.stack_name} (region {scope.region or 'any'}, account "
             f"{scope.account or 'any'})"]
    unknown = [option for option, value in (("--region", scope.region),
                                            ("--account", scope.account)) if value is None]
    if unknown:
        lines.append(f"  (no {' or '.join(unknown)}: any the policy names is accepted)")

    def section(title: str, items: list[str]) -> None:
        if items:
            lines.append(f"{title} ({len(items)}):")
            lines.extend(f"  {item}" for item in items)

    by_resources: dict[tuple[str, ...], list[Verdict]] = {}
    for verdict in report.missing:
        by_resources.setdefault(tuple(verdict.resources), []).append(verdict)
    if report.missing:
        lines.append(f"missing ({len(report.missing)}):")
        for arns, verdicts in by_resources.items():
            lines.append(f"  on {', '.join(arns)}:")
            lines.extend(f"    {v.action} [{v.group}: {v.why}]"
                         + (f" - {'; '.join(v.notes)}" if v.notes else "") for v in verdicts)
    section("conditions not evaluated", [f"{v.action}: {'; '.join(v.notes)}"
                                         for v in report.conditional])
    section("notes", [f"{v.action}: {'; '.join(v.notes)}" for v in report.verdicts
                      if v.notes and v.status == "allowed"])
    section("over-broad", report.over_broad)
    section("lint (parliament)", [f"{f.severity} {f.issue}: {f.title} {f.detail}".rstrip()
                                  for f in report.lint])
    warnings = len(report.conditional) + len(report.over_broad) + len(report.lint)
    if report.ok:
        lines.append(f"OK: every required action is allowed ({warnings} warning"
                     f"{'' if warnings == 1 else 's'})")
    else:
        lines.append(f"FAIL: {len(report.missing)} required action"
                     f"{'' if len(report.missing) == 1 else 's'} not allowed")
    return "\n".join(lines)
